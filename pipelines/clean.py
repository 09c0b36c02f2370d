"""CleanText: `Record` -> `Doc` (main output) or `DeadLetter` (`dead_letter` output).

Normalises text (NFKC, control characters out, whitespace collapsed), truncates over-long
documents to a configured limit (recorded in `Doc.truncated`), rejects records with nothing left
to read, then marks exact duplicates (`Doc.duplicate_of`) and rejects repeated document ids.
Nothing is dropped silently: every rejection carries a reason.
"""
from __future__ import annotations

from typing import Iterable, Optional

import apache_beam as beam

from wenmai.config import ReadConfig
from wenmai.text import normalize_text
from wenmai.types import RAW_LIMIT, DeadLetter, Doc, Record, derive_doc_id

STAGE = "clean"
DEAD_LETTER = "dead_letter"

def rejection_reason(text: str) -> Optional[str]:
    """Why a normalised text is not a document, or None if it is one.

    Example: rejection_reason("") == "empty"; rejection_reason("！！😀") == "no_content"
    """
    if not text:
        return "empty"
    if not any(ch.isalnum() for ch in text):
        return "no_content"  # only punctuation, symbols or emoji
    return None


def clean_record(record: Record, max_chars: int) -> Doc | DeadLetter:
    if record.error:
        return DeadLetter(record.source, record.position, "read", record.error, record.raw)
    text = normalize_text(record.text)
    reason = rejection_reason(text)
    if reason:
        return DeadLetter(record.source, record.position, STAGE, reason, record.text[:RAW_LIMIT])
    truncated = len(text) > max_chars
    return Doc(
        doc_id=record.doc_id or derive_doc_id(record.source, record.position),
        source=record.source,
        position=record.position,
        text=text[:max_chars] if truncated else text,
        truncated=truncated,
    )


class CleanFn(beam.DoFn):
    def __init__(self, max_chars: int):
        self._max_chars = max_chars

    def setup(self):
        self._truncated = beam.metrics.Metrics.counter("wenmai.clean", "truncated")

    def process(self, record: Record):
        out = clean_record(record, self._max_chars)
        if isinstance(out, DeadLetter):
            reason = out.reason.split(":")[0]
            beam.metrics.Metrics.counter("wenmai.clean", f"dropped_{reason}").inc()
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, out)
        else:
            if out.truncated:
                self._truncated.inc()
            yield out


def _order(doc: Doc) -> tuple:
    return (doc.source, doc.position)


def mark_duplicates(docs: Iterable[Doc]) -> Iterable[Doc]:
    """Docs sharing one text: the first by (source, position) stays, the rest point to it."""
    docs = sorted(docs, key=_order)
    first = docs[0]
    yield first
    for doc in docs[1:]:
        yield doc.with_(duplicate_of=first.doc_id)


def reject_repeated_ids(docs: Iterable[Doc]):
    """Docs sharing one id: the first by (source, position) stays, the rest are dead letters."""
    docs = sorted(docs, key=_order)
    yield docs[0]
    for doc in docs[1:]:
        yield beam.pvalue.TaggedOutput(DEAD_LETTER, DeadLetter(
            doc.source, doc.position, STAGE, f"duplicate_id: {doc.doc_id}", doc.text[:RAW_LIMIT]))


class CleanText(beam.PTransform):
    """Records -> `docs` (Doc, duplicates marked) and `dead_letter` (DeadLetter) outputs."""

    def __init__(self, config: ReadConfig):
        super().__init__()
        self._config = config

    def expand(self, records):
        cleaned = records | "Normalize" >> beam.ParDo(CleanFn(self._config.max_chars)).with_outputs(
            DEAD_LETTER, main="docs")
        unique = (
            cleaned.docs
            | "KeyById" >> beam.Map(lambda d: (d.doc_id, d))
            | "GroupById" >> beam.GroupByKey()
            | "RejectRepeatedIds" >> beam.FlatMapTuple(lambda _, ds: reject_repeated_ids(ds))
            .with_outputs(DEAD_LETTER, main="docs")
        )
        docs = (
            unique.docs
            | "KeyByText" >> beam.Map(lambda d: (d.text, d))
            | "GroupByText" >> beam.GroupByKey()
            | "MarkDuplicates" >> beam.FlatMapTuple(lambda _, ds: mark_duplicates(ds))
        )
        dead = (cleaned.dead_letter, unique.dead_letter) | "MergeDeadLetters" >> beam.Flatten()
        return {"docs": docs, DEAD_LETTER: dead}
