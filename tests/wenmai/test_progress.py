"""Progress: counters written by a side branch, summed and printed by the driver's thread."""
import io
import json
import logging

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline

from wenmai.pipelines.progress import CountProgress
from wenmai.progress import Progress, format_line, read_counts


def test_count_progress_writes_counts_per_step(tmp_path):
    with TestPipeline() as p:
        _ = p | "A" >> beam.Create(range(7)) | "CountA" >> CountProgress(str(tmp_path), "read")
        _ = p | "B" >> beam.Create(range(3)) | "CountB" >> CountProgress(str(tmp_path), "read")
        _ = p | "C" >> beam.Create(range(2)) | "CountC" >> CountProgress(str(tmp_path), "embedded")
    assert read_counts(str(tmp_path)) == {"read": (10, False), "embedded": (2, False)}


def test_count_progress_turns_itself_off_without_the_directory(tmp_path):
    with TestPipeline() as p:
        _ = p | beam.Create([1, 2]) | CountProgress(str(tmp_path / "not_here"), "read")
    assert not (tmp_path / "not_here").exists()


def test_format_line():
    line = format_line(3725.0, {"read": (12345, False)}, {"read": "ReadCorpus", "cleaned": "C"})
    assert line == "wenmai: 1:02:05 read 12,345 | cleaned 0"


def test_progress_prints_lines_and_logs_stage_start_and_end(tmp_path, caplog):
    clock = iter(range(0, 10_000, 5)).__next__  # 5 s per tick: a line every other poll
    path = tmp_path / "read.1.a.json"
    stream = io.StringIO()
    caplog.set_level(logging.INFO, logger="wenmai.progress")
    progress = Progress(str(tmp_path), {"read": "ReadCorpus", "cleaned": "CleanText"},
                        interval=10, poll=0.01, stream=stream, clock=clock)
    with progress:
        path.write_text(json.dumps({"step": "read", "count": 4, "open": True}))
        import time

        deadline = time.time() + 30
        while "read 4" not in stream.getvalue() and time.time() < deadline:
            time.sleep(0.01)
        path.write_text(json.dumps({"step": "read", "count": 9, "open": False}))
        while "ReadCorpus done" not in caplog.text and time.time() < deadline:
            time.sleep(0.01)
    assert "read 4 | cleaned 0" in stream.getvalue()
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "stage ReadCorpus started"
    assert messages[1].startswith("stage ReadCorpus done: 9 read in ")
    assert not any("CleanText" in m for m in messages)  # never started: never logged
