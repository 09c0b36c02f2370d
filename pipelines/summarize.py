"""Summarize: Docs + embeddings + cluster assignments + titles -> `documents` and `clusters` rows.

Joins them on doc_id (one CoGroupByKey, no other shuffle). A document whose embedding
failed goes to `dead_letter` with the inference error, so records read still equal documents
written plus dead letters. Each cluster gets its size, its representative (the member nearest
the cluster's mean embedding; ties by doc_id, originals before duplicates), a title (the representative's
generated title, else its text cut to `TITLE_CHARS`) and jieba TF-IDF keywords over its members'
tokens, reusing the tokens from Segment.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

import apache_beam as beam
import numpy as np

from wenmai.config import SegmentConfig
from wenmai.pipelines.cluster import Assignment
from wenmai.types import RAW_LIMIT, DeadLetter, Doc

DEAD_LETTER = "dead_letter"
TITLE_CHARS = 40


def document_row(doc: Doc, embedding, cluster_id: int, title=None) -> dict:
    """`title` is the Title step's (text, score, title_source), or None when titling is off, the
    document is not titled (e.g. not Chinese) or its batch failed."""
    title_text, title_score, title_source = title if title is not None else (None, None, None)
    return {
        "doc_id": doc.doc_id, "source": doc.source, "position": doc.position, "text": doc.text,
        "n_chars": len(doc.text), "truncated": doc.truncated, "duplicate_of": doc.duplicate_of,
        "title": title_text, "title_score": title_score, "title_source": title_source,
        "embedding": [float(x) for x in embedding], "cluster_id": cluster_id,
    }


def join_document(doc_id: str, grouped: dict):
    """One doc_id's joined values -> a documents row (+ a member for its cluster) or a dead letter."""
    docs, embeddings, errors, clusters = (list(grouped[k]) for k in ("doc", "emb", "err", "cluster"))
    titles = list(grouped.get("title", ()))
    if not docs:
        return  # an embedding without its doc cannot happen: embeddings are made from docs
    doc = docs[0]
    if not embeddings or not clusters:
        reason = errors[0] if errors else "no_embedding"
        yield beam.pvalue.TaggedOutput(DEAD_LETTER, DeadLetter(
            doc.source, doc.position, "embed", reason[:RAW_LIMIT], doc.text[:RAW_LIMIT]))
        return
    assignment: Assignment = clusters[0]
    row = document_row(doc, embeddings[0], assignment.cluster_id, titles[0] if titles else None)
    yield row
    if row["title"] is not None:
        doc = doc.with_(metadata={**doc.metadata, "title": row["title"]})
    yield beam.pvalue.TaggedOutput("members", (assignment.cluster_id,
                                                (assignment.flow, doc, embeddings[0])))


# Words made only of digits and number characters (零点, 一千三百, 五个, 百分之一点) say how much,
# not what about: they are not keywords, however rare they are in jieba's IDF table.
_NUMBER_WORD = re.compile(r"^[\d.%零〇一二两三四五六七八九十百千万亿点个多余第分之]+$")


class Keywords:
    """jieba's TF-IDF keyword ranking over tokens we already have (no second segmentation)."""

    def __init__(self):
        import jieba.analyse

        tfidf = jieba.analyse.default_tfidf
        self._idf, self._median, self._stop = tfidf.idf_freq, tfidf.median_idf, tfidf.stop_words

    def top(self, tokens: Iterable[str], k: int) -> list[str]:
        """Example: top(["华为", "公司", "华为", "的"], 2) == ["华为", "公司"] ("的" is a stop word)"""
        counts = Counter(t for t in tokens if len(t.strip()) >= 2 and t.lower() not in self._stop
                         and not _NUMBER_WORD.match(t))
        scored = sorted(counts.items(), key=lambda kv: (-kv[1] * self._idf.get(kv[0], self._median),
                                                        kv[0]))
        return [word for word, _ in scored[:k]]


def representative(members: list[tuple[float, Doc, np.ndarray]]) -> Doc:
    """The member nearest the cluster's mean direction (the most typical document; InfoMap's
    highest-flow node is a hub, often a bridge to other topics)."""
    vectors = np.stack([m[2] for m in members]).astype(np.float32)  # (n, D), unit rows
    closeness = vectors @ vectors.mean(axis=0)  # (n,) cosine to the mean, up to its norm
    best = min(range(len(members)), key=lambda i: (-round(float(closeness[i]), 6),
                                                   members[i][1].duplicate_of is not None,
                                                   members[i][1].doc_id))
    return members[best][1]


class ClusterRowFn(beam.DoFn):
    def __init__(self, config: SegmentConfig):
        self._config = config

    def setup(self):
        from wenmai.text import load_jieba

        load_jieba()
        self._keywords = Keywords()

    def process(self, element):
        cluster_id, members = element
        members = list(members)
        rep = representative(members)
        title = rep.metadata.get("title") or rep.text[:TITLE_CHARS]
        tokens = [t for _, doc, _ in members for t in doc.tokens]
        yield {
            "cluster_id": cluster_id, "size": len(members), "representative_doc_id": rep.doc_id,
            "title": title, "keywords": self._keywords.top(tokens, self._config.max_keywords),
            "flow": float(sum(flow for flow, _, _ in members)),
        }


class Summarize(beam.PTransform):
    """(docs, embeddings, embed errors, assignments[, titles]) -> `documents`, `clusters`,
    `dead_letter`; titles are (doc_id, (title, score)) pairs."""

    def __init__(self, config: SegmentConfig):
        super().__init__()
        self._config = config

    def expand(self, inputs):
        docs, embeddings, errors, assignments, *titles = inputs
        keyed = {
            "doc": docs | "KeyDocs" >> beam.Map(lambda d: (d.doc_id, d)),
            "emb": embeddings,
            "err": errors,
            "cluster": assignments | "KeyAssignments" >> beam.Map(lambda a: (a.doc_id, a)),
        }
        if titles:
            keyed["title"] = titles[0]
        joined = (
            keyed
            | "JoinByDocId" >> beam.CoGroupByKey()
            | "DocumentRows" >> beam.FlatMapTuple(join_document).with_outputs(
                DEAD_LETTER, "members", main="documents")
        )
        clusters = (
            joined.members
            | "GroupByCluster" >> beam.GroupByKey()
            | "ClusterRows" >> beam.ParDo(ClusterRowFn(self._config))
        )
        return {"documents": joined.documents, "clusters": clusters,
                DEAD_LETTER: joined[DEAD_LETTER]}
