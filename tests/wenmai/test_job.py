"""The whole job on a tiny corpus: accounting, schemas, publishing, runners, fakes."""
import json

import numpy as np

import pyarrow.parquet as pq
import pytest

from wenmai.job import Handlers, UsageError, run
from wenmai.schemas import TABLES, validate_rows

from ..pipelines.fakes import FakeEncoderHandler


def _tables(out):
    return {name: pq.read_table(out / name) for name in TABLES if (out / name).exists()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from ..conftest import TINY_CORPUS

    d = tmp_path_factory.mktemp("corpus")
    (d / "news.txt").write_text("\n".join(TINY_CORPUS) + "\n", encoding="utf-8")
    (d / "q.jsonl").write_text('{"id": "q1", "text": "北京今天降温了吗"}\n{"id": "q2"}\n{oops\n',
                               encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def default_run(corpus, models_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "out"
    summary = run([str(corpus / "*"), "--output", str(out), "--models", str(models_dir),
                   "--id-field", "id", "--k", "3"])
    return out, summary


def test_counts_balance_and_every_document_is_embedded_and_clustered(default_run):
    out, summary = default_run
    tables = _tables(out)
    docs = tables["documents"].to_pylist()
    dead = tables["dead_letter"].to_pylist()
    assert len(docs) + len(dead) == 12 + 3 == summary.manifest["balance"]["records_read"]
    assert summary.manifest["balance"]["balanced"]
    assert sorted(d["reason"] for d in dead) == ["bad_json: Expecting property name enclosed in "
                                                  "double quotes", "empty", "empty", "missing_field: text",
                                                  "no_content"]
    assert all(len(d["embedding"]) == 16 for d in docs)
    cluster_ids = {c["cluster_id"] for c in tables["clusters"].to_pylist()}
    assert {d["cluster_id"] for d in docs} == cluster_ids
    assert sum(c["size"] for c in tables["clusters"].to_pylist()) == len(docs)
    assert "q1" in {d["doc_id"] for d in docs}
    duplicates = [d for d in docs if d["duplicate_of"]]
    assert len(duplicates) == 1 and duplicates[0]["text"] == "华为公司总部位于深圳"


def test_tables_match_schemas(default_run):
    out, _ = default_run
    for name, table in _tables(out).items():
        assert table.schema.equals(TABLES[name], check_metadata=False), name
        validate_rows(TABLES[name], table.to_pylist())


def test_manifest_and_success_marker_published(default_run):
    out, summary = default_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert (out / "_SUCCESS").exists() and not (out / "_stats").exists()
    assert manifest["counts"]["documents"] == summary.manifest["counts"]["documents"]
    assert manifest["models"]["encoder"]["sha256"] and manifest["clusters"]["codelength"] >= 0
    assert manifest["parameters"]["graph"]["k"] == 3 and manifest["versions"]["apache-beam"]
    assert not list(out.parent.glob(".out.tmp-*"))


def test_same_tables_under_multi_processing(default_run, corpus, models_dir, tmp_path):
    """Every DoFn and handler pickles to worker processes; results equal the default run's."""
    out, _ = default_run
    other = tmp_path / "mp"
    run([str(corpus / "*"), "--output", str(other), "--models", str(models_dir), "--id-field", "id",
         "--k", "3", "--length-buckets", "off", "--direct_running_mode=multi_processing",
         "--direct_num_workers=2"])
    keys = {"documents": ["doc_id"], "edges": ["src", "dst"], "clusters": ["cluster_id"],
            "dead_letter": ["source", "position"]}
    for name, key in keys.items():
        a, b = (sorted(pq.read_table(d / name).to_pylist(), key=lambda r: [r[k] for k in key])
                for d in (out, other))
        if name == "documents":  # other batch-mates, other padding: float noise only
            assert np.allclose([r.pop("embedding") for r in a], [r.pop("embedding") for r in b],
                               atol=1e-5)
        if name == "edges":
            assert np.allclose([r.pop("similarity") for r in a], [r.pop("similarity") for r in b],
                               atol=1e-5)
        if name == "clusters":
            assert np.allclose([r.pop("flow") for r in a], [r.pop("flow") for r in b], atol=1e-5)
        assert a == b, name


def test_existing_output_needs_overwrite(default_run, corpus, models_dir):
    out, _ = default_run
    args = [str(corpus / "news.txt"), "--output", str(out), "--models", str(models_dir)]
    with pytest.raises(UsageError, match="--overwrite"):
        run(args)


def test_overwrite_replaces_and_failed_inference_is_dead_lettered(corpus, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    summary = run([str(corpus / "news.txt"), "--output", str(out), "--overwrite"],
                  handlers=Handlers(encoder=FakeEncoderHandler(fail_on="深圳")))
    assert not (out / "stale.txt").exists() and (out / "_SUCCESS").exists()
    dead = pq.read_table(out / "dead_letter").to_pylist()
    embed_failures = [d for d in dead if d["stage"] == "embed"]
    assert embed_failures and all("cannot embed" in d["reason"] for d in embed_failures)
    assert summary.manifest["balance"]["balanced"]


@pytest.mark.parametrize("args,message", [
    (["nowhere/*.txt", "--models", "{models}"], "matches no file"),
    (["{corpus}/news.txt", "--engine", "louvain"], "--engine"),
    (["{corpus}/news.txt", "--models", "{tmp}/none"], "no encoder model"),
])
def test_usage_errors_before_any_work(args, message, corpus, models_dir, tmp_path):
    args = [a.format(corpus=corpus, tmp=tmp_path, models=models_dir) for a in args]
    with pytest.raises(UsageError, match=message):
        run(args + ["--output", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()
