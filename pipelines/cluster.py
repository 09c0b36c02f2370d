"""ClusterInfomap: one `Graph` -> `Assignment`s (doc_id, cluster_id, flow) + one stats dict.

InfoMap on the undirected graph weighted by similarity, two-level, best of `trials` restarts.
Every node is added explicitly and a document without edges is its own singleton cluster, so
nothing is dropped. Cluster ids are deterministic: 0 is the largest cluster, ties broken by the
smallest member doc_id. Two engines share this contract: the `infomap` package (default; node
flow from its stationary distribution) and igraph's `community_infomap` (node flow taken as
weighted degree share, which is the stationary distribution of the undirected walk).
docs/infomap.md compares them on the same graphs.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Optional

import apache_beam as beam
import numpy as np

from wenmai.config import ClusterConfig
from wenmai.pipelines.graph import Graph


@dataclass(frozen=True)
class Assignment:
    doc_id: str
    cluster_id: int
    flow: float  # the node's stationary flow (a cluster's flow is its members' sum)


def infomap_modules(graph: Graph, config: ClusterConfig) -> tuple[list[int], list[float], float]:
    """(module per node, flow per node, codelength) with the `infomap` package, in a child process.

    The `infomap` wheel bundles its own OpenMP runtime; in a process that has also run torch's
    and faiss's, it crashed when called from a worker thread (seen under the FnApiRunner). A
    fresh `python -m wenmai.pipelines.cluster` holds only infomap's runtime; the graph and the
    result travel as .npz files, so the caller's `__main__` is never re-imported.
    """
    with tempfile.TemporaryDirectory(prefix="wenmai-infomap-") as tmp:
        graph_path, result_path = os.path.join(tmp, "graph.npz"), os.path.join(tmp, "result.npz")
        np.savez(graph_path, n=len(graph.ids), src=graph.src, dst=graph.dst, weight=graph.similarity,
                 seed=config.seed, trials=config.trials, markov_time=config.markov_time)
        # cwd=tmp: `python -m` puts the working directory first on sys.path, and a source
        # checkout's `wenmai/` folder there would shadow the installed package
        done = subprocess.run([sys.executable, "-m", "wenmai.pipelines.cluster", graph_path,
                               result_path], capture_output=True, text=True, cwd=tmp)
        if done.returncode != 0:
            raise RuntimeError(f"infomap child process failed ({done.returncode}): "
                               f"{done.stderr[-2000:]}")
        with np.load(result_path) as result:
            return result["module"].tolist(), result["flow"].tolist(), float(result["codelength"])


def _run_infomap(graph_path: str, result_path: str) -> None:
    """The child's work: read the graph, run InfoMap, write module, flow and codelength."""
    import infomap

    with np.load(graph_path) as g:
        n, src, dst, weight = int(g["n"]), g["src"], g["dst"], g["weight"]
        seed, trials, markov_time = int(g["seed"]), int(g["trials"]), float(g["markov_time"])
    im = infomap.Infomap(f"--two-level --flow-model undirected --silent --seed {seed} "
                         f"--num-trials {trials} --markov-time {markov_time}")
    for i in range(n):
        im.add_node(i)
    for s, d, w in zip(src.tolist(), dst.tolist(), weight.tolist()):
        im.add_link(s, d, max(w, 1e-6))
    result = im.run()
    module = np.zeros(n, dtype=np.int64)
    flow = np.zeros(n, dtype=np.float64)
    for node in result.nodes():
        module[node.node_id] = node.module_id
        flow[node.node_id] = node.flow
    np.savez(result_path, module=module, flow=flow, codelength=float(result.codelength))


def igraph_modules(graph: Graph, config: ClusterConfig) -> tuple[list[int], list[float], float]:
    """(module per node, flow per node, codelength) with igraph's community_infomap (which has
    no Markov time: a `markov_time` other than 1 is refused rather than ignored)."""
    if config.markov_time != 1.0:
        raise ValueError("the igraph engine has no Markov time; use --engine infomap")
    import igraph
    import random

    random.seed(config.seed)  # igraph draws from Python's RNG
    g = igraph.Graph(n=len(graph.ids), edges=list(zip(graph.src.tolist(), graph.dst.tolist())))
    g.es["weight"] = [max(w, 1e-6) for w in graph.similarity.tolist()]
    clustering = g.community_infomap(edge_weights="weight", trials=config.trials)
    strength = np.asarray(g.strength(weights="weight"), dtype=np.float64)
    flow = (strength / strength.sum()).tolist() if strength.sum() > 0 else [0.0] * len(graph.ids)
    return list(clustering.membership), flow, float(clustering.codelength)


ENGINES = {"infomap": infomap_modules, "igraph": igraph_modules}
SHORT_DOC_CHARS = 32  # a run whose median document is this short is one of short documents
# InfoMap's Markov time for a run of short / of longer documents (figures: ClusterConfig)
SHORT_MARKOV_TIME, LONG_MARKOV_TIME = 2.0, 0.9


def markov_time_for(config: ClusterConfig, median_chars: Optional[float]) -> float:
    """The Markov time a run clusters at: `config.markov_time` when set; else 2 for a run of
    short documents (median at most `SHORT_DOC_CHARS` characters), whose noisier vectors InfoMap
    otherwise cuts into many small communities, and 0.9 for longer ones, a little finer than 1;
    1 (InfoMap's own) when the median is not known or on the igraph engine, which has no
    Markov time.

    Example: markov_time_for(ClusterConfig(), 19) == 2.0; markov_time_for(ClusterConfig(), 188) == 0.9
    """
    if config.markov_time is not None:
        return config.markov_time
    if median_chars is None or config.engine != "infomap":
        return 1.0
    return SHORT_MARKOV_TIME if median_chars <= SHORT_DOC_CHARS else LONG_MARKOV_TIME


def median_of_quantiles(quantiles) -> Optional[float]:
    """The median of a run's document lengths, from Beam's approximate quantiles [min, median,
    max] (exact on small runs); None for a run without documents."""
    return float(quantiles[len(quantiles) // 2]) if quantiles else None


def cluster_graph(graph: Graph, config: ClusterConfig, median_chars: Optional[float] = None):
    """Yields one Assignment per node, then a stats dict tagged `stats`. `median_chars`: the run's
    median document length, which picks the Markov time when the config leaves it open."""
    if config.engine not in ENGINES:
        raise ValueError(f"unknown cluster engine {config.engine!r}; expected one of {sorted(ENGINES)}")
    config = dataclasses.replace(config, markov_time=markov_time_for(config, median_chars))
    start = time.perf_counter()
    if graph.ids:
        module, flow, codelength = ENGINES[config.engine](graph, config)
    else:
        module, flow, codelength = [], [], 0.0
    # A node without edges has no flow to share: the `infomap` package files such nodes into
    # some module all the same, so each is made its own singleton here, whatever the engine.
    isolated = np.ones(len(graph.ids), dtype=bool)
    isolated[graph.src] = False
    isolated[graph.dst] = False
    members: dict[object, list[int]] = {}
    for node, m in enumerate(module):
        members.setdefault(("alone", node) if isolated[node] else m, []).append(node)
    # Deterministic ids: largest first, ties by smallest member doc_id (ids are sorted already).
    ranked = sorted(members.values(), key=lambda nodes: (-len(nodes), nodes[0]))
    for cluster_id, nodes in enumerate(ranked):
        for node in nodes:
            yield Assignment(graph.ids[node], cluster_id, float(flow[node]))
    yield beam.pvalue.TaggedOutput("stats", {
        "engine": config.engine, "codelength": codelength, "clusters": len(ranked),
        "singletons": sum(len(nodes) == 1 for nodes in ranked), "trials": config.trials,
        "seed": config.seed, "markov_time": config.markov_time, "median_chars": median_chars,
        "seconds": round(time.perf_counter() - start, 3),
    })


class ClusterInfomap(beam.PTransform):
    """Graph -> `assignments` (Assignment) and `stats` (one dict) outputs. `docs`: the run's
    documents, whose median length picks the Markov time (`markov_time_for`); without them, 1."""

    def __init__(self, config: ClusterConfig, docs=None):
        super().__init__()
        self._config = config
        self._docs = docs

    def expand(self, graph):
        median = []
        if self._docs is not None and self._config.markov_time is None:
            quantiles = (self._docs
                         | "DocChars" >> beam.Map(lambda doc: len(doc.text))
                         | "MedianChars" >> beam.ApproximateQuantiles.Globally(3))
            median = [beam.pvalue.AsSingleton(quantiles | "Median" >> beam.Map(median_of_quantiles))]
        return graph | "Infomap" >> beam.FlatMap(cluster_graph, self._config,
                                                 *median).with_outputs("stats", main="assignments")


if __name__ == "__main__":
    _run_infomap(sys.argv[1], sys.argv[2])
