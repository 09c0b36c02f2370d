import math

import apache_beam as beam
import pytest
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from wenmai.config import SegmentConfig
from wenmai.pipelines.cluster import Assignment
from wenmai.pipelines.summarize import (TITLE_CHARS, Keywords, Summarize, cluster_keywords, ctfidf,
                                        document_words, join_document, keyword_tokens,
                                        representative, split_words, text_title)
from wenmai.types import DeadLetter, Doc


def test_keyword_tokens_keep_prose_words_only():
    tokens = ("详见", "https", "://", "tv", ".", "cctv", ".", "com", "/", "2026", "/", "a", ".",
              "shtml", "，", "邮箱", "news", "@", "example", ".", "cn", "，", "<", "br", "/>",
              "2026", "年", "15", "万", "百分之一点", "华为", "发布", "5G", "芯片", "的", "了")
    assert keyword_tokens(tokens) == ["邮箱", "华为", "发布", "芯片"]  # 详见 is tagged a
    # Words that merely look like web words are kept outside an address: only spans are blocked.
    assert keyword_tokens(("CCTV", "播出", "新闻")) == ["cctv", "播出", "新闻"]
    assert keyword_tokens(("访问", "www", ".", "qingtui", ".", "im", "平台")) == ["访问", "平台"]


def test_keyword_tokens_leave_function_words_out():
    # pronouns, time words, adverbs, direction words and adjectives say nothing of the topic;
    # nouns, verbs, names and words jieba's dictionary lacks stay
    tokens = ("我国", "今天", "共同", "最后", "重要", "我们", "小麦", "抢收", "安全", "殷某某")
    assert keyword_tokens(tokens) == ["小麦", "抢收", "安全", "殷某某"]


def test_keyword_tokens_leave_framing_verbs_out():
    # 如何看待…, 如何评价… questions and 某某表示… reports: the frame is no topic
    tokens = ("如何", "看待", "特斯拉", "召回", "，", "如何", "评价", "新", "电影", "，", "专家", "表示")
    assert keyword_tokens(tokens) == ["特斯拉", "召回", "电影", "专家"]


def test_document_words_round_trip_and_skip_what_keywords_never_use():
    doc = Doc("a", "s", 0, "华为发布5G芯片的消息", tokens=("华为", "发布", "5G", "芯片", "的", "消息"))
    assert split_words(document_words(doc)) == keyword_tokens(doc.tokens) == ["华为", "发布", "芯片",
                                                                             "消息"]
    assert split_words(document_words(Doc("b", "s", 1, "的", tokens=("的",)))) == []


def test_ctfidf_worked_example():
    assert ctfidf(3, 3, 10.0) == pytest.approx(3 * math.log(1 + 10 / 3))
    # Same count in the cluster, but common across the run: lower.
    assert ctfidf(3, 30, 10.0) < ctfidf(3, 3, 10.0)


# Invented stories (no dataset text): every one carries the outlet's boilerplate.
STORIES = [
    ("台网消息 华为 发布 芯片 芯片 台网消息", 0), ("台网消息 华为 芯片 销量 新闻", 0),
    ("台网消息 华为 手机 芯片 新闻", 0), ("台网消息 北京 降雪 降雪 新闻", 1),
    ("台网消息 北京 降温 降雪", 1), ("台网消息 降雪 道路 结冰 新闻", 1), ("台网 评论 道路", 1),
]


def _tokens(line):
    return tuple(w for w in line.split(" "))


def test_cluster_keywords_rank_against_the_run_and_drop_boilerplate():
    clusters = [c for _, c in STORIES]
    tokens = [_tokens(t) for t, _ in STORIES]
    keywords = cluster_keywords(clusters, tokens, 3, max_df=0.5)
    assert keywords[0][0] == "芯片" and keywords[1][0] == "降雪"
    # 台网消息 is in every story, 新闻 in four of six: over the ceiling, never a keyword; nor is
    # 台网, a part of 台网消息 (as a string it is in every story too).
    assert not {"台网消息", "新闻", "台网"} & set(keywords[0] + keywords[1])
    # With no ceiling c-TF-IDF still sinks the words every cluster shares below its own words.
    loose = cluster_keywords(clusters, tokens, 8, max_df=1.0)
    assert loose[0].index("芯片") < loose[0].index("台网消息")


def test_keywords_transform_equals_the_in_memory_ranking():
    members = [(c, document_words(Doc(f"d{i}", "s", i, t.replace(" ", ""), tokens=_tokens(t))))
               for i, (t, c) in enumerate(STORIES)]
    expected = cluster_keywords([c for _, c in STORIES], [_tokens(t) for t, _ in STORIES], 3, 0.5)
    with TestPipeline() as p:
        out = p | beam.Create(members) | Keywords(SegmentConfig(max_keywords=3))
        assert_that(out, equal_to(sorted(expected.items())))


def test_a_digest_gives_its_cluster_only_its_first_items_words():
    from wenmai.text import load_jieba, segment

    text = ("甲地新建水库投用 水库今天正式投用,可蓄水两亿立方米。 乙市出台育儿补贴 补贴每月发放。 "
            "丙省春播过半 春播进度快于去年同期。")
    digest = Doc("d", "s", 0, text, tokens=segment(load_jieba(), text))
    story = Doc("s", "s", 1, "水库蓄水发电。", tokens=("水库", "蓄水", "发电", "。"))
    with TestPipeline() as p:
        out = (p | beam.Create([(0, document_words(digest)), (0, document_words(story))])
               | Keywords(SegmentConfig(max_keywords=20, keyword_max_df=1.0)))
        assert_that(out | beam.MapTuple(lambda c, words: (
            "水库" in words, any(w in words for w in ("补贴", "春播", "育儿")))),
            equal_to([(True, False)]))


def test_a_title_from_text_is_a_whole_first_sentence_without_the_opener():
    assert text_title("央视网消息(新闻联播): 北京今天降温，最低气温零下五度。明天回暖。") == \
        "北京今天降温，最低气温零下五度"
    # a digest: its first headline
    assert text_title("央视网消息: 甲地新建水库投用 水库今天投用。 乙市出台育儿补贴 补贴每月发放。 "
                      "丙省春播过半 春播进度快于去年。") == "甲地新建水库投用"
    # a long sentence ends after its last whole clause within the limit
    clause = "各地" + "农" * 20 + "忙"
    long = "，".join([clause] * 5) + "。"
    assert text_title(long) == "，".join([clause] * (TITLE_CHARS // (len(clause) + 1)))
    assert len(text_title("农" * 100)) == TITLE_CHARS  # one clause longer than the limit: cut
    assert text_title("北京降温") == "北京降温"
    # a comma or colon inside a number is no clause end (51,234; 10:30)
    number = "统计显示" + "农" * 40 + "利润总额51,234亿元同比增长" + "农" * 20
    assert text_title(number) == number[:TITLE_CHARS]


def test_representative_is_nearest_the_mean_then_original():
    a, b = Doc("a", "s", 0, "x"), Doc("b", "s", 1, "x", duplicate_of="a")
    c = Doc("c", "s", 2, "y")
    e1, e2 = np.array([1.0, 0.0], np.float32), np.array([0.6, 0.8], np.float32)
    assert representative([(0.2, b, e1), (0.2, a, e1)]) is a  # a tie: the original wins
    # Two members point one way, one the other: the mean leans to the pair; a hub's flow is ignored.
    assert representative([(0.9, c, e2), (0.1, b, e1), (0.1, a, e1)]) is a


def test_representative_ignores_float_noise_between_runs():
    # The same texts batched differently: vectors up to ~1e-5 apart. Whichever is a hair closer to
    # the mean, the smaller id is chosen in every run (a key rounded to 6 decimals flipped on
    # some of these).
    a, b = Doc("a", "s", 0, "x"), Doc("b", "s", 1, "x")
    c = Doc("c", "s", 2, "y")
    unit = lambda v: (np.asarray(v, np.float32) / np.linalg.norm(v)).astype(np.float32)
    for eps in np.concatenate([np.linspace(1e-7, 1.5e-5, 60), -np.linspace(1e-7, 1.5e-5, 60)]):
        members = [(0.1, b, unit([1.0, eps])), (0.1, a, unit([1.0, -eps])),
                   (0.1, c, unit([0.6, 0.8]))]
        assert representative(members) is a


def test_representative_is_the_surest_titled_of_the_nearest_members():
    unit = lambda v: (np.asarray(v, np.float32) / np.linalg.norm(v)).astype(np.float32)
    titled = lambda doc_id, certainty: Doc(doc_id, "s", 0, "x", metadata={
        "title": doc_id, "title_certainty": certainty})
    a, b, c, d = titled("a", -0.9), titled("b", -0.3), Doc("c", "s", 0, "x"), titled("d", 0.0)
    # nearest the mean first: c (untitled), b (-0.3), a (a garbled title, -0.9), d (own words, 0)
    members = [(0.1, d, unit([0.5, 1.0])), (0.1, c, unit([0.9, 0.45])),
               (0.1, b, unit([0.95, 0.3])), (0.1, a, unit([1.0, 0.2]))]
    assert representative(members, candidates=1) is c  # the nearest alone, as before
    assert representative(members) is b  # of c, b, a: b's title is surer, c has none
    assert representative(members, candidates=4) is d  # its own words beat any generated title
    assert representative([m for m in members if m[1] is not b], candidates=2) is a  # c untitled
    # without titles (titles off) it is the nearest member, as before
    plain = [(0.1, Doc(x.doc_id, "s", 0, "x"), v) for _, x, v in members]
    assert representative(plain).doc_id == "c"


def test_title_certainty():
    from wenmai.pipelines.summarize import title_certainty

    assert title_certainty({"title_source": "text", "title_score": None}) == 0.0
    assert title_certainty({"title_source": "generated", "title_score": -0.4}) == -0.4


def test_join_document_without_embedding_is_a_dead_letter():
    doc = Doc("a", "s", 3, "文本")
    out = list(join_document("a", {"doc": [doc], "emb": [], "err": ["inference_error: X"],
                                    "cluster": []}))
    assert len(out) == 1 and out[0].tag == "dead_letter"
    assert out[0].value == DeadLetter("s", 3, "embed", "inference_error: X", "文本")


def test_join_document_gives_its_cluster_its_words():
    doc = Doc("a", "s", 3, "华为发布芯片")
    out = list(join_document("a", {"doc": [doc], "emb": [np.ones(2, np.float32)], "err": [],
                                    "cluster": [Assignment("a", 4, 0.5)],
                                    "words": ["华为\t发布\t芯片"]}))
    assert out[0]["doc_id"] == "a" and out[0]["cluster_id"] == 4
    assert [(o.tag, o.value[0]) for o in out[1:]] == [("members", 4), ("words", 4)]
    assert out[2].value == (4, "华为\t发布\t芯片")


def test_summarize_rows():
    docs = [Doc("a", "s", 0, "华为公司总部", tokens=("华为公司", "总部")),
            Doc("b", "s", 1, "华为公司总部", tokens=("华为公司", "总部"), duplicate_of="a"),
            Doc("c", "s", 2, "北京降温", tokens=("北京", "降温"))]
    vec = np.ones(4, np.float32) / 2
    with TestPipeline() as p:
        out = (
            p | "Docs" >> beam.Create(docs),
            p | "Emb" >> beam.Create([("a", vec), ("b", vec), ("c", vec)]),
            p | "Err" >> beam.Create([]),
            p | "Assign" >> beam.Create([Assignment("a", 0, 0.25), Assignment("b", 0, 0.25),
                                         Assignment("c", 1, 0.5)]),
        ) | Summarize(SegmentConfig(keyword_max_df=1.0))  # a 3-document run: every word is common
        docs_out = out["documents"] | "DocIds" >> beam.Map(
            lambda r: (r["doc_id"], r["cluster_id"], r["n_chars"], len(r["embedding"])))
        clusters = out["clusters"] | "Clusters" >> beam.Map(
            lambda r: (r["cluster_id"], r["size"], r["representative_doc_id"], r["title"],
                       tuple(r["keywords"]), r["flow"]))
        assert_that(docs_out, equal_to([("a", 0, 6, 4), ("b", 0, 6, 4), ("c", 1, 4, 4)]),
                    label="docs")
        assert_that(clusters, equal_to([(0, 2, "a", "华为公司总部", ("华为公司", "总部"), 0.5),
                                        (1, 1, "c", "北京降温", ("北京", "降温"), 0.5)]),
                    label="clusters")
        assert_that(out["dead_letter"], equal_to([]), label="dead")


def test_titles_fill_documents_and_the_cluster_title_is_the_representatives():
    docs = [Doc("a", "s", 0, "华为公司总部在深圳", tokens=("华为公司", "总部", "在", "深圳")),
            Doc("c", "s", 2, "北京降温", tokens=("北京", "降温"))]
    vec = np.ones(4, np.float32) / 2
    with TestPipeline() as p:
        out = (
            p | "Docs" >> beam.Create(docs),
            p | "Emb" >> beam.Create([("a", vec), ("c", vec)]),
            p | "Err" >> beam.Create([]),
            p | "Assign" >> beam.Create([Assignment("a", 0, 0.5), Assignment("c", 1, 0.5)]),
            p | "Titles" >> beam.Create([("a", ("华为总部", -0.5, "generated"))]),  # c's failed
        ) | Summarize(SegmentConfig())
        assert_that(out["documents"] | "DocTitles" >> beam.Map(
            lambda r: (r["doc_id"], r["title"], r["title_score"], r["title_source"])),
            equal_to([("a", "华为总部", -0.5, "generated"), ("c", None, None, None)]), label="docs")
        assert_that(out["clusters"] | "ClusterTitles" >> beam.Map(
            lambda r: (r["cluster_id"], r["title"])),
            equal_to([(0, "华为总部"), (1, "北京降温")]), label="clusters")


def test_the_cluster_title_is_the_surest_of_its_nearest_members():
    docs = [Doc("a", "s", 0, "华为公司总部在深圳", tokens=("华为公司", "总部", "在", "深圳")),
            Doc("b", "s", 1, "华为总部设在深圳", tokens=("华为", "总部", "设在", "深圳"))]
    vec = np.ones(4, np.float32) / 2  # a tie: a is nearer by id
    with TestPipeline() as p:
        out = (
            p | "Docs" >> beam.Create(docs),
            p | "Emb" >> beam.Create([("a", vec), ("b", vec)]),
            p | "Err" >> beam.Create([]),
            p | "Assign" >> beam.Create([Assignment("a", 0, 0.5), Assignment("b", 0, 0.5)]),
            p | "Titles" >> beam.Create([("a", ("华为公司总部在", -0.9, "generated")),
                                         ("b", ("华为总部设在深圳", -0.2, "generated"))]),
        ) | Summarize(SegmentConfig(keyword_max_df=1.0))
        assert_that(out["clusters"] | beam.Map(
            lambda r: (r["cluster_id"], r["representative_doc_id"], r["title"])),
            equal_to([(0, "b", "华为总部设在深圳")]))


def test_document_row_keeps_the_embedding_a_float32_array():
    """Not a list of Python floats (12 KB a row at 384 dims, in every copy the runner holds)."""
    from wenmai.pipelines.summarize import document_row

    doc = Doc("d1", "a.txt", 1, "今天有雨", tokens=("今天", "有", "雨"))
    row = document_row(doc, [0.6, 0.8], 0)
    assert isinstance(row["embedding"], np.ndarray) and row["embedding"].dtype == np.float32
    assert row["embedding"].tolist() == pytest.approx([0.6, 0.8])
