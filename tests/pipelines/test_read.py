import gzip
import io
import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from wenmai.config import ReadConfig
from wenmai.pipelines.read import ReadCorpus
from wenmai.text import expand_inputs, file_format, parse_jsonl, parse_txt, text_from_object
from wenmai.types import DeadLetter, Record


def _txt(lines: bytes):
    return list(parse_txt("f.txt", io.BytesIO(lines)))


@pytest.mark.parametrize("path,fmt", [("a.txt", ".txt"), ("b.JSONL.gz", ".jsonl"),
                                      ("c.parquet", ".parquet"), ("d.csv", None), ("e.gz", None)])
def test_file_format(path, fmt):
    assert file_format(path) == fmt


def test_txt_every_line_is_a_record_crlf_and_bom_removed():
    records = _txt("\ufeff第一行\r\n\n  \n第四行".encode("utf-8"))
    assert [r.text for r in records] == ["第一行", "", "  ", "第四行"]
    assert [r.position for r in records] == [0, 1, 2, 3]


def test_txt_invalid_utf8_is_a_dead_letter_with_position():
    records = _txt("好\n".encode("utf-8") + b"\xff\xfe bad\n" + "也好\n".encode("utf-8"))
    assert isinstance(records[1], DeadLetter)
    assert records[1].reason.startswith("invalid_utf8") and records[1].position == 1
    assert [r.text for r in records if isinstance(r, Record)] == ["好", "也好"]


@pytest.mark.parametrize("obj,expected", [
    ({"text": "你好", "id": 7}, ("你好", "7", None)),
    ({"text": None}, (None, None, "null_field: text")),
    ({"body": "x"}, (None, None, "missing_field: text")),
    ({"text": 3}, (None, None, "non_string_field: text is int")),
    (["text"], (None, None, "not_an_object")),
])
def test_text_from_object(obj, expected):
    assert text_from_object(obj, ReadConfig(id_field="id")) == expected


def test_jsonl_malformed_lines_become_dead_letters():
    lines = ['{"text": "好"}', '{"text": ', '{"text": null}', "[1]"]
    out = list(parse_jsonl("q.jsonl", io.BytesIO("".join(l + "\n" for l in lines).encode()), ReadConfig()))
    assert isinstance(out[0], Record) and out[0].text == "好"
    assert [o.reason.split(":")[0] for o in out[1:]] == ["bad_json", "null_field", "not_an_object"]


def test_read_corpus_formats(tmp_path):
    (tmp_path / "a.txt").write_text("一\n二\n", encoding="utf-8")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"text": "三", "id": "x"}, ensure_ascii=False) + "\n")
    pq.write_table(pa.table({"text": ["四", None], "id": ["p", "q"]}), tmp_path / "c.parquet")
    pq.write_table(pa.table({"body": ["五", "六", "七"]}), tmp_path / "d.parquet")
    paths = expand_inputs([str(tmp_path / "*")])
    with TestPipeline() as p:
        out = p | ReadCorpus(paths, ReadConfig(id_field="id"))
        texts = out.records | "Texts" >> beam.Map(lambda r: (r.text, r.doc_id))
        reasons = out.dead_letter | "Reasons" >> beam.Map(lambda d: (d.position, d.reason))
        assert_that(texts, equal_to([("一", None), ("二", None), ("三", "x"), ("四", "p")]),
                    label="records")
        assert_that(reasons, equal_to([(1, "null_field: text")] +
                                      [(i, "missing_column: text") for i in range(3)]),
                    label="dead")


def test_empty_file_yields_nothing(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    with TestPipeline() as p:
        out = p | ReadCorpus([str(tmp_path / "empty.txt")], ReadConfig())
        assert_that(out.records, equal_to([]), label="records")
        assert_that(out.dead_letter, equal_to([]), label="dead")


def test_expand_inputs_errors(tmp_path):
    with pytest.raises(ValueError, match="matches no file"):
        expand_inputs([str(tmp_path / "*.txt")])
    (tmp_path / "x.csv").write_text("a")
    with pytest.raises(ValueError, match="unsupported format"):
        expand_inputs([str(tmp_path / "x.csv")])
    (tmp_path / "y.txt").write_text("a")
    assert expand_inputs([str(tmp_path / "y.txt"), str(tmp_path / "*.txt")]) == [str(tmp_path / "y.txt")]


def test_nul_byte_marks_a_line_as_binary():
    records = _txt(b"ok\n\x00\x01\x02\n")
    assert records[0].text == "ok"
    assert records[1].reason == "binary: NUL byte" and records[1].position == 1


def test_iter_texts_reads_every_format_outside_beam(tmp_path):
    import gzip

    from wenmai.text import iter_texts

    (tmp_path / "a.txt").write_text("第一行\n第二行\n", encoding="utf-8")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write('{"text": "压缩的"}\n{oops\n')
    pq.write_table(pa.table({"text": ["表格行"]}), tmp_path / "c.parquet")
    assert sorted(iter_texts([str(tmp_path / "*")])) == sorted(["第一行", "第二行", "压缩的", "表格行"])
