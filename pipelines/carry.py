"""CarryTopics: this run's `Graph` + the previous run's topics -> the graph InfoMap clusters.

Matching clusters to yesterday's topics (`TrackTopics`) cannot keep a topic id that the
clustering itself does not keep: InfoMap on a window that shares six of its seven days with
yesterday's still regroups a fifth of the shared documents (a ~100-story news window: 81% of
them kept their topic). So, as in evolutionary clustering (Chakrabarti et al., KDD 2006: each
snapshot's clustering balances its own fit against its history), the graph InfoMap sees is
nudged towards the previous partition: an edge between two documents seen again (same doc_id
and text) that shared a topic in the previous run weighs `(1 + carry_boost)` times its
similarity, one between documents seen again in different topics `(1 - carry_damp)` times.
Edges of new documents are left alone, so new stories cluster on their own merits, and no edge
is added or removed: a topic whose documents no longer resemble each other still splits.

Only the clustering sees these weights; the `edges` table keeps the true similarities.
"""
from __future__ import annotations

import dataclasses

import apache_beam as beam
import numpy as np

from wenmai.pipelines.graph import Graph
from wenmai.pipelines.previous import text_hash


def carry_partition(graph: Graph, previous_topic: dict[str, int], boost: float,
                    damp: float) -> Graph:
    """The graph with edges between documents seen again reweighted by their previous topics.

    Example: edges a-b (0.5) and b-c (0.5), previous topics {a: 1, b: 1, c: 2}, boost 2, damp
    0.5 -> a-b 1.5, b-c 0.25; an edge to a document not seen again keeps its weight.
    """
    topics = np.array([previous_topic.get(i, -1) for i in graph.ids], dtype=np.int64)
    a, b = topics[graph.src], topics[graph.dst]
    both = (a >= 0) & (b >= 0)
    same, other = both & (a == b), both & (a != b)
    weights = np.asarray(graph.similarity, dtype=np.float32).copy()
    weights[same] *= 1 + boost
    weights[other] *= 1 - damp
    stats = {**graph.stats, "carried_edges_boosted": int(same.sum()),
             "carried_edges_damped": int(other.sum())}
    return dataclasses.replace(graph, similarity=weights, stats=stats)


def previous_topic(doc_id: str, grouped: dict):
    """A doc_id's (this run's text hash, previous PreviousDoc) -> (doc_id, previous topic_id)
    when it is the same document as before."""
    hashes, before = list(grouped["now"]), list(grouped["previous"])
    if hashes and before and before[0].text_hash == hashes[0]:
        yield doc_id, before[0].topic_id


def _carry(graph: Graph, topics: dict, boost: float, damp: float) -> Graph:
    return carry_partition(graph, topics, boost, damp) if topics else graph


class CarryTopics(beam.PTransform):
    """{"graph": one Graph, "docs": Doc, "previous_documents": (doc_id, PreviousDoc)} -> one
    Graph, reweighted (the graph as it was when no document is seen again)."""

    def __init__(self, boost: float, damp: float):
        super().__init__()
        self._boost = boost
        self._damp = damp

    def expand(self, inputs):
        now = inputs["docs"] | "TextHash" >> beam.Map(lambda d: (d.doc_id, text_hash(d.text)))
        topics = ({"now": now, "previous": inputs["previous_documents"]}
                  | "JoinPrevious" >> beam.CoGroupByKey()
                  | "PreviousTopic" >> beam.FlatMapTuple(previous_topic))
        return inputs["graph"] | "Reweight" >> beam.Map(
            _carry, beam.pvalue.AsDict(topics), self._boost, self._damp)
