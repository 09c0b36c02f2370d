import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from hypothesis import given, settings
from hypothesis import strategies as st
from apache_beam.testing.util import assert_that, equal_to

from wenmai.config import TitleConfig
from wenmai.pipelines.infer import FailureStats
from wenmai.pipelines.title import RouteFn, Title
from wenmai.text import normalize_text
from wenmai.types import Doc

from .fakes import FakeTitlerHandler


def _lengths(min_chars: int, lead: int = 64) -> TitleConfig:
    return TitleConfig(title_min_chars=min_chars, title_lead_chars=lead)


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
        out = p | beam.Create(docs) | Title(FakeTitlerHandler(chars=4), title=_lengths(3, lead=0))
        assert_that(out["titles"] | beam.Filter(lambda kv: kv[0] == "d1"),
                    equal_to([("d1", ("北京明天", -1.0, "generated"))]), label="titles")
        assert_that(out["stats"], equal_to([("title", {"failed": 0, "reasons": [], "generated": 5,
                                                       "own": 0, "headline": 0, "lead": 0,
                                                       "untitled": {}})]),
                    label="stats")


def test_short_documents_are_their_own_titles_and_foreign_ones_get_none():
    long_news = "央视网消息（新闻联播）：北京明天起大范围降温，最高气温只有五度，请市民注意添衣保暖出行"
    docs = [Doc("short", "s", 1, "北京降温"),
            Doc("english", "s", 2, "The quick brown fox jumps over the lazy dog again and again"),
            Doc("news", "s", 3, long_news)]
    with TestPipeline() as p:
        out = p | beam.Create(docs) | Title(FakeTitlerHandler(chars=6), title=_lengths(10, lead=0))
        # the titler reads the story without its stock opening; the short line is its own title
        assert_that(out["titles"], equal_to([("short", ("北京降温", None, "text")),
                                             ("news", ("北京明天起大", -1.0, "generated"))]),
                    label="titles")
        assert_that(out["stats"], equal_to([("title", {
            "failed": 0, "reasons": [], "generated": 1, "own": 1, "headline": 0, "lead": 0,
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
    docs = [Doc("digest", "s", 1, normalize_text(DIGEST))]
    with TestPipeline() as p:
        out = p | beam.Create(docs) | Title(FakeTitlerHandler(chars=6), title=_lengths(10))
        assert_that(out["titles"], equal_to([("digest", ("甲地新建水库投用", None, "text"))]),
                    label="titles")
        assert_that(out["stats"], equal_to([("title", {
            "failed": 0, "reasons": [], "generated": 0, "own": 0, "headline": 1, "lead": 0,
            "untitled": {}})]), label="stats")


def test_a_short_document_is_titled_by_its_leading_clauses():
    """A question of 33-64 characters keeps its own words: the clauses it opens with that fit in a
    title; one whose first clause is already too long still goes to the titler."""
    question = "如何看待某科技公司恶意贬低激光电视被判商业诋毁，企业不正当竞争都包含哪些行为？"
    asked = "距离考研还有二十天左右，你开始冲刺了吗？此时理想的复习状态是怎样的？"
    long_clause = "如何看待某市某区二十四户居民因网购进口冷冻猪肉被罚款而当事人被单位要求辞职？"
    docs = [Doc(name, "s", i, normalize_text(text)) for i, (name, text) in enumerate(
        [("question", question), ("asked", asked), ("long_clause", long_clause)])]
    with TestPipeline() as p:
        out = p | beam.Create(docs) | Title(FakeTitlerHandler(chars=6), title=_lengths(32, lead=64))
        assert_that(out["titles"], equal_to([
            ("question", ("如何看待某科技公司恶意贬低激光电视被判商业诋毁", None, "text")),
            ("asked", ("距离考研还有二十天左右,你开始冲刺了吗?", None, "text")),
            ("long_clause", ("如何看待某市", -1.0, "generated"))]), label="titles")
        assert_that(out["stats"], equal_to([("title", {
            "failed": 0, "reasons": [], "generated": 1, "own": 0, "headline": 0, "lead": 2,
            "untitled": {}})]), label="stats")


def test_leading_clauses_keep_brackets_and_numbers_whole():
    from wenmai.models.faithful import leading_clauses

    # a comma inside quotes or between digits ends no clause; nor does one past the limit count
    assert leading_clauses("官方通报「撤销处罚,深表歉意」引发热议,当事人被单位要求辞职后又被恢复工作岗位", 32) \
        == "官方通报「撤销处罚,深表歉意」引发热议"
    assert leading_clauses("某地今年粮食产量达到1,000万吨创下历史新高,农民收入稳步增长并持续向好发展", 32) \
        == "某地今年粮食产量达到1,000万吨创下历史新高"
    assert leading_clauses("一" * 40 + ",好", 32) is None  # the first clause alone is too long
    # an abstract's "." ends its first sentence, a Latin name's does not
    assert leading_clauses("本文研究了某类型的三维除数问题.当a<b时,我们利用指数和的新估计得到了较好估计.", 32) \
        == "本文研究了某类型的三维除数问题"
    assert leading_clauses("分析了H.264编码在视频会议系统中的应用与优化方法,并给出了在嵌入式平台上的实现方案", 32) \
        == "分析了H.264编码在视频会议系统中的应用与优化方法"
    # an opening phrase that says nothing is no title: the titler writes one
    assert leading_clauses("根据生产实践,分析了硫酸法提取工业氧化铍生产过程中的损失分布和影响回收率的因素", 32) is None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="北京降温会议召开今天明年发布123abc,:.?!，。？（）()「」《》 ", max_size=80),
       st.integers(4, 40))
def test_a_lead_title_is_the_text_s_own_start_and_fits(text, max_chars):
    """Whatever the text, a lead title is a prefix of it (nothing rewritten), fits, and does not
    end on a clause mark other than ? or !."""
    from wenmai.models.faithful import leading_clauses

    title = leading_clauses(text, max_chars)
    if title is None:
        return
    assert text.strip().startswith(title) and len(title) <= max(max_chars, 0)
    if len(text.strip()) > max_chars:
        assert title[-1] not in "，,；;：:。" and len(title) >= 8
