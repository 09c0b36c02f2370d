"""The benchmark report renders every section from its result dict (no timing is asserted)."""
import json

from wenmai.benchmarks import report as bench_report
from wenmai.benchmarks.report import RENDER, SECTIONS, command, markdown, run_report

SAMPLE = {
    "encoder": {"n": 10, "max_batch_tokens": 4096,
                "bare_loop": {"sentences_per_s": 100.0, "padding_efficiency": 0.5},
                "pipeline_buckets_group": {"sentences_per_s": 90.0, "padding_efficiency": 0.9,
                                           "efficiency_vs_bare": 0.9},
                "pipeline_buckets_off": {"sentences_per_s": 80.0, "padding_efficiency": 0.5,
                                         "efficiency_vs_bare": 0.8}},
    "bert": {"n": 5, "mean_chars": 20.0, "batch_size": 64, "device": "cpu", "speedup": 25.0,
             "ours": {"parameters": 3.6e6, "sentences_per_s": 2500.0},
             "bert_base": {"parameters": 102e6, "sentences_per_s": 100.0}},
    "titler": {"n": 5, "max_len": 256, "batch_size": 64,
               "beams": {"1": {"titles_per_s": 60.0, "slowdown_vs_greedy": 1.0, "mean_title_chars": 12.0},
                         "4": {"titles_per_s": 20.0, "slowdown_vs_greedy": 3.0, "mean_title_chars": 13.0}}},
    "titler_pipeline": {"model": "titler", "items": 5, "bare_items_per_s": 10.0,
                        "pipeline_items_per_s": 9.0, "efficiency": 0.9},
    "extractor": {"attention": [{"length": 512, "attention": "full", "ms_per_layer": 3.0,
                                 "saved_elements": 1000, "peak_rss_growth_mib": 12.5}],
                  "forward_equal_width": {"dgcnn": {"sentences_per_s": 900.0},
                                          "bilstm": {"sentences_per_s": 300.0}},
                  "extract_trained": {"dgcnn": {"sentences_per_s": 500.0}}},
    "extractor_pipeline": {"model": "extractor", "items": 5, "bare_items_per_s": 10.0,
                           "pipeline_items_per_s": 8.0, "efficiency": 0.8},
    "knn": {"k": 10, "real_vectors": 100, "noise": 0.5,
            "sizes": [{"n": 100, "indexes": {"exact": {"seconds": 0.1, "recall": 1.0}}}]},
    "knn_1m": {"k": 10, "real_vectors": 100, "noise": 0.5,
               "sizes": [{"n": 1000, "indexes": {"ivf": {"seconds": 0.1, "recall": 0.9}}}]},
    "infomap": {"n": 10, "edges": 20, "engines": {"infomap": {"seconds": 1.0, "codelength": 3.0,
                                                              "clusters": 2, "nmi": 0.5}}},
    "job": {"runs": [{"n": 1000, "job_seconds": 10.0, "documents_per_s": 100.0,
                      "peak_rss_mib": 700.0, "stage_share": {"Title": 0.6, "EncodeSentences": 0.2}}]},
    "job_news": {"runs": [{"n": 1000, "job_seconds": 50.0, "documents_per_s": 20.0,
                           "characters_per_s": 12600.0, "peak_rss_mib": 1200.0,
                           "stage_share": {"Extract": 0.4, "Title": 0.3},
                           "inference": {"extractor": {"seconds": 9.5}, "titler": {"seconds": 8.25}}}]},
}


def test_every_section_renders_and_names_its_command():
    assert set(RENDER) == set(SECTIONS) == set(SAMPLE)
    report = {"machine": {"cpus": 2, "cpu": "x86_64", "torch_threads": 2, "gpu": None,
                          "torch": "2.13.0"}, "finished_at": "now",
              "sections": {name: {"command": command(name), "seconds": 1.0, "result": result}
                           for name, result in SAMPLE.items()}}
    text = markdown(report)
    assert "**Ours is 25.0x BERT-base**" in text and "Pipeline efficiency **0.90**" in text
    assert "`wenmai bench knn --data-dir ../shared/data --sizes 10000 100000`" in text
    assert "`wenmai bench infomap --data-dir ../shared/data --limit 10000`" in text
    assert command("knn", "/elsewhere").startswith("wenmai bench knn --data-dir /elsewhere ")


def test_sections_are_saved_as_they_finish_and_reused(tmp_path, monkeypatch):
    calls = []

    def fake(argv):
        calls.append(argv)
        return SAMPLE["knn"]

    monkeypatch.setitem(SECTIONS, "knn", ("wenmai.benchmarks.report", "_fake_knn", ["--sizes", "1"]))
    monkeypatch.setattr(bench_report, "_fake_knn", fake, raising=False)
    out = tmp_path / "bench"
    run_report(out, ["knn"], reuse=False, data=tmp_path)
    run_report(out, ["knn"], reuse=True, data=tmp_path)  # already there: not run again
    assert calls == [["--data-dir", str(tmp_path), "--sizes", "1"]]  # the report's --data-dir
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["sections"]["knn"]["result"]["k"] == 10 and "## kNN graph" in out.with_suffix(
        ".md").read_text()


def test_a_rerun_keeps_the_hand_written_part(tmp_path, monkeypatch):
    monkeypatch.setitem(SECTIONS, "knn", ("wenmai.benchmarks.report", "_fake_knn", []))
    monkeypatch.setattr(bench_report, "_fake_knn", lambda argv: SAMPLE["knn"], raising=False)
    out = tmp_path / "bench"
    notes = f"{bench_report.HAND_WRITTEN}\n\n## Why we chose HNSW\n\nmeasured by hand.\n"
    out.with_suffix(".md").write_text("# Benchmarks\n\nold figures\n\n" + notes)
    run_report(out, ["knn"], reuse=False, data=tmp_path)
    text = out.with_suffix(".md").read_text()
    assert "old figures" not in text and "## kNN graph" in text  # regenerated above ...
    assert text.endswith(notes) and text.count(bench_report.HAND_WRITTEN) == 1  # ... kept below


def test_a_section_runs_with_other_arguments_and_says_so(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setitem(SECTIONS, "job", ("wenmai.benchmarks.report", "_fake_job", ["--sizes", "9"]))
    monkeypatch.setattr(bench_report, "_fake_job", lambda argv: calls.append(argv) or SAMPLE["job"],
                        raising=False)
    out = tmp_path / "bench"
    overrides = bench_report.section_args(["job=--sizes 1000 10000"])
    report = run_report(out, ["job"], reuse=False, data=tmp_path, overrides=overrides)
    assert calls == [["--data-dir", str(tmp_path), "--sizes", "1000", "10000"]]
    assert report["sections"]["job"]["command"].endswith("--sizes 1000 10000")
    assert "--sizes 1000 10000`" in out.with_suffix(".md").read_text()


def test_an_override_for_an_unknown_section_is_a_clear_error():
    import pytest

    with pytest.raises(ValueError, match="SECTION=ARGS"):
        bench_report.section_args(["jobs=--sizes 10"])
    with pytest.raises(ValueError, match="SECTION=ARGS"):
        bench_report.section_args(["--sizes 10"])


def test_the_job_tables_give_characters_per_second_and_model_seconds():
    text = "\n".join(RENDER["job_news"](SAMPLE["job_news"]))
    assert "| 1,000 | 50.0 | 20.0 | 12,600 | 1,200 | Extract 40%, Title 30% | extractor 9.5, titler 8.2 |" in text
    assert "| – |" in "\n".join(RENDER["job"](SAMPLE["job"]))  # no per-model figures: a dash


def test_keep_going_records_a_failing_section_and_runs_the_next(tmp_path, monkeypatch):
    def broken(argv):
        raise RuntimeError("no CUDA kernel for this op")

    monkeypatch.setitem(SECTIONS, "bert", ("wenmai.benchmarks.report", "_broken", []))
    monkeypatch.setitem(SECTIONS, "knn", ("wenmai.benchmarks.report", "_fake_knn", []))
    monkeypatch.setattr(bench_report, "_broken", broken, raising=False)
    monkeypatch.setattr(bench_report, "_fake_knn", lambda argv: SAMPLE["knn"], raising=False)
    out = tmp_path / "bench"
    report = run_report(out, ["bert", "knn"], reuse=False, data=tmp_path, keep_going=True)
    assert report["sections"]["bert"]["error"] == "RuntimeError: no CUDA kernel for this op"
    assert report["sections"]["knn"]["result"]["k"] == 10
    text = out.with_suffix(".md").read_text()
    assert "Failed, no figures: `RuntimeError: no CUDA kernel for this op`" in text
    assert "## kNN graph" in text
    import pytest

    with pytest.raises(RuntimeError):  # without keep_going the run stops there
        run_report(tmp_path / "other", ["bert", "knn"], reuse=False, data=tmp_path)


def test_the_gpu_script_names_sections_and_overrides_the_report_knows():
    """.ci/gpu-bench runs once on a borrowed machine: a section renamed here must not be found
    out there."""
    import re
    import shlex
    from pathlib import Path

    script = (Path(__file__).resolve().parents[2] / ".ci" / "gpu-bench").read_text()
    words = shlex.split(script.replace("\\\n", " "), comments=True)
    at = words.index("--sections")
    named = []
    for word in words[at + 1:]:
        if word.startswith("-"):
            break
        named.append(word)
    assert named and set(named) <= set(SECTIONS)
    overrides = [words[i + 1] for i, w in enumerate(words) if w == "--args"]
    assert overrides and bench_report.section_args(overrides)  # parses, known sections only
    assert re.search(r"bench report .*--keep-going", script.replace("\\\n", " "))


def test_the_gpu_script_refuses_a_machine_without_cuda(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    import pytest
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    script = Path(__file__).resolve().parents[2] / ".ci" / "gpu-bench"
    done = subprocess.run(["bash", str(script), str(tmp_path), str(tmp_path / "out")],
                          capture_output=True, text=True, env={"PYTHON": sys.executable,
                                                               "PATH": "/usr/bin:/bin"})
    assert done.returncode != 0 and "no CUDA GPU here" in done.stderr
    assert not (tmp_path / "out.json").exists()
