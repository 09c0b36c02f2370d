"""ReadCorpus: file paths -> `Record`s (main output) and `DeadLetter`s (`dead_letter` output).

The parsing itself (formats, positions, errors) is `wenmai.text`'s, shared with the models'
training code; this module wraps it in Beam: files are matched, opened through Beam's
`FileSystems` (local paths and `gs://` with `wenmai[gcp]` alike) and streamed record by record.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes

from wenmai.config import ReadConfig
from wenmai.text import (DEAD_LETTER, FORMATS, STAGE, Parsed, expand_inputs, file_format,  # noqa: F401
                         iter_texts, parse_jsonl, parse_parquet, parse_stream, parse_txt)
from wenmai.types import RAW_LIMIT, DeadLetter


class ParseFileFn(beam.DoFn):
    """ReadableFile -> Records, with every unreadable record or file tagged as a dead letter."""

    def __init__(self, config: ReadConfig):
        self._config = config
        self._records = beam.metrics.Metrics.counter("wenmai.read", "records")
        self._rejected = beam.metrics.Metrics.counter("wenmai.read", "rejected")

    def process(self, readable: fileio.ReadableFile):
        source = readable.metadata.path
        fmt = file_format(source)
        position = -1
        try:
            if fmt is None:
                raise ValueError(f"unsupported_format: expected one of {', '.join(FORMATS)}")
            with readable.open(compression_type=CompressionTypes.AUTO) as stream:
                for item in parse_stream(source, fmt, stream, self._config):
                    position = item.position
                    yield from self._emit(item)
        except Exception as e:  # a broken file must not fail the job: record where it broke
            reason = str(e) if str(e).startswith("unsupported_format") else \
                f"unreadable_file: {type(e).__name__}: {e}"
            yield from self._emit(DeadLetter(source, position + 1 if position >= 0 else -1,
                                             STAGE, reason[:RAW_LIMIT], None))

    def _emit(self, item: Parsed):
        if isinstance(item, DeadLetter):
            self._rejected.inc()
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, item)
        else:
            self._records.inc()
            yield item


class ReadCorpus(beam.PTransform):
    """File paths -> `records` (Record) and `dead_letter` (DeadLetter) outputs.

    Takes concrete paths, not globs: the command line expands the patterns once up front (so a
    pattern matching nothing is an error before any work starts, and a file named twice is read
    once), see `expand_inputs`.
    """

    def __init__(self, paths: list[str], config: ReadConfig):
        super().__init__()
        self._paths = list(paths)
        self._config = config

    def expand(self, pbegin):
        return (
            pbegin
            | "Paths" >> beam.Create(self._paths)
            | "MatchFiles" >> fileio.MatchAll()
            | "ReadMatches" >> fileio.ReadMatches()
            | "ParseFiles" >> beam.ParDo(ParseFileFn(self._config)).with_outputs(DEAD_LETTER,
                                                                                 main="records")
        )
