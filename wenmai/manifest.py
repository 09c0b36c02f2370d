"""The run manifest: what was read, what was written, with which models and settings, how long.

Built by the driver after the pipeline has finished, from the written files themselves (row
counts from Parquet footers, dead letters grouped by stage and reason), the `_stats` the pipeline
wrote (records read per input file, graph and InfoMap figures) and, where the runner reports
them, Beam's metrics (per-stage counters and seconds, informational only). `check_balance`
enforces the one invariant every run keeps: records read (counted from the data by `ReadCorpus`)
= documents written + dead letters.
"""
from __future__ import annotations

import json
import platform
from importlib import metadata
from typing import Any, Iterable, Optional

from apache_beam.io.filesystems import FileSystems

from wenmai.schemas import STATS_DIR, TABLES

PACKAGES = ("wenmai", "apache-beam", "torch", "pyarrow", "faiss-cpu", "faiss-gpu-cu12", "jieba",
            "igraph", "infomap", "numpy", "safetensors")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def table_files(directory: str, table: str) -> list[str]:
    pattern = FileSystems.join(directory, table, "*.parquet")
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def count_rows(directory: str) -> dict[str, int]:
    """Rows per table, read from the Parquet footers only."""
    import pyarrow.parquet as pq

    counts = {}
    for table in TABLES:
        files = table_files(directory, table)
        if files:
            total = 0
            for path in files:
                with FileSystems.open(path) as f:
                    total += pq.ParquetFile(f).metadata.num_rows
            counts[table] = total
    return counts


def read_stats(directory: str) -> dict[str, list]:
    """The `_stats/*.jsonl` lines the pipeline wrote, as {name: [value, ...]} (one value per
    line: a global step writes one, `ReadCorpus` one per input file)."""
    stats: dict[str, list] = {}
    pattern = FileSystems.join(directory, STATS_DIR, "*.jsonl")
    for m in FileSystems.match([pattern])[0].metadata_list:
        with FileSystems.open(m.path) as f:
            for line in f.read().decode("utf-8").splitlines():
                if line.strip():
                    item = json.loads(line)
                    stats.setdefault(item["name"], []).append(item["value"])
    return stats


def stage_counters(result) -> dict[str, int]:
    """Beam counters in our `wenmai.*` namespaces (plus RunInference's), as "namespace/name"."""
    counters = {}
    try:
        query = result.metrics().query()
    except Exception:  # some runners expose no metrics: nothing here depends on them
        return counters
    for counter in query.get("counters", []):
        namespace = counter.key.metric.namespace
        if namespace.startswith("wenmai"):
            key = f"{namespace}/{counter.key.metric.name}"
            counters[key] = counters.get(key, 0) + int(counter.committed or counter.attempted or 0)
    return dict(sorted(counters.items()))


def stage_seconds(result, stages: Iterable[str]) -> dict[str, float]:
    """Seconds spent in each of our named `stages` (ReadCorpus, EncodeSentences, ...), from the
    runner's per-transform execution-time metrics; helper steps and runner-internal ones
    (`ref_PCollection_...`) are left out. Empty where a runner does not report them. Summed over
    workers and threads, so on N workers the shares, not the sums, compare to wall time."""
    try:
        query = result.monitoring_metrics().query()
    except Exception:  # runners without monitoring metrics (or a failed query) report nothing
        return {}
    totals: dict[str, float] = {stage: 0.0 for stage in stages}
    for counter in query.get("counters", []):
        if counter.key.metric.name != "metric:ptransform_execution_time:total_msecs:v1":
            continue
        stage = (counter.key.step or "").split("/")[0]
        if stage in totals:
            totals[stage] += (counter.committed or 0) / 1000.0
    if not any(totals.values()):  # no execution times reported (not even 1 ms): say nothing
        return {}
    # every stage is listed, a quick one with 0.0 (the runner counts whole milliseconds)
    return {stage: round(seconds, 3) for stage, seconds in
            sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))}


def check_balance(records_read: int, counts: dict[str, int]) -> dict[str, Any]:
    written = counts.get("documents", 0) + counts.get("dead_letter", 0)
    return {"records_read": records_read, "documents": counts.get("documents", 0),
            "dead_letter": counts.get("dead_letter", 0), "balanced": records_read == written}


def reason_code(reason: str) -> str:
    """Example: reason_code("missing_field: text") == "missing_field" """
    return reason.split(":", 1)[0].strip() or reason


def dead_letter_reasons(directory: str) -> list[dict[str, Any]]:
    """Dead letters grouped by (stage, reason code), most frequent first, each with one full
    reason as an example: [{"stage", "reason", "count", "example", "label"}, ...]; `label` is
    the full reason where every one in the group is the same ("missing_field: text"), else the
    code ("invalid_utf8", whose details differ per record)."""
    import pyarrow.parquet as pq

    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for path in table_files(directory, "dead_letter"):
        with FileSystems.open(path) as f:
            table = pq.read_table(f, columns=["stage", "reason"])
        for stage, reason in zip(table.column("stage").to_pylist(),
                                 table.column("reason").to_pylist()):
            key = (stage, reason_code(reason))
            group = groups.setdefault(key, {"stage": stage, "reason": key[1], "count": 0,
                                            "example": reason, "label": reason})
            group["count"] += 1
            if reason != group["example"]:
                group["label"] = key[1]
    return sorted(groups.values(), key=lambda g: (-g["count"], g["stage"], g["reason"]))


def by_stage(reasons: list[dict[str, Any]]) -> dict[str, int]:
    """Example: by_stage([{"stage": "read", "count": 2, ...}, {"stage": "clean", "count": 1, ...}])
    == {"read": 2, "clean": 1}"""
    out: dict[str, int] = {}
    for r in reasons:
        out[r["stage"]] = out.get(r["stage"], 0) + r["count"]
    return out


def top_reasons(reasons: list[dict[str, Any]], n: int = 3) -> str:
    """The most frequent dead-letter reasons as one short phrase.

    Example: top_reasons([{"stage": "read", "reason": "missing_field", "count": 32,
    "example": "missing_field: text", "label": "missing_field: text"}])
    == "missing_field: text x32 (read)"
    """
    parts = [f"{r['label'][:80]} x{r['count']} ({r['stage']})" for r in reasons[:n]]
    more = sum(r["count"] for r in reasons[n:])
    return ", ".join(parts) + (f", {more} more" if more else "") if parts else "none"


def input_files(paths: list[str], file_stats: Optional[list[dict]]) -> list[dict[str, Any]]:
    """One entry per input path: size in bytes, sha256 of its stored bytes and records read,
    from `ReadCorpus`'s per-file statistics; a path without them (never read) has records 0."""
    by_path = {s["path"]: s for s in file_stats or []}
    out = []
    for path in paths:
        s = by_path.get(path, {})
        out.append({"path": path, "bytes": s.get("bytes"), "sha256": s.get("sha256"),
                    "records": s.get("records", 0), "dead_letters": s.get("dead_letters", 0)})
    return out
