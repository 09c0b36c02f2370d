"""The whole job on a tiny corpus: accounting, schemas, publishing, runners, fakes."""
import json

import numpy as np

import pyarrow.parquet as pq
import pytest

from wenmai.job import Handlers, UsageError, run
from wenmai.schemas import TABLES, validate_rows

from ..pipelines.fakes import FakeEncoderHandler, FakeExtractorHandler, FakeTitlerHandler


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
    assert all(isinstance(d["title"], str) and d["title_score"] <= 0 for d in docs)
    by_id = {d["doc_id"]: d["text"] for d in docs}
    for t in tables["triples"].to_pylist():  # a random extractor: spans must still be exact
        assert by_id[t["doc_id"]][t["subject_start"]:t["subject_end"]] == t["subject"]
        assert by_id[t["doc_id"]][t["object_start"]:t["object_end"]] == t["object"]
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
    assert set(manifest["models"]) == {"encoder", "titler", "extractor"}
    assert {"ReadCorpus", "EncodeSentences", "Title", "Extract", "WriteTables"} <= set(
        manifest["stage_seconds"])
    assert manifest["titles"]["failed"] == 0 and manifest["extraction"]["sentences"] > 0


def test_same_tables_under_multi_processing(default_run, corpus, models_dir, tmp_path):
    """Every DoFn and handler pickles to worker processes; results equal the default run's."""
    out, _ = default_run
    other = tmp_path / "mp"
    run([str(corpus / "*"), "--output", str(other), "--models", str(models_dir), "--id-field", "id",
         "--k", "3", "--length-buckets", "off", "--direct_running_mode=multi_processing",
         "--direct_num_workers=2"])
    keys = {"documents": ["doc_id"], "edges": ["src", "dst"], "clusters": ["cluster_id"],
            "dead_letter": ["source", "position"],
            "triples": ["doc_id", "subject_start", "object_start", "predicate"]}
    for name, key in keys.items():
        a, b = (sorted(pq.read_table(d / name).to_pylist(), key=lambda r: [r[k] for k in key])
                for d in (out, other))
        if name == "documents":  # other batch-mates, other padding: float noise only
            assert np.allclose([r.pop("embedding") for r in a], [r.pop("embedding") for r in b],
                               atol=1e-5)
            assert np.allclose([r.pop("title_score") for r in a],
                               [r.pop("title_score") for r in b], atol=1e-4)
        if name == "triples":
            assert np.allclose([r.pop("score") for r in a], [r.pop("score") for r in b], atol=1e-4)
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
    assert embed_failures and all(d["reason"] == "inference_error: RuntimeError: cannot embed "
                                  "'深圳'" for d in embed_failures)
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


def test_titles_and_triples_reach_their_tables(corpus, tmp_path):
    out = tmp_path / "out"
    handlers = Handlers(encoder=FakeEncoderHandler(), titler=FakeTitlerHandler(chars=4),
                        extractor=FakeExtractorHandler())
    summary = run([str(corpus / "news.txt"), "--output", str(out), "--k", "3"], handlers=handlers)
    tables = _tables(out)
    docs = tables["documents"].to_pylist()
    assert docs and all(d["title"] == d["text"][:4] and d["title_score"] == -1.0 for d in docs)
    by_id = {d["doc_id"]: d for d in docs}
    for c in tables["clusters"].to_pylist():
        assert c["title"] == by_id[c["representative_doc_id"]]["title"]
    triples = tables["triples"].to_pylist()
    # "华为公司总部位于深圳" twice (the second a duplicate): a triple for each, spans exact
    assert sorted((t["subject"], t["object"]) for t in triples) == [("华为公司", "深圳")] * 2
    for t in triples:
        text = by_id[t["doc_id"]]["text"]
        assert text[t["subject_start"]:t["subject_end"]] == t["subject"]
        assert text[t["object_start"]:t["object_end"]] == t["object"]
    m = summary.manifest
    assert m["titles"] == {"failed": 0, "reasons": []}
    assert m["extraction"]["failed"] == 0 and m["extraction"]["sentences"] >= len(docs)
    assert m["counts"]["triples"] == 2 and m["balance"]["balanced"]


def test_failed_titles_leave_documents_untitled_but_written(corpus, tmp_path):
    out = tmp_path / "out"
    handlers = Handlers(encoder=FakeEncoderHandler(), titler=FakeTitlerHandler(fail_on="北京"))
    summary = run([str(corpus / "news.txt"), "--output", str(out), "--k", "3"], handlers=handlers)
    docs = _tables(out)["documents"].to_pylist()
    untitled = [d for d in docs if d["title"] is None]
    assert any("北京" in d["text"] for d in untitled)
    assert summary.manifest["titles"]["failed"] == len(untitled)
    assert summary.manifest["titles"]["reasons"] == ["inference_error: RuntimeError: cannot "
                                                     "title '北京'"]
    assert summary.manifest["balance"]["balanced"]
    assert _tables(out)["triples"].num_rows == 0  # no extractor: an empty table, right columns


def test_sharded_knn_gives_the_same_tables_on_a_small_corpus(corpus, tmp_path):
    """Below ~39 x lists documents the sharded index has one list, which is exact search; `auto`
    picks it when the inputs are bigger than --sharded-above-bytes."""
    outs = {}
    for name, flags in (("single", ["--knn", "single"]), ("auto", ["--sharded-above-bytes", "10"])):
        out = tmp_path / name
        summary = run([str(corpus / "news.txt"), "--output", str(out), "--k", "3", *flags],
                      handlers=Handlers(encoder=FakeEncoderHandler()))
        outs[name] = (_tables(out), summary.manifest)
    (single, m1), (sharded, m2) = outs["single"], outs["auto"]
    assert m1["graph"]["index"] == "flat_ip" and m2["graph"]["index"] == "sharded_ivf"
    assert m2["parameters"]["graph"]["knn"] == "sharded"
    for table, key in (("edges", ["src", "dst"]), ("documents", ["doc_id"])):
        a = single[table].sort_by([(k, "ascending") for k in key]).to_pylist()
        b = sharded[table].sort_by([(k, "ascending") for k in key]).to_pylist()
        if table == "edges":
            assert [(r["src"], r["dst"]) for r in a] == [(r["src"], r["dst"]) for r in b]
            assert np.allclose([r["similarity"] for r in a], [r["similarity"] for r in b])
        else:
            assert [r["cluster_id"] for r in a] == [r["cluster_id"] for r in b]


def test_object_store_publishing_end_to_end(corpus, tmp_path, monkeypatch):
    """The gs:// publisher (objects moved one by one, _SUCCESS last), run on a local path."""
    import wenmai.job
    from wenmai.output import ObjectStoreOutput

    monkeypatch.setattr(wenmai.job, "output_for", ObjectStoreOutput)
    out = tmp_path / "out"
    summary = run([str(corpus / "news.txt"), "--output", str(out), "--k", "3",
                   "--run-date", "2026-11-28"], handlers=Handlers(encoder=FakeEncoderHandler()))
    published = out / "run_date=2026-11-28"
    assert summary.output == str(published) and (published / "_SUCCESS").exists()
    assert json.loads((published / "manifest.json").read_text())["balance"]["balanced"]
    assert not (published / "_stats").exists()
    assert _tables(published)["documents"].num_rows == summary.manifest["counts"]["documents"]
    assert not [p for p in tmp_path.glob(".*tmp*/**/*") if p.is_file()]  # staging emptied
