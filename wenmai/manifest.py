"""The run manifest: what was read, what was written, with which models and settings, how long.

Built by the driver after the pipeline has finished, from the written files themselves (row
counts from Parquet footers), Beam's metrics (per-stage counters) and the `_stats` the global
steps wrote. `check_balance` enforces the one invariant every run keeps: records read =
documents written + dead letters.
"""
from __future__ import annotations

import json
import platform
from importlib import metadata
from typing import Any

from apache_beam.io.filesystems import FileSystems

from wenmai.pipelines.write import STATS_DIR
from wenmai.schemas import TABLES

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


def read_stats(directory: str) -> dict[str, Any]:
    """The `_stats/*.jsonl` lines the global steps wrote, as {name: value}."""
    stats = {}
    pattern = FileSystems.join(directory, STATS_DIR, "*.jsonl")
    for m in FileSystems.match([pattern])[0].metadata_list:
        with FileSystems.open(m.path) as f:
            for line in f.read().decode("utf-8").splitlines():
                if line.strip():
                    item = json.loads(line)
                    stats[item["name"]] = item["value"]
    return stats


def stage_counters(result) -> dict[str, int]:
    """Beam counters in our `wenmai.*` namespaces (plus RunInference's), as "namespace/name"."""
    counters = {}
    try:
        query = result.metrics().query()
    except Exception:  # some runners expose no metrics; the manifest still balances from files
        return counters
    for counter in query.get("counters", []):
        namespace = counter.key.metric.namespace
        if namespace.startswith("wenmai"):
            key = f"{namespace}/{counter.key.metric.name}"
            counters[key] = counters.get(key, 0) + int(counter.committed or counter.attempted or 0)
    return dict(sorted(counters.items()))


def stage_seconds(result) -> dict[str, float]:
    """Seconds spent in each top-level stage (ReadCorpus, EncodeSentences, ...), from the
    runner's per-transform execution-time metrics; empty where a runner does not report them.
    Summed over workers and threads, so on N workers the shares, not the sums, compare to wall
    time."""
    try:
        query = result.monitoring_metrics().query()
    except Exception:  # runners without monitoring metrics (or a failed query) report nothing
        return {}
    totals: dict[str, float] = {}
    for counter in query.get("counters", []):
        if counter.key.metric.name != "metric:ptransform_execution_time:total_msecs:v1":
            continue
        stage = counter.key.step.split("/")[0]
        totals[stage] = totals.get(stage, 0.0) + (counter.committed or 0) / 1000.0
    # every stage is listed, a quick one with 0.0 (the runner counts whole milliseconds)
    return {stage: round(seconds, 3) for stage, seconds in
            sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))}


def check_balance(records_read: int, counts: dict[str, int]) -> dict[str, Any]:
    written = counts.get("documents", 0) + counts.get("dead_letter", 0)
    return {"records_read": records_read, "documents": counts.get("documents", 0),
            "dead_letter": counts.get("dead_letter", 0), "balanced": records_read == written}
