import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from wenmai.pipelines.infer import FailureStats
from wenmai.pipelines.title import RouteFn, Title
from wenmai.types import Doc

from .fakes import FakeTitlerHandler


def test_failure_stats_count_and_keep_a_few_reasons():
    fn = FailureStats()
    acc = fn.create_accumulator()
    for i in range(8):
        acc = fn.add_input(acc, (f"d{i}", f"reason {i % 6}"))
    merged = fn.merge_accumulators([acc, fn.add_input(fn.create_accumulator(), ("x", "reason 0"))])
    out = fn.extract_output(merged)
    assert out["failed"] == 9 and len(out["reasons"]) == FailureStats.KEEP
    assert fn.extract_output(fn.create_accumulator()) == {"failed": 0, "reasons": []}


def test_titles_keyed_by_doc_id_and_failures_counted():
    docs = [Doc(f"d{i}", "s", i, text) for i, text in enumerate(
        ["华为公司发布新手机", "北京明天降温", "国足比赛结果", "上海地铁新线开通", "广州塔灯光秀"])]
    with TestPipeline() as p:
        out = p | beam.Create(docs) | Title(FakeTitlerHandler(chars=4), min_chars=3)
        assert_that(out["titles"] | beam.Filter(lambda kv: kv[0] == "d1"),
                    equal_to([("d1", ("北京明天", -1.0, "generated"))]), label="titles")
        assert_that(out["stats"], equal_to([("title", {"failed": 0, "reasons": [], "generated": 5,
                                                       "own": 0, "headline": 0, "untitled": {}})]),
                    label="stats")


def test_short_documents_are_their_own_titles_and_foreign_ones_get_none():
    long_news = "央视网消息（新闻联播）：北京明天起大范围降温，最高气温只有五度，请市民注意添衣保暖出行"
    docs = [Doc("short", "s", 1, "北京降温"),
            Doc("english", "s", 2, "The quick brown fox jumps over the lazy dog again and again"),
            Doc("news", "s", 3, long_news)]
    with TestPipeline() as p:
        out = p | beam.Create(docs) | Title(FakeTitlerHandler(chars=6), min_chars=10)
        # the titler reads the story without its stock opening; the short line is its own title
        assert_that(out["titles"], equal_to([("short", ("北京降温", None, "text")),
                                             ("news", ("北京明天起大", -1.0, "generated"))]),
                    label="titles")
        assert_that(out["stats"], equal_to([("title", {
            "failed": 0, "reasons": [], "generated": 1, "own": 1, "headline": 0,
            "untitled": {"not_chinese": 1}})]), label="stats")


def test_the_titler_gets_its_input_text_without_the_tokens():
    # the titler reads characters; an article's tokens would only fill its length groups
    text = "央视网消息（新闻联播）：北京明天起大范围降温，最高气温只有五度"
    doc = Doc("news", "s", 3, text, tokens=("央视网", "消息", "北京", "明天"))
    (out,) = list(RouteFn(10).process(doc))
    assert out.doc_id == "news" and out.tokens == () and out.text.startswith("北京明天")


DIGEST = ("央视网消息（新闻联播）：\n甲地新建水库投用\n水库今天正式投用，可蓄水两亿立方米。\n"
          "乙市出台育儿补贴\n补贴每月发放，覆盖全市家庭。\n丙省春播过半\n春播进度快于去年同期。")


def test_a_digest_is_titled_by_its_first_headline_without_the_titler():
    from wenmai.text import normalize_text
    docs = [Doc("digest", "s", 1, normalize_text(DIGEST))]
    with TestPipeline() as p:
        out = p | beam.Create(docs) | Title(FakeTitlerHandler(chars=6), min_chars=10)
        assert_that(out["titles"], equal_to([("digest", ("甲地新建水库投用", None, "text"))]),
                    label="titles")
        assert_that(out["stats"], equal_to([("title", {
            "failed": 0, "reasons": [], "generated": 0, "own": 0, "headline": 1,
            "untitled": {}})]), label="stats")
