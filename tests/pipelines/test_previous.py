"""Reading a published previous run: which one, whether it may be continued, its two tables."""
import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from wenmai.config import UsageError
from wenmai.pipelines.previous import (ReadPreviousRun, check_run_date, find_previous,
                                       open_previous, resolve_previous, text_hash)
from wenmai.schemas.topics import TOPICS


def publish(directory, run_date, topics=True, success=True):
    """A minimal published run: manifest, documents (the columns read) and topics."""
    directory.mkdir(parents=True)
    (directory / "manifest.json").write_text(json.dumps({"run_id": f"r-{run_date}",
                                                         "run_date": run_date}))
    (directory / "documents").mkdir()
    pq.write_table(pa.Table.from_pylist([{
        "doc_id": "d1", "text": "北京降温", "embedding": [0.6, 0.8, 0.5], "topic_id": 4,
        "first_run_date": run_date, "previous_duplicate_of": None,
        "previous_duplicate_run_date": None, "previous_duplicate_similarity": None,
        "cluster_id": 0}]), directory / "documents" / "part-00000-of-00001.parquet")
    if topics:
        (directory / "topics").mkdir()
        pq.write_table(pa.Table.from_pylist([{
            "topic_id": 4, "first_run_date": run_date, "last_run_date": run_date, "size": 1,
            "runs": 1, "documents": 1, "title": "北京降温", "keywords": ["降温"],
            "centroid": [0.6, 0.8]}], schema=TOPICS),
            directory / "topics" / "part-00000-of-00001.parquet")
    if success:
        (directory / "_SUCCESS").write_text("")
    return directory


def test_find_previous_takes_the_newest_published_earlier_partition(tmp_path):
    assert find_previous(str(tmp_path / "nothing"), "2026-06-03") is None
    for day in ("2026-05-30", "2026-06-01", "2026-06-03"):
        publish(tmp_path / f"run_date={day}", day)
    publish(tmp_path / "run_date=2026-06-02", "2026-06-02", success=False)  # failed or running
    assert find_previous(str(tmp_path), "2026-06-03") == str(tmp_path / "run_date=2026-06-01")
    assert find_previous(str(tmp_path), "2026-06-09") == str(tmp_path / "run_date=2026-06-03")
    assert find_previous(str(tmp_path), "2026-05-30") is None


def test_open_previous_refuses_what_cannot_be_continued(tmp_path):
    good = publish(tmp_path / "run_date=2026-06-01", "2026-06-01")
    assert open_previous(str(good), "2026-06-02").run_date == "2026-06-01"
    with pytest.raises(UsageError, match="not older than this run's --run-date 2026-06-01"):
        open_previous(str(good), "2026-06-01")
    with pytest.raises(UsageError, match="from 2026-06-01, not older"):
        open_previous(str(good), "2026-05-31")
    with pytest.raises(UsageError, match="not a published run"):
        open_previous(str(publish(tmp_path / "b", "2026-06-01", success=False)), "2026-06-02")
    with pytest.raises(UsageError, match="no topics table"):
        open_previous(str(publish(tmp_path / "c", "2026-06-01", topics=False)), "2026-06-02")
    with pytest.raises(UsageError, match="expected YYYY-MM-DD"):
        check_run_date("June 1")


def test_resolve_previous_explicit_default_and_off(tmp_path):
    publish(tmp_path / "run_date=2026-06-01", "2026-06-01")
    out = str(tmp_path)
    assert resolve_previous(None, False, out, "2026-06-02", dated=True).run_date == "2026-06-01"
    assert resolve_previous(None, False, out, "2026-06-02", dated=False) is None
    assert resolve_previous(None, True, out, "2026-06-02", dated=True) is None
    assert resolve_previous(None, False, out, "2026-06-01", dated=True) is None  # none earlier
    chosen = resolve_previous(str(tmp_path / "run_date=2026-06-01"), False, out, "2026-06-05", True)
    assert chosen.path == str(tmp_path / "run_date=2026-06-01")
    with pytest.raises(UsageError, match="contradict"):
        resolve_previous(out, True, out, "2026-06-02", dated=True)


def test_read_previous_run_gives_documents_by_id_and_the_registry(tmp_path):
    previous = open_previous(str(publish(tmp_path / "run_date=2026-06-01", "2026-06-01")),
                             "2026-06-02")
    with TestPipeline() as p:
        tables = p | ReadPreviousRun(previous, lexical_dims=1)
        docs = tables["documents"] | beam.MapTuple(
            lambda doc_id, d: (doc_id, d.text_hash, d.topic_id, d.first_run_date,
                               [round(float(x), 3) for x in d.semantic]))
        assert_that(docs, equal_to([("d1", text_hash("北京降温"), 4, "2026-06-01", [0.6, 0.8])]),
                    label="documents")
        assert_that(tables["topics"] | beam.Map(lambda t: (t["topic_id"], t["title"])),
                    equal_to([(4, "北京降温")]), label="topics")
