import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from wenmai.config import ReadConfig
from wenmai.pipelines.clean import (CleanText, clean_record, mark_duplicates, normalize_text,
                                    rejection_reason)
from wenmai.types import DeadLetter, Doc, Record


@pytest.mark.parametrize("raw,clean", [
    ("ＡＩ芯片\t出货\x00量 １２３ 万片\u200b ", "AI芯片 出货量 123 万片"),  # full-width, tab, NUL, ZWSP
    ("  华为　公司\r\n总部  ", "华为 公司 总部"),  # ideographic space, CRLF
    ("\ufeff你好", "你好"),  # BOM
    ("emoji 😀 留下", "emoji 😀 留下"),
    ("", ""),
])
def test_normalize_text(raw, clean):
    assert normalize_text(raw) == clean


@pytest.mark.parametrize("text,reason", [("", "empty"), ("！！😀……", "no_content"), ("a", None),
                                         ("好", None), ("123", None)])
def test_rejection_reason(text, reason):
    assert rejection_reason(text) == reason


def test_clean_record_truncates_and_derives_id():
    doc = clean_record(Record("dir/a.txt", 4, "好" * 30), max_chars=10)
    assert doc == Doc("dir/a.txt:4", "dir/a.txt", 4, "好" * 10, truncated=True)
    assert clean_record(Record("a.txt", 0, "好", doc_id="given"), 10).doc_id == "given"


def test_clean_record_rejects_with_stage_and_raw():
    dead = clean_record(Record("a.txt", 2, " \u3000 "), 10)
    assert dead == DeadLetter("a.txt", 2, "clean", "empty", " \u3000 ")
    dead = clean_record(Record("a.txt", 3, error="bad_json: x", raw="{"), 10)
    assert dead == DeadLetter("a.txt", 3, "read", "bad_json: x", "{")


def test_mark_duplicates_keeps_the_first_by_position():
    docs = [Doc("b:1", "b", 1, "同"), Doc("a:5", "a", 5, "同"), Doc("a:2", "a", 2, "同")]
    out = list(mark_duplicates(docs))
    assert [(d.doc_id, d.duplicate_of) for d in out] == [("a:2", None), ("a:5", "a:2"),
                                                          ("b:1", "a:2")]


def test_clean_text_transform_accounts_for_every_record():
    records = [Record("s", 0, "华为公司总部位于深圳"), Record("s", 1, "华为公司总部位于深圳"),
               Record("s", 2, ""), Record("s", 3, "别的", doc_id="dup"),
               Record("s", 4, "又一个", doc_id="dup"), Record("s", 5, error="invalid_utf8: byte 0")]
    with TestPipeline() as p:
        out = p | beam.Create(records) | CleanText(ReadConfig())
        docs = out["docs"] | "Ids" >> beam.Map(lambda d: (d.doc_id, d.duplicate_of))
        dead = out["dead_letter"] | "Reasons" >> beam.Map(lambda d: (d.position, d.reason))
        assert_that(docs, equal_to([("s:0", None), ("s:1", "s:0"), ("dup", None)]), label="docs")
        assert_that(dead, equal_to([(2, "empty"), (4, "duplicate_id: dup"),
                                    (5, "invalid_utf8: byte 0")]), label="dead")
