"""BuildKnnGraph: (doc_id, embedding) pairs -> one `Graph` (all ids + similarity edges).

The one global step. It gathers every embedding on one worker on purpose: N vectors of D
float32 need N * D * 4 bytes (100k x 384 = 150 MB; 1M = 1.5 GB) plus N * k candidate edges.
Vectors are L2-normalised, so inner product is cosine similarity: `IndexFlatIP` (exact) up to
`GraphConfig.exact_max` vectors, HNSW beyond; a faiss GPU index when faiss-gpu sees a GPU.
faiss is imported inside the DoFn, so the GPU image can swap faiss-gpu in for faiss-cpu.

Which path runs (`choose_knn`): on a runner whose workers all share this machine (FnApiRunner,
DirectRunner, Prism) always this one, since sharding there only multiplies memory (every vector
is copied to each list it probes, and all copies live in the one process); on a distributed
runner, the sharded IVF of `wenmai.pipelines.knn` once the inputs pass `sharded_above_bytes`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import apache_beam as beam
import numpy as np

from wenmai.config import GraphConfig

_LOGGER = logging.getLogger(__name__)
# Past this, one worker holding every vector is worth a warning (and a hint to shard).
WARN_GATHER_BYTES = 4 * 1024 ** 3


# Runners whose workers are processes of this one machine: no worker can hold less than the
# machine does, so the in-process index is always the smaller choice there.
LOCAL_RUNNERS = frozenset({"DirectRunner", "FnApiRunner", "BundleBasedDirectRunner",
                           "SwitchingDirectRunner", "TestDirectRunner", "PrismRunner",
                           "InteractiveRunner"})


def runner_name(runner) -> str:
    """A runner option (a name, a dotted path, a class or an instance) -> its class name.

    Example: runner_name("apache_beam.runners.portability.fn_api_runner.FnApiRunner") == "FnApiRunner"
    """
    if runner is None:
        return ""
    if isinstance(runner, str):
        return runner.split(".")[-1]
    return runner.__name__ if isinstance(runner, type) else type(runner).__name__


def choose_knn(runner, input_bytes: int, config: GraphConfig) -> str:
    """`--knn` resolved before the Beam graph is built: "single" or "sharded".

    auto -> single on a one-machine runner (and when no runner is named: the default is the
    FnApiRunner), whatever the size; on any other runner sharded once the inputs total more than
    `sharded_above_bytes`. An explicit single or sharded is kept as asked.

    Example: choose_knn("FnApiRunner", 10 ** 12, GraphConfig()) == "single";
             choose_knn("DataflowRunner", 10 ** 12, GraphConfig()) == "sharded"
    """
    if config.knn != "auto":
        return config.knn
    name = runner_name(runner)
    if not name or name in LOCAL_RUNNERS:
        return "single"
    return "sharded" if input_bytes > config.sharded_above_bytes else "single"


def index_kind(n: int, config: GraphConfig) -> str:
    """The in-process index for n vectors: "flat_ip" (exact) up to `exact_max`, "hnsw" beyond.

    Example: index_kind(GraphConfig().exact_max + 1, GraphConfig()) == "hnsw"
    """
    return "flat_ip" if n <= config.exact_max else "hnsw"


def gather_bytes(n: int, dim: int, k: int) -> int:
    """Memory the single-worker kNN step needs: the vectors (float32), twice over while they
    are stacked, plus the (N, k+1) similarity and neighbour arrays of the search.

    Example: gather_bytes(1_000_000, 256, 10) == 2_180_000_000 (about 2 GB)
    """
    return 2 * n * dim * 4 + n * (k + 1) * (4 + 8)


@dataclass
class Graph:
    """Nodes in doc_id order and undirected edges (src < dst index), each once."""

    ids: list[str]
    src: np.ndarray  # (E,) int64 node indices
    dst: np.ndarray  # (E,) int64
    similarity: np.ndarray  # (E,) float32
    stats: dict = field(default_factory=dict)

    def edge_rows(self):
        ids = self.ids
        for s, d, w in zip(self.src.tolist(), self.dst.tolist(), self.similarity.tolist()):
            yield {"src": ids[s], "dst": ids[d], "similarity": w}


def build_index(vectors: np.ndarray, config: GraphConfig):
    """Exact inner-product index up to `exact_max` vectors, HNSW beyond; on GPU when possible."""
    import faiss

    n, dim = vectors.shape
    if index_kind(n, config) == "flat_ip":
        index = faiss.IndexFlatIP(dim)
        if hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
            index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    else:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = max(64, 2 * config.k)
    index.add(vectors)
    return index


def knn_edges(vectors: np.ndarray, config: GraphConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected kNN edges with similarity >= the floor, each pair once (src < dst).

    Example: for two identical vectors and one orthogonal, k=2, floor 0.5 -> edges [(0, 1, 1.0)].
    """
    n = len(vectors)
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    k = min(config.k + 1, n)  # +1: each vector finds itself first
    similarity, neighbour = build_index(vectors, config).search(vectors, k)  # (N, k) each
    src = np.repeat(np.arange(n), k)
    dst = neighbour.reshape(-1)
    sim = similarity.reshape(-1)
    keep = (dst >= 0) & (dst != src) & (sim >= config.min_similarity)
    src, dst, sim = src[keep], dst[keep], sim[keep]
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    # A pair found from both ends appears twice: keep one, with the larger similarity.
    order = np.lexsort((-sim, hi, lo))
    lo, hi, sim = lo[order], hi[order], sim[order]
    first = np.ones(len(lo), dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return lo[first].astype(np.int64), hi[first].astype(np.int64), np.clip(sim[first], -1, 1).astype(
        np.float32)


def build_graph(pairs: list[tuple[str, np.ndarray]], config: GraphConfig) -> Graph:
    start = time.perf_counter()
    pairs = sorted(pairs, key=lambda p: p[0])  # doc_id order: same input, same graph
    ids = [doc_id for doc_id, _ in pairs]
    dim = len(pairs[0][1]) if pairs else 0
    need = gather_bytes(len(ids), dim, config.k)
    (_LOGGER.warning if need > WARN_GATHER_BYTES else _LOGGER.info)(
        "kNN graph on one worker: %d vectors x %d dims need about %.2f GB; --knn sharded spreads "
        "them over workers", len(ids), dim, need / 1e9)
    vectors = np.ascontiguousarray(np.stack([v for _, v in pairs]).astype(np.float32)) if pairs \
        else np.zeros((0, dim), dtype=np.float32)
    src, dst, sim = knn_edges(vectors, config)
    stats = {"nodes": len(ids), "edges": int(len(src)), "k": config.k,
             "min_similarity": config.min_similarity,
             "index": index_kind(len(ids), config),
             "memory_bytes": need,
             "seconds": round(time.perf_counter() - start, 3)}
    return Graph(ids, src, dst, sim, stats)


class BuildKnnGraph(beam.PTransform):
    """(doc_id, embedding) pairs -> a single-element PCollection holding the `Graph`.

    `GraphConfig.knn` "sharded" runs `wenmai.pipelines.knn.ShardedKnn`; otherwise the vectors
    are gathered on one worker (below). `wenmai.job` resolves "auto" first (`choose_knn`)."""

    def __init__(self, config: GraphConfig):
        super().__init__()
        self._config = config

    def expand(self, embeddings):
        config = self._config
        if config.knn == "sharded":
            from wenmai.pipelines.knn import ShardedKnn

            return embeddings | "ShardedKnn" >> ShardedKnn(config)
        return (
            embeddings
            | "GatherEmbeddings" >> beam.combiners.ToList()
            | "FaissKnn" >> beam.Map(build_graph, config)
        )
