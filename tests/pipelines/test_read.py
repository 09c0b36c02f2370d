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
    assert [r.position for r in records] == [1, 2, 3, 4]  # 1-based: the line an editor shows


def test_txt_invalid_utf8_is_a_dead_letter_with_position():
    records = _txt("好\n".encode("utf-8") + b"\xff\xfe bad\n" + "也好\n".encode("utf-8"))
    assert isinstance(records[1], DeadLetter)
    assert records[1].reason.startswith("invalid_utf8") and records[1].position == 2
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
        assert_that(reasons, equal_to([(2, "null_field: text")] +
                                      [(i, "missing_column: text") for i in (1, 2, 3)]),
                    label="dead")
        stats = out.stats | "Files" >> beam.MapTuple(
            lambda name, s: (name, s["path"].rsplit("/", 1)[-1], s["records"], s["dead_letters"]))
        assert_that(stats, equal_to([("read_file", "a.txt", 2, 0), ("read_file", "b.jsonl.gz", 1, 0),
                                     ("read_file", "c.parquet", 2, 1),
                                     ("read_file", "d.parquet", 3, 3)]), label="stats")


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
    assert records[1].reason == "binary: NUL byte" and records[1].position == 2


def test_iter_texts_reads_every_format_outside_beam(tmp_path):
    import gzip

    from wenmai.text import iter_texts

    (tmp_path / "a.txt").write_text("第一行\n第二行\n", encoding="utf-8")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write('{"text": "压缩的"}\n{oops\n')
    pq.write_table(pa.table({"text": ["表格行"]}), tmp_path / "c.parquet")
    assert sorted(iter_texts([str(tmp_path / "*")])) == sorted(["第一行", "第二行", "压缩的", "表格行"])


def test_file_stats_carry_size_and_sha256_of_the_stored_bytes(tmp_path):
    import hashlib

    data = gzip.compress("一\n二\n".encode("utf-8"))
    (tmp_path / "a.txt.gz").write_bytes(data)
    with TestPipeline() as p:
        out = p | ReadCorpus([str(tmp_path / "a.txt.gz")], ReadConfig())
        assert_that(out.stats, equal_to([("read_file", {
            "path": str(tmp_path / "a.txt.gz"), "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "records": 2, "dead_letters": 0})]))


def test_relative_paths_are_made_absolute_and_ids_do_not_depend_on_how_they_were_typed(
        tmp_path, monkeypatch):
    from wenmai.pipelines.read import absolute_path

    (tmp_path / "sub").mkdir()
    (tmp_path / "mine.txt").write_text("甲\n乙\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path / "sub")
    assert absolute_path("../mine.txt") == str(tmp_path / "mine.txt")
    assert absolute_path("gs://bucket/a/../b.txt") == "gs://bucket/a/../b.txt"  # URIs untouched
    monkeypatch.chdir(tmp_path)
    typed = ["mine.txt", "./mine.txt", str(tmp_path / "sub" / ".." / "mine.txt")]
    with TestPipeline() as p:
        for i, path in enumerate(typed):
            out = p | f"Read{i}" >> ReadCorpus([path], ReadConfig())
            assert_that(out.records | f"Where{i}" >> beam.Map(lambda r: (r.source, r.position)),
                        equal_to([(str(tmp_path / "mine.txt"), 1), (str(tmp_path / "mine.txt"), 2)]),
                        label=f"same{i}")


def test_a_path_matching_nothing_on_the_worker_fails_the_read(tmp_path):
    with pytest.raises(Exception, match="Empty match for pattern .*gone.txt. Disallowed"):
        with TestPipeline() as p:
            _ = p | ReadCorpus([str(tmp_path / "gone.txt")], ReadConfig())
