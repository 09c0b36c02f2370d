"""Trainer: loss goes down on a toy task, the best epoch is kept, schedule and seeds behave."""
import json

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from wenmai.models.trainer import Trainer, TrainerConfig, get_lr


class ToyLoss(nn.Module):
    """Mean squared error of a linear model; `features` is a dict with "x", labels are targets."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, features, labels):
        return F.mse_loss(self.model(features["x"]).squeeze(-1), labels)


def _toy_batches(n_batches=8, batch=16):
    g = torch.Generator().manual_seed(0)
    w = torch.tensor([1.5, -2.0, 0.5])
    xs = [torch.randn(batch, 3, generator=g) for _ in range(n_batches)]

    def batches(epoch):
        for x in xs:
            yield {"x": x}, x @ w

    return batches, xs, w


def _fit(config, evaluate=None, on_best=None):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    batches, xs, w = _toy_batches()
    trainer = Trainer(model, ToyLoss(model), config, evaluate=evaluate, on_best=on_best)
    return model, trainer, trainer.fit(batches, steps_per_epoch=len(xs)), xs, w


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_loss_decreases(ema_decay):
    config = TrainerConfig(epochs=6, lr=0.05, warmup_steps=2, ema_decay=ema_decay, progress=False)
    model, _, result, xs, w = _fit(config)
    losses = [row["loss"] for row in result.history]
    assert losses[-1] < losses[0] / 4
    assert result.steps == 6 * len(xs)
    with torch.no_grad():  # the weights handed back (EMA ones when on) fit the task too
        final = F.mse_loss(model(xs[0]).squeeze(-1), xs[0] @ w).item()
    assert final < losses[0] / 4


def test_best_epoch_is_kept():
    scores = iter([0.2, 0.9, 0.5, 0.1])
    snapshots = {}

    def evaluate(model):
        snapshots[len(snapshots) + 1] = {k: v.clone() for k, v in model.state_dict().items()}
        return {"dev_score": next(scores)}

    saved = []
    config = TrainerConfig(epochs=4, lr=0.05, warmup_steps=0, ema_decay=0.0, best_metric="dev_score",
                           progress=False)
    model, _, result, _, _ = _fit(config, evaluate, lambda m, row, epoch: saved.append(epoch))
    assert result.best_epoch == 2 and result.best_metrics["dev_score"] == 0.9
    assert saved == [1, 2]  # on_best fires on every improvement, and only then
    assert [row["dev_score"] for row in result.history] == [0.2, 0.9, 0.5, 0.1]
    for name, tensor in model.state_dict().items():  # weights of epoch 2 were restored
        assert torch.equal(tensor, snapshots[2][name])


def test_min_mode_keeps_the_lowest():
    scores = iter([3.0, 1.0, 2.0])
    config = TrainerConfig(epochs=3, lr=0.05, ema_decay=0.0, best_metric="dev_loss", best_mode="min",
                           progress=False)
    _, _, result, _, _ = _fit(config, lambda m: {"dev_loss": next(scores)})
    assert result.best_epoch == 2


def test_same_seed_same_weights():
    config = TrainerConfig(epochs=2, lr=0.05, ema_decay=0.5, seed=7, progress=False)
    a = _fit(config)[0].state_dict()
    b = _fit(config)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_get_lr_warmup_then_cosine():
    kw = dict(lr=1.0, warmup_steps=10, total_steps=100, min_lr=0.1)
    warm = [get_lr(s, **kw) for s in range(10)]
    assert warm == sorted(warm) and warm[-1] < 1.0
    assert get_lr(10, **kw) == pytest.approx(1.0)
    decay = [get_lr(s, **kw) for s in range(10, 101)]
    assert all(x >= y for x, y in zip(decay, decay[1:]))
    assert get_lr(100, **kw) == pytest.approx(0.1) and get_lr(500, **kw) == 0.1


# --------------------------------------------------------------------------------------------------
# the encoder training entry point, end to end on a tiny data directory


PAIRS = [("花呗怎么还款", "花呗如何还钱", 1), ("借呗可以提前还吗", "借呗能提前还款吗", 1),
         ("今天天气很好", "今天天气不错", 1), ("我想买一部手机", "北京的天气怎么样", 0),
         ("这首歌叫什么名字", "这首歌的名字是什么", 1), ("怎么开通花呗", "花呗怎么还款", 0),
         ("手机没有信号了", "手机信号很差", 1), ("火车几点出发", "飞机几点起飞", 0)]


def test_train_encoder_main_writes_a_loadable_model(tmp_path):
    from wenmai.models.checkpoint import read_config
    from wenmai.models.encoder import load_encoder
    from wenmai.models.encoder_data import build_groups
    from wenmai.cli.train import encoder as main

    assert build_groups([(0, 1), (1, 2), (3, 4)], 6) == [0, 0, 0, 1, 1, 2]
    data = tmp_path / "data" / "similarity" / "toy"
    data.mkdir(parents=True)
    rows = PAIRS * 3 + [(a + "吗", b + "呢", y) for a, b, y in PAIRS]
    (data / "train.tsv").write_text("".join(f"{a}\t{b}\t{y}\n" for a, b, y in rows), encoding="utf-8")
    (tmp_path / "data" / "headlines.txt").write_text("今天股市大涨\n球队赢得冠军\n", encoding="utf-8")
    (tmp_path / "data" / "news.jsonl").write_text("".join(
        json.dumps({"text": f"今天{city}天气很好，手机信号也不错。"}, ensure_ascii=False) + "\n"
        for city in ("北京", "上海", "广州")), encoding="utf-8")
    out = tmp_path / "encoder"
    main(["--data-dir", str(tmp_path / "data"), "--train-files", "similarity/toy/train.tsv",
          "--dev-files", "similarity/toy/train.tsv", "--dev-sizes", "4", "--unlabeled-files",
          "headlines.txt", "--pretrain-files", "news.jsonl", "--singletons", "2", "--out", str(out), "--epochs", "2",
          "--batch-size", "4", "--char-dim", "8", "--word-dim", "4", "--hidden", "8", "--dim", "8",
          "--warmup-steps", "1", "--no-progress"])
    model, vocab = load_encoder(out)
    meta = read_config(out)
    assert {"threshold", "baseline_threshold", "dev_metrics", "train_config"} <= set(meta)
    assert model.dim == 8 and vocab.n_chars > 10
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "wenmai train encoder --data-dir" in card and "similarity/toy/train.tsv" in card
    assert "PPMI" in card and "news.jsonl" in card
    assert vocab.char_id("广") != 1  # pretraining text joins the vocabulary


def test_ppmi_svd_groups_tokens_seen_in_the_same_contexts():
    from wenmai.models.ppmi import ppmi_svd

    # 2 and 3 both sit between 10 and 11; 4 and 5 between 12 and 13
    sequences = [[10, 2, 11], [10, 3, 11], [12, 4, 13], [12, 5, 13]] * 20 + [[6, 7, 8, 9]]
    vecs = ppmi_svd(sequences, vocab_size=14, dim=6, window=1)
    assert vecs.shape == (14, 6) and not vecs[[0, 1]].any()  # pad and unknown never counted
    unit = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)
    assert unit[2] @ unit[3] > 0.9 and abs(unit[2] @ unit[4]) < 0.5
    assert ppmi_svd(sequences, vocab_size=4, dim=4) is None


# --------------------------------------------------------------------------------------------------
# resumable training


class NoisyLoss(ToyLoss):
    """The toy loss through dropout, so the torch random state matters to the result."""

    def __init__(self, model, interrupt_at=None):
        super().__init__(model)
        self.drop = nn.Dropout(0.3)
        self.calls, self.interrupt_at = 0, interrupt_at

    def forward(self, features, labels):
        self.calls += 1
        if self.calls == self.interrupt_at:  # a real signal, as `kill` or Ctrl-C sends it
            import os
            import signal

            os.kill(os.getpid(), signal.SIGTERM)
        return F.mse_loss(self.model(self.drop(features["x"])).squeeze(-1), labels)


def _seeded_batches(n_batches, batch=4):
    w = torch.tensor([1.5, -2.0, 0.5])

    def batches(epoch):  # reshuffled every epoch from its own seed, as the real drivers do
        g = torch.Generator().manual_seed(epoch)
        for _ in range(n_batches):
            x = torch.randn(batch, 3, generator=g)
            yield {"x": x}, x @ w

    return batches


def _resumable_fit(tmp_path, interrupt_at=None, resume=False, checkpoint_every=300):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    config = TrainerConfig(epochs=4, lr=0.01, warmup_steps=10, ema_decay=0.99, progress=False,
                           checkpoint_every=checkpoint_every)
    trainer = Trainer(model, NoisyLoss(model, interrupt_at), config,
                      evaluate=lambda m: {"w0": float(m.weight[0, 0])})
    result = trainer.fit(_seeded_batches(500), steps_per_epoch=500, state_dir=tmp_path / "state",
                         resume=resume)
    return model, result


@pytest.mark.parametrize("interrupt_at", [1000, 1130])  # an epoch's end; mid-epoch
def test_interrupted_and_resumed_run_ends_with_identical_weights(tmp_path, interrupt_at):
    from wenmai.models.trainer import TrainingInterrupted

    straight, straight_result = _resumable_fit(tmp_path / "a")  # 2,000 steps without a stop
    with pytest.raises(TrainingInterrupted) as stopped:  # SIGTERM after step `interrupt_at`
        _resumable_fit(tmp_path / "b", interrupt_at=interrupt_at)
    assert stopped.value.step == interrupt_at
    resumed, resumed_result = _resumable_fit(tmp_path / "b", resume=True)  # the other 1,000
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    # the smoothed loss carries over too (it restarted from 0 and read low for ~100 steps)
    without_time = lambda history: [{k: v for k, v in row.items() if k != "seconds"} for row in history]
    assert without_time(resumed_result.history) == without_time(straight_result.history)


def test_resume_without_a_state_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="no training state"):
        _resumable_fit(tmp_path, resume=True)


def test_pin_threads_reaches_torch_and_every_blas_pool():
    """A training command's --threads also pins numpy's, scipy's and scikit-learn's BLAS: with two
    BLAS threads the extractor's span type fit came out up to 0.004 per weight apart."""
    from threadpoolctl import threadpool_info

    from wenmai.models.trainer import pin_threads

    before = torch.get_num_threads()
    limiter = pin_threads(1)
    try:
        assert torch.get_num_threads() == 1
        assert threadpool_info() and all(pool["num_threads"] == 1 for pool in threadpool_info())
    finally:
        limiter.restore_original_limits()
        torch.set_num_threads(before)
