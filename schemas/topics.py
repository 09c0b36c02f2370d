"""The tables that carry topics from one run to the next (see docs/design.md, "Topics across runs").

`topics` is the cumulative registry a run publishes and the next run reads (with the centroids it
matches against); `topic_days` is each topic alive in one run; `lineage` says how this run's
clusters continue the previous run's topics. `DOCUMENT_TOPIC_FIELDS` are the columns the
`documents` table gains for them. Columns follow `schemas.tables`: non-nullable where every row
has a value, a one-line description per field.
"""
from __future__ import annotations

import pyarrow as pa


def _field(name: str, type_: pa.DataType, doc: str, nullable: bool = False) -> pa.Field:
    """As `schemas.tables._field` (not imported from there: `tables` imports this module)."""
    return pa.field(name, type_, nullable=nullable, metadata={"description": doc})


# Relations of a lineage row (one row per link between a cluster of this run and a topic of an
# earlier run; `new` has no earlier topic). See `wenmai.pipelines.topics.relation`.
RELATIONS = ("same", "split", "merge", "return", "new")

TOPICS = pa.schema([
    _field("topic_id", pa.int64(), "stable topic id: kept while the topic continues, never reused"),
    _field("first_run_date", pa.string(), "run_date (YYYY-MM-DD) the topic was first seen"),
    _field("last_run_date", pa.string(), "run_date the topic was last seen (a cluster of that run)"),
    _field("size", pa.int64(), "documents in the topic on last_run_date"),
    _field("runs", pa.int64(), "runs the topic was alive in"),
    _field("documents", pa.int64(), "documents that joined the topic over all runs (each counted "
           "on the run it was new in: the sum of topic_days.new_documents)"),
    _field("title", pa.string(), "the topic's cluster title on last_run_date", nullable=True),
    _field("keywords", pa.list_(pa.string()), "the topic's cluster keywords on last_run_date"),
    _field("centroid", pa.list_(pa.float32()), "unit mean of the members' semantic (encoder) "
           "vectors on last_run_date; what the next run matches its clusters against"),
])

TOPIC_DAYS = pa.schema([
    _field("topic_id", pa.int64(), "topics.topic_id"),
    _field("run_date", pa.string(), "this run's run_date (YYYY-MM-DD)"),
    _field("cluster_id", pa.int64(), "clusters.cluster_id of this run (one cluster per topic)"),
    _field("size", pa.int64(), "documents in the topic in this run"),
    _field("new_documents", pa.int64(), "documents not in the previous run (by doc_id and text)"),
    _field("title", pa.string(), "the cluster's title in this run", nullable=True),
    _field("keywords", pa.list_(pa.string()), "the cluster's keywords in this run"),
])

LINEAGE = pa.schema([
    _field("run_date", pa.string(), "this run's run_date (YYYY-MM-DD)"),
    _field("cluster_id", pa.int64(), "clusters.cluster_id of this run"),
    _field("topic_id", pa.int64(), "the topic this cluster is in this run"),
    _field("previous_topic_id", pa.int64(), "an earlier topic this cluster continues; null for "
           "relation new", nullable=True),
    _field("relation", pa.string(), "same (one to one), split (the earlier topic continues in "
           "several clusters), merge (several earlier topics continue in this cluster), return "
           "(an earlier topic not in the previous run, matched by centroid), new"),
    _field("overlap", pa.int64(), "documents (same doc_id and text) in both the earlier topic, "
           "as of the previous run, and this cluster"),
    _field("similarity", pa.float32(), "cosine of the cluster's and the earlier topic's "
           "semantic centroids", nullable=True),
])

DOCUMENT_TOPIC_FIELDS = [
    _field("topic_id", pa.int64(), "topics.topic_id of the document's cluster"),
    _field("first_run_date", pa.string(), "run_date this document (same doc_id and text) was "
           "first seen in this chain of runs"),
    _field("previous_duplicate_of", pa.string(), "doc_id of a document of an earlier run this "
           "one repeats (same text, or semantic cosine at least --near-duplicate); the earliest "
           "known", nullable=True),
    _field("previous_duplicate_run_date", pa.string(), "first_run_date of previous_duplicate_of",
           nullable=True),
    _field("previous_duplicate_similarity", pa.float32(), "1 for the same text, else the "
           "semantic cosine", nullable=True),
]

TOPIC_TABLES: dict[str, pa.Schema] = {"topics": TOPICS, "topic_days": TOPIC_DAYS,
                                      "lineage": LINEAGE}
