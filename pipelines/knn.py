"""ShardedKnn: (doc_id, embedding) pairs -> one `Graph`, without any worker holding every vector.

For corpora past one worker's memory (`GraphConfig.knn == "sharded"`). The idea is an IVF index
spread over the cluster:

1. a coarse quantizer: spherical k-means (faiss) on a fixed-size sample of the vectors, about
   sqrt(N) lists, handed to every worker as a side input (lists x D floats: small);
2. every vector is stored in its nearest list and sent as a query to its `knn_probes` nearest
   lists, keyed by list id;
3. per list (one GroupByKey), exact inner-product search of that list's queries against its
   stored vectors (faiss `IndexFlatIP`): each worker holds one list at a time;
4. per document, Beam's `Top.LargestPerKey` merges the candidates from its probed lists into the
   k nearest; edges below the similarity floor are dropped and each undirected pair is kept once.

Only doc ids and edges are gathered at the end, because InfoMap needs the whole graph: N x k
edges (1M x 10 x ~16 bytes = 160 MB), not N x D vectors. Recall against exact search is printed
by `wenmai bench knn`. With a single list (small inputs) the search is exact.
"""
from __future__ import annotations

import math

import apache_beam as beam
import numpy as np

from wenmai.config import GraphConfig
from wenmai.pipelines.graph import Graph


def n_lists(n_vectors: int, config: GraphConfig) -> int:
    """Lists in the coarse quantizer: the configured number, else about sqrt(N) (faiss's rule of
    thumb for IVF), and never so many that k-means has under 39 sample points per list.

    Example: n_lists(100_000, GraphConfig()) == 316
    """
    wanted = config.knn_lists or round(math.sqrt(n_vectors))
    return int(max(1, min(wanted, min(n_vectors, config.knn_sample) // 39)))


def train_quantizer(sample: list, n_vectors: int, config: GraphConfig) -> np.ndarray:
    """(doc_id, vector) sample -> (lists, D) unit centroids (spherical k-means, fixed seed)."""
    import faiss

    sample = sorted(sample, key=lambda p: p[0])  # the same sample, the same centroids
    vectors = np.ascontiguousarray(np.stack([v for _, v in sample]).astype(np.float32))
    lists = n_lists(n_vectors, config)
    if lists == 1:
        mean = vectors.mean(axis=0)
        return (mean / max(np.linalg.norm(mean), 1e-12))[None, :].astype(np.float32)
    kmeans = faiss.Kmeans(vectors.shape[1], lists, niter=20, seed=config.knn_seed, spherical=True,
                          verbose=False)
    kmeans.train(vectors)
    return kmeans.centroids.astype(np.float32)


def route(pair, centroids: np.ndarray, probes: int):
    """(doc_id, v) -> (list, ("db", doc_id, v)) for its nearest list, and (list, ("q", doc_id, v))
    for each of its `probes` nearest lists."""
    doc_id, vector = pair
    vector = np.asarray(vector, dtype=np.float32)
    scores = centroids @ vector  # (lists,)
    probes = min(probes, len(scores))
    nearest = np.argpartition(-scores, probes - 1)[:probes] if probes < len(scores) else \
        np.arange(len(scores))
    nearest = nearest[np.argsort(-scores[nearest], kind="stable")]
    yield int(nearest[0]), ("db", doc_id, vector)
    for lst in nearest.tolist():
        yield lst, ("q", doc_id, vector)


def search_list(element, k: int):
    """(list, members) -> (query doc_id, (similarity, neighbour doc_id)) for its k best in the list."""
    import faiss

    _, members = element
    db = sorted((m for m in members if m[0] == "db"), key=lambda m: m[1])
    queries = [m for m in members if m[0] == "q"]
    if not db or not queries:
        return
    index = faiss.IndexFlatIP(len(db[0][2]))
    index.add(np.ascontiguousarray(np.stack([m[2] for m in db])))
    q = np.ascontiguousarray(np.stack([m[2] for m in queries]))
    sims, found = index.search(q, min(k + 1, len(db)))  # +1: a query finds itself
    for (_, query_id, _), row_sim, row_found in zip(queries, sims, found):
        for sim, j in zip(row_sim.tolist(), row_found.tolist()):
            if j >= 0 and db[j][1] != query_id:
                yield query_id, (float(sim), db[j][1])


def undirected_edges(element, min_similarity: float):
    """(doc_id, its k best) -> ((lo id, hi id), similarity) for those above the floor."""
    doc_id, best = element
    for sim, other in best:
        if sim >= min_similarity:
            yield (min(doc_id, other), max(doc_id, other)), sim


def assemble_graph(edges: list, ids: list[str], config: GraphConfig, lists: int) -> Graph:
    """Edge pairs keyed by doc_id + every doc_id -> a `Graph` in doc_id order, like `build_graph`."""
    ids = sorted(ids)
    index = {doc_id: i for i, doc_id in enumerate(ids)}
    rows = sorted((index[a], index[b], sim) for (a, b), sim in edges)
    src = np.array([r[0] for r in rows], dtype=np.int64)
    dst = np.array([r[1] for r in rows], dtype=np.int64)
    sim = np.clip(np.array([r[2] for r in rows], dtype=np.float32), -1, 1)
    stats = {"nodes": len(ids), "edges": len(rows), "k": config.k,
             "min_similarity": config.min_similarity, "index": "sharded_ivf", "lists": lists,
             "probes": config.knn_probes}
    return Graph(ids, src, dst, sim.astype(np.float32), stats)


class ShardedKnn(beam.PTransform):
    """(doc_id, embedding) pairs -> a single-element PCollection holding the `Graph`."""

    def __init__(self, config: GraphConfig):
        super().__init__()
        self._config = config

    def expand(self, embeddings):
        config = self._config
        count = beam.pvalue.AsSingleton(embeddings | "Count" >> beam.combiners.Count.Globally())
        centroids = (
            embeddings
            | "Sample" >> beam.combiners.Sample.FixedSizeGlobally(config.knn_sample)
            | "TrainQuantizer" >> beam.Map(lambda s, n: train_quantizer(s, n, config) if s
                                           else np.zeros((1, 1), np.float32), n=count)
        )
        best = (
            embeddings
            | "Route" >> beam.FlatMap(route, beam.pvalue.AsSingleton(centroids), config.knn_probes)
            | "GroupByList" >> beam.GroupByKey()
            | "SearchList" >> beam.FlatMap(search_list, config.k)
            | "TopKPerDoc" >> beam.combiners.Top.LargestPerKey(config.k)
        )
        edges = (
            best
            | "Floor" >> beam.FlatMap(undirected_edges, config.min_similarity)
            | "OncePerPair" >> beam.CombinePerKey(max)
        )
        ids = embeddings | "Ids" >> beam.Keys() | "GatherIds" >> beam.combiners.ToList()
        lists = centroids | "Lists" >> beam.Map(len)
        return (
            edges
            | "GatherEdges" >> beam.combiners.ToList()
            | "Assemble" >> beam.Map(assemble_graph, beam.pvalue.AsSingleton(ids), config,
                                     beam.pvalue.AsSingleton(lists))
        )
