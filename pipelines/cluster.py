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

import time
from dataclasses import dataclass

import apache_beam as beam
import numpy as np

from wenmai.config import ClusterConfig
from wenmai.pipelines.graph import Graph


@dataclass(frozen=True)
class Assignment:
    doc_id: str
    cluster_id: int
    flow: float  # the node's stationary flow; the cluster's representative has the most


def infomap_modules(graph: Graph, config: ClusterConfig) -> tuple[list[int], list[float], float]:
    """(module per node, flow per node, codelength) with the `infomap` package, in a child process.

    The `infomap` wheel bundles its own OpenMP runtime; in a process that has also run torch's
    and faiss's, it can crash when called from a worker thread (seen under Beam's FnApiRunner).
    A spawned child holds only infomap's runtime; the graph travels as three arrays.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_infomap_in_process, graph, config).result()


def _infomap_in_process(graph: Graph, config: ClusterConfig):
    import infomap

    im = infomap.Infomap(f"--two-level --flow-model undirected --silent --seed {config.seed} "
                         f"--num-trials {config.trials}")
    for i in range(len(graph.ids)):
        im.add_node(i)
    for s, d, w in zip(graph.src.tolist(), graph.dst.tolist(), graph.similarity.tolist()):
        im.add_link(s, d, max(w, 1e-6))
    result = im.run()
    module = [0] * len(graph.ids)
    flow = [0.0] * len(graph.ids)
    for node in result.nodes():
        module[node.node_id] = node.module_id
        flow[node.node_id] = node.flow
    return module, flow, float(result.codelength)


def igraph_modules(graph: Graph, config: ClusterConfig) -> tuple[list[int], list[float], float]:
    """(module per node, flow per node, codelength) with igraph's community_infomap."""
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


def cluster_graph(graph: Graph, config: ClusterConfig):
    """Yields one Assignment per node, then a stats dict tagged `stats`."""
    if config.engine not in ENGINES:
        raise ValueError(f"unknown cluster engine {config.engine!r}; expected one of {sorted(ENGINES)}")
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
        "seed": config.seed, "seconds": round(time.perf_counter() - start, 3),
    })


class ClusterInfomap(beam.PTransform):
    """Graph -> `assignments` (Assignment) and `stats` (one dict) outputs."""

    def __init__(self, config: ClusterConfig):
        super().__init__()
        self._config = config

    def expand(self, graph):
        return graph | "Infomap" >> beam.FlatMap(cluster_graph, self._config).with_outputs(
            "stats", main="assignments")
