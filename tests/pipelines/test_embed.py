import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from wenmai.config import EmbedConfig, InferenceConfig
from wenmai.pipelines.embed import (EncodeSentences, document_pieces, fit_lexical, mix,
                                    pool_pieces, unit_rows)
from wenmai.pipelines.infer import to_example
from wenmai.types import Doc

from .fakes import FakeEncoderHandler

# Invented snippets (no dataset text): two topics, a few documents each.
TEXTS = ["华为发布新款手机芯片。手机销量创新高！", "华为手机芯片供应恢复。", "新款手机芯片性能提升。",
         "北京今日降温降雪。气温跌破零度！", "北京降雪道路结冰。", "今冬北京气温偏低降雪多。"]


def test_to_example():
    assert to_example(Doc("a", "s", 0, "你好", tokens=("你好",))) == ("a", ("你好", ("你好",)))


def test_document_pieces_cover_the_text_with_their_words():
    tokens = ("华为", "发布", "手机", "。", "北京", "降温", "！")
    pieces = document_pieces("".join(tokens), tokens, 128)
    assert pieces == [(0, "华为发布手机。", ("华为", "发布", "手机", "。")),
                      (7, "北京降温！", ("北京", "降温", "！"))]
    # An over-long sentence is cut at max_chars, so the encoder (which reads max_len) sees it all.
    long = "很" * 300
    assert [len(p) for _, p, _ in document_pieces(long, (long,), 128)] == [128, 128, 44]


def test_pool_pieces_weighs_by_length_in_any_order():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    pooled = pool_pieces([(5, 3, b), (0, 1, a)])
    assert np.allclose(pooled, unit_rows(np.array([1.0, 3.0])))
    assert np.array_equal(pooled, pool_pieces([(0, 1, a), (5, 3, b)]))


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.5, 1.0])
def test_mix_cosine_is_the_weighted_sum_of_part_cosines(weight):
    rng = np.random.default_rng(0)
    s, l = unit_rows(rng.normal(size=(2, 6))), unit_rows(rng.normal(size=(2, 4)))
    m = mix(s, l, weight)
    assert np.allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-6)
    assert m[0] @ m[1] == pytest.approx((1 - weight) * s[0] @ s[1] + weight * l[0] @ l[1], abs=1e-5)


def test_fit_lexical_is_deterministic_padded_and_skips_tiny_runs():
    config = EmbedConfig(lexical_dims=16)
    assert fit_lexical(TEXTS[:2], config) is None  # too few texts to fit anything
    a, b = fit_lexical(TEXTS, config), fit_lexical(TEXTS, config)
    za, zb = a.transform(TEXTS), b.transform(TEXTS)
    assert za.shape == (6, 16) and np.array_equal(za, zb)  # padded to lexical_dims with zeros
    assert np.allclose(np.linalg.norm(za, axis=1), 1.0, atol=1e-5)
    # Documents that share the topic's characters are closer than documents of the other topic.
    sim = za @ za.T
    assert sim[0, 1] > sim[0, 4] and sim[3, 4] > sim[3, 1]
    # A text made only of unseen characters has no lexical vector, not a NaN one.
    assert not a.transform(["ＸＹＺ"]).any()


def _docs(texts):
    import jieba

    return [Doc(f"d{i}", "s", i, t, tokens=tuple(jieba.lcut(t))) for i, t in enumerate(texts)]


def test_embeddings_keyed_by_doc_id_and_failures_reported():
    docs = [Doc(f"d{i}", "s", i, text, tokens=(text,)) for i, text in
            enumerate(["华为公司", "北京降温", "坏样本", "国足比赛"])]
    with TestPipeline() as p:
        out = p | beam.Create(docs) | EncodeSentences(FakeEncoderHandler(fail_on="坏"))
        ok = out["embeddings"] | "Norms" >> beam.MapTuple(
            lambda doc_id, v: (doc_id, round(float(np.linalg.norm(v)), 4)))
        failed = out["errors"] | "FailedIds" >> beam.Keys()
        # The fake batches 4 pieces at a time, so the failing document takes its batch-mates with
        # it: every one of them is reported, none vanishes.
        assert_that((ok, failed) | beam.Flatten() | beam.Map(
            lambda x: x[0] if isinstance(x, tuple) else x), equal_to(["d0", "d1", "d2", "d3"]))


def test_document_vectors_match_the_pure_functions():
    """The Beam step == pool the fake's piece vectors by length, mix with the fitted TF-IDF/SVD."""
    docs = _docs(TEXTS)
    config = EmbedConfig(lexical_dims=8)
    handler = FakeEncoderHandler()
    expected = {}
    lexical = fit_lexical(TEXTS, config).transform(TEXTS)
    for doc, z in zip(docs, lexical):
        pieces = [(o, len(p), handler._vector(p)) for o, p, _ in document_pieces(doc.text, doc.tokens, 128)]
        expected[doc.doc_id] = mix(pool_pieces(pieces), z, config.lexical_weight)
    with TestPipeline() as p:
        out = p | beam.Create(docs) | EncodeSentences(handler, InferenceConfig(), config)
        assert_that(out["embeddings"] | beam.MapTuple(
            lambda d, v: (d, len(v), bool(np.allclose(v, expected[d], atol=1e-5)))),
            equal_to([(d.doc_id, 16, True) for d in docs]))


def test_a_document_with_one_failed_piece_gets_no_vector():
    docs = [Doc("long", "s", 0, "北京降温。" + "好" * 5 + "坏。", tokens=()),
            Doc("ok", "s", 1, "华为发布。", tokens=())]
    with TestPipeline() as p:
        out = p | beam.Create(docs) | EncodeSentences(
            FakeEncoderHandler(fail_on="坏"), InferenceConfig(max_len=4), EmbedConfig(lexical_dims=0))
        errors = out["errors"] | "Failed" >> beam.Keys()
        vectors = out["embeddings"] | "Embedded" >> beam.Keys()

        def only_in_errors(ids):
            assert ids.count(("e", "long")) == 1 and ("v", "long") not in ids, ids

        assert_that((errors | "E" >> beam.Map(lambda d: ("e", d)),
                     vectors | "V" >> beam.Map(lambda d: ("v", d))) | beam.Flatten(),
                    only_in_errors)


DIGEST = ("央视网消息(新闻联播): 甲地新建水库投用 水库今天正式投用,可蓄水两亿立方米。 "
          "乙市出台育儿补贴 补贴每月发放。 丙省春播过半 春播进度快于去年同期。")


def test_a_digest_is_embedded_as_its_first_item():
    """The bulletin's vector is its first item's (what its title names), not the mean of all."""
    from wenmai.pipelines.embed import lead_view
    from wenmai.text import load_jieba, segment

    digest = Doc("digest", "s", 0, DIGEST, tokens=segment(load_jieba(), DIGEST))
    lead = lead_view(digest)
    assert lead.text == "央视网消息(新闻联播): 甲地新建水库投用 水库今天正式投用,可蓄水两亿立方米。 "
    assert "".join(lead.tokens) == lead.text and DIGEST.startswith(lead.text)
    # without its words (never segmented) the first item is still read, never nothing
    assert lead_view(digest.with_(tokens=())).text == lead.text
    story = Doc("story", "s", 1, "北京今日降温降雪。", tokens=("北京", "今日", "降温", "降雪", "。"))
    assert lead_view(story) is story
    handler = FakeEncoderHandler()
    expected = pool_pieces([(o, len(p), handler._vector(p))
                            for o, p, _ in document_pieces(lead.text, lead.tokens, 128)])
    with TestPipeline() as p:
        out = p | beam.Create([digest]) | EncodeSentences(handler, InferenceConfig(),
                                                          EmbedConfig(lexical_dims=0))
        assert_that(out["embeddings"] | beam.MapTuple(
            lambda d, v: (d, bool(np.allclose(v, expected, atol=1e-6)))),
            equal_to([("digest", True)]))


def _invented_corpus(n=60):
    """Invented lines from a few subjects, verbs and objects: enough texts that the randomized
    SVD approximates (more rows than its components plus oversampling)."""
    subjects = ["华为", "北京", "国足", "央行", "故宫", "高铁", "小麦", "航天员"]
    verbs = ["发布", "迎来", "推进", "完成", "宣布", "启动"]
    objects = ["新款芯片", "今冬首场降雪", "主场比赛", "利率调整", "文物修复", "线路开通", "夏粮收割", "出舱任务"]
    return [f"{subjects[i % 8]}{verbs[i % 6]}{objects[(i * 3) % 8]}，{subjects[(i * 5) % 8]}表示{objects[(i * 7) % 8]}进展顺利。"
            for i in range(n)]


def test_lexical_vectors_depend_on_the_texts_not_their_ids_or_order(tmp_path):
    """The doc_ids embed the input's path: the same stories read from another path, or in
    another order, must get the same lexical vectors (the randomized SVD is row-order sensitive,
    so the fitting sample is ordered by text)."""
    import json

    from wenmai.pipelines.embed import LexicalVectors

    texts = _invented_corpus()
    config = EmbedConfig(lexical_dims=4)

    def vectors(prefix, order):
        docs = [Doc(f"{prefix}:{i}", "s", i, texts[i]) for i in order]
        out = tmp_path / prefix.strip("/").replace("/", "_")
        with TestPipeline() as p:
            (p | beam.Create(docs) | LexicalVectors(config)
             | beam.MapTuple(lambda doc_id, v: json.dumps([int(doc_id.split(":")[1]), v.tolist()]))
             | beam.io.WriteToText(str(out)))
        rows = [json.loads(line) for f in tmp_path.glob(out.name + "*") for line in f.open()]
        return np.array([v for _, v in sorted(rows)], dtype=np.float32)

    a = vectors("/data/today.jsonl", range(len(texts)))
    b = vectors("/tmp/elsewhere/copy.jsonl", reversed(range(len(texts))))
    assert a.shape == (len(texts), 4) and np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a, b)
