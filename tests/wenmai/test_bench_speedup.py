"""`wenmai bench speedup`: medians per version and corpus, head / base ratios, the table.
(Installing a commit and timing both versions is the benchmark itself, not a unit test.)"""
from wenmai.benchmarks.speedup import has_quiet_flag, imported_from, summarize, table


def _row(version, corpus, docs_per_s, share):
    return {"version": version, "corpus": corpus, "documents": 100,
            "documents_per_s": docs_per_s, "characters_per_s": 600 * docs_per_s,
            "peak_rss_mib": 900.0, "job_seconds": 100 / docs_per_s,
            "cpu_seconds": 200 / docs_per_s,
            "stage_share": {"Title": share, "Extract": 1 - share}}


def test_medians_and_ratio():
    rows = [_row("base", "news", 10, 0.4), _row("head", "news", 19, 0.2),
            _row("base", "news", 12, 0.5), _row("head", "news", 25, 0.3),
            _row("base", "news", 11, 0.6), _row("head", "news", 22, 0.1)]
    base, head = summarize(rows)
    assert (base["version"], base["runs"], base["documents_per_s"]) == ("base", 3, 11)
    assert head["documents_per_s"] == 22 and head["ratio"] == 2.0 and base["ratio"] == 1.0
    assert abs(head["cpu_ratio"] - 2.0) < 1e-9
    assert head["stage_share"] == {"Extract": 0.8, "Title": 0.2}  # largest first
    lines = table([base, head], {"base": "e0fd0bc", "head": "abc1234"}).splitlines()
    assert lines[0].startswith("| version | corpus | docs/s | chars/s | peak MiB")
    assert lines[3].startswith("| abc1234 | news (100) | 22.0 | 13,200 | 900 | Extract 80%")
    assert lines[3].endswith("| 2.00 | 9 | 2.00 |")


def test_imported_from_names_the_package_a_python_uses(tmp_path):
    import sys

    import wenmai

    assert imported_from(sys.executable, tmp_path).parent.name == "wenmai"
    assert imported_from(sys.executable, tmp_path) == __import__("pathlib").Path(
        wenmai.__file__).resolve()


def test_a_base_without_quiet_runs_without_it(tmp_path):
    import sys

    assert has_quiet_flag(sys.executable, tmp_path)  # this version's `wenmai run` takes it
    old = tmp_path / "python"  # an old version's interpreter: its run help lacks --quiet
    old.write_text("#!/bin/sh\necho 'usage: wenmai run [-h] [--output OUTPUT] [--overwrite]'\n")
    old.chmod(0o755)
    assert not has_quiet_flag(str(old), tmp_path)
