"""`wenmai bench daily`: daily runs that remember, measured on overlapping windows of news.

The newest `--days` dates of a dated news file (default ../shared/data/titles/xwlb/news.jsonl)
are written one file per date (outside the repository, under `--work`), and `wenmai run` is run
once per window of `--window` consecutive dates, stepping one date, with `--run-date` = the
window's last date into one output: each run continues the newest earlier one (the default
`--previous`), so every story is in up to `--window` runs. Every `--baseline-every`-th window is
also run with `--no-previous` into another output, for the time topic tracking costs.

Figures, all read back from the published tables (not from the job's own stats):
- stability: of the documents (same doc_id and text) in two consecutive runs, the share that
  keep their topic_id (issue 17's goal: at least 0.95);
- per run: topics alive (topic_days rows), births (topics first seen that day), deaths (alive
  in the previous run, not in this one), splits (earlier topics continuing in several clusters),
  merges (clusters continuing several earlier topics), returns, seconds with and without
  --previous;
- one example topic's trajectory: its title and size in each run (the topic alive in the most
  runs, ties by total size).
Writes `--report` .md and .json (default docs/daily.md, docs/daily.json).
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from wenmai.benchmarks.data import add_data_dir_arg, data_dir
from wenmai.cli.args import ArgumentParser, add_dataclass_args, dataclass_from_args

NEWS = "titles/xwlb/news.jsonl"  # in --data-dir: JSON lines {"date": YYYYMMDD, "text", "title"}
GOAL = 0.95
KEYWORDS = 5  # of a topic's keywords shown per run in its trajectory


@dataclass(frozen=True)
class DailyConfig:
    days: int = 40  # newest dates of the file used (40 dates, 7-date windows: 34 runs)
    window: int = 7  # dates per run; consecutive runs share window - 1 dates
    baseline_every: int = 1  # every N-th window is also run with --no-previous (timing)
    threads: int = 1  # torch / BLAS threads (the machine is shared)


def write_days(news: Path, days: int, directory: Path) -> list[tuple[str, Path]]:
    """The newest `days` dates of `news` -> one JSON-lines file per date ({"text"} a line, in
    file order) under `directory`; returns (YYYY-MM-DD, path) in date order."""
    by_date: dict[str, list[str]] = defaultdict(list)
    with open(news, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                by_date[row["date"]].append(row["text"])
    dates = sorted(by_date)[-days:]
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for d in dates:
        iso = f"{d[:4]}-{d[4:6]}-{d[6:]}"
        path = directory / f"{iso}.jsonl"
        path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n"
                                for t in by_date[d]), encoding="utf-8")
        out.append((iso, path))
    return out


def windows(days: list[tuple[str, Path]], size: int) -> list[tuple[str, list[Path]]]:
    """(run_date, inputs) for each window of `size` consecutive dates, stepping one date.

    Example: windows([("d1", a), ("d2", b), ("d3", c)], 2) == [("d2", [a, b]), ("d3", [b, c])]
    """
    return [(days[i][0], [p for _, p in days[i - size + 1:i + 1]])
            for i in range(size - 1, len(days))]


def run_once(inputs: list[Path], output: Path, run_date: str, extra: list[str]) -> float:
    """One `wenmai run`, in this process; returns its wall-clock seconds."""
    from wenmai.job import run

    started = time.perf_counter()
    run([str(p) for p in inputs] + ["--output", str(output), "--run-date", run_date,
                                    "--no-titles", "--no-triples", "--quiet"] + extra)
    return time.perf_counter() - started


def _rows(run_dir: Path, table: str) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(run_dir / table).to_pylist()


def run_figures(chain: Path, dates: list[str]) -> list[dict]:
    """Per run of the chain: the figures of the module docstring, from its tables."""
    from wenmai.pipelines.topics import text_hash

    out, before = [], None
    for d in dates:
        run_dir = chain / f"run_date={d}"
        docs = {r["doc_id"]: (text_hash(r["text"]), r["topic_id"])
                for r in _rows(run_dir, "documents")}
        days = _rows(run_dir, "topic_days")
        lineage = _rows(run_dir, "lineage")
        registry = _rows(run_dir, "topics")
        alive = {r["topic_id"] for r in days}
        linked = [r for r in lineage if r["overlap"] > 0]
        row = {"run_date": d, "documents": len(docs), "topics_alive": len(alive),
               "births": sum(r["first_run_date"] == d for r in registry),
               "splits": sum(n > 1 for n in Counter(r["previous_topic_id"] for r in linked).values()),
               "merges": sum(n > 1 for n in Counter(r["cluster_id"] for r in linked).values()),
               "returns": sum(r["relation"] == "return" for r in lineage),
               "registry": len(registry)}
        if before is not None:
            both = [i for i, (h, _) in docs.items() if i in before["docs"] and before["docs"][i][0] == h]
            kept = sum(docs[i][1] == before["docs"][i][1] for i in both)
            row.update({"seen_again": len(both), "kept_topic": kept,
                        "stability": kept / len(both) if both else None,
                        "deaths": len(before["alive"] - alive)})
        else:
            row.update({"seen_again": 0, "kept_topic": 0, "stability": None, "deaths": 0})
        out.append(row)
        before = {"docs": docs, "alive": alive}
    return out


def matchable(alone: Path, dates: list[str]) -> dict[str, tuple[int, int]]:
    """What matching alone could keep, from the --no-previous runs (no CarryTopics): for each
    pair of consecutive runs, (documents in both, the most of them a one-to-one matching of the
    two runs' clusters keeps together), keyed by the later run's date. Topics are one to one
    with clusters, so this is the stability TrackTopics reaches with --carry-boost 0
    --carry-damp 0."""
    from wenmai.pipelines.topics import best_one_to_one, text_hash

    out, before = {}, None
    for d in dates:
        run_dir = alone / f"run_date={d}"
        if not (run_dir / "_SUCCESS").exists():
            before = None
            continue
        docs = {r["doc_id"]: (text_hash(r["text"]), r["cluster_id"])
                for r in _rows(run_dir, "documents")}
        if before is not None:
            overlap = Counter((docs[i][1], before[i][1]) for i in docs
                              if i in before and before[i][0] == docs[i][0])
            pairs = best_one_to_one(dict(overlap))
            out[d] = (sum(overlap.values()), sum(overlap[(c, t)] for c, t in pairs.items()))
        before = docs
    return out


def trajectory(chain: Path, dates: list[str]) -> dict:
    """The topic alive in the most runs (ties: the larger total size, then the smaller id) ->
    {topic_id, runs: [{run_date, size, new_documents, keywords}]}. Its titles are left out: with
    --no-titles a title is the opening of a story, dataset text, which stays out of the
    repository (the DuckDB query shows them)."""
    per_topic: dict[int, list[dict]] = defaultdict(list)
    for d in dates:
        for r in _rows(chain / f"run_date={d}", "topic_days"):
            per_topic[r["topic_id"]].append({"run_date": d, "size": r["size"],
                                             "new_documents": r["new_documents"],
                                             "keywords": r["keywords"][:KEYWORDS]})
    if not per_topic:
        return {"topic_id": None, "runs": []}
    best = min(per_topic, key=lambda t: (-len(per_topic[t]), -sum(r["size"] for r in per_topic[t]), t))
    return {"topic_id": best, "runs": per_topic[best]}


def duckdb_sizes(chain: Path, topic_id: int) -> list[tuple]:
    """The README's DuckDB query of one topic's daily size, run on the chain's output."""
    import duckdb

    query = (f"SELECT run_date, size, new_documents, title "
             f"FROM read_parquet('{chain}/run_date=*/topic_days/*.parquet') "
             f"WHERE topic_id = {int(topic_id)} ORDER BY run_date")
    return duckdb.sql(query).fetchall()


def summarise(rows: list[dict]) -> dict:
    seen = sum(r["seen_again"] for r in rows)
    kept = sum(r["kept_topic"] for r in rows)
    pairs = [r["matchable"] for r in rows if r.get("matchable")]
    uncarried = sum(k for _, k in pairs) / sum(n for n, _ in pairs) if pairs else None
    per_run = [r["stability"] for r in rows if r["stability"] is not None]
    timed = [r for r in rows if r.get("seconds_alone") is not None]
    return {
        "runs": len(rows), "documents_seen_again": seen, "documents_kept_topic": kept,
        "stability": kept / seen if seen else None, "goal": GOAL,
        "stability_min_run": min(per_run) if per_run else None,
        # the same with matching alone (no CarryTopics), over len(pairs) pairs of --no-previous runs
        "stability_without_carry": uncarried, "pairs_without_carry": len(pairs),
        "topics_alive_mean": sum(r["topics_alive"] for r in rows) / len(rows) if rows else None,
        **{k: sum(r[k] for r in rows) for k in ("births", "deaths", "splits", "merges", "returns")},
        "seconds_with_previous_mean": (sum(r["seconds"] for r in timed) / len(timed)
                                       if timed else None),
        "seconds_without_previous_mean": (sum(r["seconds_alone"] for r in timed) / len(timed)
                                          if timed else None),
        "timed_runs": len(timed),
    }


def markdown(report: dict) -> str:
    s = report["summary"]
    lines = [
        "# Daily runs that remember: stable topic ids across runs",
        "",
        f"Command: `{report['command']}`",
        "",
        f"{s['runs']} runs of {report['config']['window']} consecutive date(s) each, stepping "
        f"one date, over the newest {report['config']['days']} dates of `{report['data']}` "
        f"(`--no-titles --no-triples`, {report['config']['threads']} thread). Each run continues "
        "the previous one (the default `--previous`: the newest earlier `run_date=` partition).",
        "",
        f"- **Stability**: {s['documents_kept_topic']} of the {s['documents_seen_again']} "
        f"documents present in two consecutive runs kept their topic id: "
        f"**{_pct(s['stability'])}** (goal {_pct(s['goal'])}; lowest single run "
        f"{_pct(s['stability_min_run'])}).",
        f"- Without `CarryTopics` (matching alone; the --no-previous runs' clusters, consecutive "
        f"pairs matched one to one, {s['pairs_without_carry']} pair(s)): "
        f"{_pct(s['stability_without_carry'])}.",
        f"- Topics alive per run: {s['topics_alive_mean']:.1f} on average; over all runs "
        f"{s['births']} births, {s['deaths']} deaths, {s['splits']} splits, {s['merges']} merges, "
        f"{s['returns']} returns.",
    ]
    if s["timed_runs"]:
        extra = s["seconds_with_previous_mean"] - s["seconds_without_previous_mean"]
        lines.append(f"- Seconds per run (mean of {s['timed_runs']} runs made both ways): "
                     f"{s['seconds_with_previous_mean']:.1f} with --previous, "
                     f"{s['seconds_without_previous_mean']:.1f} with --no-previous "
                     f"({extra:+.1f} s).")
    lines += ["", "| run_date | documents | seen again | kept topic | stability | topics alive | "
              "births | deaths | splits | merges | returns | s | s (--no-previous) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["runs"]:
        alone = r.get("seconds_alone")
        lines.append(f"| {r['run_date']} | {r['documents']} | {r['seen_again']} | "
                     f"{r['kept_topic']} | {_pct(r['stability'])} | {r['topics_alive']} | "
                     f"{r['births']} | {r['deaths']} | {r['splits']} | {r['merges']} | "
                     f"{r['returns']} | {r['seconds']:.1f} | "
                     f"{'-' if alone is None else f'{alone:.1f}'} |")
    t = report["trajectory"]
    lines += ["", f"## One topic's trajectory: topic {t['topic_id']}", "",
              "| run_date | size | new documents | keywords |", "|---|---:|---:|---|"]
    lines += [f"| {r['run_date']} | {r['size']} | {r['new_documents']} | {' '.join(r['keywords'])} |"
              for r in t["runs"]]
    lines += ["", "Its titles are left out here (with `--no-titles` a title is the opening of a "
              "story: dataset text). The same trajectory, titles included, with DuckDB over every "
              "run's `topic_days` (OUT = the bench's `--work`/chain):", "",
              "```sql", report["duckdb_query"], "```", ""]
    return "\n".join(lines)


def _pct(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.1%}"


def daily(news: Path, work: Path, config: DailyConfig, extra: list[str]) -> dict:
    if work.exists():
        shutil.rmtree(work)
    days = write_days(news, config.days, work / "input")
    runs = windows(days, config.window)
    timings = {}
    for i, (run_date, inputs) in enumerate(runs):
        seconds = run_once(inputs, work / "chain", run_date, extra)
        alone = None
        if config.baseline_every and i % config.baseline_every == 0:
            alone = run_once(inputs, work / "alone", run_date, extra + ["--no-previous"])
        timings[run_date] = (seconds, alone)
        print(f"{run_date}: {seconds:.1f} s with --previous"
              + ("" if alone is None else f", {alone:.1f} s without"), flush=True)
    dates = [d for d, _ in runs]
    rows = run_figures(work / "chain", dates)
    alone = matchable(work / "alone", dates)
    for r in rows:
        r["seconds"], r["seconds_alone"] = timings[r["run_date"]]
        r["matchable"] = alone.get(r["run_date"])
    t = trajectory(work / "chain", dates)
    query = ("SELECT run_date, size, new_documents, title\n"
             "FROM read_parquet('OUT/run_date=*/topic_days/*.parquet')\n"
             f"WHERE topic_id = {t['topic_id']}\nORDER BY run_date;")
    checked = duckdb_sizes(work / "chain", t["topic_id"]) if t["topic_id"] is not None else []
    # DuckDB reads run_date from the run_date= directories (hive partitioning) as a DATE
    assert [(r["run_date"], r["size"]) for r in t["runs"]] == [(str(d), n) for d, n, *_ in checked]
    return {"config": dataclasses.asdict(config), "summary": summarise(rows), "runs": rows,
            "trajectory": t, "duckdb_query": query}


def main(argv: Optional[list[str]] = None) -> dict:
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = ArgumentParser(prog="wenmai bench daily", description=__doc__.split("\n\n")[0],
                            epilog="Flags after -- go to every `wenmai run`.")
    add_data_dir_arg(parser)
    parser.add_argument("--news", type=Path, default=None,
                        help=f'JSON lines {{"date": YYYYMMDD, "text"}} (default: {NEWS} in --data-dir)')
    parser.add_argument("--work", type=Path, default=Path("/tmp/wenmai-bench-daily"),
                        help="scratch directory for the per-date inputs and the runs (replaced)")
    parser.add_argument("--report", type=Path, default=Path("docs/daily"),
                        help="writes REPORT.md and REPORT.json")
    add_dataclass_args(parser, DailyConfig, group=False)
    args = parser.parse_args(argv)
    config = dataclass_from_args(DailyConfig, args)
    os.environ.setdefault("OMP_NUM_THREADS", str(config.threads))
    import torch

    torch.set_num_threads(config.threads)
    data = data_dir(args.data_dir) if args.news is None else None
    news = args.news or data / NEWS
    report = daily(news, args.work, config, extra)
    report["data"] = NEWS if args.news is None else str(news)
    report["command"] = " ".join(["wenmai bench daily"] + argv + (["--"] + extra if extra else []))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.with_suffix(".json").write_text(json.dumps(report, ensure_ascii=False, indent=1),
                                                encoding="utf-8")
    args.report.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    print(json.dumps(report["summary"], ensure_ascii=False))
    return report
