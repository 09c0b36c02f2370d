"""The whole job on a tiny corpus: accounting, schemas, publishing, runners, fakes."""
import hashlib
import json

import numpy as np

import pyarrow.parquet as pq
import pytest

from wenmai.config import EmbedConfig
from wenmai.job import Handlers, RunFailed, UsageError, run
from wenmai.pipelines.pipeline import STAGES
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
    assert all(len(d["embedding"]) == 16 + EmbedConfig().lexical_dims for d in docs)  # + TF-IDF/SVD
    # short documents are their own title (no score); the rest are generated (a log-probability)
    assert all(isinstance(d["title"], str) for d in docs)
    assert all(d["title_score"] is None if d["title_source"] == "text" else d["title_score"] <= 0
               for d in docs)
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


def test_manifest_and_success_marker_published(default_run, corpus):
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
    assert manifest["status"] == "published" and manifest["failure"] is None
    assert manifest["started_at"] <= manifest["finished_at"]
    assert set(manifest["stage_seconds"]) <= set(STAGES)  # our named steps only
    by_reason = {(r["stage"], r["reason"]): r["count"] for r in manifest["dead_letters"]["by_reason"]}
    assert by_reason == {("clean", "empty"): 2, ("clean", "no_content"): 1,
                         ("read", "bad_json"): 1, ("read", "missing_field"): 1}
    assert manifest["dead_letters"]["by_stage"] == {"clean": 3, "read": 2}
    news, q = manifest["inputs"]
    assert news["path"] == str(corpus / "news.txt") and news["records"] == 12
    assert news["bytes"] == (corpus / "news.txt").stat().st_size
    assert news["sha256"] == hashlib.sha256((corpus / "news.txt").read_bytes()).hexdigest()
    assert q["records"] == 3 and q["dead_letters"] == 2
    assert (out / "report.html").exists()


def test_same_tables_under_multi_processing(corpus, models_dir, tmp_path, monkeypatch):
    """Every DoFn and handler pickles to worker processes; results equal the one-process run's.

    Both runs use the fp32 encoder: int8 quantizes each batch's activations with one scale, so
    its vectors move a little with their batch-mates (tests/models/test_quantize.py).
    Run from a directory holding a broken `wenmai/` package, as a source checkout's root is for a
    plain `pip install .`: no worker process (nor the infomap child) may import it."""
    out = tmp_path / "one"
    run([str(corpus / "*"), "--output", str(out), "--models", str(models_dir), "--id-field", "id",
         "--k", "3", "--no-encoder-int8"])
    other = tmp_path / "mp"
    (tmp_path / "checkout" / "wenmai").mkdir(parents=True)
    (tmp_path / "checkout" / "wenmai" / "__init__.py").write_text(
        "raise ImportError('imported wenmai from the working directory')\n")
    monkeypatch.chdir(tmp_path / "checkout")
    run([str(corpus / "*"), "--output", str(other), "--models", str(models_dir), "--id-field", "id",
         "--k", "3", "--length-buckets", "off", "--no-encoder-int8",
         "--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    keys = {"documents": ["doc_id"], "edges": ["src", "dst"], "clusters": ["cluster_id"],
            "dead_letter": ["source", "position"],
            "triples": ["doc_id", "subject_start", "object_start", "predicate"]}
    for name, key in keys.items():
        a, b = (sorted(pq.read_table(d / name).to_pylist(), key=lambda r: [r[k] for k in key])
                for d in (out, other))
        if name == "documents":  # other batch-mates, other padding: float noise only
            assert np.allclose([r.pop("embedding") for r in a], [r.pop("embedding") for r in b],
                               atol=1e-5)
            assert np.allclose([r.pop("title_score") or 0.0 for r in a],  # null: own title
                               [r.pop("title_score") or 0.0 for r in b], atol=1e-4)
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
    summary = run([str(corpus / "news.txt"), "--output", str(out), "--overwrite",
                   "--max-dead-letter-share", "1"],  # most fail on purpose here
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
    summary = run([str(corpus / "news.txt"), "--output", str(out), "--k", "3",
                   "--title-min-chars", "1", "--title-lead-chars", "0"],
                  handlers=handlers)  # every document to the titler
    tables = _tables(out)
    docs = tables["documents"].to_pylist()
    generated = [d for d in docs if d["title_source"] == "generated"]
    assert len(generated) == len(docs) - 1  # "The quick brown fox 123": not Chinese, no title
    assert all(d["title"] == d["text"][:4] and d["title_score"] == -1.0 for d in generated)
    by_id = {d["doc_id"]: d for d in docs}
    for c in tables["clusters"].to_pylist():
        rep = by_id[c["representative_doc_id"]]
        assert c["title"] == (rep["title"] or rep["text"])  # untitled: its text stands in
    triples = tables["triples"].to_pylist()
    # "华为公司总部位于深圳" twice (the second a duplicate): a triple for each, spans exact
    assert sorted((t["subject"], t["object"]) for t in triples) == [("华为公司", "深圳")] * 2
    for t in triples:
        text = by_id[t["doc_id"]]["text"]
        assert text[t["subject_start"]:t["subject_end"]] == t["subject"]
        assert text[t["object_start"]:t["object_end"]] == t["object"]
    m = summary.manifest
    assert m["titles"]["failed"] == 0 and m["titles"]["reasons"] == []
    assert m["extraction"]["failed"] == 0 and m["extraction"]["sentences"] >= len(docs)
    assert m["counts"]["triples"] == 2 and m["balance"]["balanced"]


def test_failed_titles_leave_documents_untitled_but_written(corpus, tmp_path):
    """A failed titler batch leaves its documents untitled, still written; when most of the
    titles failed (here: any, as the failed share depends on how Beam batched) the run is not
    published; --max-failed-share 1 publishes it."""
    out = tmp_path / "out"
    handlers = Handlers(encoder=FakeEncoderHandler(), titler=FakeTitlerHandler(fail_on="北京"))
    args = [str(corpus / "news.txt"), "--output", str(out), "--k", "3",
            "--title-min-chars", "1", "--title-lead-chars", "0"]  # every document to the titler
    with pytest.raises(RunFailed, match=r"titles: the model failed on \d+ of \d+"):
        run(args + ["--max-failed-share", "0"], handlers=handlers)
    assert not out.exists()
    summary = run(args + ["--max-failed-share", "1"], handlers=handlers)
    docs = _tables(out)["documents"].to_pylist()
    untitled = [d for d in docs if d["title"] is None and not d["text"].isascii()]
    assert any("北京" in d["text"] for d in untitled)
    assert summary.manifest["titles"]["failed"] == len(untitled)
    assert summary.manifest["titles"]["reasons"] == ["inference_error: RuntimeError: cannot "
                                                     "title '北京'"]
    assert summary.manifest["balance"]["balanced"]
    assert _tables(out)["triples"].num_rows == 0  # no extractor: an empty table, right columns


def test_sharded_knn_gives_the_same_tables_on_a_small_corpus(corpus, tmp_path):
    """Below ~39 x lists documents the sharded index has one list, which is exact search; on this
    one-machine runner `auto` stays single even with inputs bigger than --sharded-above-bytes."""
    outs = {}
    for name, flags in (("auto", ["--sharded-above-bytes", "10"]), ("sharded", ["--knn", "sharded"])):
        out = tmp_path / name
        summary = run([str(corpus / "news.txt"), "--output", str(out), "--k", "3", *flags],
                      handlers=Handlers(encoder=FakeEncoderHandler()))
        outs[name] = (_tables(out), summary.manifest)
    (single, m1), (sharded, m2) = outs["auto"], outs["sharded"]
    assert m1["graph"]["index"] == "flat_ip" and m2["graph"]["index"] == "sharded_ivf"
    assert m1["parameters"]["graph"]["knn"] == "single"
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


def test_doc_ids_are_absolute_1_based_and_independent_of_how_the_path_was_typed(
        corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(corpus)
    ids = {}
    # a relative glob and the absolute path (ReadCorpus's own test covers ./ and ../ forms)
    for typed in ("*.txt", str(corpus / "news.txt")):
        out = tmp_path / f"out{len(ids)}"
        run([typed, "--output", str(out), "--k", "3"], handlers=Handlers(encoder=FakeEncoderHandler()))
        ids[typed] = sorted(d["doc_id"] for d in _tables(out)["documents"].to_pylist())
    first = ids["*.txt"]
    assert all(v == first for v in ids.values())
    assert f"{corpus / 'news.txt'}:1" in first  # line 1 is "华为公司总部位于深圳"
    dead = {(d["position"], d["reason"]) for d in _tables(tmp_path / "out0")["dead_letter"].to_pylist()}
    assert dead == {(7, "empty"), (8, "empty"), (9, "no_content")}  # the lines an editor shows


def test_a_run_without_documents_fails_and_publishes_nothing(tmp_path):
    (tmp_path / "q.jsonl").write_text('{"body": "正文"}\n' * 32, encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(RunFailed, match=r"no documents from 32 records; dead letters: "
                                        r"missing_field: text x32 \(read\)"):
        run([str(tmp_path / "q.jsonl"), "--output", str(out), "--run-id", "r1"],
            handlers=Handlers(encoder=FakeEncoderHandler()))
    assert not out.exists()
    kept = json.loads((tmp_path / ".out.tmp-r1" / "manifest.json").read_text())
    assert kept["status"] == "failed" and kept["failure"].startswith("no documents")
    assert (tmp_path / ".out.tmp-r1" / "report.html").exists()


def test_too_many_dead_letters_fail_unless_the_share_allows_them(corpus, tmp_path):
    args = [str(corpus / "news.txt"), "--k", "3"]  # 3 of 12 records are dead letters
    with pytest.raises(RunFailed, match=r"3 of 12 records are dead letters \(25%, more than "
                                        r"--max-dead-letter-share 0.2\): empty x2 \(clean\)"):
        run(args + ["--output", str(tmp_path / "a"), "--max-dead-letter-share", "0.2"],
            handlers=Handlers(encoder=FakeEncoderHandler()))
    assert not (tmp_path / "a").exists()
    summary = run(args + ["--output", str(tmp_path / "b")],  # the default, 0.5, lets 25% pass
                  handlers=Handlers(encoder=FakeEncoderHandler()))
    assert summary.manifest["status"] == "published"


@pytest.mark.parametrize("flag,message", [
    (["--tittle-beam-size", "2"], "unknown option --tittle-beam-size .*did you mean --title-beam-size"),
    (["--max-dead-letter-share", "2"], "--max-dead-letter-share must lie in"),
])
def test_unknown_flags_are_errors_unless_beam_knows_them(flag, message, corpus, tmp_path):
    with pytest.raises(UsageError, match=message):
        run([str(corpus / "news.txt"), "--output", str(tmp_path / "o"), *flag],
            handlers=Handlers(encoder=FakeEncoderHandler()))
    summary = run([str(corpus / "news.txt"), "--output", str(tmp_path / "o"), "--k", "3",
                   "--direct_num_workers=1", "--quiet"],  # Beam's own: accepted
                  handlers=Handlers(encoder=FakeEncoderHandler()))
    assert summary.manifest["beam_options"] == ["--direct_num_workers=1"]


def test_a_model_that_fails_on_most_of_its_input_fails_the_run():
    """Titles all null because the titler could not run (as bf16 once did) is no success."""
    from wenmai.job import failure, model_failures

    balance = {"records_read": 20, "documents": 20, "dead_letter": 0, "balanced": True}
    stats = {"title": [{"failed": 14, "generated": 14, "own": 6, "reasons": ["inference_error: X"]}],
             "extract": [{"sentences": 40, "failed": 0, "reasons": []}]}
    models = model_failures(stats)
    assert models == {"titles": (14, 14, ["inference_error: X"]), "triples": (0, 40, [])}
    why = failure(balance, [], 0.5, models, 0.5)
    assert why.startswith("titles: the model failed on 14 of 14 (100%") and "inference_error: X" in why
    assert failure(balance, [], 0.5, models, 1.0) is None  # --max-failed-share 1: never
    assert failure(balance, [], 0.5, {"triples": (20, 40, ["e"])}, 0.5) is None  # half is not more
    assert failure(balance, [], 0.5, {"titles": (0, 0, [])}, 0.5) is None  # nothing to title


def test_the_same_lines_read_from_another_path_give_the_same_tables(models_dir, tmp_path):
    """doc_ids embed the input's path, but nothing else may: not the lexical fit's sample order
    (a randomized SVD), not which sentences share an int8 encoder batch."""
    from ..conftest import TINY_CORPUS

    subjects, objects = ["华为", "北京", "国足", "央行", "故宫", "高铁"], ["芯片", "降雪", "比赛", "利率", "文物"]
    lines = TINY_CORPUS + [f"{subjects[i % 6]}今年{objects[i % 5]}进展{i}，{subjects[(i * 5) % 6]}表示"
                           f"{objects[(i * 3) % 5]}顺利。" for i in range(60)]
    tables = {}
    for name in ("today.txt", "elsewhere/copy.txt"):
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = tmp_path / "out" / name
        run([str(path), "--output", str(out), "--models", str(models_dir), "--k", "3"])
        prefix = f"{path}:"
        strip = lambda v: int(v[len(prefix):]) if isinstance(v, str) and v.startswith(prefix) else v
        tables[name] = {
            table: sorted(([strip(v) for k, v in row.items() if k != "source"]
                           for row in t.to_pylist()), key=repr)
            for table, t in _tables(out).items() if table in ("documents", "edges", "clusters", "triples")}
    a, b = tables.values()
    assert len(a["documents"]) > 60 and a["edges"] and a["clusters"]
    for table in a:
        assert a[table] == b[table], table
