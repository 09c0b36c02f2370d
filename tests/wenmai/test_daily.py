"""Daily runs that remember, end to end: two dated runs over overlapping inputs keep topic ids,
a rerun gives the same ids, and an out-of-order run is refused before any work."""
import json

import pyarrow.parquet as pq
import pytest

from wenmai.cli import main as cli
from wenmai.job import run
from wenmai.schemas import TABLES, validate_rows

# Invented stories in three topics; each day file holds one of each and more.
DAYS = {
    "d1": ["华为公司发布新款手机芯片", "北京今天气温骤降最高五度", "国足预选赛战胜对手晋级"],
    "d2": ["华为公司发布新款手机系统", "北京今天气温骤降伴有大风", "国足预选赛客场战胜对手"],
    "d3": ["华为公司发布新款平板电脑", "北京今天气温骤降道路结冰", "国足预选赛主场战胜对手"],
}


@pytest.fixture(scope="module")
def chain(tmp_path_factory, models_dir):
    root = tmp_path_factory.mktemp("daily")
    for name, lines in DAYS.items():
        (root / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = root / "out"
    common = ["--models", str(models_dir), "--k", "3", "--no-titles", "--no-triples", "--quiet"]
    first = run([str(root / "d1.txt"), str(root / "d2.txt"), "--output", str(out),
                 "--run-date", "2026-06-01"] + common)
    second = run([str(root / "d2.txt"), str(root / "d3.txt"), "--output", str(out),
                  "--run-date", "2026-06-02"] + common)
    return root, out, common, first, second


def _rows(directory, table):
    return pq.read_table(directory / table).to_pylist()


def test_every_document_has_a_topic_and_the_tables_balance(chain):
    _, out, _, first, second = chain
    for summary in (first, second):
        directory = out / f"run_date={summary.manifest['run_date']}"
        docs = _rows(directory, "documents")
        days = _rows(directory, "topic_days")
        assert all(d["topic_id"] is not None for d in docs)
        assert {d["topic_id"] for d in docs} == {t["topic_id"] for t in days}
        assert sum(t["size"] for t in days) == len(docs)
        counts = summary.manifest["counts"]
        assert counts["topic_days"] == counts["clusters"] == len(days)
        assert counts["topics"] == len(_rows(directory, "topics")) and counts["lineage"] >= len(days)
        for name in ("documents", "topics", "topic_days", "lineage"):
            validate_rows(TABLES[name], _rows(directory, name))


def test_the_second_run_continues_the_first(chain):
    _, out, _, first, second = chain
    before = {d["doc_id"]: d for d in _rows(out / "run_date=2026-06-01", "documents")}
    after = {d["doc_id"]: d for d in _rows(out / "run_date=2026-06-02", "documents")}
    both = [i for i in after if i in before]
    assert len(both) == 3  # d2's stories, read again
    assert all(after[i]["topic_id"] == before[i]["topic_id"] for i in both)
    assert all(after[i]["first_run_date"] == "2026-06-01" for i in both)
    stats = second.manifest["topics"]
    assert stats["previous_run_date"] == "2026-06-01" and stats["stability"] == 1.0
    assert first.manifest["topics"]["previous_run_date"] is None
    registry = _rows(out / "run_date=2026-06-02", "topics")
    assert {t["first_run_date"] for t in registry} >= {"2026-06-01"}
    assert all(len(t["centroid"]) == 16 for t in registry)  # the tiny encoder's dimensions


def test_rerunning_a_day_gives_the_same_ids(chain, tmp_path):
    root, out, common, _, second = chain
    again = run([str(root / "d2.txt"), str(root / "d3.txt"), "--output", str(tmp_path / "again"),
                 "--run-date", "2026-06-02", "--previous", str(out / "run_date=2026-06-01")]
                + common)
    ids = lambda d: {r["doc_id"]: r["topic_id"] for r in _rows(d, "documents")}  # noqa: E731
    assert ids(tmp_path / "again" / "run_date=2026-06-02") == ids(out / "run_date=2026-06-02")
    assert again.manifest["topics"] == second.manifest["topics"]


def test_an_out_of_order_run_is_refused_before_any_work(chain, tmp_path, capsys):
    root, out, common, _, _ = chain
    code = cli(["run", str(root / "d1.txt"), "--output", str(tmp_path / "late"), "--run-date",
                "2026-06-01", "--previous", str(out / "run_date=2026-06-02")] + common)
    assert code == 2
    assert "not older than this run's --run-date 2026-06-01" in capsys.readouterr().err
    assert not (tmp_path / "late").exists()
    manifest = json.loads((out / "run_date=2026-06-02" / "manifest.json").read_text())
    assert manifest["parameters"]["topics"]["previous"].endswith("run_date=2026-06-01")
