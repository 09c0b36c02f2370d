import pytest

from wenmai.models.triple_rules import (RuleConfig, TripleRules, has_cue, has_date_shape,
                                        is_country, looks_like_person, nationality_linked,
                                        not_a_person, person_labelled, snap_span, slot_types, work_labelled)

# our own sentences with hand-made POS tags (word, flag, start, end)


def _tags(*words):
    out, pos = [], 0
    for w, flag in words:
        out.append((w, flag, pos, pos + len(w)))
        pos += len(w)
    return tuple(out)


LEADER = "越南国家主席阮某表示"
LEADER_TAGS = _tags(("越南", "ns"), ("国家主席", "n"), ("阮某", "nr"), ("表示", "v"))
QUOTE = "阮某表示越方支持一个中国原则"
QUOTE_TAGS = _tags(("阮某", "nr"), ("表示", "v"), ("越方", "n"), ("支持", "v"), ("一个", "m"),
                   ("中国", "ns"), ("原则", "n"))
ENVOY = "中国驻泰国大使韩某出席"
ENVOY_TAGS = _tags(("中国", "ns"), ("驻", "v"), ("泰国", "ns"), ("大使", "n"), ("韩某", "nr"),
                   ("出席", "v"))
ACTOR = "张三，1980年生于北京，中国内地男演员"
ACTOR_TAGS = _tags(("张三", "nr"), ("，", "x"), ("1980", "m"), ("年", "m"), ("生于", "v"),
                   ("北京", "ns"), ("，", "x"), ("中国", "ns"), ("内地", "s"), ("男演员", "n"))
SPORT = "决赛中，中国选手李某夺冠"
SPORT_TAGS = _tags(("决赛", "n"), ("中", "f"), ("，", "x"), ("中国", "ns"), ("选手", "v"),
                   ("李某", "nr"), ("夺冠", "v"))


CAPITALS = "法国的首都是巴黎，日本的首都是东京"
CAPITALS_TAGS = _tags(("法国", "ns"), ("的", "uj"), ("首都", "d"), ("是", "v"), ("巴黎", "ns"),
                      ("，", "x"), ("日本", "ns"), ("的", "uj"), ("首都", "d"), ("是", "v"),
                      ("东京", "ns"))
CHILD = "王某，中国小童星"
CHILD_TAGS = _tags(("王某", "nr"), ("，", "x"), ("中国", "ns"), ("小童星", "n"))
COPULA = "王某是一名冰岛籍足球运动员"
COPULA_TAGS = _tags(("王某", "nr"), ("是", "v"), ("一名", "m"), ("冰岛", "ns"), ("籍", "ng"),
                    ("足球", "n"), ("运动员", "n"))
LIST = "发来贺电的还有:王某,韩国总统李某,不丹国王赵某"
LIST_TAGS = _tags(("发来", "v"), ("贺电", "n"), ("的", "uj"), ("还有", "v"), (":", "x"),
                  ("王某", "nr"), (",", "x"), ("韩国", "ns"), ("总统", "n"), ("李某", "nr"),
                  (",", "x"), ("不丹", "ns"), ("国王", "n"), ("赵某", "nr"))


def test_snap_span_extends_drops_or_keeps():
    bounds = [0, 3, 5]  # 金某某 | 表示
    assert snap_span(bounds, 0, 2, "extend") == (0, 3)
    assert snap_span(bounds, 0, 2, "drop") is None
    assert snap_span(bounds, 0, 2, "off") == (0, 2)
    assert snap_span(bounds, 0, 3, "drop") == (0, 3)
    assert snap_span(bounds, 1, 4, "extend") == (0, 5)


def test_country_lexicon_and_date_shape():
    assert is_country("柬埔寨") and is_country("中国")
    assert not is_country("柬埔") and not is_country("中美") and not is_country("吴中区")
    assert has_date_shape("1998年3月") and has_date_shape("二〇〇八年") and has_date_shape("2008-05")
    assert has_date_shape("1965") and not has_date_shape("365") and not has_date_shape("19650")
    assert not has_date_shape("10月15日") and not has_date_shape("今年")


def test_person_needs_name_words():
    assert looks_like_person(LEADER, 6, 8, LEADER_TAGS)
    assert not looks_like_person(LEADER, 8, 10, LEADER_TAGS)
    # a title swallowed with the name: a person only when one name word is enough
    assert not looks_like_person(LEADER, 2, 8, LEADER_TAGS)
    assert looks_like_person(LEADER, 2, 8, LEADER_TAGS, every=False)
    assert looks_like_person("马蒂亚斯·施密特", 0, 8, ())
    # a rare name jieba cut into single characters counts; a single character does not
    odd = _tags(("屠", "v"), ("呦", "e"), ("呦", "e"), ("毕业", "n"))
    assert looks_like_person("屠呦呦毕业", 0, 3, odd) and not looks_like_person("屠呦呦毕业", 0, 1, odd)
    # a space between Latin words is part of the name; a space alone is none
    latin = _tags(("Anna", "eng"), (" ", "x"), ("Berg", "eng"), (",", "x"))
    assert looks_like_person("Anna Berg,", 0, 9, latin)
    assert not looks_like_person("Anna Berg,", 4, 5, latin)


def test_labels_name_pen_names_and_works_without_marks():
    text = "《某书》是连载的小说，作者是夜某某"
    assert person_labelled(text, text.index("夜某某"), len(text))
    text = "《某书》是风吹过山岗创作的网络小说"
    assert person_labelled(text, 5, 10)
    text = "《某剧》是由某某电视台创作的话剧"
    assert not person_labelled(text, 6, 11)  # an organisation is not a pen name
    assert not person_labelled("他看见风吹过山岗", 3, 8)
    assert work_labelled("歌名：某首歌 作词:某某", 3, 6)
    assert work_labelled("某首歌是某某演唱的歌曲", 0, 3)
    assert not work_labelled("他说某首歌是某某演唱的", 2, 5)  # not the sentence's opening
    assert not work_labelled("某首歌声响起", 0, 3)  # the span runs on into the sentence


@pytest.mark.parametrize("text, tags, s, o, linked", [
    (LEADER, LEADER_TAGS, "阮某", "越南", True),  # country + title + name
    (QUOTE, QUOTE_TAGS, "阮某", "中国", False),  # a country the quote mentions
    (ENVOY, ENVOY_TAGS, "韩某", "泰国", False),  # posted there, not from there
    (ACTOR, ACTOR_TAGS, "张三", "中国", True),  # apposition with a nationality cue
    (SPORT, SPORT_TAGS, "李某", "中国", True),  # 选手 tagged v is still a role noun
    (CAPITALS, CAPITALS_TAGS, "巴黎", "日本", False),  # the country's clause states something else
    (CHILD, CHILD_TAGS, "王某", "中国", True),  # X，中国小童星
    (COPULA, COPULA_TAGS, "王某", "冰岛", True),  # X是一名冰岛籍…
    (COPULA.replace("冰岛籍", "冰岛的"), COPULA_TAGS, "王某", "冰岛", False),  # no nationality cue
    (LIST, LIST_TAGS, "王某", "韩国", False),  # the country opens the next name's office
    (LIST.replace("韩国总统", "韩国前总统"), LIST_TAGS, "王某", "韩国", False),  # a former one too
    ("王某,韩国前总统,出席", _tags(("王某", "nr"), (",", "x"), ("韩国", "ns"), ("前", "f"),
                              ("总统", "n"), (",", "x"), ("出席", "v")), "王某", "韩国", True),
])
def test_nationality_link(text, tags, s, o, linked):
    si, oi = text.index(s), text.index(o)
    assert nationality_linked(text, (si, si + len(s)), (oi, oi + len(o)), tags, 12) is linked


def test_cue_near_the_pair_within_its_clause():
    text = "2017年5月，某委员会成立"
    assert has_cue(text, (8, 13), (0, 7), "成立", 8)
    assert not has_cue("某联合会今天(5月18日)公布数据", (0, 4), (7, 12), "成立", 8)
    # a cue beyond a clause break does not count
    assert not has_cue("某公司2001年，今年成立十周年", (0, 3), (3, 8), "成立", 20)


SLOTS = {"国籍": ("人物", "国家"), "总部地点": ("企业", "地点"), "成立日期": ("企业", "Date"),
         "妻子": ("人物", "人物"), "作者": ("图书作品", "人物")}


def _triple(text, s, p, o, s_at=0, o_at=0):
    si, oi = text.index(s, s_at), text.index(o, o_at)
    return {"subject": s, "predicate": p, "object": o, "subject_start": si,
            "subject_end": si + len(s), "object_start": oi, "object_end": oi + len(o),
            "score": 0.9}


def _kept(rules, text, tokens, triples):
    return {(t["subject"], t["predicate"], t["object"]) for t in rules.apply(text, tokens, triples)}


def test_rules_keep_the_stated_nationality_and_drop_the_quoted_country():
    text = "越南国家主席阮某表示，越方支持一个中国原则。"
    tokens = ("越南", "国家主席", "阮某", "表示", "，", "越方", "支持", "一个", "中国", "原则", "。")
    rules = TripleRules(SLOTS, RuleConfig(person_evidence=False))
    kept = _kept(rules, text, tokens, [_triple(text, "阮某", "国籍", "越南"),
                                       _triple(text, "阮某", "国籍", "中国")])
    assert kept == {("阮某", "国籍", "越南")}


def test_word_boundary_rule_drops_or_extends_a_cut_name():
    text = "柬埔寨国家主席金某某表示支持"
    tokens = ("柬埔寨", "国家主席", "金某某", "表示", "支持")
    cut = [_triple(text, "金某", "国籍", "柬埔")]
    base = dict(person_evidence=False, nationality_link=False, country_lexicon=False)
    assert _kept(TripleRules(SLOTS, RuleConfig(word_boundary="drop", **base)), text, tokens,
                 cut) == set()
    assert _kept(TripleRules(SLOTS, RuleConfig(word_boundary="extend", **base)), text, tokens,
                 cut) == {("金某某", "国籍", "柬埔寨")}
    assert _kept(TripleRules(SLOTS, RuleConfig(word_boundary="off", **base)), text, tokens,
                 cut) == {("金某", "国籍", "柬埔")}


def test_overlapping_spans_dates_without_year_works_without_marks_and_founding_cues():
    rules = TripleRules(SLOTS, RuleConfig(person_evidence=False))
    text = "中国铁路某某集团有限公司今天(5月18日)发布数据"
    tokens = ("中国铁路", "某某", "集团", "有限公司", "今天", "(", "5", "月", "18", "日", ")",
              "发布", "数据")
    assert _kept(rules, text, tokens, [_triple(text, "中国铁路某某集团有限公司", "总部地点", "中国"),
                                       _triple(text, "中国铁路某某集团有限公司", "成立日期",
                                               "5月18日")]) == set()
    text = "某某委员会成立60年来，从1965年的规模增长"
    tokens = ("某某", "委员会", "成立", "60", "年来", "，", "从", "1965", "年", "的", "规模", "增长")
    assert _kept(rules, text, tokens, [_triple(text, "某某委员会", "成立日期", "1965年")]) == set()
    text = "2017年5月，某某委员会成立"
    tokens = ("2017", "年", "5", "月", "，", "某某", "委员会", "成立")
    assert _kept(rules, text, tokens, [_triple(text, "某某委员会", "成立日期", "2017年5月")]) == {
        ("某某委员会", "成立日期", "2017年5月")}
    text = "王某说的“低空经济”是指"
    tokens = ("王某", "说", "的", "“", "低空", "经济", "”", "是", "指")
    assert _kept(rules, text, tokens, [_triple(text, "低空经济", "作者", "王某")]) == set()


def test_spouses_need_the_cue_between_them_and_no_other_name(monkeypatch):
    text = "甲先生夫人乙女士和丙先生夫人丁女士出席"
    tags = _tags(("甲先生", "nr"), ("夫人", "n"), ("乙女士", "nr"), ("和", "c"), ("丙先生", "nr"),
                 ("夫人", "n"), ("丁女士", "nr"), ("出席", "v"))
    tokens = tuple(w for w, _, _, _ in tags)
    rules = TripleRules(SLOTS, RuleConfig())
    monkeypatch.setattr("wenmai.models.triple_rules.pos_tags", lambda t: tags)  # by hand
    kept = _kept(rules, text, tokens, [_triple(text, "甲先生", "妻子", "乙女士"),
                                       _triple(text, "丙先生", "妻子", "乙女士"),
                                       _triple(text, "丁女士", "妻子", "乙女士")])
    assert kept == {("甲先生", "妻子", "乙女士")}


def test_another_couple_is_not_a_couple_across(monkeypatch):
    # 甲和夫人乙…为丙和夫人丁: 丙 is not tagged a name, yet 丁 is 丙's wife, not 乙's partner
    text = "甲某和夫人乙某在大厅为丙国客人和夫人丁某举行仪式"
    tags = _tags(("甲某", "nr"), ("和", "c"), ("夫人", "n"), ("乙某", "nr"), ("在", "p"),
                 ("大厅", "n"), ("为", "p"), ("丙国", "n"), ("客人", "n"), ("和", "c"),
                 ("夫人", "n"), ("丁某", "nr"), ("举行", "v"), ("仪式", "n"))
    tokens = tuple(w for w, _, _, _ in tags)
    monkeypatch.setattr("wenmai.models.triple_rules.pos_tags", lambda t: tags)
    kept = _kept(TripleRules(SLOTS, RuleConfig()), text, tokens, [
        _triple(text, "甲某", "妻子", "乙某"), _triple(text, "丁某", "妻子", "乙某"),
        _triple(text, "乙某", "妻子", "丁某")])
    assert kept == {("甲某", "妻子", "乙某")}


def test_place_suffixes_and_country_endings_are_no_person():
    assert not_a_person("法国吉伦特省确认", 2, 5)
    assert not not_a_person("吉伦特省长表示", 0, 3)  # an office after a name
    assert not_a_person("援刚果(金)医疗队", 0, 3)
    assert not not_a_person("刚果总统表示", 0, 2) and not not_a_person("王某表示", 0, 2)
    assert not_a_person("享受SPA服务", 2, 5)  # an acronym names a thing
    assert not not_a_person("歌手Angelababy演唱", 2, 11) and not not_a_person("由Jay作曲", 1, 4)


def test_slot_types_read_the_schema(tmp_path):
    path = tmp_path / "schemas.json"
    path.write_text('{"predicate": "国籍", "subject_type": "人物", "object_type": "国家"}\n'
                    '{"predicate": "成立日期", "subject_type": "企业", "object_type": "Date"}\n'
                    '{"predicate": "成立日期", "subject_type": "机构", "object_type": "Date"}\n',
                    encoding="utf-8")
    assert slot_types(path) == {"国籍": ("人物", "国家"), "成立日期": ("企业", "Date")}


def test_author_needs_an_authorship_word_or_to_stand_right_before_the_work():
    rules = TripleRules(SLOTS, RuleConfig(person_evidence=False))
    text = "某总理签署命令，公布《某某条例》"
    tokens = ("某", "总理", "签署", "命令", "，", "公布", "《", "某某", "条例", "》")
    assert _kept(rules, text, tokens, [_triple(text, "某某条例", "作者", "某总理")]) == set()
    text = "北宋画家张某《某某图》中的药铺"
    tokens = ("北宋", "画家", "张某", "《", "某某", "图", "》", "中", "的", "药铺")
    assert _kept(rules, text, tokens, [_triple(text, "某某图", "作者", "张某")]) == {
        ("某某图", "作者", "张某")}


def test_a_cue_must_start_or_end_on_a_word_boundary():
    # 学历 straddles 大学|历史: no cue for 毕业院校; 毕业 is one
    text = "在某某大学历史系教授王某家中"
    bounds = [0, 1, 3, 5, 7, 8, 10, 12, 14]  # 在|某某|大学|历史|系|教授|王某|家中
    assert not has_cue(text, (10, 12), (1, 5), "学历", 20, bounds)
    assert has_cue("王某从某某大学毕业", (0, 2), (3, 7), "毕业", 20, [0, 2, 3, 5, 7, 9])
    # 作者 inside 工作者 is no authorship word; 出生 at the start of 出生于 is a birth word
    text = "王某宣读表彰先进工作者的《某某决定》"
    bounds = [0, 2, 4, 6, 8, 11, 12, 13, 15, 17, 18]
    assert not has_cue(text, (13, 17), (0, 2), "作者", 20, bounds)
    assert has_cue("王某1958年出生于北京", (0, 2), (9, 11), "出生", 20, [0, 2, 6, 7, 10, 12])


def test_an_abbreviation_needs_its_bracket_or_cue():
    """Papers name several things with their abbreviations in a row; a short form belongs to the
    name its bracket follows (or a cue ties to it), not to the name next to it."""
    import jieba

    slots = {"简称": ("机构", "Text")}
    rules = TripleRules(slots, RuleConfig(word_boundary="off"))
    text = "参照世界卫生组织(WHO)和国际健康行动机构(HAI)的方法"
    kept = _kept(rules, text, jieba.lcut(text), [_triple(text, "世界卫生组织", "简称", "WHO"),
                                                  _triple(text, "世界卫生组织", "简称", "HAI"),
                                                  _triple(text, "国际健康行动机构", "简称", "HAI")])
    assert kept == {("世界卫生组织", "简称", "WHO"), ("国际健康行动机构", "简称", "HAI")}
    cued = "某市旅游有限公司简称“某旅”，成立于2001年"
    assert _kept(rules, cued, jieba.lcut(cued), [_triple(cued, "某市旅游有限公司", "简称", "某旅")])
    before = "ABC（某某研究中心）名师团"  # the short form first, the name in its bracket
    assert _kept(rules, before, jieba.lcut(before), [_triple(before, "某某研究中心", "简称", "ABC")])
    loose = "皮肤粘膜是艾滋病病毒(HIV)侵袭的部位"
    assert not _kept(rules, loose, jieba.lcut(loose), [_triple(loose, "皮肤粘膜", "简称", "HIV")])
    off = TripleRules(slots, RuleConfig(word_boundary="off", abbreviation_link=False))
    assert _kept(off, loose, jieba.lcut(loose), [_triple(loose, "皮肤粘膜", "简称", "HIV")])
