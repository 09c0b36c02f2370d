"""The whole job on Beam's PortableRunner: the pipeline goes through Beam's portable proto and
every step runs in SDK-harness worker processes over the Fn API, as on Flink, Spark and
Dataflow Runner v2. The worker pool runs in another directory, so any path the submitter left
relative (or any import from its working directory) would break here."""
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from wenmai.job import run
from wenmai.schemas import TABLES

from ..conftest import TINY_CORPUS

# How each table's rows are matched up between the two runs.
KEYS = {"documents": ["doc_id"], "edges": ["src", "dst"], "clusters": ["cluster_id"],
        "dead_letter": ["source", "position", "stage"],
        "triples": ["doc_id", "subject_start", "object_start", "predicate"],
        "topics": ["topic_id"], "topic_days": ["topic_id"], "lineage": ["cluster_id", "topic_id"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.fixture
def worker_pool(tmp_path):
    """`python -m apache_beam.runners.worker.worker_pool_main` in its own empty directory, with
    this interpreter's directory first on PATH (the harness it starts runs `python`)."""
    port = _free_port()
    elsewhere = tmp_path / "worker_cwd"
    elsewhere.mkdir()
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    pool = subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                             f"--service_port={port}"], cwd=elsewhere, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("localhost", port), timeout=1).close()
            break
        except OSError:
            assert pool.poll() is None, "the worker pool exited"
            time.sleep(0.2)
    yield port
    pool.terminate()
    pool.wait(timeout=30)


def _rows(out, name):
    rows = pq.read_table(out / name).to_pylist()
    return sorted(rows, key=lambda r: [r[k] for k in KEYS[name]])


@pytest.mark.slow
def test_portable_runner_writes_the_same_tables_as_the_fn_api_runner(
        worker_pool, models_dir, tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "news.txt").write_text("\n".join(TINY_CORPUS) + "\n", encoding="utf-8")
    monkeypatch.chdir(corpus)
    common = ["news.txt", "--models", str(models_dir), "--k", "3", "--quiet"]  # a relative input
    local = run(common + ["--output", str(tmp_path / "local")])
    portable = run(common + ["--output", str(tmp_path / "portable"), "--runner", "PortableRunner",
                             "--job_endpoint", "embed", "--environment_type", "EXTERNAL",
                             "--environment_config", f"localhost:{worker_pool}"])
    assert portable.manifest["balance"] == local.manifest["balance"]
    assert portable.manifest["balance"]["balanced"] and local.manifest["counts"]["documents"] > 0
    assert portable.manifest["inputs"] == local.manifest["inputs"]
    for name in TABLES:
        a, b = _rows(tmp_path / "local", name), _rows(tmp_path / "portable", name)
        assert len(a) == len(b), name
        if name == "documents":  # float noise from other batch-mates only
            assert np.allclose([r.pop("embedding") for r in a], [r.pop("embedding") for r in b],
                               atol=1e-5, rtol=0)
        if name == "topics":  # centroids: means of those embeddings
            assert np.allclose([r.pop("centroid") for r in a], [r.pop("centroid") for r in b],
                               atol=1e-5, rtol=0)
        assert a == b, name
