"""Publishing: the local and the object-store publisher keep the same contract."""
import json

import pytest

from wenmai.config import UsageError
from wenmai.output import LocalOutput, ObjectStoreOutput, is_remote, output_for

PUBLISHERS = [LocalOutput, ObjectStoreOutput]  # the object-store one runs on local paths here


def _stage(publisher, run_id):
    staging = publisher.prepare(overwrite=False)
    publisher.write_text("documents/part-0.parquet", "rows")
    publisher.write_text("_stats/stats.jsonl", "{}")
    publisher.remove("_stats")
    publisher.write_text("manifest.json", json.dumps({"run_id": run_id}))
    return staging


def test_output_for_picks_by_scheme():
    assert is_remote("gs://bucket/out") and not is_remote("out") and not is_remote("/tmp/out")
    assert isinstance(output_for("gs://bucket/out", "r"), ObjectStoreOutput)
    assert isinstance(output_for("out", "r"), LocalOutput)
    assert ObjectStoreOutput("gs://b/x/out/", "r1").staging == "gs://b/x/.out.tmp-r1"


def test_an_object_store_beam_cannot_reach_is_a_usage_error():
    with pytest.raises(UsageError, match="cannot write output nosuch://b/out"):
        ObjectStoreOutput("nosuch://b/out", "r1").prepare(overwrite=False)


@pytest.mark.parametrize("cls", PUBLISHERS)
def test_publish_moves_everything_and_writes_success_last(cls, tmp_path):
    out = tmp_path / "out"
    publisher = cls(str(out), "r1")
    staging = _stage(publisher, "r1")
    assert not out.exists() or not any(out.iterdir())  # nothing visible before publish
    publisher.publish()
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["_SUCCESS", "documents/part-0.parquet", "manifest.json"]
    assert not any(p.is_file() for p in tmp_path.glob(".out.tmp-r1/**/*"))
    assert staging.endswith(".out.tmp-r1")


@pytest.mark.parametrize("cls", PUBLISHERS)
def test_existing_output_needs_overwrite_unless_same_run_id(cls, tmp_path):
    out = tmp_path / "out"
    first = cls(str(out), "r1")
    _stage(first, "r1")
    first.publish()
    with pytest.raises(UsageError, match="--overwrite"):
        cls(str(out), "r2").prepare(overwrite=False)
    retry = cls(str(out), "r1")  # a scheduler retrying the same run
    _stage(retry, "r1")
    retry.publish()
    other = cls(str(out), "r3")
    other.prepare(overwrite=True)
    other.write_text("manifest.json", json.dumps({"run_id": "r3"}))
    other.publish()
    assert json.loads((out / "manifest.json").read_text())["run_id"] == "r3"
    assert not (out / "documents").exists() or not any((out / "documents").iterdir())


@pytest.mark.parametrize("cls", PUBLISHERS)
def test_prepare_clears_a_killed_attempts_staging(cls, tmp_path):
    out = tmp_path / "out"
    stale = tmp_path / ".out.tmp-r1" / "documents"
    stale.mkdir(parents=True)
    (stale / "half.parquet").write_text("x")
    cls(str(out), "r1").prepare(overwrite=False)
    assert not (stale / "half.parquet").exists()


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid  # exited and reaped: no process has this pid (until the OS reuses it)


@pytest.mark.parametrize("cls", PUBLISHERS)
def test_stale_staging_of_a_killed_run_is_removed_by_the_next_run(cls, tmp_path):
    import os
    import socket

    out = tmp_path / "out"
    killed, running = tmp_path / ".out.tmp-killed", tmp_path / ".out.tmp-running"
    for d, pid in ((killed, _dead_pid()), (running, os.getpid())):
        (d / "documents").mkdir(parents=True)
        (d / "documents" / "half.parquet").write_text("x")
        (d / "_OWNER").write_text(json.dumps({"host": socket.gethostname(), "pid": pid}))
    publisher = cls(str(out), "new")
    _stage(publisher, "new")
    assert not any(p.is_file() for p in killed.rglob("*"))  # a dead owner: removed
    assert (running / "documents" / "half.parquet").exists()  # a live run's: kept
    publisher.publish()
    assert not (out / "_OWNER").exists() and (out / "_SUCCESS").exists()


@pytest.mark.parametrize("cls", PUBLISHERS)
def test_discard_removes_the_runs_own_staging(cls, tmp_path):
    publisher = cls(str(tmp_path / "out"), "r1")
    _stage(publisher, "r1")
    publisher.discard()
    assert not any(p.is_file() for p in tmp_path.rglob("*"))
