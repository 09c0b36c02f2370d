"""The manifest's pieces: dead letters by stage and reason, per-file inputs, stage times."""
import subprocess
import sys
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq

from wenmai import manifest
from wenmai.schemas import DEAD_LETTER


def _dead(tmp_path, rows):
    (tmp_path / "dead_letter").mkdir()
    table = pa.Table.from_pylist([{"source": "s", "position": i + 1, "stage": st, "reason": r,
                                   "raw": None} for i, (st, r) in enumerate(rows)], schema=DEAD_LETTER)
    pq.write_table(table, tmp_path / "dead_letter" / "part-0.parquet")


def test_dead_letters_grouped_by_stage_and_reason_code(tmp_path):
    _dead(tmp_path, [("read", "missing_field: text")] * 3 + [("read", "invalid_utf8: byte 3"),
                                                              ("read", "invalid_utf8: byte 9"),
                                                              ("clean", "empty")])
    reasons = manifest.dead_letter_reasons(str(tmp_path))
    assert [(r["stage"], r["reason"], r["count"], r["label"]) for r in reasons] == [
        ("read", "missing_field", 3, "missing_field: text"),
        ("read", "invalid_utf8", 2, "invalid_utf8"),  # details differ: the code alone
        ("clean", "empty", 1, "empty")]
    assert manifest.by_stage(reasons) == {"read": 5, "clean": 1}
    assert manifest.top_reasons(reasons, n=2) == ("missing_field: text x3 (read), invalid_utf8 x2 "
                                                  "(read), 1 more")
    assert manifest.top_reasons([]) == "none"


def test_input_files_in_input_order_with_records():
    stats = [{"path": "/b.txt", "bytes": 5, "sha256": "ab", "records": 2, "dead_letters": 1}]
    assert manifest.input_files(["/a.txt", "/b.txt"], stats) == [
        {"path": "/a.txt", "bytes": None, "sha256": None, "records": 0, "dead_letters": 0},
        {"path": "/b.txt", "bytes": 5, "sha256": "ab", "records": 2, "dead_letters": 1}]


def _counter(step, msecs):
    key = SimpleNamespace(step=step, metric=SimpleNamespace(
        name="metric:ptransform_execution_time:total_msecs:v1"))
    return SimpleNamespace(key=key, committed=msecs)


def test_stage_seconds_lists_only_our_named_steps():
    counters = [_counter("ReadCorpus/ParseFiles", 1500), _counter("ReadCorpus/Paths", 500),
                _counter("ref_PCollection_PCollection_12", 9000), _counter("EdgeRows", 700),
                _counter("EncodeSentences/RunInference", 3000)]
    result = SimpleNamespace(monitoring_metrics=lambda: SimpleNamespace(
        query=lambda: {"counters": counters}))
    assert manifest.stage_seconds(result, ["ReadCorpus", "EncodeSentences", "Title"]) == {
        "EncodeSentences": 3.0, "ReadCorpus": 2.0, "Title": 0.0}


def test_manifest_module_does_not_import_the_pipelines():
    code = ("import sys, wenmai.manifest; "
            "print([m for m in sys.modules if m.startswith('wenmai.pipelines')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
