"""WriteTables: row dicts per table -> `<dir>/<table>/part-SSSSS-of-NNNNN.parquet`.

Every table is written with its schema from `wenmai.schemas` (never inferred), so even an empty
table reads back with the right columns. Run statistics (per input file, graph, InfoMap, ...)
go to `<dir>/_stats/` as JSON lines for the manifest, which the driver writes after the
pipeline has finished (see `wenmai.manifest`). `WriteTables` returns the written file names per
table (Beam's write results), so the pipeline stays an ordinary graph any runner can serialise.
"""
from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from wenmai.schemas import STATS_DIR, TABLES


def table_prefix(directory: str, table: str) -> str:
    return FileSystems.join(directory, table, "part")


class WriteTable(beam.PTransform):
    def __init__(self, directory: str, table: str):
        super().__init__()
        self._directory = directory
        self._table = table

    def expand(self, rows):
        return rows | "WriteParquet" >> beam.io.WriteToParquet(
            table_prefix(self._directory, self._table),
            schema=TABLES[self._table],
            file_name_suffix=".parquet",
            shard_name_template="-SSSSS-of-NNNNN",
        )


class WriteStats(beam.PTransform):
    """(name, dict) pairs -> `_stats/stats-*.jsonl`, one JSON object per line."""

    def __init__(self, directory: str):
        super().__init__()
        self._directory = directory

    def expand(self, stats):
        return (
            stats
            | "ToJson" >> beam.MapTuple(lambda name, value: json.dumps({"name": name, "value": value},
                                                                       ensure_ascii=False))
            | "WriteJsonLines" >> beam.io.WriteToText(
                FileSystems.join(self._directory, STATS_DIR, "stats"), file_name_suffix=".jsonl")
        )


class WriteTables(beam.PTransform):
    """{table name: PCollection of row dicts, "stats": (name, dict)} -> files under directory.

    Returns {table name (or "stats"): PCollection of the file names written}."""

    def __init__(self, directory: str):
        super().__init__()
        self._directory = directory

    def expand(self, tables: dict):
        unknown = set(tables) - set(TABLES) - {"stats"}
        if unknown:
            raise ValueError(f"no schema for tables {sorted(unknown)}")
        return {name: rows | "WriteStats" >> WriteStats(self._directory) if name == "stats"
                else rows | f"Write_{name}" >> WriteTable(self._directory, name)
                for name, rows in tables.items()}
