"""`wenmai bench knn`: kNN graph build time and recall@k for the indexes the pipeline can use.

On real sentence embeddings (our encoder over every distinct text in `--texts` files) at each
size in `--sizes`, the same run measures:
- exact: `IndexFlatIP` over all N (the pipeline's `single` mode), the ground truth;
- ivf: faiss `IndexIVFFlat`, about sqrt(N) lists, `--probes` probed;
- hnsw: faiss `IndexHNSWFlat` (M=32, efSearch=max(64, 2k)), the pipeline's beyond-`exact_max` index;
- sharded: the pipeline's own `ShardedKnn` Beam transform on the FnApiRunner (`--sharded-max`
  caps the sizes it runs at: it replicates each vector to its probed lists in memory).
Recall@k = the share of each query's exact k nearest neighbours an index returns, over a fixed
sample of `--queries` documents (all of them when N is smaller). Where N exceeds the distinct
texts, the rest are real vectors with noise added (sigma `--noise`), stated in the report.
Exact search over all N is skipped above `--exact-max` (its recall is 1 by definition), HNSW
above `--hnsw-max`; the ground truth for the query sample is always exact.
"""
from __future__ import annotations

import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np

from wenmai.benchmarks.data import add_data_dir_arg, data_dir
from wenmai.config import GraphConfig, InferenceConfig
from wenmai.cli.args import ArgumentParser
from wenmai.models import DEFAULT_MODELS_DIR

DEFAULT_TEXTS = ["topics/toutiao/headlines.tsv", "topics/tnews/unlabeled.txt",  # in --data-dir
                 "topics/thucnews/dev.tsv", "similarity/afqmc/train.tsv",
                 "similarity/lcqmc/dev.tsv", "similarity/bq/dev.tsv",
                 "similarity/lcqmc/test.tsv"]


def read_texts(paths: list[Path], limit: int) -> list[str]:
    """Distinct texts from txt (a line each), labelled (label<TAB>text) and pair (a<TAB>b<TAB>y)
    files, in file order."""
    seen: dict[str, None] = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                texts = parts[:2] if len(parts) == 3 else parts[-1:]
                for text in texts:
                    text = text.strip()
                    if text:
                        seen.setdefault(text, None)
                if len(seen) >= limit:
                    return list(seen)[:limit]
    return list(seen)


def grow(vectors: np.ndarray, n: int, noise: float, seed: int = 0) -> np.ndarray:
    """The first n real vectors, topped up with noisy copies of them when there are fewer."""
    if n <= len(vectors):
        return vectors[:n]
    rng = np.random.default_rng(seed)
    extra = vectors[rng.integers(0, len(vectors), n - len(vectors))]
    extra = extra + noise * rng.normal(size=extra.shape).astype(np.float32) / math.sqrt(
        vectors.shape[1])
    extra /= np.linalg.norm(extra, axis=1, keepdims=True)
    return np.concatenate([vectors, extra.astype(np.float32)])


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each row's true neighbours found (ids; -1 never matches)."""
    hits = [len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth)]
    return float(np.sum(hits) / truth.size)


def _neighbours(index, queries: np.ndarray, query_ids: np.ndarray, k: int) -> np.ndarray:
    """k nearest ids of each query, without the query itself."""
    _, found = index.search(queries, k + 1)
    out = np.full((len(queries), k), -1, dtype=np.int64)
    for row, (ids, self_id) in enumerate(zip(found, query_ids)):
        kept = [i for i in ids.tolist() if i != self_id][:k]
        out[row, :len(kept)] = kept
    return out


def sharded_neighbours(vectors: np.ndarray, query_ids: np.ndarray, config: GraphConfig,
                       k: int) -> tuple[np.ndarray, float, int]:
    """The pipeline's ShardedKnn on the FnApiRunner -> (neighbours of the queries, seconds, lists)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from wenmai.pipelines.knn import ShardedKnn

    def save(graph, path):  # DoFns run on pickled copies: the graph comes back through a file
        np.savez(path, src=graph.src, dst=graph.dst, sim=graph.similarity, lists=graph.stats["lists"])

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "graph.npz")
        start = time.perf_counter()
        with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
            _ = (p | beam.Create([(f"{i:09d}", v) for i, v in enumerate(vectors)])
                 | ShardedKnn(config) | beam.Map(save, path))
        seconds = time.perf_counter() - start
        graph = dict(np.load(path))
    adjacency: dict[int, list[tuple[float, int]]] = {}
    for s, d, w in zip(graph["src"].tolist(), graph["dst"].tolist(), graph["sim"].tolist()):
        adjacency.setdefault(s, []).append((w, d))
        adjacency.setdefault(d, []).append((w, s))
    out = np.full((len(query_ids), k), -1, dtype=np.int64)
    for row, q in enumerate(query_ids.tolist()):
        best = sorted(adjacency.get(q, []), reverse=True)[:k]
        out[row, :len(best)] = [j for _, j in best]
    return out, seconds, int(graph["lists"])


def bench_size(vectors: np.ndarray, k: int, n_queries: int, probes: int, exact_max: int,
               sharded_max: int, hnsw_max: int = 10 ** 9) -> dict:
    import faiss

    n, dim = vectors.shape
    rng = np.random.default_rng(0)
    query_ids = np.sort(rng.choice(n, size=min(n, n_queries), replace=False))
    queries = vectors[query_ids]
    flat = faiss.IndexFlatIP(dim)
    flat.add(vectors)
    truth = _neighbours(flat, queries, query_ids, k)
    rows = {}

    if n <= exact_max:
        start = time.perf_counter()
        flat.search(vectors, k + 1)
        rows["exact"] = {"seconds": time.perf_counter() - start, "recall": 1.0}

    lists = max(1, round(math.sqrt(n)))
    start = time.perf_counter()
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
    ivf.train(vectors[rng.choice(n, size=min(n, 100_000), replace=False)])
    ivf.add(vectors)
    ivf.nprobe = probes
    ivf.search(vectors, k + 1)
    rows["ivf"] = {"seconds": time.perf_counter() - start, "lists": lists, "probes": probes,
                   "recall": recall(_neighbours(ivf, queries, query_ids, k), truth)}

    if n <= hnsw_max:
        start = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efSearch = max(64, 2 * k)
        hnsw.add(vectors)
        hnsw.search(vectors, k + 1)
        rows["hnsw"] = {"seconds": time.perf_counter() - start,
                        "recall": recall(_neighbours(hnsw, queries, query_ids, k), truth)}

    if n <= sharded_max:
        config = GraphConfig(k=k, min_similarity=-1.0, knn="sharded", knn_probes=probes)
        found, seconds, used = sharded_neighbours(vectors, query_ids, config, k)
        rows["sharded"] = {"seconds": seconds, "lists": used, "probes": probes,
                           "recall": recall(found, truth)}
    return {"n": n, "dim": dim, "queries": len(query_ids), "indexes": rows}


def bench_knn(texts: list[Path], models_dir: Path, sizes: list[int], k: int, n_queries: int,
              probes: int, noise: float, exact_max: int, sharded_max: int,
              hnsw_max: int = 10 ** 9) -> dict:
    from wenmai.eval_cluster import embed

    import faiss
    import torch

    distinct = read_texts(texts, max(sizes))
    start = time.perf_counter()
    real = embed(distinct, models_dir, InferenceConfig())
    report = {"k": k, "real_vectors": len(real), "noise": noise,
              "embed_seconds": time.perf_counter() - start, "threads": torch.get_num_threads(),
              "faiss_threads": faiss.omp_get_max_threads(), "cpu": platform.machine(),
              "cpus": os.cpu_count(), "sizes": []}
    for n in sizes:
        report["sizes"].append(bench_size(grow(real, n, noise), k, n_queries, probes, exact_max,
                                          sharded_max, hnsw_max))
    return report


def main(argv: Optional[list[str]] = None) -> dict:
    parser = ArgumentParser(prog="wenmai bench knn", description=__doc__.split("\n")[0])
    add_data_dir_arg(parser)
    parser.add_argument("--texts", type=Path, nargs="+", default=None,
                        help="txt, labelled or pair files (default: " + " ".join(DEFAULT_TEXTS)
                             + " in --data-dir)")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--k", type=int, default=GraphConfig.k)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--probes", type=int, default=GraphConfig.knn_probes)
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--exact-max", type=int, default=200_000)
    parser.add_argument("--sharded-max", type=int, default=100_000)
    parser.add_argument("--hnsw-max", type=int, default=10 ** 9,
                        help="skip HNSW above this size (its build is the slow part)")
    args = parser.parse_args(argv)
    args.texts = args.texts or [data_dir(args.data_dir) / t for t in DEFAULT_TEXTS]
    for path in args.texts:
        if not path.is_file():
            raise FileNotFoundError(f"--texts {path}: no such file")
    report = bench_knn(args.texts, args.models, args.sizes, args.k, args.queries, args.probes,
                       args.noise, args.exact_max, args.sharded_max, args.hnsw_max)
    print(f"{report['real_vectors']} real vectors; k={report['k']}; "
          f"{report['faiss_threads']} faiss threads")
    print(f"{'n':>9}  {'index':<8}{'seconds':>9}{'recall@k':>10}")
    for size in report["sizes"]:
        for name, row in size["indexes"].items():
            print(f"{size['n']:>9}  {name:<8}{row['seconds']:>9.2f}{row['recall']:>10.3f}")
    print(json.dumps(report))
    return report
