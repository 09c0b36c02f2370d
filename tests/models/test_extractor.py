from collections import Counter

import pytest
import torch

from wenmai.models.checkpoint import save_pretrained
from wenmai.models.extractor import (ExtractorConfig, GatedDilatedConv, HalfPointerLoss,
                                     SelfAttention, TripleExtractor, atrous_attention,
                                     decode_spans, extract_triples, full_attention,
                                     load_extractor, local_attention)
from wenmai.models.train_extractor import make_batches, to_example
from wenmai.models.vocab import Vocab
from wenmai.text import load_jieba, segment

# hand-written sentences (not from any dataset) with their triples
SENTENCES = [
    ("李白出生于碎叶城", [("李白", "出生地", "碎叶城")]),
    ("《围城》的作者是钱锺书", [("围城", "作者", "钱锺书")]),
    ("华为公司总部位于深圳，创始人是任正非",
     [("华为公司", "总部地点", "深圳"), ("华为公司", "创始人", "任正非")]),
]
PREDICATES = ("出生地", "作者", "总部地点", "创始人")


@pytest.fixture(scope="module")
def segmented():
    jieba = load_jieba()
    return [(t, list(segment(jieba, t))) for t, _ in SENTENCES]


@pytest.fixture(scope="module")
def vocab(segmented):
    return Vocab.build(segmented)


def tiny_config(vocab, **kw):
    base = dict(char_vocab_size=vocab.n_chars, word_vocab_size=vocab.n_words, predicates=PREDICATES,
                d=32, word_dim=8, dilations=(1, 2), n_heads=2, window=4, rate=3, max_len=64,
                max_distance=16, dropout=0.0)
    return ExtractorConfig(**{**base, **kw})


# --- building blocks ------------------------------------------------------------------------------


def test_gated_block_reduces_to_identity_or_conv_when_the_gate_saturates():
    torch.manual_seed(0)
    block = GatedDilatedConv(8, 3, dilation=2, dropout=0.0)
    x = torch.randn(2, 8, 11)  # channels first
    mask = torch.ones(2, 1, 11)
    assert block(x, mask).shape == (2, 8, 11)
    with torch.no_grad():
        block.conv.weight[8:] = 0.0  # the gate half sees nothing but its bias
        block.conv.bias[8:] = -1e4  # gate 0: y = x
    assert torch.allclose(block(x, mask), x)
    with torch.no_grad():
        block.conv.bias[8:] = 1e4  # gate 1: y = conv_a(x)
    a = block.conv(x)[:, :8]
    assert torch.allclose(block(x, mask), a, atol=1e-6)


@pytest.mark.parametrize("layer_norm", [False, True])
def test_the_channels_first_stack_gives_the_numbers_of_the_transposing_one(vocab, layer_norm):
    """The stack runs in (B, d, T); these weights were trained with blocks that transposed
    around each convolution: the states must be the same numbers, padding included."""
    torch.manual_seed(0)
    model = TripleExtractor(tiny_config(vocab, layer_norm=layer_norm)).eval()
    chars = torch.randint(2, vocab.n_chars, (3, 13))
    chars[1, 9:] = 0  # a shorter row: padding
    words = torch.randint(2, vocab.n_words, (3, 13)) * (chars != 0)

    def transposing(block, x, mask):  # the block as it was, (B, T, d) in and out
        m = mask.unsqueeze(-1).to(x.dtype)
        x = x * m
        h = x if block.norm is None else block.norm(x) * m
        a, b = block.conv(h.transpose(1, 2)).transpose(1, 2).chunk(2, dim=-1)
        return (x + (a - x) * torch.sigmoid(b)) * m

    with torch.no_grad():
        mask = chars != 0
        T = chars.shape[1]
        x = model.char_emb(chars) + model.pos_emb(torch.arange(T))
        x = (x + model.word_proj(model.word_emb(words))) * mask.unsqueeze(-1)
        for block in model.blocks:
            x = transposing(block, x, mask)
        if model.final_norm is not None:
            x = model.final_norm(x) * mask.unsqueeze(-1)
        assert torch.equal(model.encode(chars, words), x)


@pytest.mark.parametrize("arch,attention", [("dgcnn", "full"), ("dgcnn", "local"),
                                            ("dgcnn", "atrous"), ("bilstm", "full")])
def test_padding_does_not_change_real_positions(vocab, arch, attention):
    torch.manual_seed(0)
    model = TripleExtractor(tiny_config(vocab, arch=arch, attention=attention)).eval()
    chars = torch.randint(2, vocab.n_chars, (1, 9))
    words = torch.randint(2, vocab.n_words, (1, 9))
    pad = torch.zeros(1, 5, dtype=torch.long)
    padded_c, padded_w = torch.cat([chars, pad], 1), torch.cat([words, pad], 1)
    s = torch.tensor([2])
    alone = model(chars, words, s, s + 1)
    padded = model(padded_c, padded_w, s, s + 1)
    assert torch.allclose(alone[0], padded[0][:, :9], atol=1e-5)
    assert torch.allclose(alone[1], padded[1][:, :9], atol=1e-5)


def _reference_mask(T, mode, w=4, r=3):
    i = torch.arange(T)
    return (i[:, None] - i[None]).abs() <= w if mode == "local" else (i[:, None] - i[None]) % r == 0


def _saved_elements(fn, *args):
    """Elements autograd keeps for backward: what training holds in memory per layer."""
    total = [0]

    def pack(t):
        total[0] += t.numel()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*args)
    return total[0]


@pytest.mark.parametrize("mode", ["local", "atrous"])
def test_sparse_attention_equals_masked_full_attention_and_keeps_less(mode):
    torch.manual_seed(0)
    B, H, T, hs = 2, 2, 23, 4
    q, k, v = (torch.randn(B, H, T, hs, requires_grad=True) for _ in range(3))
    key_mask = torch.ones(B, T, dtype=torch.bool)
    key_mask[1, 17:] = False  # second row: 17 real positions
    sparse = ((lambda *a: local_attention(*a, 4)) if mode == "local"
              else (lambda *a: atrous_attention(*a, 3)))
    got = sparse(q, k, v, key_mask)
    want = full_attention(q, k, v, key_mask, _reference_mask(T, mode))
    assert torch.allclose(got[0], want[0], atol=1e-5)
    assert torch.allclose(got[1, :, :17], want[1, :, :17], atol=1e-5)
    # at a longer length the sparse layer keeps far fewer elements than the full one
    T = 256
    q, k, v = (torch.randn(1, H, T, hs, requires_grad=True) for _ in range(3))
    key_mask = torch.ones(1, T, dtype=torch.bool)
    full = _saved_elements(full_attention, q, k, v, key_mask)
    assert _saved_elements(sparse, q, k, v, key_mask) < full / 2


def test_full_attention_gives_the_same_numbers_with_and_without_gradients():
    # inference takes torch's fused kernel, training the explicit scores: the same attention
    torch.manual_seed(0)
    B, H, T, hs = 3, 2, 70, 8
    q, k, v = (torch.randn(B, H, T, hs) for _ in range(3))
    key_mask = torch.ones(B, T, dtype=torch.bool)
    key_mask[1, 40:] = False
    for allowed in (None, _reference_mask(T, "local")):
        with torch.no_grad():
            fused = full_attention(q, k, v, key_mask, allowed)
        with torch.enable_grad():
            explicit = full_attention(q.requires_grad_(), k, v, key_mask, allowed)
        q = q.detach()
        real = key_mask[:, None, :, None].expand_as(fused)  # padded queries are masked later
        assert torch.allclose(fused[real], explicit[real], atol=1e-5)


def test_self_attention_modes_share_weights_and_shapes():
    torch.manual_seed(0)
    x = torch.randn(2, 10, 8)
    mask = torch.ones(2, 10, dtype=torch.bool)
    outs = [SelfAttention(8, 2, mode, window=100, rate=1) for mode in ("full", "local", "atrous")]
    for m in outs[1:]:
        m.load_state_dict(outs[0].state_dict())
    # a window covering everything and rate 1 are full attention
    ys = [m(x, mask) for m in outs]
    assert torch.allclose(ys[0], ys[1], atol=1e-5) and torch.allclose(ys[0], ys[2], atol=1e-5)


# --- decoding -------------------------------------------------------------------------------------


def test_decode_spans_pairs_each_start_with_the_nearest_end_at_or_after_it():
    assert decode_spans([.9, 0, .8, 0], [0, .7, 0, .6], .5) == [(0, 2, .7), (2, 4, .6)]
    assert decode_spans([.9, 0, 0], [.8, 0, 0], .5) == [(0, 1, .8)]  # one-character span
    assert decode_spans([0, .9, .9], [.9, 0, 0], .5) == []  # ends only before the starts
    assert decode_spans([.4, .6], [.6, .4], .5) == []  # start 1 has no end at or after it
    assert decode_spans([.6, .9, 0], [0, 0, .7], .5) == [(0, 3, .6), (1, 3, .7)]


def test_to_example_spans_and_counted_skips(segmented, vocab):
    counts = Counter()
    ids = {p: i for i, p in enumerate(PREDICATES)}
    text, words = segmented[2]
    spo = SENTENCES[2][1] + [("华为公司", "代言人", "某人"), ("小米", "创始人", "雷军")]
    ex = to_example(text, words, spo, ids, vocab, 64, counts)
    assert ex.triples == {(0, 3): [(2, 8, 9), (3, 15, 17)]}
    assert counts == Counter(triples=4, used=2, dropped_predicate=1, skipped_not_in_text=1)
    counts = Counter()
    to_example(text, words, SENTENCES[2][1], ids, vocab, 12, counts)  # 任正非 is cut off
    assert counts["skipped_past_max_len"] == 1


# --- learning, saving, extracting -----------------------------------------------------------------


def _train_tiny(vocab, segmented, steps=250, arch="dgcnn", **kw):
    torch.manual_seed(0)
    model = TripleExtractor(tiny_config(vocab, arch=arch, **kw))
    ids = {p: i for i, p in enumerate(PREDICATES)}
    counts = Counter()
    examples = [to_example(t, w, spo, ids, vocab, 64, counts)
                for (t, w), (_, spo) in zip(segmented, SENTENCES)]
    batches, _ = make_batches(examples, len(PREDICATES), batch_size=3, seed=0)
    loss_fn = HalfPointerLoss(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(steps):
        for features, labels in batches(step):
            loss = loss_fn(features, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return model.eval(), losses


@pytest.fixture(scope="module")
def trained(vocab, segmented):
    return _train_tiny(vocab, segmented)


def test_tiny_model_overfits_three_sentences(trained, vocab, segmented):
    model, losses = trained
    assert losses[-1] < losses[0] / 20
    found = extract_triples(model, vocab, segmented, torch.device("cpu"), 0.5)
    for (text, _), triples, (_, gold) in zip(segmented, found, SENTENCES):
        assert {(t["subject"], t["predicate"], t["object"]) for t in triples} == set(gold)
        for t in triples:
            assert text[t["subject_start"]:t["subject_end"]] == t["subject"]
            assert text[t["object_start"]:t["object_end"]] == t["object"]
            assert 0.5 < t["score"] <= 1.0


def test_untrained_model_does_not_find_them(vocab, segmented):
    torch.manual_seed(0)
    model = TripleExtractor(tiny_config(vocab)).eval()
    found = extract_triples(model, vocab, segmented, torch.device("cpu"), 0.5)
    assert all(not triples for triples in found)


def test_extract_triples_independent_of_batch_mates_and_empty_text(trained, vocab, segmented):
    model, _ = trained
    cpu = torch.device("cpu")
    together = extract_triples(model, vocab, segmented + [("", [])], cpu, 0.5)
    alone = [extract_triples(model, vocab, [ex], cpu, 0.5)[0] for ex in segmented]
    assert together[-1] == []
    for a, b in zip(together, alone):
        assert [t["object"] for t in a] == [t["object"] for t in b]
        assert all(abs(x["score"] - y["score"]) < 1e-5 for x, y in zip(a, b))


def test_save_load_round_trip(trained, vocab, segmented, tmp_path):
    model, _ = trained
    save_pretrained(model, tmp_path, vocab=vocab, extra={"threshold": 0.5})
    loaded, loaded_vocab = load_extractor(tmp_path)
    assert loaded_vocab == vocab and loaded.config == model.config
    cpu = torch.device("cpu")
    assert extract_triples(loaded, loaded_vocab, segmented, cpu) == \
        extract_triples(model, vocab, segmented, cpu)


def test_batches_sample_one_subject_and_cover_every_sentence(vocab, segmented):
    ids = {p: i for i, p in enumerate(PREDICATES)}
    examples = [to_example(t, w, spo, ids, vocab, 64, Counter())
                for (t, w), (_, spo) in zip(segmented, SENTENCES)]
    batches, steps = make_batches(examples, len(PREDICATES), batch_size=2, seed=0)
    seen = 0
    for features, labels in batches(1):
        B = features["char_ids"].shape[0]
        seen += B
        assert labels["object"].shape[:2] == features["char_ids"].shape
        # objects are marked for exactly the sampled subject
        for b in range(B):
            assert labels["subject"][b, labels["s_start"][b], 0] == 1
    assert seen == 3 and steps == 2


def test_loaded_model_carries_its_stored_threshold(trained, vocab, segmented, tmp_path):
    model, _ = trained
    save_pretrained(model, tmp_path, vocab=vocab, extra={"threshold": 1.0})
    loaded, _ = load_extractor(tmp_path)
    assert loaded.threshold == 1.0
    cpu = torch.device("cpu")
    # None = the stored threshold: no probability exceeds 1, while 0.5 finds the trained triples
    assert all(not t for t in extract_triples(loaded, vocab, segmented, cpu))
    assert any(extract_triples(loaded, vocab, segmented, cpu, 0.5))


def test_per_predicate_object_thresholds_drop_only_that_predicate(trained, vocab, segmented,
                                                                 tmp_path):
    model, _ = trained
    # subjects at 0.5; 创始人 needs more than any probability, the others 0.5
    save_pretrained(model, tmp_path, vocab=vocab, extra={
        "threshold": 0.5, "object_thresholds": {"创始人": 1.0}})
    loaded, _ = load_extractor(tmp_path)
    assert loaded.object_thresholds == [0.5, 0.5, 0.5, 1.0]
    assert loaded.type_filter is None  # no span_types files in the directory
    found = {(t["subject"], t["predicate"], t["object"])
             for ts in extract_triples(loaded, vocab, segmented, torch.device("cpu")) for t in ts}
    gold = {x for _, spo in SENTENCES for x in spo}
    assert found == {x for x in gold if x[1] != "创始人"}
    # an explicit threshold overrides the stored choices
    explicit = extract_triples(loaded, vocab, segmented, torch.device("cpu"), 0.5)
    assert {(t["subject"], t["predicate"], t["object"]) for ts in explicit for t in ts} == gold


def test_layer_norm_blocks_keep_padding_out_and_train(vocab, segmented):
    torch.manual_seed(0)
    model = TripleExtractor(tiny_config(vocab, layer_norm=True)).eval()
    assert all(b.norm is not None for b in model.blocks) and model.final_norm is not None
    chars = torch.tensor([[3, 4, 5, 0, 0], [3, 4, 5, 6, 7]])
    x = model.encode(chars, torch.zeros_like(chars))
    assert torch.all(x[0, 3:] == 0)
    alone = model.encode(chars[:1, :3], torch.zeros_like(chars[:1, :3]))
    assert torch.allclose(x[0, :3], alone[0], atol=1e-5)
    trained, losses = _train_tiny(vocab, segmented, layer_norm=True)
    assert losses[-1] < losses[0] / 10


def test_stored_decoding_applies_the_triple_rules_after_the_type_filter(trained, vocab, segmented,
                                                                        tmp_path):
    model, _ = trained
    save_pretrained(model, tmp_path, vocab=vocab, extra={"threshold": 0.5})
    loaded, _ = load_extractor(tmp_path)
    assert loaded.triple_rules is None  # no "rules" in config.json

    class KeepAll:  # a type filter that keeps every triple
        def keep(self, text, words, triples):
            return list(triples)

    class NoFounders:  # rules that drop one predicate, recording what they were given
        seen = []

        def apply(self, text, words, triples):
            self.seen.append(text)
            return [t for t in triples if t["predicate"] != "创始人"]

    loaded.type_filter, loaded.triple_rules = KeepAll(), NoFounders()
    cpu = torch.device("cpu")
    found = {(t["subject"], t["predicate"], t["object"])
             for ts in extract_triples(loaded, vocab, segmented, cpu) for t in ts}
    gold = {x for _, spo in SENTENCES for x in spo}
    assert found == {x for x in gold if x[1] != "创始人"} and NoFounders.seen
    # an explicit threshold decodes without the stored filter and rules
    explicit = extract_triples(loaded, vocab, segmented, cpu, 0.5)
    assert {(t["subject"], t["predicate"], t["object"]) for ts in explicit for t in ts} == gold
