import json

import numpy as np
import pytest

from wenmai.models.span_types import (NONE, SpanTypeClassifier, TypeFilter, allowed_types,
                                      canonical_type, fit_span_types, load_span_types,
                                      slots_from_schema, span_features)

# our own sentences: (text, tokens, span, class)
TAGS = {"张三": "nr", "李四": "nr", "北京": "ns", "上海": "ns", "清华大学": "nt", "中国": "ns",
        "出生": "v", "毕业": "v", "于": "p", "在": "p", "很": "d", "高尚": "a", "品德": "n"}
SPANS = [
    ("张三出生于北京", ("张三", "出生", "于", "北京"), (0, 2), "人物"),
    ("张三出生于北京", ("张三", "出生", "于", "北京"), (5, 7), "地点"),
    ("李四毕业于清华大学", ("李四", "毕业", "于", "清华大学"), (0, 2), "人物"),
    ("李四毕业于清华大学", ("李四", "毕业", "于", "清华大学"), (5, 9), "组织"),
    ("李四出生在上海", ("李四", "出生", "在", "上海"), (5, 7), "地点"),
    ("张三毕业于中国", ("张三", "毕业", "于", "中国"), (5, 7), "国家"),
    ("品德很高尚", ("品德", "很", "高尚"), (0, 2), NONE),
    ("品德很高尚", ("品德", "很", "高尚"), (3, 5), NONE),
]


def _features(rows):
    return [span_features(t, toks, a, b, TAGS) for t, toks, (a, b), _ in rows]


def test_span_features_by_hand():
    f = span_features("毕业于清华大学", ("毕业", "于", "清华大学"), 3, 7, {"清华大学": "nt"})
    for x in ("s=清华大学", "l2=大学", "f1=清", "p1=于", "n1=", "tag=nt", "tags=nt", "ab=11",
              "len=4", "b=华大"):
        assert x in f
    # a span cutting a token: starts on a boundary, ends inside one; a word jieba lacks is oov
    f = span_features("毕业于清华大学", ("毕业", "于", "清华大学"), 3, 5, {})
    assert "ab=10" in f and "tag=oov" in f


def test_types_are_canonical_and_slots_widen_places():
    assert canonical_type("娱乐人物") == canonical_type("历史人物") == "人物"
    assert canonical_type("歌曲") == canonical_type("影视作品") == "作品"
    assert allowed_types("国家") == {"国家"}  # 国籍 takes a country, not a district
    assert allowed_types("地点") == {"地点", "国家"}
    assert allowed_types("城市") == {"地点", "国家"}


def test_classifier_learns_the_fixture_and_round_trips(tmp_path):
    feats = _features(SPANS)
    labels = [k for *_, k in SPANS]
    clf = fit_span_types(feats, labels, n_buckets=1 << 12, c=10.0)
    p = clf.proba(feats)
    assert p.shape == (len(SPANS), len(set(labels)))
    assert np.allclose(p.sum(1), 1.0, atol=1e-5)
    assert [clf.classes[i] for i in p.argmax(1)] == labels
    clf.save(tmp_path)
    loaded = load_span_types(tmp_path)
    assert loaded.classes == clf.classes
    assert np.allclose(loaded.proba(feats), p, atol=1e-2)  # weights are stored as float16
    assert load_span_types(tmp_path / "nothing") is None


def test_two_classes_fit_too():
    rows = [r for r in SPANS if r[3] in ("人物", NONE)]
    clf = fit_span_types(_features(rows), [r[3] for r in rows], n_buckets=1 << 10, c=10.0)
    assert [clf.classes[i] for i in clf.proba(_features(rows)).argmax(1)] == [r[3] for r in rows]


def test_type_filter_keeps_a_triple_only_when_both_slots_fit():
    # a hand-set classifier: the bucket of "s=张三" says 人物, of "s=北京" says 地点
    classes = ("人物", "地点", NONE)
    clf = SpanTypeClassifier(classes, np.zeros((1 << 10, 3), dtype=np.float32),
                             np.array([0.0, 0.0, 2.0], dtype=np.float32))
    from wenmai.models.span_types import _hash

    clf.weights[_hash("s=张三", 1 << 10)] = [6.0, 0.0, 0.0]
    clf.weights[_hash("s=北京", 1 << 10)] = [0.0, 6.0, 0.0]
    slots = {"出生地": ({"人物"}, {"地点", "国家"}), "父亲": ({"人物"}, {"人物"})}
    f = TypeFilter(clf, slots, min_share=0.5)
    f._tags = TAGS
    text, tokens = "张三出生于北京", ("张三", "出生", "于", "北京")
    born = {"predicate": "出生地", "subject_start": 0, "subject_end": 2, "object_start": 5,
            "object_end": 7}
    father = {**born, "predicate": "父亲"}
    phrase = {**born, "subject_start": 2, "subject_end": 4}  # 出生 in a person's slot
    assert f.keep(text, tokens, [born, father, phrase]) == [born]
    # tokens that do not spell the text are replaced by jieba's
    assert f.keep(text, (), [born]) == [born]


def test_slots_from_schema_unites_repeated_predicates(tmp_path):
    path = tmp_path / "schemas.json"
    rows = [{"predicate": "成立日期", "subject_type": "企业", "object_type": "Date"},
            {"predicate": "成立日期", "subject_type": "机构", "object_type": "Date"},
            {"predicate": "国籍", "subject_type": "人物", "object_type": {"@value": "国家"}}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                    encoding="utf-8")
    slots = slots_from_schema(path)
    assert slots["成立日期"] == ({"组织"}, {"Date"})
    assert slots["国籍"] == ({"人物"}, {"国家"})


@pytest.mark.parametrize("bad", [(0, 0), (3, 3)])
def test_empty_spans_still_featurise(bad):
    assert span_features("张三出生", ("张三", "出生"), *bad, TAGS)


def test_pos_filter_needs_a_name_tag_or_an_unknown_word_in_entity_slots():
    from wenmai.models.span_types import PosFilter

    f = PosFilter({"出生地": ({"人物"}, {"地点", "国家"}), "出生日期": ({"人物"}, {"Date"})})
    f._tags = TAGS
    text, tokens = "张三出生于北京", ("张三", "出生", "于", "北京")
    born = {"predicate": "出生地", "subject_start": 0, "subject_end": 2, "object_start": 5,
            "object_end": 7}
    verb_subject = {**born, "subject_start": 2, "subject_end": 4}  # 出生 is tagged v
    date = {"predicate": "出生日期", "subject_start": 0, "subject_end": 2, "object_start": 2,
            "object_end": 4}  # a Date slot takes anything
    assert f.shares(text, tokens, [born, verb_subject, date]).tolist() == [
        [1, 1], [0, 1], [1, 1]]
    # a word jieba's dictionary lacks may be a new name
    assert f.shares("王小二出生于北京", ("王小二", "出生", "于", "北京"), [
        {**born, "subject_end": 3, "object_start": 6, "object_end": 8}]).tolist() == [[1, 1]]
