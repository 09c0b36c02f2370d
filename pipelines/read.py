"""ReadCorpus: file paths -> `Record`s (main output), `DeadLetter`s (`dead_letter` output) and one
statistics pair per file (`stats` output: size, sha256, records read).

The parsing itself (formats, positions, errors) is `wenmai.text`'s, shared with the models'
training code; this module wraps it in Beam: files are matched, opened through Beam's
`FileSystems` (local paths and `gs://` with `wenmai[gcp]` alike) and streamed record by record.
The per-file statistics are how the job counts the records it read: from the data itself, so
the count holds on runners that report no metrics.
"""
from __future__ import annotations

import hashlib
import os

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from wenmai.config import ReadConfig
from wenmai.text import (DEAD_LETTER, FORMATS, STAGE, Parsed, expand_inputs, file_format,  # noqa: F401
                         iter_texts, parse_jsonl, parse_parquet, parse_stream, parse_txt)
from wenmai.types import RAW_LIMIT, DeadLetter

STATS = "stats"
FILE_STATS = "read_file"  # the stats name of one input file's figures (see `ParseFileFn`)


def absolute_path(path: str) -> str:
    """A local path made absolute and normalised; a URI (gs://...) as it is. Applied when a job
    is submitted, because its workers may run in another directory (or machine).

    Example: absolute_path("./corpus/../mine.txt") == "/home/me/mine.txt" when run in /home/me;
    absolute_path("gs://b/x.txt") == "gs://b/x.txt"
    """
    if FileSystems.get_scheme(path) not in (None, "file"):
        return path
    if path.startswith("file://"):
        path = path[len("file://"):]
    return os.path.abspath(os.path.expanduser(path))


def file_digest(readable: fileio.ReadableFile, chunk: int = 1 << 20) -> str:
    """sha256 of the file's bytes as stored (compressed files are hashed compressed)."""
    digest = hashlib.sha256()
    with readable.open(compression_type=CompressionTypes.UNCOMPRESSED) as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


class ParseFileFn(beam.DoFn):
    """ReadableFile -> Records, with every unreadable record or file tagged as a dead letter, and
    one `(FILE_STATS, {path, bytes, sha256, records, dead_letters})` pair tagged `stats`."""

    def __init__(self, config: ReadConfig):
        self._config = config
        self._records = beam.metrics.Metrics.counter("wenmai.read", "records")
        self._rejected = beam.metrics.Metrics.counter("wenmai.read", "rejected")

    def process(self, readable: fileio.ReadableFile):
        source = readable.metadata.path
        fmt = file_format(source)
        counts = {"parsed": 0, "dead_letters": 0}
        position = 0  # 1-based positions: 0 until the first record, the whole file
        try:
            if fmt is None:
                raise ValueError(f"unsupported_format: expected one of {', '.join(FORMATS)}")
            with readable.open(compression_type=CompressionTypes.AUTO) as stream:
                for item in parse_stream(source, fmt, stream, self._config):
                    position = item.position
                    yield from self._emit(item, counts)
        except Exception as e:  # a broken file must not fail the job: record where it broke
            reason = str(e) if str(e).startswith("unsupported_format") else \
                f"unreadable_file: {type(e).__name__}: {e}"
            yield from self._emit(DeadLetter(source, position + 1 if position > 0 else 0,
                                             STAGE, reason[:RAW_LIMIT], None), counts)
        try:
            sha256 = file_digest(readable)
        except Exception:  # unreadable bytes are already a dead letter above
            sha256 = None
        yield beam.pvalue.TaggedOutput(STATS, (FILE_STATS, {
            "path": source, "bytes": readable.metadata.size_in_bytes, "sha256": sha256,
            "records": counts["parsed"] + counts["dead_letters"],
            "dead_letters": counts["dead_letters"]}))

    def _emit(self, item: Parsed, counts: dict):
        if isinstance(item, DeadLetter):
            self._rejected.inc()
            counts["dead_letters"] += 1
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, item)
        else:
            self._records.inc()
            counts["parsed"] += 1
            yield item


class ReadCorpus(beam.PTransform):
    """File paths -> `records` (Record), `dead_letter` (DeadLetter) and `stats` outputs.

    Takes concrete paths, not globs: the command line expands the patterns once up front (so a
    pattern matching nothing is an error before any work starts, and a file named twice is read
    once), see `expand_inputs`. Paths are made absolute here, when the pipeline is built, and a
    path that matches nothing on a worker fails the run rather than reading zero records.
    """

    def __init__(self, paths: list[str], config: ReadConfig):
        super().__init__()
        self._paths = [absolute_path(p) for p in paths]
        self._config = config

    def expand(self, pbegin):
        return (
            pbegin
            | "Paths" >> beam.Create(self._paths)
            | "MatchFiles" >> fileio.MatchAll(fileio.EmptyMatchTreatment.DISALLOW)
            | "ReadMatches" >> fileio.ReadMatches()
            | "ParseFiles" >> beam.ParDo(ParseFileFn(self._config)).with_outputs(
                DEAD_LETTER, STATS, main="records")
        )
