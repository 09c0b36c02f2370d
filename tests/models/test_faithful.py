"""Faithful titles: the number-string definition, the metric, and the decoder's constraint."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from wenmai.models.faithful import (TitleConstraint, chinese_share, digest_headlines, digest_lead,
                                    has_names,
                                    is_series_label,
                                    names_faithful, novel_char_share, number_faithful,
                                    number_strings, runs, series_share, strip_opener, title_key,
                                    titler_input, untitled_reason)


@pytest.mark.parametrize("text,expected", [
    ("报名人数突破1244万，比去年增加三成", ["1244万", "三成"]),
    ("2026年8月10日上午", ["2026年", "8月", "10日"]),
    ("增长3.5%", ["3.5%"]),
    ("一些地方统一部署，万一下雨", []),  # words, not numbers
    ("一个人和两国", []),  # a lone 一 or 两 is an article or a measure word
    ("十五五规划", ["十五五"]),
    ("第一九一八年", ["一九一八年"]),
])
def test_number_strings(text, expected):
    assert number_strings(text) == expected


@pytest.mark.parametrize("title,source,ok", [
    ("报名人数124万", "报名人数1244万", False),
    ("一百万人", "一千一百万人", False),
    ("一八年", "一九一八年", False),
    ("90亿元", "投资900亿元", False),
    ("6月2日", "6月22日", False),
    ("十五规划", "十五五规划", False),
    ("2026年8月", "2026年8月10日", True),
    ("8月10日开幕", "2026年8月10日", True),
    ("增加三成", "比去年增加三成", True),
    ("增长3倍", "增长3%", False),  # the unit belongs to the number
    ("统一部署", "各地部署", True),  # no number string in the title
    ("超35℃", "气温将超35℃", True),  # ℃ is one character, as the decoder sees it
])
def test_number_faithful_is_whole(title, source, ok):
    assert number_faithful(title, source) is ok


def test_series_and_novelty_shares():
    titles = ["国内联播快讯", "北京降温", "北京降温", "北京降温", "上海"]
    sources = ["a", "北京降温了", "北京今天降温", "北京明起降温", "上海"]
    assert is_series_label("国内联播快讯") and not is_series_label("北京降温")
    # the label, and one title given to three different sources
    assert series_share(titles, sources) == pytest.approx(4 / 5)
    assert novel_char_share(["北京雪"], ["北京降温"]) == pytest.approx(1 / 3)


def test_openers_and_languages():
    assert strip_opener("央视网消息(新闻联播):今天") == "今天"
    assert strip_opener("中国网络电视台消息（新闻联播）：今天") == "今天"
    assert strip_opener("今天央视网消息:") == "今天央视网消息:"  # only at the start
    assert strip_opener("中国网络电视台消息(新闻联播)：本台消息，今天") == "今天"
    assert strip_opener("本台消息,今天") == "今天"
    assert untitled_reason("The quick brown fox jumps") == "not_chinese"
    assert untitled_reason("华为发布了新款 Mate 手机") is None
    assert chinese_share("123") == 0.0
    link = "本台播发快评。[查看原文](https://tv.example.com/2026/03/30/VIDEtrocowjwglSMCYW.shtml)"
    assert untitled_reason(link) is None  # a link's letters do not make a story foreign
    assert titler_input("央视网消息：" + link) == "本台播发快评。"


def test_digest_headlines():
    items = ["甲地新建水库投用 水库今天正式投用，可蓄水两亿立方米。", "乙市出台育儿补贴 补贴每月发放。",
             "丙省春播过半 春播进度快于去年同期。"]
    opener = "央视网消息(新闻联播): "
    assert digest_headlines(opener + " ".join(items)) == ["甲地新建水库投用", "乙市出台育儿补贴",
                                                          "丙省春播过半"]
    assert digest_headlines(opener + " ".join(items[:2])) == []  # two items: not a bulletin
    # a story that opens with a sentence is no digest, whatever headline-like lines follow
    assert digest_headlines("今天召开会议。 " + " ".join(items)) == []
    # a line break inside a sentence is no headline: the next line carries on the sentence ...
    assert digest_headlines("中非论坛今天隆重开幕 。 " + " ".join(items)) == []
    # ... or the number it split ("李克强1 8日"), or a book title left open
    assert digest_headlines("国务院总理李克强1 8日会见来宾。 " + " ".join(items)) == []
    assert digest_headlines("人民日报发表《忠实履行职责 充分发挥作用》评论员文章。 " + " ".join(items)) == []
    # a programme rubric is not a headline, nor is a reporter's byline
    assert digest_headlines("国内联播快讯 " + " ".join(items))[0] == "甲地新建水库投用"
    assert digest_headlines("本台记者 张三 会议今天召开。 " + " ".join(items)) == []
    # a dateline, a numbered section, numbers and Latin words set off by spaces are no headlines
    assert digest_headlines("新华社北京3月5日电 国务院今天开会，部署工作。 坚持创新驱动发展 报告提出，要加快。 "
                            "推动消费持续回升 报告指出，要提振。 扩大高水平对外开放 报告说，要开放。") == []
    assert digest_headlines("乡村振兴的新路径 竹林经济焕发活力。 一、竹产业链不断延伸 竹子加工成新品。 "
                            "二、竹林碳汇交易破题 碳汇卖出好价。 三、村民收入稳步增长 人均增收。") == []
    assert digest_headlines("苹果公司 9 日发布 iPhone 16 系列新品，售价不变。 该系列搭载 A18 芯片，性能提升。 "
                            "分析师认为 新品将带动 第四季度 销量，反应积极。") == []
    # an item may end in …… (NFKC: ......)
    assert digest_headlines(opener + "甲地新建水库投用 水库今天投用...... " + " ".join(items[1:])
                            )[:2] == ["甲地新建水库投用", "乙市出台育儿补贴"]
    # the first item, opener included, is what the headline title names
    assert digest_lead(opener + " ".join(items)) == opener + items[0] + " "
    assert digest_lead("今天召开会议。") is None
    # the second headline's line, not an earlier mention of its words
    mention = opener + "甲地新建水库投用 水库投用，乙市出台育儿补贴的消息也传来。 " + " ".join(items[1:])
    assert digest_lead(mention).endswith("消息也传来。 ")
    # a headline may hold a space ("俄称打击乌军港口 乌称袭击俄军集结区")
    assert digest_headlines("俄称打击乌军港口 乌称袭击俄军集结区 俄国防部8日称，打击了港口。 "
                            + " ".join(items))[0] == "俄称打击乌军港口 乌称袭击俄军集结区"


def test_constraint_rules():
    c = TitleConstraint("阿里巴巴集团营收1244万元，iPhone销量增长",
                        words=["阿里巴巴", "集团", "营收", "1244", "万元", "，", "iPhone", "销量",
                               "增长"])
    only, allow, ban = c.rule("营收12")  # inside a number: it must go on along the source's
    assert only == {"4"}
    assert c.rule("营收1244")[0] == {"万"}  # 1244 is not whole there: 1244万 is
    only, allow, ban = c.rule("营收1244万")  # a whole run: may end, or take its own unit
    assert only is None and "年" in ban and "元" not in ban
    only, _, _ = c.rule("阿里巴")  # no end inside a copied name
    assert only == {"巴"}
    assert c.rule("国内联播快讯")[2] >= {TitleConstraint.END}
    assert "讯" in c.rule("研究国内联播快")[2]  # nor inside a title
    stored = TitleConstraint("今天", banned_keys=[title_key("每日快报")])  # a model's own list
    assert TitleConstraint.END in stored.rule("每日快报")[2]
    assert TitleConstraint.END not in stored.rule("每日快")[2]
    assert c.rule("营收")[1] == {"1", "i"}  # a run may only start as a source run starts
    assert "巴" in c.rule("")[2] and "阿" not in c.rule("")[2]  # no start inside a word
    assert c.rule("阿里巴巴集")[0] == {"团"}  # nor an end: 集 ends no word here
    assert TitleConstraint.END not in c.rule("阿里巴巴集团")[2]
    assert c.finish("iphone销量") == "iPhone销量" and c.finish("营收12") == "营收"


def test_a_copied_word_is_not_left_midway():
    words = ["航天员", "乘组", "搭乘", "神舟", "飞船", "成功", "着陆", "，", "体系", "加速", "成型",
             "，", "任务", "圆满", "成功"]
    c = TitleConstraint("".join(words), words=words)
    assert c.rule("航天员乘组搭")[0] == {"乘"}  # not 搭圆满成功, not an end after 搭
    assert c.rule("体系加速成")[0] == {"型"}  # 成 ends 成功 elsewhere, but this copy is 成型's
    only, _, ban = c.rule("航天员乘组搭乘")  # at a word's end: free to end or turn
    assert only is None and TitleConstraint.END not in ban
    assert c.rule("神舟飞船圆满")[0] is None  # a jump between whole words is allowed
    assert c.rule("美方称")[0] is None  # characters the source lacks bind nothing
    assert TitleConstraint("航天员乘组搭乘").rule("乘组搭")[0] is None  # no words: no rule
    assert c.finish("体系加速成") == "体系加速" and c.finish("航天员乘组搭乘") == "航天员乘组搭乘"
    d = TitleConstraint("习近平作出重要指示", words=["习近平", "作出", "重要", "指示"])
    assert "示" in d.rule("习近平重要")[2]  # no turn into a word's middle (重要示)
    assert "示" not in d.rule("习近平重要指")[2]  # ... though a copy goes on through it


def test_a_label_is_not_begun_either():
    c = TitleConstraint("一季度农业保险为农户提供风险保障")
    assert "联" in c.rule("国内")[2] and "播" in c.rule("国内联")[2]  # no 国内联播快, nor 国内联,
    assert "播" not in TitleConstraint("国内联播快讯：今天").rule("国内联")[2]


def test_names_in_book_brackets_are_copied_whole():
    c = TitleConstraint("国务院公布修订后的《行政复议法实施条例》，自公布之日起施行")
    assert c.rule("公布《行政复议法实施")[0] == {"条"}  # no 实施例 for 实施条例
    assert c.rule("公布《行政复议法实施条例")[0] == {"》"}  # closed where the source closes it
    assert c.rule("《")[0] == {"行"}
    assert "》" in c.rule("行政复议法实施条例")[2]  # nothing open: no stray 》
    assert "《" not in c.rule("公布")[2] and c.rule("公布《行政复议法实施条例》")[0] is None
    plain = TitleConstraint("今天北京降温")
    assert {"《", "》"} <= plain.rule("北京")[2]  # no name in the source: no 《 either
    assert c.finish("国务院公布《行政复议法") == "国务院公布"  # a name the length limit cut
    assert c.finish("《行政复议法") == "《行政复议法"  # ... unless nothing else is left


def test_a_quote_or_bracket_left_open_is_closed_where_the_source_closes_it():
    c = TitleConstraint("某国继续采取“非法和挑衅性行动”。某会（某联谊会）召开座谈会")
    assert c.finish("某国继续采取“非法和挑衅性行动") == "某国继续采取“非法和挑衅性行动”"
    assert c.finish("某会(某联谊会") == "某会(某联谊会)"
    assert c.finish("某国继续采取“非法") == "某国继续采取“非法"  # the source goes on: no mark added
    assert c.finish("“非法和挑衅性行动”") == "“非法和挑衅性行动”"
    assert c.finish("挑衅性行动”某会") == "挑衅性行动某会"  # nothing opened: the mark goes
    assert TitleConstraint("表3)5项指标").finish("表3)5项") == "表3)5项"  # ... unless 3 and 5 would join


def test_a_time_word_the_title_ended_on_is_dropped():
    c = TitleConstraint("载人飞行任务新闻发布会今天举行。某部门发言人当地时间今天表示")
    assert c.finish("载人飞行任务新闻发布会今天") == "载人飞行任务新闻发布会"
    assert c.finish("某部门发言人当地时间今天") == "某部门发言人"
    assert c.finish("当地时间今天") == "当地时间今天"  # nothing else left: kept
    assert c.finish("今天举行新闻发布会") == "今天举行新闻发布会"


def test_a_clause_or_sentence_mark_the_title_ended_on_is_dropped():
    c = TitleConstraint("韩正会见候选人巴切莱特。各地通过生态保护修复、治理，改善环境。")
    assert c.finish("韩正会见候选人巴切莱特。") == "韩正会见候选人巴切莱特"
    assert c.finish("各地通过生态保护修复、") == "各地通过生态保护修复"
    assert c.finish("各地通过生态保护修复,") == "各地通过生态保护修复"
    assert c.finish("各地改善环境?") == "各地改善环境?"  # a question may end a title
    assert c.finish("。") == "。"  # nothing else left: kept


def test_a_full_stop_written_as_a_dot_is_no_run_and_no_title_copies_it():
    """Abstracts end sentences with "." after Chinese (…的措施.方法): a title that copied it ran
    into the next sentence (扩大我国中药出口的措施.方法)."""
    assert runs("措施.方法 第3.5节 H.264") == [(7, 10), (12, 17)]
    c = TitleConstraint("提出扩大中药出口的措施.方法 分析了H.264编码")
    assert "." not in c.rule("扩大中药出口的措施")[1]  # after Chinese: a full stop, banned
    only, _, _ = c.rule("分析了h.")  # (the constraint sees Latin letters lower-cased)
    assert only == {"2"}  # inside a run: the dot of H.264 goes on as in the source


def test_a_copy_does_not_run_on_into_the_next_sentence():
    """Without its dot the crossing stayed (我国制药企业的竞争力方法): a copy that ends where a
    source sentence ends may not go on with the next sentence's first character."""
    c = TitleConstraint("分析了我国制药企业的竞争力.方法是问卷调查。今年研究了企业的方法")
    assert "方" in c.rule("我国制药企业的竞争力")[2]
    assert "今" in c.rule("企业的竞争力方法是问卷调查")[2]
    assert "方" not in c.rule("研究了企业的")[2]  # 企业的方法 is one sentence of the source
    assert "" not in c.rule("我国制药企业的竞争力")[2]  # ending there is fine
    spaced = TitleConstraint("飞船与组合体成功分离。 分离后，乘组返回")
    assert "分" in spaced.rule("飞船与组合体成功分离")[2]  # a space after the stop changes nothing


def test_an_opening_mark_or_dash_the_title_ended_on_is_dropped():
    c = TitleConstraint("超氧化物歧化酶(SOD)活性；大麻素受体激动剂JWH-133的作用")
    assert c.finish("超氧化物歧化酶(") == "超氧化物歧化酶"
    assert c.finish("大麻素受体激动剂JWH-") == "大麻素受体激动剂JWH"
    assert c.finish("大麻素受体激动剂JWH-133") == "大麻素受体激动剂JWH-133"


def test_a_name_is_given_once():
    c = TitleConstraint("今天的《大国工匠》讲述张某；本台播出《大国工匠》和《求是》文章")
    assert c.rule("《大国工匠》《")[0] == {"求"}  # the other name, not this one again
    assert c.rule("《大国工匠》《大")[0] == set()  # nothing faithful left: the title ends
    assert "《" not in c.rule("大国工匠")[2]  # given bare, a name left to mark: 求是
    assert "《" in c.rule("《大国工匠》和《求是》")[2]  # every name given: no 《 at all


def test_names_faithful():
    source = "国务院公布修订后的《行政复议法实施条例》和《求是》文章"
    assert names_faithful("公布《行政复议法实施条例》", source)
    assert not names_faithful("公布《行政复议法实施例》", source)  # a character skipped
    assert not names_faithful("行政复议法实施条例》", source)  # unpaired
    assert names_faithful("《求是》杂志", source) and not has_names("国务院公布")


def test_a_label_the_source_names_may_tag_the_title():
    c = TitleConstraint("本台播发央视快评《努力建设创新高地》。")
    assert "评" not in c.rule("央视快")[2]  # not cut short: 央视快:努力建设…
    assert c.rule("央视快评")[0] == {":"}  # a tag, then the title
    other = TitleConstraint("今天北京降温，国内联播快讯")
    assert "评" in other.rule("央视快")[2]  # a label the source does not name stays banned


@settings(max_examples=25, deadline=None)
@given(numbers=st.lists(st.integers(0, 99999), min_size=1, max_size=4), seed=st.integers(0, 50),
       beam=st.sampled_from([1, 3]))
def test_decoded_titles_are_number_faithful(numbers, seed, beam, tiny_titler):
    """Whatever a (random) titler prefers, the decoder copies numbers whole or not at all."""
    from wenmai.models.titler import generate_titles

    model, vocab = tiny_titler
    source = "，".join(f"今年产量{n}万吨" for n in numbers)
    torch.manual_seed(seed)
    with torch.no_grad():  # a fresh random preference for digits each example
        model.out_bias.copy_(torch.randn(vocab.n_chars) * 5)
    (title, _), = generate_titles(model, vocab, [source], beam, 12)
    assert number_faithful(title, source), (title, source)
    for start, end in runs(title):
        assert any(title[start:end] == source[s:e] for s, e in runs(source))


@pytest.fixture(scope="module")
def tiny_titler():
    from wenmai.models.titler import Titler, TitlerConfig, build_titler_vocab

    vocab = build_titler_vocab(["今年产量万吨，0123456789北京降温"], min_count=1)
    torch.manual_seed(0)
    model = Titler(TitlerConfig(vocab_size=vocab.n_chars, emb_dim=8, enc_hidden=8,
                                dec_hidden=16, max_len=64)).eval()
    return model, vocab
