import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from wenmai.config import GraphConfig
from wenmai.pipelines.graph import BuildKnnGraph, build_graph
from wenmai.pipelines.knn import n_lists, route, search_list, undirected_edges


def _clustered(n, dim=16, centres=20, seed=0):
    """Unit vectors around `centres` random directions: text embeddings are clumpy like this."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim))
    v = c[rng.integers(0, centres, n)] + 0.5 * rng.normal(size=(n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def test_n_lists_about_sqrt_n_and_bounded_by_the_sample():
    assert n_lists(100_000, GraphConfig()) == 316
    assert n_lists(1_000, GraphConfig()) == 25  # 1000 // 39: enough points per centroid
    assert n_lists(30, GraphConfig()) == 1
    assert n_lists(100_000, GraphConfig(knn_lists=50)) == 50


def test_route_stores_once_and_queries_the_nearest_lists():
    centroids = np.eye(3, dtype=np.float32)
    out = list(route(("d", np.array([0.1, 0.9, 0.3], np.float32)), centroids, probes=2))
    assert out[0][0] == 1 and out[0][1][0] == "db"
    assert [(lst, role) for lst, (role, _, _) in out[1:]] == [(1, "q"), (2, "q")]


def test_search_list_finds_neighbours_but_not_itself():
    v = np.eye(3, dtype=np.float32)
    members = [("db", "a", v[0]), ("db", "b", v[0]), ("db", "c", v[1]), ("q", "a", v[0])]
    found = list(search_list((0, members), k=2))
    assert found[0] == ("a", (1.0, "b")) and all(other != "a" for _, (_, other) in found)


def test_undirected_edges_floor_and_order():
    assert list(undirected_edges(("b", [(0.9, "a"), (0.1, "c")]), 0.5)) == [(("a", "b"), 0.9)]


def test_a_single_list_is_exact_search():
    vectors = _clustered(60)
    pairs = [(f"d{i:03d}", v) for i, v in enumerate(vectors)]
    config = GraphConfig(k=5, min_similarity=0.3, knn="sharded", knn_lists=1)
    with TestPipeline() as p:
        graph = p | beam.Create(pairs) | BuildKnnGraph(config)
        exact = build_graph(pairs, config)
        assert_that(graph | beam.Map(lambda g: (g.ids, list(zip(g.src.tolist(), g.dst.tolist())),
                                                g.stats["index"])),
                    equal_to([(exact.ids, list(zip(exact.src.tolist(), exact.dst.tolist())),
                               "sharded_ivf")]))


def test_sharded_recall_against_exact():
    vectors = _clustered(3000, seed=1)
    pairs = [(f"d{i:05d}", v) for i, v in enumerate(vectors)]
    config = GraphConfig(k=10, min_similarity=-1.0, knn="sharded", knn_probes=8)
    exact = build_graph(pairs, config)
    with TestPipeline() as p:
        graph = p | beam.Create(pairs) | BuildKnnGraph(config)
        truth = set(zip(exact.src.tolist(), exact.dst.tolist()))

        def recall(g):
            found = set(zip(g.src.tolist(), g.dst.tolist()))
            return (g.stats["lists"], round(len(found & truth) / len(truth), 2) >= 0.95)

        assert_that(graph | beam.Map(recall), equal_to([(n_lists(3000, config), True)]))


def test_empty_input_gives_an_empty_graph():
    with TestPipeline() as p:
        graph = p | beam.Create([]) | BuildKnnGraph(GraphConfig(knn="sharded"))
        assert_that(graph | beam.Map(lambda g: (len(g.ids), len(g.src))), equal_to([(0, 0)]))
