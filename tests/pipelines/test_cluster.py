import numpy as np
import pytest

from wenmai.config import ClusterConfig
from wenmai.pipelines.cluster import Assignment, cluster_graph
from wenmai.pipelines.graph import Graph


def two_cliques_and_a_singleton() -> Graph:
    ids = [f"d{i}" for i in range(9)]
    edges = [(a, b) for a in range(4) for b in range(a + 1, 4)]  # d0..d3
    edges += [(a, b) for a in range(4, 7) for b in range(a + 1, 7)]  # d4..d6
    edges += [(3, 4)]  # one weak bridge; d7 and d8 have no edges at all
    weights = [0.9] * (len(edges) - 1) + [0.5]
    src, dst = zip(*edges)
    return Graph(ids, np.array(src), np.array(dst), np.array(weights, dtype=np.float32))


def _run(graph, engine):
    out = list(cluster_graph(graph, ClusterConfig(engine=engine, trials=3)))
    assignments = [o for o in out if isinstance(o, Assignment)]
    stats = [o.value for o in out if not isinstance(o, Assignment)]
    return assignments, stats[0]


@pytest.mark.parametrize("engine", ["infomap", "igraph"])
def test_every_node_in_exactly_one_cluster_largest_first(engine):
    assignments, stats = _run(two_cliques_and_a_singleton(), engine)
    by_doc = {a.doc_id: a.cluster_id for a in assignments}
    assert sorted(by_doc) == [f"d{i}" for i in range(9)] and len(assignments) == 9
    assert {by_doc[f"d{i}"] for i in range(4)} == {0}
    assert {by_doc[f"d{i}"] for i in range(4, 7)} == {1}
    assert by_doc["d7"] != by_doc["d8"] and by_doc["d7"] not in (0, 1)
    assert stats["clusters"] == 4 and stats["singletons"] == 2 and stats["codelength"] > 0


def test_engines_agree_and_runs_repeat():
    graph = two_cliques_and_a_singleton()
    first, _ = _run(graph, "infomap")
    again, _ = _run(graph, "infomap")
    other, _ = _run(graph, "igraph")
    key = lambda xs: sorted((a.doc_id, a.cluster_id) for a in xs)
    assert key(first) == key(again) == key(other)


def test_flow_sums_to_one_over_connected_nodes():
    assignments, _ = _run(two_cliques_and_a_singleton(), "infomap")
    assert sum(a.flow for a in assignments) == pytest.approx(1.0)


def test_empty_graph_and_unknown_engine():
    empty = Graph([], np.zeros(0, int), np.zeros(0, int), np.zeros(0, np.float32))
    assignments, stats = _run(empty, "infomap")
    assert assignments == [] and stats["clusters"] == 0
    with pytest.raises(ValueError, match="unknown cluster engine"):
        list(cluster_graph(empty, ClusterConfig(engine="louvain")))
