import numpy as np
import pytest

from wenmai.config import ClusterConfig
from wenmai.pipelines.cluster import Assignment, ClusterInfomap, cluster_graph, markov_time_for
from wenmai.types import Doc
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


def ring_of_triangles(n: int = 8) -> Graph:
    """n triangles, each tied to the next by one edge: eight communities at Markov time 1."""
    edges, weights = [], []
    for c in range(n):
        a, b, d = 3 * c, 3 * c + 1, 3 * c + 2
        edges += [(a, b), (a, d), (b, d), (d, (3 * c + 3) % (3 * n))]
        weights += [0.9, 0.9, 0.9, 0.5]
    src, dst = zip(*edges)
    return Graph([f"d{i:02d}" for i in range(3 * n)], np.array(src), np.array(dst),
                 np.array(weights, dtype=np.float32))


def test_markov_time_follows_document_length_unless_set():
    auto = ClusterConfig()
    assert markov_time_for(auto, 19) == 2.0 and markov_time_for(auto, 32) == 2.0
    assert markov_time_for(auto, 188) == 0.9 and markov_time_for(auto, None) == 1.0
    assert markov_time_for(ClusterConfig(markov_time=1.5), 19) == 1.5
    assert markov_time_for(ClusterConfig(engine="igraph"), 19) == 1.0  # igraph has none
    out = {}
    for median in (20, 200):
        found = list(cluster_graph(ring_of_triangles(), ClusterConfig(trials=3), median))
        out[median] = [o.value for o in found if not isinstance(o, Assignment)][0]
    assert out[200]["markov_time"] == 0.9 and out[200]["clusters"] == 8
    assert out[20]["markov_time"] == 2.0 and out[20]["clusters"] < 8  # short texts: coarser


@pytest.mark.parametrize("text, expected", [("北京降温", 2.0), ("北京今天最高气温只有五度" * 4, 0.9)])
def test_cluster_step_reads_the_runs_median_length(text, expected):
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    docs = [Doc(f"d{i}", "s", i, text) for i in range(5)]
    with TestPipeline() as p:
        graph = p | "Graph" >> beam.Create([ring_of_triangles()])
        out = graph | ClusterInfomap(ClusterConfig(trials=2), p | "Docs" >> beam.Create(docs))
        assert_that(out.stats | beam.Map(lambda s: s["markov_time"]), equal_to([expected]))
