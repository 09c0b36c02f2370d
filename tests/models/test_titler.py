"""The titler on a tiny random model: shapes, beam search contracts, copy prior, save/load, handler."""
import pickle

import pytest
import torch
import torch.nn.functional as F

from wenmai.models.checkpoint import save_pretrained
from wenmai.models.titler import (BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID, CopyPrior, Titler,
                                  TitlerConfig, TitlerLoss, _block_repeats, beam_search,
                                  build_titler_vocab, encode_texts, generate_titles, load_titler)

TEXTS = ["华为公司总部位于深圳，员工超过十万人。", "今天北京气温骤降，最高只有五度",
         "国足在世界杯预选赛中战胜对手", "", "ＡＩ芯片出货量达到１２３万片😀",
         "研究了一种新的算法，实验表明该算法收敛更快"]


@pytest.fixture(scope="module")
def vocab():
    return build_titler_vocab(TEXTS, min_count=1)


def _model(vocab, seed=0, **kw) -> Titler:
    torch.manual_seed(seed)
    config = TitlerConfig(vocab_size=vocab.n_chars, emb_dim=16, enc_hidden=12, dec_hidden=24,
                          dropout=0.0, max_len=64, **kw)
    model = Titler(config)
    with torch.no_grad():  # random but not flat: sharper distributions make ties impossible
        for p in model.parameters():
            p.mul_(3.0)
    return model.eval()


@pytest.fixture(scope="module")
def model(vocab):
    return _model(vocab)


def _src(vocab, texts):
    rows = encode_texts(vocab, texts, 64)
    out = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r)
    return out


def test_vocab_starts_with_specials_and_covers_output_side(vocab):
    assert vocab.chars[:4] == SPECIALS and vocab.words == SPECIALS[:2]
    assert vocab.char_id("Ａ") == vocab.char_id("a") != UNK_ID  # normalised like the encoder's
    assert encode_texts(vocab, ["", "深圳"], 8) == [[EOS_ID], [vocab.char_id("深"),
                                                               vocab.char_id("圳"), EOS_ID]]


def test_forward_shapes_and_loss(model, vocab):
    src = _src(vocab, TEXTS)  # (6, S)
    tgt_in = torch.tensor([[BOS_ID, 5, 6, 7]] * len(TEXTS))
    tgt_out = torch.tensor([[5, 6, 7, EOS_ID]] * len(TEXTS))
    logits, loss = model(src, tgt_in, tgt_out)
    loss = loss.detach()
    assert logits.shape == (len(TEXTS), 4, vocab.n_chars)
    assert loss.ndim == 0 and torch.isfinite(loss)
    model.train()
    value = TitlerLoss(model)({"src": src, "tgt_in": tgt_in}, tgt_out)
    model.eval()
    assert value.requires_grad and float(value.detach()) == pytest.approx(float(loss), rel=1e-5)


@torch.no_grad()
def _reference_greedy(model, src_row, max_title_len):
    """Plain one-document greedy loop, written independently of beam_search."""
    mem, h = model.encode(src_row.unsqueeze(0))
    token, out, total = BOS_ID, [], 0.0
    for step in range(max_title_len + 1):
        logp, h = model.decode(torch.tensor([[token]]), mem, h)
        logp = logp[0, -1].clone()
        logp[[PAD_ID, UNK_ID, BOS_ID]] = float("-inf")
        if step == max_title_len:
            logp[EOS_ID + 1:] = float("-inf")
        token = int(logp.argmax())
        total += float(logp[token])
        if token == EOS_ID:
            return out, total / (len(out) + 1)
        out.append(token)
    return out, total / len(out)


def test_beam_size_one_is_greedy(model, vocab):
    src = _src(vocab, TEXTS)
    titles, scores = beam_search(model, src, beam_size=1, max_title_len=7, no_repeat_ngram=0,
                                 no_stutter=False)
    for row, title, score in zip(src, titles, scores):
        ref_title, ref_score = _reference_greedy(model, row, 7)
        assert title == ref_title
        assert score == pytest.approx(ref_score, abs=1e-4)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_batched_equals_one_at_a_time(model, vocab, beam_size):
    together = generate_titles(model, vocab, TEXTS, beam_size, 10, batch_size=len(TEXTS))
    alone = [generate_titles(model, vocab, [t], beam_size, 10)[0] for t in TEXTS]
    assert [t for t, _ in together] == [t for t, _ in alone]
    for (_, a), (_, b) in zip(together, alone):
        assert a == pytest.approx(b, abs=1e-4)
    for title, score in together:
        assert isinstance(title, str) and isinstance(score, float) and score <= 0


@pytest.mark.parametrize("beam_size", [1, 3])
def test_sources_that_end_early_leave_the_batch(vocab, beam_size, monkeypatch):
    """Titles of several lengths (</s> made much likelier: a title copying a word must reach the
    word's end before it may end): sources whose beams have all ended leave the batch, and the
    others come out as they would alone."""
    from wenmai.models import titler

    model = _model(vocab)
    with torch.no_grad():
        model.out_bias[EOS_ID] += 16.0
    taken = []
    take = titler.Memory.take
    monkeypatch.setattr(titler.Memory, "take",
                        lambda self, sources: taken.append(len(sources)) or take(self, sources))
    together = generate_titles(model, vocab, TEXTS, beam_size, 10, batch_size=len(TEXTS))
    assert taken and len({len(t) for t, _ in together}) >= 3
    alone = [generate_titles(model, vocab, [t], beam_size, 10)[0] for t in TEXTS]
    assert [t for t, _ in together] == [t for t, _ in alone]
    assert [s for _, s in together] == pytest.approx([s for _, s in alone], abs=1e-4)


def test_wider_beam_finds_at_least_as_probable_titles(model, vocab):
    src = _src(vocab, TEXTS)
    _, greedy = beam_search(model, src, beam_size=1, max_title_len=6, no_repeat_ngram=0,
                            no_stutter=False)
    _, wide = beam_search(model, src, beam_size=5, max_title_len=6, no_repeat_ngram=0,
                          no_stutter=False)
    assert all(w >= g - 1e-5 for w, g in zip(wide, greedy))


def test_block_repeats_worked_example():
    logp = torch.zeros(1, 6)
    out = _block_repeats(logp, torch.tensor([[4, 5, 4]]), n=2)  # "A B A": B would repeat "A B"
    assert torch.isinf(out[0, 5]) and torch.isfinite(out[0, [0, 1, 2, 3, 4]]).all()
    assert torch.equal(_block_repeats(logp, torch.tensor([[4, 5, 4]]), n=3), logp)  # no "B A ?" yet


@pytest.mark.parametrize("n", [2, 3])
def test_repetition_blocking(vocab, n):
    model = _model(vocab, seed=1, copy_attention=False)  # the output bias alone decides
    loop = vocab.char_id("深")
    with torch.no_grad():  # make one character overwhelmingly likely and </s> impossible
        model.out_bias[loop] = 100.0
        model.out_bias[EOS_ID] = -100.0
    src = _src(vocab, TEXTS)
    free, _ = beam_search(model, src, beam_size=2, max_title_len=8, no_repeat_ngram=0,
                          no_stutter=False)
    assert all(title == [loop] * 8 for title in free)  # without blocking it loops
    titles, _ = beam_search(model, src, beam_size=2, max_title_len=8, no_repeat_ngram=n)
    for title in titles:
        grams = [tuple(title[i:i + n]) for i in range(len(title) - n + 1)]
        assert len(grams) == len(set(grams)) and len(title) == 8
    unstuttered, _ = beam_search(model, src, beam_size=2, max_title_len=8, no_repeat_ngram=0)
    for title in unstuttered:  # no_stutter (default): never the same character twice in a row
        assert all(a != b for a, b in zip(title, title[1:])) and loop in title


def test_max_title_length(vocab):
    model = _model(vocab, seed=2, copy_attention=False)
    with torch.no_grad():
        model.out_bias[EOS_ID] = -100.0  # never wants to stop
    for k in (1, 3):
        for title, _ in generate_titles(model, vocab, TEXTS, k, max_title_len=5, no_repeat_ngram=0):
            assert len(title) == 5
    short = generate_titles(_model(vocab), vocab, TEXTS, 2, max_title_len=3)
    assert all(len(t) <= 3 for t, _ in short)


def test_copy_prior_moves_mass_to_source_characters(model, vocab):
    text = "华为公司总部位于深圳"
    src = _src(vocab, [text])
    present = CopyPrior.bag(src, vocab.n_chars)[0].bool()  # (V,)
    assert present.sum() == len(set(text)) and not present[:len(SPECIALS)].any()
    mem, h = model.encode(src)
    with_prior, _ = model.decode(torch.tensor([[BOS_ID]]), mem, h)
    mem.prior = torch.zeros_like(mem.prior)
    without, _ = model.decode(torch.tensor([[BOS_ID]]), mem, h)
    on = F.softmax(with_prior[0, -1], -1)[present].sum()
    off = F.softmax(without[0, -1], -1)[present].sum()
    assert on > off
    assert _model(vocab, copy_prior=False).prior is None


def test_copy_attention_puts_the_rest_on_source_characters(vocab):
    model = _model(vocab, copy_prior=False)
    text = "华为公司总部位于深圳"
    src = _src(vocab, [text])
    present = CopyPrior.bag(src, vocab.n_chars)[0].bool()
    present[EOS_ID] = True  # the source's closing </s> can be copied too (it ends the title)
    mem, h = model.encode(src)
    with torch.no_grad():
        model.gate.bias.fill_(-50.0)  # gate closed: everything comes from the pointer
        logp, _ = model.decode(torch.tensor([[BOS_ID]]), mem, h)
    assert logp[0, -1].exp()[present].sum() == pytest.approx(1.0, abs=1e-4)
    assert logp[0, -1].exp().sum() == pytest.approx(1.0, abs=1e-4)
    assert _model(vocab, copy_attention=False).gate is None


def test_save_load_round_trip(model, vocab, tmp_path):
    save_pretrained(model, tmp_path / "titler", vocab=vocab, card="tiny random titler")
    again, vocab2 = load_titler(tmp_path / "titler")
    assert vocab2 == vocab and not again.training
    for k in (1, 3):
        assert generate_titles(again, vocab2, TEXTS, k, 8) == generate_titles(model, vocab, TEXTS, k, 8)


def test_handler_returns_title_and_score_and_pickles(model, vocab, tmp_path):
    from wenmai.models.handlers import TitlerHandler

    save_pretrained(model, tmp_path / "titler", vocab=vocab)
    handler = TitlerHandler(tmp_path / "titler", max_len=64, beam_size=2, max_title_len=6,
                            max_batch_tokens=100, device="cpu")
    handler = pickle.loads(pickle.dumps(handler))  # picklable before loading
    loaded = handler.load_model()
    examples = [(t, list(t)) for t in TEXTS]
    results = list(handler.run_inference(examples, loaded))
    assert [r.example for r in results] == examples
    for r in results:
        title, score = r.inference
        assert isinstance(title, str) and len(title) <= 6 and isinstance(score, float)
    assert [r.inference for r in results] == generate_titles(model, vocab, TEXTS, 2, 6)
    kwargs = handler.batch_elements_kwargs()
    assert kwargs["max_batch_size"] == 100
    assert kwargs["element_size_fn"](("好" * 500, ())) == 65  # capped at max_len, + 1
    assert handler.get_metrics_namespace() == "wenmai.titler"


def test_handler_inside_run_inference(model, vocab, tmp_path):
    """Keyed through Beam's RunInference with the token budget: every key gets its (title, score)."""
    import apache_beam as beam
    from apache_beam.ml.inference.base import RunInference
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from wenmai.models.handlers import KeyedHandler, TitlerHandler

    save_pretrained(model, tmp_path / "titler", vocab=vocab)
    handler = KeyedHandler(TitlerHandler(tmp_path / "titler", max_len=64, beam_size=2,
                                         max_title_len=6, max_batch_tokens=40, device="cpu"))
    expected = [(f"d{i}", title) for i, (title, _) in
                enumerate(generate_titles(model, vocab, TEXTS, 2, 6))]
    with TestPipeline() as p:
        titles = (p | beam.Create([(f"d{i}", (t, [])) for i, t in enumerate(TEXTS)])
                  | RunInference(handler)
                  | beam.MapTuple(lambda key, result: (key, result.inference[0])))
        assert_that(titles, equal_to(expected))


def test_source_only_characters_need_the_source():
    """A character the model always wants (its output bias raised) is never generated when
    `source_only` lists it and the source lacks it, and still is when the source has it."""
    tag = build_titler_vocab(TEXTS + ["【新闻】"], min_count=1)
    m = _model(tag, copy_attention=False)
    lbr = tag.char_id("【")
    with torch.no_grad():
        m.out_bias[lbr] = 100.0
    plain, tagged = _src(tag, ["华为公司总部位于深圳"]), _src(tag, ["【华为】公司总部位于深圳"])
    assert lbr in beam_search(m, plain, beam_size=2, max_title_len=6)[0][0]
    assert lbr not in beam_search(m, plain, beam_size=2, max_title_len=6, source_only=[lbr])[0][0]
    assert lbr in beam_search(m, tagged, beam_size=2, max_title_len=6, source_only=[lbr])[0][0]
    # generate_titles applies SOURCE_ONLY (【】) by default
    (plain_title, _), (tagged_title, _) = generate_titles(
        m, tag, ["华为公司总部位于深圳", "【华为】公司总部"], beam_size=2, max_title_len=6)
    assert "【" not in plain_title and "【" in tagged_title


def test_beams_share_their_source_memory():
    """Attention over k beams reading one copy of each source's memory equals attention over a
    copy per beam (what beam search did before: k times the memory traffic)."""
    from wenmai.models.titler import Attention

    torch.manual_seed(0)
    config = TitlerConfig(vocab_size=10, enc_hidden=6, dec_hidden=12)
    attention = Attention(config)
    B, K, S = 3, 2, 5
    memory = torch.randn(B, S, 12)  # (B, S, 2He)
    keys = attention.key(memory)  # (B, S, Hd)
    mask = torch.ones(B, S, dtype=torch.bool)
    mask[1, 3:] = False
    query = torch.randn(B * K, 1, 12)  # (B*K, 1, Hd)
    shared = attention(query, keys, memory, mask.repeat_interleave(K, 0), beams=K)
    copied = attention(query, keys.repeat_interleave(K, 0), memory.repeat_interleave(K, 0),
                       mask.repeat_interleave(K, 0))
    for a, b in zip(shared, copied):
        assert torch.allclose(a, b, atol=1e-6)


def test_copy_attention_decodes_under_bf16_autocast(vocab):
    """`--precision bf16` runs the models under autocast: the pointer's attention weights come
    out bf16 while the logits are fp32, and the copy scatter must still add them up."""
    model = _model(vocab)
    src = _src(vocab, TEXTS[:2])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        mem, h = model.encode(src)
        logp, _ = model.decode(torch.full((2, 1), BOS_ID), mem, h)
        titles, _ = beam_search(model, src, beam_size=2, max_title_len=5)
    assert torch.isfinite(logp).all()
    assert logp[:, -1].float().exp().sum(-1) == pytest.approx([1.0, 1.0], abs=2e-2)
    assert len(titles) == 2


def test_the_titler_reads_to_the_end_of_a_word():
    from wenmai.models.titler import read_to_word_end

    assert read_to_word_end("暴雨中中学教师转移学生", 6) == "暴雨中"  # not 暴雨中中学教
    assert read_to_word_end("暴雨中中学教师转移学生", 7) == "暴雨中中学教师"
    assert read_to_word_end("短讯", 10) == "短讯"
    assert read_to_word_end("中学教师", 3) == "中学教"  # one word: the plain cut
    assert read_to_word_end("1244万人", 3) == ""  # ... less a number the cut splits (not 124)
