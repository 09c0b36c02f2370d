"""Output tables: one `pyarrow.schema` constant per table (see docs/design.md, "Output tables").

Columns are non-nullable where every row must have a value, so a writer bug shows up as a schema
error instead of a silent null. Field metadata carries a one-line description for catalogues.
"""
from __future__ import annotations

from typing import Iterable

import pyarrow as pa

from wenmai.schemas.topics import DOCUMENT_TOPIC_FIELDS, TOPIC_TABLES


def _field(name: str, type_: pa.DataType, doc: str, nullable: bool = False) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"description": doc})


DOCUMENTS = pa.schema([
    _field("doc_id", pa.string(), "stable id: given by the input, else <source>:<position>, with "
           "source the normalised absolute path or URI"),
    _field("source", pa.string(), "input file the record came from (absolute path or URI)"),
    _field("position", pa.int64(), "1-based record number in the source (the line of a .txt/.jsonl)"),
    _field("text", pa.string(), "cleaned text (NFKC, control characters removed, whitespace collapsed)"),
    _field("n_chars", pa.int32(), "characters in text"),
    _field("truncated", pa.bool_(), "text was cut to the configured maximum length"),
    _field("duplicate_of", pa.string(), "doc_id of the first identical document, if any", nullable=True),
    _field("title", pa.string(), "the document's title (see title_source); null with titles off, "
           "for a text that is not Chinese, or where its titler batch failed", nullable=True),
    _field("title_score", pa.float32(), "titler log-probability per character", nullable=True),
    _field("title_source", pa.string(), "generated (by the titler) or text (the document's own "
           "words: a document no longer than a title is its own, a short one takes its leading "
           "clauses, a digest of headed items takes its first headline); null where title is null",
           nullable=True),
    _field("embedding", pa.list_(pa.float32()), "unit-length document vector: the encoder's sentence "
           "vectors averaged by length, then the run's char TF-IDF/SVD part (parameters.embed)"),
    _field("cluster_id", pa.int64(), "InfoMap community (clusters.cluster_id)"),
    *DOCUMENT_TOPIC_FIELDS,  # topic_id, first_run_date, previous_duplicate_* (schemas/topics.py)
])

TRIPLES = pa.schema([
    _field("doc_id", pa.string(), "documents.doc_id"),
    _field("subject", pa.string(), "subject span text"),
    _field("predicate", pa.string(), "predicate from the extractor's schema"),
    _field("object", pa.string(), "object span text"),
    _field("subject_start", pa.int32(), "character offset of the subject in documents.text"),
    _field("subject_end", pa.int32(), "exclusive end offset of the subject"),
    _field("object_start", pa.int32(), "character offset of the object in documents.text"),
    _field("object_end", pa.int32(), "exclusive end offset of the object"),
    _field("score", pa.float32(), "extractor confidence in [0, 1]"),
])

EDGES = pa.schema([
    _field("src", pa.string(), "documents.doc_id"),
    _field("dst", pa.string(), "documents.doc_id (src < dst; each undirected edge once)"),
    _field("similarity", pa.float32(), "cosine similarity of the two embeddings"),
])

CLUSTERS = pa.schema([
    _field("cluster_id", pa.int64(), "community id (0 = largest)"),
    _field("size", pa.int64(), "documents in the cluster"),
    _field("representative_doc_id", pa.string(), "of the 3 members nearest the cluster's mean "
           "embedding, the one with the surest title (its own words, else the highest title_score)"),
    _field("title", pa.string(), "the representative document's title, or without one its first "
           "sentence (no outlet opener, at most 64 characters of whole clauses)", nullable=True),
    _field("keywords", pa.list_(pa.string()), "the cluster's words ranked by class-based TF-IDF "
           "against the whole run (jieba words; no function words, numbers or URL parts)"),
    _field("flow", pa.float64(), "InfoMap stationary flow of the module (sums to 1 over clusters)"),
])

DEAD_LETTER = pa.schema([
    _field("source", pa.string(), "input file (absolute path or URI)"),
    _field("position", pa.int64(), "1-based record number inside the source (0: the whole file)"),
    _field("stage", pa.string(), "pipeline stage that rejected the record"),
    _field("reason", pa.string(), "machine-readable reason, e.g. empty, invalid_utf8, bad_json"),
    _field("raw", pa.string(), "the record as read, truncated", nullable=True),
])

# Where the pipeline leaves its own statistics (per input file, graph, InfoMap, ...) for the driver
# to read into the manifest; removed before publishing. Here, beside the tables, so the writer and
# the manifest share it without importing each other.
STATS_DIR = "_stats"

TABLES: dict[str, pa.Schema] = {
    "documents": DOCUMENTS,
    "triples": TRIPLES,
    "edges": EDGES,
    "clusters": CLUSTERS,
    "dead_letter": DEAD_LETTER,
    **TOPIC_TABLES,  # topics, topic_days, lineage (schemas/topics.py)
}


def validate_rows(schema: pa.Schema, rows: Iterable[dict]) -> pa.Table:
    """Builds a table from dict rows with exactly `schema`; raises on a missing, extra or
    mistyped column instead of coercing silently."""
    rows = list(rows)
    names = set(schema.names)
    for i, row in enumerate(rows):
        if set(row) != names:
            raise ValueError(f"row {i}: columns {sorted(row)} != schema {sorted(names)}")
    table = pa.Table.from_pylist(rows, schema=schema)
    for f in schema:
        if not f.nullable and table.column(f.name).null_count:
            raise ValueError(f"column {f.name!r} is not nullable but has nulls")
    return table
