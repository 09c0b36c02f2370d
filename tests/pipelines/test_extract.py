import pytest
import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from wenmai.pipelines.extract import (Extract, boilerplate_spans, sentence_examples,
                                      slice_tokens, split_sentences, triple_rows)
from wenmai.text import TokenOffsets, covering_tokens
from wenmai.types import Doc

from .fakes import FakeExtractorHandler


def test_split_sentences_keeps_offsets_and_closing_quotes():
    text = "他说：“明天出发。”然后走了！  \n第三句"
    parts = split_sentences(text, 100)
    assert [s for _, s in parts] == ["他说：“明天出发。”", "然后走了！", "第三句"]
    for offset, sentence in parts:
        assert text[offset:offset + len(sentence)] == sentence


def test_long_sentences_are_cut_at_a_comma_else_at_the_limit():
    text = "一二三四五，六七八九十一二三四五六七八九十"
    parts = split_sentences(text, 8)
    assert [s for _, s in parts] == ["一二三四五，", "六七八九十一二三", "四五六七八九十"]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="我们。！？，\n ”a", max_size=60), st.integers(1, 12))
def test_split_sentences_properties(text, max_chars):
    parts = split_sentences(text, max_chars)
    for offset, sentence in parts:
        assert sentence and sentence == sentence.strip() and len(sentence) <= max_chars
        assert text[offset:offset + len(sentence)] == sentence
    # the pieces are disjoint, in order, and cover every character that is not whitespace
    covered = [i for offset, sentence in parts for i in range(offset, offset + len(sentence))]
    assert covered == sorted(set(covered))
    assert set(covered) >= {i for i, c in enumerate(text) if not c.isspace()}


def test_slice_tokens_cuts_tokens_at_span_edges():
    tokens = ("华为", "公司", "总部")
    assert slice_tokens(tokens, 0, 6) == tokens
    assert slice_tokens(tokens, 1, 5) == ("为", "公司", "总")
    assert slice_tokens(tokens, 2, 4) == ("公司",)


@settings(max_examples=200, deadline=None)
@given(tokens=st.lists(st.text("甲乙丙丁", min_size=1, max_size=4), max_size=12),
       a=st.integers(0, 50), b=st.integers(0, 50))
def test_token_offsets_slice_as_the_scan_does(tokens, a, b):
    start, end = min(a, b), max(a, b)
    assert TokenOffsets(tokens).covering(start, end) == list(covering_tokens(tokens, start, end))
    assert slice_tokens(TokenOffsets(tokens), start, end) == slice_tokens(tokens, start, end)


def test_sentence_examples_are_keyed_by_doc_and_offset():
    doc = Doc("d", "s", 0, "你好。再见！", tokens=("你好", "。", "再见", "！"))
    assert list(sentence_examples(doc, 10)) == [(("d", 0), ("你好。", ("你好", "。"))),
                                                (("d", 3), ("再见！", ("再见", "！")))]


def test_triple_rows_shift_spans_into_the_document():
    t = {"subject": "华为", "predicate": "所在地", "object": "深圳", "subject_start": 0,
         "subject_end": 2, "object_start": 6, "object_end": 8, "score": 0.5}
    (row,) = triple_rows(("d", 10), [t])
    assert (row["subject_start"], row["subject_end"], row["object_start"], row["object_end"]) == (
        10, 12, 16, 18)


DOCS = [Doc("a", "s", 0, "今天天气好。华为位于深圳，腾讯位于南山。", tokens=()),
        Doc("b", "s", 1, "第一句里阿里位于杭州。另一句：百度总部位于北京。", tokens=())]


def test_extract_spans_point_into_document_text():
    texts = {d.doc_id: d.text for d in DOCS}
    with TestPipeline() as p:
        out = p | beam.Create(DOCS) | Extract(FakeExtractorHandler(), 256)
        checked = out["triples"] | beam.Map(lambda r: (
            r["doc_id"], r["subject"], r["object"],
            texts[r["doc_id"]][r["subject_start"]:r["subject_end"]] == r["subject"],
            texts[r["doc_id"]][r["object_start"]:r["object_end"]] == r["object"]))
        assert_that(checked, equal_to([("a", "华为", "深圳", True, True),
                                       ("a", "腾讯", "南山", True, True),
                                       ("b", "第一句里阿里", "杭州", True, True),
                                       ("b", "另一句：百度", "北京", True, True)]), label="spans")
        assert_that(out["stats"], equal_to([("extract", {"sentences": 4, "failed": 0,
                                                         "reasons": []})]), label="stats")


def test_failed_sentences_are_counted_with_their_reason():
    with TestPipeline() as p:
        out = p | beam.Create(DOCS) | Extract(FakeExtractorHandler(fail_on="。"), 256)
        assert_that(out["triples"], equal_to([]), label="none")
        assert_that(out["stats"], equal_to([("extract", {
            "sentences": 4, "failed": 4,
            "reasons": ["inference_error: RuntimeError: cannot extract '。'"]})]), label="stats")


@pytest.mark.parametrize("text, boilerplate", [
    ("央视网消息（新闻联播）：今天发布。", ["央视网消息（新闻联播）："]),
    ("央视网(新闻联播)消息：今天发布。", ["央视网(新闻联播)消息："]),
    ("中国网络电视台消息(新闻联播)：今天。", ["中国网络电视台消息(新闻联播)："]),
    ("新华社北京6月4日电（记者 张三）今天。", ["新华社北京6月4日电", "（记者 张三）"]),
    ("详见[查看原文](https://example.com/a/b.shtml)", ["[查看原文](https://example.com/a/b.shtml)"]),
    ("网址 www.example.com 今天", ["www.example.com"]),
    ("马化腾创立了腾讯公司。", []),  # 讯 and 电 inside a sentence are not openers
    ("中国电信发布公告，称已完成。", []),
])
def test_boilerplate_spans(text, boilerplate):
    assert [text[a:b] for a, b in boilerplate_spans(text)] == boilerplate


def test_sentence_examples_skip_openers_links_and_bylines():
    text = "央视网消息（新闻联播）：张三出生于北京。\n[查看原文](https://example.com/x.shtml)"
    tokens = ("央视网", "消息", "（", "新闻联播", "）", "：", "张三", "出生", "于", "北京", "。", "\n",
              "[", "查看原文", "](", "https://example.com/x.shtml", ")")
    assert "".join(tokens) == text
    doc = Doc("d", "s", 0, text, tokens=tokens)
    examples = list(sentence_examples(doc, 100))
    assert examples == [(("d", 12), ("张三出生于北京。", ("张三", "出生", "于", "北京", "。")))]
    (offset, sentence) = examples[0][0][1], examples[0][1][0]
    assert text[offset:offset + len(sentence)] == sentence
