"""TrackTopics: this run's `documents` and `clusters` rows + the previous run -> stable topic ids.

InfoMap numbers a run's clusters afresh (0 = the largest), so a cluster id means nothing the next
day. A *topic* is what survives: a cluster of this run takes over a topic of an earlier run, or
starts a new one, and the id stays with the topic. How a cluster finds its topic, in order:

1. **By documents seen again** (same doc_id and same text as in the previous run, whose topic is
   known): the overlap matrix (clusters x previous topics, counts of shared documents) is split
   into connected components, and in each an optimal one-to-one assignment (Hungarian,
   scipy's `linear_sum_assignment`) maximises the documents that keep their topic id; among
   equal overlaps the higher centroid cosine wins. A topic continues in at most one cluster and a
   cluster continues at most one topic: the other links are recorded as splits and merges, and a
   cluster that shares documents only with topics that went elsewhere (a piece split off) gets a
   new id.
2. **By centroid** for a cluster with no document seen again: the unit mean of its members'
   *semantic* vectors (the encoder part of the embedding; the lexical TF-IDF/SVD part is fitted
   per run, so its coordinates mean nothing across runs) against the centroid of every topic in
   the registry that is still unclaimed and was last seen at most `return_days` before this run,
   not only yesterday's: cosine at least `centroid_match` and at least `centroid_keywords`
   keywords in common (the encoder finds most news alike: cosine alone matched unrelated
   stories), again one to one, highest cosine first. This is how a topic comes back after a
   pause (relation `return`) and how daily runs over disjoint inputs (no document seen twice)
   keep their topics at all.
3. Otherwise a **new** topic: the next id after the largest ever given (the registry keeps every
   topic, dormant ones included, so ids are never reused), in cluster_id order.

Matching can only keep what the clustering keeps: before InfoMap, `CarryTopics`
(`wenmai.pipelines.carry`) weighs the graph towards the previous run's topics.

Everything is a function of (this run's clusters, the previous run's tables, `TopicConfig`), with
deterministic tie-breaks, so rerunning a day with the same previous run gives the same ids.

Links to earlier runs: a document not seen again whose text equals (hash) a document of the
previous run, or nearly equals one (`find_duplicates`: character-bigram containment among the
nearest previous documents by semantic cosine), gets `previous_duplicate_of`: that document's
own earliest link if it has one (so links point to the first occurrence in the chain of runs),
else that document, with the run it was first seen in.

Global steps, stated plainly: the matching runs on one worker with every cluster's centroid and
the registry (topics x semantic dims x 4 bytes: 100k topics x 256 = 100 MB); the duplicate
search holds the previous run's semantic vectors and texts on one worker (like BuildKnnGraph).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Iterable, Optional, Sequence

import apache_beam as beam
import numpy as np

from wenmai.pipelines.previous import PreviousDoc, PreviousRun, semantic_part, text_hash

STATS = "topics"  # the stats name of the matching's figures (manifest "topics")


@dataclass(frozen=True)
class TopicConfig:
    """How this run's clusters continue the topics of earlier runs (`wenmai.pipelines.topics`)."""

    # a cluster with no document of the previous run takes over an earlier topic whose semantic
    # centroid has at least this cosine with its own and that shares --centroid-keywords of its
    # keywords: on 54 news clusters cut in two by date, 0.9 + 2 keywords matched 33 halves to
    # their other half and gave 2 clusters a wrong candidate (cosine alone: 38 and 11)
    centroid_match: float = 0.9
    centroid_keywords: int = 2  # keywords a cluster and an earlier topic must share to match
    # topics last seen more than this many days before the run are dormant: never matched again
    # (they stay in the registry, and their ids are never reused)
    return_days: int = 30
    # before clustering, edges between documents seen again that shared a topic in the previous
    # run weigh (1 + this) times their similarity, those between different topics (1 - damp)
    # times (`wenmai.pipelines.carry`): on 8 consecutive 7-day news windows, stability 0.81
    # without (0, 0), 0.925 at (1, 0), 0.965 at (2, 0.5), 0.965 at (4, 0)
    carry_boost: float = 2.0
    carry_damp: float = 0.5  # see --carry-boost; 0 leaves edges across previous topics alone
    # a new document repeats a previous run's document when this share of the shorter text's
    # character bigrams occurs in the other (lengths within 2x): lightly edited news stories
    # scored 0.95 or more, the closest distinct story 0.78 at most (544 stories)
    near_duplicate: float = 0.9
    # ... searched among the 10 previous documents with the highest semantic cosine, at least
    # this (cosine alone does not separate: distinct stories reached 0.989, edited ones 0.37)
    near_duplicate_cosine: float = 0.8


def check_topic_config(config: TopicConfig) -> None:
    """Fails fast (UsageError: exit 2, before any work) on values the matching cannot use."""
    from wenmai.config import UsageError

    if not -1 <= config.centroid_match <= 1:
        raise UsageError("--centroid-match must lie in [-1, 1]")
    if not 0 < config.near_duplicate <= 1 or not -1 <= config.near_duplicate_cosine <= 1:
        raise UsageError("--near-duplicate must lie in (0, 1], --near-duplicate-cosine in [-1, 1]")
    if config.return_days < 0 or config.centroid_keywords < 0 or config.carry_boost < 0:
        raise UsageError("--return-days, --centroid-keywords and --carry-boost must not be negative")
    if not 0 <= config.carry_damp <= 1:
        raise UsageError("--carry-damp must lie in [0, 1]")


@dataclass(frozen=True)
class TopicRun:
    """What one run's topic steps need: its date, the settings, and the run it continues."""

    run_date: str  # YYYY-MM-DD
    config: TopicConfig = TopicConfig()
    previous: Optional[PreviousRun] = None  # None: a first run (every cluster a new topic)


# --------------------------------------------------------------------------------------------------
# Pure helpers


def unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return (v / norm if norm > 0 else v).astype(np.float32)


def days_between(earlier: str, later: str) -> int:
    """Example: days_between("2026-05-30", "2026-06-02") == 3"""
    return (date.fromisoformat(later) - date.fromisoformat(earlier)).days


def _cosine(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> Optional[float]:
    """Cosine of two unit vectors rounded to 6 decimals (so float noise from summation order
    cannot change a decision); None when either is missing or their dimensions differ."""
    if a is None or b is None or len(a) != len(b) or not len(a):
        return None
    return round(float(np.dot(a, b)), 6)


def components(edges: Iterable[tuple[int, int]]) -> list[tuple[list[int], list[int]]]:
    """Connected components of a bipartite graph given as (left, right) edges -> sorted
    (lefts, rights) per component, in order of their smallest left.

    Example: components([(0, 5), (1, 5), (2, 7)]) == [([0, 1], [5]), ([2], [7])]
    """
    parent: dict = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for left, right in edges:
        a, b = find(("l", left)), find(("r", right))
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict = {}
    for node in list(parent):
        groups.setdefault(find(node), []).append(node)
    out = [(sorted(v for s, v in nodes if s == "l"), sorted(v for s, v in nodes if s == "r"))
           for nodes in groups.values()]
    return sorted(out, key=lambda lr: lr[0][0])


def best_one_to_one(weights: dict[tuple[int, int], float]) -> dict[int, int]:
    """(left, right) -> weight (positive) -> the one-to-one pairs of largest total weight, solved
    per connected component (the graphs here are sparse: most clusters touch one topic).

    Example: best_one_to_one({(0, 10): 5, (0, 11): 4, (1, 10): 3}) == {0: 11, 1: 10} (7 > 5)
    """
    from scipy.optimize import linear_sum_assignment

    out = {}
    for lefts, rights in components(weights):
        matrix = np.zeros((len(lefts), len(rights)))
        for i, left in enumerate(lefts):
            for j, right in enumerate(rights):
                matrix[i, j] = weights.get((left, right), 0.0)
        for i, j in zip(*linear_sum_assignment(matrix, maximize=True)):
            if matrix[i, j] > 0:
                out[lefts[i]] = rights[j]
    return out


def relation(predecessors: int, successors: int) -> str:
    """The relation of a link between a cluster and an earlier topic sharing documents: merge when
    the cluster continues several topics, else split when the topic continues in several
    clusters, else same.

    Example: relation(2, 1) == "merge"; relation(1, 3) == "split"; relation(1, 1) == "same"
    """
    return "merge" if predecessors > 1 else "split" if successors > 1 else "same"


# --------------------------------------------------------------------------------------------------
# The matching


@dataclass(frozen=True)
class ClusterInfo:
    """What the matching needs of one cluster of this run."""

    cluster_id: int
    size: int
    new_documents: int  # members not in the previous run (by doc_id and text)
    title: Optional[str]
    keywords: tuple[str, ...]
    centroid: Optional[np.ndarray] = field(default=None, compare=False)  # unit semantic mean


@dataclass
class Matching:
    """The result: cluster -> topic, and the rows of the three tables."""

    assigned: dict[int, int]
    topics: list[dict]
    topic_days: list[dict]
    lineage: list[dict]
    stats: dict


def _centroid(row: dict) -> Optional[np.ndarray]:
    c = row.get("centroid")
    return np.asarray(c, dtype=np.float32) if c is not None and len(c) else None


def match_topics(clusters: Sequence[ClusterInfo], overlaps: dict[tuple[int, int], int],
                 registry: Sequence[dict], run_date: str, previous_run_date: Optional[str],
                 config: TopicConfig) -> Matching:
    """This run's clusters, the documents they share with the previous run's topics
    ((cluster_id, topic_id) -> count) and the previous registry (`topics` rows) -> `Matching`.

    See the module docstring for the three steps. Example: cluster 0 shares 5 documents with
    the previous topic 7 and 1 with topic 9, cluster 1 shares 3 with topic 9 -> assigned
    {0: 7, 1: 9} (8 documents keep their topic); lineage (0, 7, merge, 5), (0, 9, merge, 1),
    (1, 9, split, 3): cluster 0 continues two topics, topic 9 continues in two clusters.
    """
    clusters = sorted(clusters, key=lambda c: c.cluster_id)
    by_cluster = {c.cluster_id: c for c in clusters}
    known = {int(r["topic_id"]): r for r in registry}
    centroids = {t: _centroid(r) for t, r in known.items()}
    overlaps = {(int(c), int(t)): int(n) for (c, t), n in overlaps.items()
                if n > 0 and c in by_cluster and t in known}
    predecessors: dict[int, list[int]] = {}
    successors: dict[int, list[int]] = {}
    for c, t in sorted(overlaps):
        predecessors.setdefault(c, []).append(t)
        successors.setdefault(t, []).append(c)

    def cos(c: int, t: int) -> Optional[float]:
        return _cosine(by_cluster[c].centroid, centroids[t])

    # 1. documents seen again: most documents keeping their topic; equal overlaps -> closer centroid
    eps = 0.5 / (len(overlaps) + 1)  # all tie-breaks together stay below one document
    assigned = best_one_to_one({(c, t): n + eps * (1 + (cos(c, t) or 0.0)) / 2
                                for (c, t), n in overlaps.items()})
    by_documents = dict(assigned)
    # 2. centroids: clusters without any document seen again, against unclaimed live topics
    claimed = set(assigned.values())
    eligible = [t for t, r in sorted(known.items()) if t not in claimed
                and days_between(r["last_run_date"], run_date) <= config.return_days]
    candidates = {}
    for c in (c for c in clusters if c.cluster_id not in predecessors):
        for t in eligible:
            s = cos(c.cluster_id, t)
            if (s is not None and s >= config.centroid_match and
                    len(set(c.keywords) & set(known[t]["keywords"])) >= config.centroid_keywords):
                candidates[(c.cluster_id, t)] = s
    by_centroid = best_one_to_one(candidates)
    assigned.update(by_centroid)
    # 3. new topics, in cluster order
    next_id = max(known, default=-1) + 1
    births = []
    for c in clusters:
        if c.cluster_id not in assigned:
            assigned[c.cluster_id] = next_id
            births.append(next_id)
            next_id += 1

    lineage = []
    for c in clusters:
        topic = assigned[c.cluster_id]
        row = {"run_date": run_date, "cluster_id": c.cluster_id, "topic_id": topic}
        if c.cluster_id in predecessors:
            for t in predecessors[c.cluster_id]:
                lineage.append({**row, "previous_topic_id": t,
                                "relation": relation(len(predecessors[c.cluster_id]),
                                                     len(successors[t])),
                                "overlap": overlaps[(c.cluster_id, t)],
                                "similarity": cos(c.cluster_id, t)})
        elif c.cluster_id in by_centroid:
            t = by_centroid[c.cluster_id]
            alive = known[t]["last_run_date"] == previous_run_date
            lineage.append({**row, "previous_topic_id": t, "relation": "same" if alive else "return",
                            "overlap": 0, "similarity": candidates[(c.cluster_id, t)]})
        else:
            lineage.append({**row, "previous_topic_id": None, "relation": "new", "overlap": 0,
                            "similarity": None})

    topic_days = [{"topic_id": assigned[c.cluster_id], "run_date": run_date,
                   "cluster_id": c.cluster_id, "size": c.size, "new_documents": c.new_documents,
                   "title": c.title, "keywords": list(c.keywords)} for c in clusters]
    topics = _registry(clusters, assigned, known, run_date)
    seen_again = sum(overlaps.values())
    kept = sum(n for (c, t), n in overlaps.items() if assigned[c] == t)
    previous_alive = {t for t, r in known.items() if r["last_run_date"] == previous_run_date}
    returned = [t for t in by_centroid.values() if known[t]["last_run_date"] != previous_run_date]
    stats = {
        "run_date": run_date, "previous_run_date": previous_run_date,
        "clusters": len(clusters), "registry": len(topics),
        "births": len(births), "deaths": len(previous_alive - set(assigned.values())),
        "splits": sum(1 for cs in successors.values() if len(cs) > 1),
        "merges": sum(1 for ts in predecessors.values() if len(ts) > 1),
        "returns": len(returned),
        "matched_by_documents": len(by_documents), "matched_by_centroid": len(by_centroid),
        "documents_seen_again": seen_again, "documents_kept_topic": kept,
        # documents in both runs that keep their topic id (None without a previous run)
        "stability": round(kept / seen_again, 6) if seen_again else None,
    }
    return Matching(assigned, topics, topic_days, lineage, stats)


def _registry(clusters: Sequence[ClusterInfo], assigned: dict[int, int], known: dict[int, dict],
              run_date: str) -> list[dict]:
    """The cumulative `topics` table after this run: every earlier topic (updated where alive
    today, carried unchanged where not) and the new ones, by topic_id."""
    rows = {t: dict(r) for t, r in known.items()}
    for c in clusters:
        t = assigned[c.cluster_id]
        before = known.get(t)
        rows[t] = {
            "topic_id": t,
            "first_run_date": before["first_run_date"] if before else run_date,
            "last_run_date": run_date,
            "size": c.size,
            "runs": (before["runs"] if before else 0) + 1,
            "documents": (before["documents"] if before else 0) + c.new_documents,
            "title": c.title,
            "keywords": list(c.keywords),
            "centroid": ([] if c.centroid is None else [float(x) for x in c.centroid]),
        }
    return [rows[t] for t in sorted(rows)]


# --------------------------------------------------------------------------------------------------
# Documents and their links to earlier runs


@dataclass(frozen=True)
class Fingerprint:
    """A document of this run as the matching needs it."""

    text_hash: str
    cluster_id: int
    semantic: np.ndarray = field(compare=False)
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class DuplicateLink:
    doc_id: str
    run_date: str
    similarity: float
    exact: bool = False  # found by the same text (else by semantic cosine)


def fingerprint(row: dict, lexical_dims: int) -> tuple[str, Fingerprint]:
    return row["doc_id"], Fingerprint(text_hash(row["text"]), row["cluster_id"],
                                      semantic_part(row["embedding"], lexical_dims), row["text"])


def seen_again(doc_id: str, grouped: dict):
    """A doc_id's (this run, previous run) rows -> (doc_id, (cluster_id, PreviousDoc)) when it is
    the same document (same text) as before, else ("new" output) (doc_id, Fingerprint)."""
    today = list(grouped["today"])
    if not today:
        return  # a document of the previous run only
    now: Fingerprint = today[0]
    before = [p for p in grouped["previous"] if p.text_hash == now.text_hash]
    if before:
        yield doc_id, (now.cluster_id, before[0])
    else:
        yield beam.pvalue.TaggedOutput("new", (doc_id, now))


def link_of(previous: PreviousDoc, similarity: float) -> DuplicateLink:
    """The link to `previous`, or through it to the earliest document it links to itself (with
    the weakest similarity on the way)."""
    if previous.duplicate_of is not None:
        return DuplicateLink(previous.duplicate_of, previous.duplicate_run_date,
                             min(similarity, previous.duplicate_similarity or 1.0))
    return DuplicateLink(previous.doc_id, previous.first_run_date, similarity)


@dataclass
class PreviousIndex:
    """The previous run's documents for the duplicate search: text hash -> earliest document, and
    the semantic vectors as one (N, D) matrix."""

    docs: list[PreviousDoc]
    by_hash: dict[str, PreviousDoc]
    vectors: np.ndarray  # (N, D) float32, unit rows, in docs order

    @classmethod
    def build(cls, docs: Iterable[PreviousDoc]) -> "PreviousIndex":
        docs = sorted(docs, key=lambda d: (d.first_run_date, d.doc_id))
        by_hash: dict[str, PreviousDoc] = {}
        for d in docs:
            by_hash.setdefault(d.text_hash, d)
        dims = {len(d.semantic) for d in docs}
        vectors = (np.stack([d.semantic for d in docs]).astype(np.float32) if len(dims) == 1
                   else np.zeros((0, 0), dtype=np.float32))
        return cls(docs, by_hash, vectors)


def bigrams(text: str) -> set[str]:
    """Example: bigrams("北京降温") == {"北京", "京降", "降温"}"""
    return {text[i:i + 2] for i in range(len(text) - 1)} or {text}


def containment(a: str, b: str) -> float:
    """Share of the shorter text's character bigrams found in the other; 0 when one is more
    than twice as long (an excerpt is not a duplicate).

    Example: containment("北京降温", "北京今天降温") == 2 / 3 (北京, 降温 of 北京 京降 降温)
    """
    if min(len(a), len(b)) * 2 < max(len(a), len(b)):
        return 0.0
    x, y = bigrams(a), bigrams(b)
    return round(len(x & y) / min(len(x), len(y)), 6)


CANDIDATES = 10  # previous documents (highest semantic cosine) a new one is compared with


def find_duplicates(batch: Sequence[tuple[str, Fingerprint]], index: PreviousIndex,
                    config: TopicConfig):
    """New documents -> (doc_id, DuplicateLink) for those repeating a previous run's document:
    the same text first; else, among the `CANDIDATES` previous documents of highest semantic
    cosine (at least `near_duplicate_cosine`), the highest bigram `containment`, at least
    `near_duplicate` (ties: the higher cosine, then the earliest, then the smallest doc_id)."""
    near = []
    for doc_id, fp in batch:
        exact = index.by_hash.get(fp.text_hash)
        if exact is not None:
            yield doc_id, replace(link_of(exact, 1.0), exact=True)
        elif len(index.docs) and index.vectors.shape[1] == len(fp.semantic):
            near.append((doc_id, fp))
    if not near:
        return
    scores = np.round(np.stack([fp.semantic for _, fp in near]) @ index.vectors.T, 6)  # (B, N)
    for (doc_id, fp), row in zip(near, scores):
        order = np.argsort(-row, kind="stable")[:CANDIDATES]  # docs are in (date, id) order
        best = None
        for j in order:
            if row[j] < config.near_duplicate_cosine:
                break
            share = containment(fp.text, index.docs[j].text)
            if share >= config.near_duplicate and (best is None or share > best[0]):
                best = (share, int(j))
        if best is not None:
            yield doc_id, link_of(index.docs[best[1]], best[0])


def topic_document_row(doc_id: str, grouped: dict, assigned: dict[int, int], run_date: str):
    """A documents row + what the previous run knew of it -> the row with its topic columns."""
    for row in grouped["row"]:
        seen = next(iter(grouped["seen"]), None)
        link = next(iter(grouped["link"]), None)
        if seen is not None:
            _, before = seen
            first, link_to = before.first_run_date, (
                DuplicateLink(before.duplicate_of, before.duplicate_run_date,
                              before.duplicate_similarity)
                if before.duplicate_of is not None else None)
        else:
            first, link_to = run_date, link
        yield {**row, "topic_id": assigned[row["cluster_id"]], "first_run_date": first,
               "previous_duplicate_of": link_to.doc_id if link_to else None,
               "previous_duplicate_run_date": link_to.run_date if link_to else None,
               "previous_duplicate_similarity": link_to.similarity if link_to else None}


def cluster_info(cluster_id: int, grouped: dict) -> ClusterInfo:
    """A cluster's row, its semantic vector sum and new-document count -> `ClusterInfo`."""
    row = next(iter(grouped["row"]))
    total = next(iter(grouped["centroid"]), None)
    return ClusterInfo(cluster_id, row["size"], sum(grouped["new"]), row["title"],
                       tuple(row["keywords"]), None if total is None else unit(total))


# --------------------------------------------------------------------------------------------------
# The transform


def _sum_vectors(vectors: Iterable[np.ndarray]) -> Optional[np.ndarray]:
    """Sum in float64 (summation order then changes nothing at 6 decimals); None for nothing."""
    total = None
    for v in vectors:
        v = np.asarray(v, dtype=np.float64)
        total = v.copy() if total is None else total + v
    return total


def _match(_, clusters, overlaps, registry, run_date, previous_run_date, config):
    return match_topics(clusters, dict(overlaps), registry, run_date, previous_run_date, config)


def _topic_document_row(item, assigned: dict[int, int], run_date: str):
    return topic_document_row(item[0], item[1], assigned, run_date)


def _with_duplicates(stats: dict, counts: tuple) -> tuple[str, dict]:
    exact, near = counts
    return STATS, {**stats, "previous_duplicates_exact": exact, "previous_duplicates_near": near}


def _link_counts(link: tuple[str, DuplicateLink]) -> tuple[int, int]:
    """(exact, near) for one new document's link."""
    return (1, 0) if link[1].exact else (0, 1)


def _sum_pairs(pairs: Iterable[tuple[int, int]]) -> tuple[int, int]:
    """Example: _sum_pairs([(1, 0), (0, 1), (1, 0)]) == (2, 1); _sum_pairs([]) == (0, 0)"""
    exact = near = 0
    for e, n in pairs:
        exact, near = exact + e, near + n
    return exact, near


class TrackTopics(beam.PTransform):
    """{"documents", "clusters" (this run's rows)[, "previous_documents" ((doc_id, PreviousDoc)),
    "previous_topics" (rows)]} -> {"documents" (rows with topic_id, first_run_date and
    previous_duplicate_*), "topics", "topic_days", "lineage" (rows), "stats" (one pair)}.

    The previous run's tables come from `ReadPreviousRun`; without them (a first run) every
    cluster starts a topic.
    """

    def __init__(self, run_date: str, config: TopicConfig, lexical_dims: int,
                 previous_run_date: Optional[str] = None):
        super().__init__()
        self._run_date = run_date
        self._config = config
        self._lexical_dims = lexical_dims
        self._previous_run_date = previous_run_date

    def expand(self, inputs):
        documents, clusters = inputs["documents"], inputs["clusters"]
        p = documents.pipeline
        run_date, config = self._run_date, self._config
        previous = {name: inputs[f"previous_{name}"] if f"previous_{name}" in inputs
                    else p | f"NoPrevious_{name}" >> beam.Create([])
                    for name in ("documents", "topics")}
        previous_run_date = self._previous_run_date
        today = documents | "Fingerprint" >> beam.Map(fingerprint, self._lexical_dims)
        joined = ({"today": today, "previous": previous["documents"]}
                  | "JoinPrevious" >> beam.CoGroupByKey()
                  | "SeenAgain" >> beam.FlatMapTuple(seen_again).with_outputs("new", main="seen"))
        overlaps = (joined.seen
                    | "PairTopics" >> beam.MapTuple(lambda _, cp: ((cp[0], cp[1].topic_id), 1))
                    | "CountOverlap" >> beam.CombinePerKey(sum))
        new_counts = (joined.new
                      | "NewByCluster" >> beam.MapTuple(lambda _, fp: (fp.cluster_id, 1))
                      | "CountNew" >> beam.CombinePerKey(sum))
        sums = (today
                | "VectorByCluster" >> beam.MapTuple(lambda _, fp: (fp.cluster_id, fp.semantic))
                | "SumVectors" >> beam.CombinePerKey(_sum_vectors))
        infos = ({"row": clusters | "KeyClusters" >> beam.Map(lambda r: (r["cluster_id"], r)),
                  "centroid": sums, "new": new_counts}
                 | "JoinClusters" >> beam.CoGroupByKey()
                 | "ClusterInfo" >> beam.MapTuple(cluster_info))
        matching = (p
                    | "Once" >> beam.Create([None])
                    | "Match" >> beam.Map(_match, beam.pvalue.AsList(infos),
                                          beam.pvalue.AsList(overlaps),
                                          beam.pvalue.AsList(previous["topics"]), run_date,
                                          previous_run_date, config))
        index = (previous["documents"]
                 | "PreviousDocs" >> beam.Values()
                 | "GatherPrevious" >> beam.combiners.ToList()
                 | "BuildIndex" >> beam.Map(PreviousIndex.build))
        links = (joined.new
                 | "BatchNew" >> beam.BatchElements(min_batch_size=64, max_batch_size=512)
                 | "FindDuplicates" >> beam.FlatMap(find_duplicates, beam.pvalue.AsSingleton(index),
                                                    config))
        assigned = matching | "Assigned" >> beam.Map(lambda m: m.assigned)
        rows = ({"row": documents | "KeyDocuments" >> beam.Map(lambda r: (r["doc_id"], r)),
                 "seen": joined.seen, "link": links}
                | "JoinDocument" >> beam.CoGroupByKey()
                | "TopicColumns" >> beam.FlatMap(_topic_document_row,
                                                 beam.pvalue.AsSingleton(assigned), run_date))
        new_links = (links
                     | "LinkKinds" >> beam.Map(_link_counts)
                     | "SumLinks" >> beam.CombineGlobally(_sum_pairs))
        return {
            "documents": rows,
            "topics": matching | "TopicRows" >> beam.FlatMap(lambda m: m.topics),
            "topic_days": matching | "TopicDayRows" >> beam.FlatMap(lambda m: m.topic_days),
            "lineage": matching | "LineageRows" >> beam.FlatMap(lambda m: m.lineage),
            "stats": matching | "Stats" >> beam.Map(lambda m, links: _with_duplicates(m.stats, links),
                                                    beam.pvalue.AsSingleton(new_links)),
        }
