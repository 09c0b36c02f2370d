"""`wenmai train encoder` end to end on a tiny hand-written data directory: every objective and
loss the comparison table uses trains, saves and loads (the figures come from docs/encoders.md)."""
import json

import pytest

from wenmai.models.encoder import load_encoder
from wenmai.cli.train import encoder as main

CITIES = ["北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "重庆", "武汉", "西安", "天津", "苏州"]
TOPICS = [("今天{c}天气怎么样", "{c}今天的天气如何"), ("{c}有什么好吃的", "{c}哪里有好吃的东西"),
          ("去{c}怎么坐车", "到{c}坐什么车"), ("{c}的房价高吗", "{c}房子贵不贵")]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rows = []
    for i, c in enumerate(CITIES):
        for j, (a, b) in enumerate(TOPICS):
            rows.append(f"{a.format(c=c)}\t{b.format(c=c)}\t1")
            other = CITIES[(i + 1) % len(CITIES)]
            rows.append(f"{a.format(c=c)}\t{TOPICS[(j + 1) % 4][1].format(c=other)}\t0")
    (root / "pairs").mkdir()
    (root / "pairs" / "train.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "corpus.txt").write_text("\n".join(r.split("\t")[0] for r in rows) + "\n",
                                     encoding="utf-8")
    return root


def _train(data_dir, out, *flags):
    return main(["--data-dir", str(data_dir), "--train-files", "pairs/train.tsv",
                 "--dev-files", "pairs/train.tsv", "--dev-sizes", "12", "--out", str(out),
                 "--char-dim", "16", "--word-dim", "8", "--hidden", "16", "--dim", "16",
                 "--epochs", "2", "--batch-size", "8", "--warmup-steps", "2", "--threads", "1",
                 *flags])


@pytest.mark.parametrize("flags", [["--loss", "angular"], ["--loss", "contrastive"],
                                   ["--loss", "amsoftmax_cosent"],
                                   ["--cell", "onlstm", "--chunk-size", "4"]])
def test_supervised_variants_train_and_load(data_dir, tmp_path, flags):
    out = _train(data_dir, tmp_path / "m", *flags)
    model, vocab = load_encoder(out)
    assert model.config.cell == ("onlstm" if "onlstm" in flags else "gru")
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "wenmai train encoder" in card
    if "--loss" in flags:
        assert f"`{flags[1]}` loss" in card


def test_infomax_without_labels_then_amsoftmax_from_it(data_dir, tmp_path):
    first = _train(data_dir, tmp_path / "infomax", "--objective", "infomax",
                   "--corpus", str(data_dir / "corpus.txt"))
    config = json.loads((first / "config.json").read_text())
    assert config["train_config"]["objective"] == "infomax"
    assert "Deep InfoMax" in (first / "README.md").read_text(encoding="utf-8")
    _, vocab = load_encoder(first)
    second = _train(data_dir, tmp_path / "tuned", "--init-from", str(first))
    _, tuned_vocab = load_encoder(second)
    assert tuned_vocab.chars == vocab.chars and tuned_vocab.words == vocab.words


def test_unknown_objective_or_loss_is_an_error(data_dir, tmp_path):
    with pytest.raises(ValueError, match="--loss"):
        _train(data_dir, tmp_path / "x", "--loss", "triplet")


def test_cosent_without_hard_negatives_is_an_error(data_dir, tmp_path):
    with pytest.raises(ValueError, match="--hard-negatives"):
        _train(data_dir, tmp_path / "x", "--loss", "amsoftmax_cosent", "--no-hard-negatives")
