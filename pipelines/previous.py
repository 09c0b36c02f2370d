"""The previous run, as the next one reads it: where it is, whether it may be used, and its tables.

A published run (local or gs://, through Beam's `FileSystems`) is a directory with `_SUCCESS`,
`manifest.json` (its `run_date`) and the tables. The next run needs two of them (see
`wenmai.pipelines.topics`): the `topics` registry (with each topic's centroid) and, of its
`documents`, what identifies a document again and what it was then (doc_id, a hash of the text,
topic_id, first_run_date, the duplicate link, the semantic part of the embedding).

- `find_previous(output, run_date)`: the newest `run_date=YYYY-MM-DD` partition under `output`
  that is published and older than `run_date` (what `--run-date` without `--previous` uses).
- `open_previous(path, run_date)`: checks a run may be continued and returns a `PreviousRun`;
  a run that is not published, was made before topics were tracked, or is not older than this
  run is refused with one line (a `UsageError`: exit 2, before any work).
- `ReadPreviousRun`: the two tables as PCollections, read in parallel like any input.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Optional, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems

from wenmai.config import UsageError

SUCCESS, MANIFEST = "_SUCCESS", "manifest.json"
PARTITION = re.compile(r"run_date=(\d{4}-\d{2}-\d{2})$")
DOCUMENT_COLUMNS = ["doc_id", "text", "embedding", "topic_id", "first_run_date",
                    "previous_duplicate_of", "previous_duplicate_run_date",
                    "previous_duplicate_similarity"]


def text_hash(text: str) -> str:
    """What "the same text" means across runs: a 128-bit BLAKE2b of the UTF-8 text.

    Example: text_hash("你好") == text_hash("你好") != text_hash("你好。")
    """
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def semantic_part(embedding: Sequence[float], lexical_dims: int) -> np.ndarray:
    """The encoder part of a documents.embedding (the first dims, before the `lexical_dims` of the
    per-run TF-IDF/SVD part), unit length: the only part comparable between runs.

    Example: semantic_part([0.6, 0.0, 0.8], 1) == [1.0, 0.0]
    """
    v = np.asarray(embedding, dtype=np.float32)
    if lexical_dims > 0:
        v = v[:len(v) - lexical_dims]
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


@dataclass(frozen=True)
class PreviousDoc:
    """A document of the previous run, as `ReadPreviousRun` reads it."""

    doc_id: str
    text_hash: str
    topic_id: int
    first_run_date: str
    semantic: np.ndarray = field(compare=False)
    text: str = field(default="", compare=False)
    duplicate_of: Optional[str] = None  # its own link to an earlier run, if any
    duplicate_run_date: Optional[str] = None
    duplicate_similarity: Optional[float] = None


@dataclass(frozen=True)
class PreviousRun:
    path: str
    run_date: str
    run_id: Optional[str] = None


def _exists(path: str) -> bool:
    try:
        return FileSystems.exists(path)
    except Exception:  # an unreachable bucket reads as "not there"; the message names the path
        return False


def _tables(path: str, table: str) -> str:
    return FileSystems.join(path, table, "*.parquet")


def _has_files(pattern: str) -> bool:
    try:
        return bool(FileSystems.match([pattern])[0].metadata_list)
    except Exception:
        return False


def find_previous(output: str, run_date: str) -> Optional[str]:
    """The newest published `run_date=` partition under `output` older than `run_date`, or None.

    Example: with out/run_date=2026-06-01/_SUCCESS and out/run_date=2026-06-03/_SUCCESS,
    find_previous("out", "2026-06-03") == "out/run_date=2026-06-01"
    """
    pattern = FileSystems.join(output.rstrip("/"), "run_date=*", SUCCESS)
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # no such directory (a first run) or bucket
        return None
    dated = []
    for m in matched:
        directory = m.path[:-len(SUCCESS)].rstrip("/")
        found = PARTITION.search(directory)
        if found and found.group(1) < run_date:
            dated.append((found.group(1), directory))
    return max(dated)[1] if dated else None


def open_previous(path: str, run_date: str) -> PreviousRun:
    """The run at `path`, checked to be a published run with topics, older than `run_date`."""
    path = path.rstrip("/")
    if not _exists(FileSystems.join(path, SUCCESS)):
        raise UsageError(f"--previous {path}: not a published run (no {SUCCESS}); pass the "
                         f"directory of a finished run, or --no-previous")
    try:
        with FileSystems.open(FileSystems.join(path, MANIFEST)) as f:
            manifest = json.loads(f.read().decode("utf-8"))
    except Exception as e:
        raise UsageError(f"--previous {path}: unreadable {MANIFEST} ({type(e).__name__})") from e
    found = PARTITION.search(path)
    before = (manifest.get("run_date") or (manifest.get("topics") or {}).get("run_date")
              or (found.group(1) if found else None))
    if not before:
        raise UsageError(f"--previous {path}: the run has no run_date; pass --no-previous")
    if not before < run_date:
        raise UsageError(f"--previous {path} is from {before}, not older than this run's "
                         f"--run-date {run_date}: runs continue only from an earlier day; "
                         f"rerun the days in order, or pass --no-previous")
    for table in ("topics", "documents"):
        if not _has_files(_tables(path, table)):
            raise UsageError(f"--previous {path}: no {table} table (a run made before topics "
                             f"were tracked?); pass --no-previous to start a new chain of runs")
    return PreviousRun(path, before, manifest.get("run_id"))


def resolve_previous(previous: Optional[str], no_previous: bool, output: str,
                     run_date: str, dated: bool) -> Optional[PreviousRun]:
    """The run this one continues: `--previous`, else (a dated run, `--run-date` given) the
    newest earlier partition under the output, else none; `--no-previous`: none."""
    if previous and no_previous:
        raise UsageError("--previous and --no-previous contradict each other; pass one")
    if no_previous:
        return None
    if previous:
        return open_previous(previous, run_date)
    found = find_previous(output, run_date) if dated else None
    return open_previous(found, run_date) if found else None


def check_run_date(run_date: str) -> str:
    """Example: check_run_date("2026-06-01") == "2026-06-01"; "June 1" raises UsageError"""
    try:
        date.fromisoformat(run_date)
    except (TypeError, ValueError) as e:
        raise UsageError(f"--run-date {run_date!r}: expected YYYY-MM-DD") from e
    return run_date


def previous_doc(row: dict, lexical_dims: int) -> tuple[str, PreviousDoc]:
    """A previous `documents` row (DOCUMENT_COLUMNS) -> (doc_id, PreviousDoc)."""
    return row["doc_id"], PreviousDoc(
        doc_id=row["doc_id"], text_hash=text_hash(row["text"]), topic_id=int(row["topic_id"]),
        first_run_date=row["first_run_date"],
        semantic=semantic_part(row["embedding"], lexical_dims), text=row["text"],
        duplicate_of=row["previous_duplicate_of"],
        duplicate_run_date=row["previous_duplicate_run_date"],
        duplicate_similarity=row["previous_duplicate_similarity"])


class ReadPreviousRun(beam.PTransform):
    """PBegin -> {"documents": (doc_id, PreviousDoc), "topics": `topics` rows} of a previous run
    (both empty for None: a first run)."""

    def __init__(self, previous: Optional[PreviousRun], lexical_dims: int):
        super().__init__()
        self._previous = previous
        self._lexical_dims = lexical_dims

    def expand(self, pbegin):
        if self._previous is None:
            return {"documents": pbegin | "NoDocuments" >> beam.Create([]),
                    "topics": pbegin | "NoTopics" >> beam.Create([])}
        path = self._previous.path
        documents = (pbegin
                     | "ReadDocuments" >> beam.io.ReadFromParquet(_tables(path, "documents"),
                                                                  columns=DOCUMENT_COLUMNS)
                     | "PreviousDoc" >> beam.Map(previous_doc, self._lexical_dims))
        topics = pbegin | "ReadTopics" >> beam.io.ReadFromParquet(_tables(path, "topics"))
        return {"documents": documents, "topics": topics}
