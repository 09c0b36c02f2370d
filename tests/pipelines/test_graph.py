import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from wenmai.config import GraphConfig
from wenmai.pipelines.graph import BuildKnnGraph, build_graph, knn_edges


def _unit(rows):
    v = np.asarray(rows, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_knn_edges_worked_example():
    vectors = _unit([[1, 0], [1, 0], [0, 1]])
    src, dst, sim = knn_edges(vectors, GraphConfig(k=2, min_similarity=0.5))
    assert src.tolist() == [0] and dst.tolist() == [1] and sim.tolist() == pytest.approx([1.0])


def test_each_undirected_edge_once_and_floor_respected():
    rng = np.random.default_rng(0)
    vectors = _unit(rng.normal(size=(60, 8)))
    src, dst, sim = knn_edges(vectors, GraphConfig(k=5, min_similarity=0.2))
    pairs = list(zip(src.tolist(), dst.tolist()))
    assert len(pairs) == len(set(pairs)) and all(s < d for s, d in pairs)
    assert (sim >= 0.2 - 1e-6).all()
    exact = (vectors @ vectors.T)[src, dst]
    assert np.allclose(sim, exact, atol=1e-5)


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_inputs(n):
    graph = build_graph([(f"d{i}", np.ones(4, np.float32) / 2) for i in range(n)], GraphConfig())
    assert len(graph.ids) == n and len(graph.src) == 0


def test_build_graph_sorts_ids_and_emits_rows():
    pairs = [("b", _unit([[1, 0]])[0]), ("a", _unit([[1, 0.1]])[0]), ("c", _unit([[0, 1]])[0])]
    graph = build_graph(pairs, GraphConfig(k=2, min_similarity=0.5))
    assert graph.ids == ["a", "b", "c"]
    assert [(r["src"], r["dst"]) for r in graph.edge_rows()] == [("a", "b")]
    assert graph.stats["nodes"] == 3 and graph.stats["edges"] == 1


def test_hnsw_path_beyond_exact_max():
    rng = np.random.default_rng(1)
    vectors = _unit(rng.normal(size=(200, 16)))
    exact = knn_edges(vectors, GraphConfig(k=5, min_similarity=-1))
    approx = knn_edges(vectors, GraphConfig(k=5, min_similarity=-1, exact_max=10))
    found = set(zip(*[a.tolist() for a in approx[:2]]))
    truth = set(zip(*[a.tolist() for a in exact[:2]]))
    assert len(found & truth) / len(truth) > 0.9


def test_build_knn_graph_transform():
    with TestPipeline() as p:
        out = (p | beam.Create([("x", _unit([[1, 0]])[0]), ("y", _unit([[1, 0]])[0])])
               | BuildKnnGraph(GraphConfig(k=3)) | beam.FlatMap(lambda g: g.edge_rows())
               | beam.Map(lambda r: (r["src"], r["dst"], round(r["similarity"], 4))))
        assert_that(out, equal_to([("x", "y", 1.0)]))


def test_memory_need_is_stated():
    from wenmai.pipelines.graph import gather_bytes

    assert gather_bytes(1_000_000, 256, 10) == 2_180_000_000
    graph = build_graph([(f"d{i}", np.ones(4, np.float32) / 2) for i in range(3)], GraphConfig(k=2))
    assert graph.stats["memory_bytes"] == gather_bytes(3, 4, 2)


# --knn auto: runner x input size -> path ----------------------------------------------------------

TWO_GIB = GraphConfig().sharded_above_bytes


@pytest.mark.parametrize("runner", [None, "FnApiRunner", "DirectRunner", "PrismRunner",
                                    "apache_beam.runners.portability.fn_api_runner.FnApiRunner"])
@pytest.mark.parametrize("size", [0, TWO_GIB, TWO_GIB + 1, 10 ** 12])
def test_one_machine_never_shards(runner, size):
    from wenmai.pipelines.graph import choose_knn

    assert choose_knn(runner, size, GraphConfig()) == "single"


@pytest.mark.parametrize("runner", ["DataflowRunner", "FlinkRunner", "SparkRunner",
                                    "PortableRunner"])
@pytest.mark.parametrize("size,expected", [(0, "single"), (TWO_GIB, "single"),
                                           (TWO_GIB + 1, "sharded"), (10 ** 12, "sharded")])
def test_distributed_runners_shard_above_the_threshold(runner, size, expected):
    from wenmai.pipelines.graph import choose_knn

    assert choose_knn(runner, size, GraphConfig()) == expected


def test_runner_given_as_an_instance_and_explicit_modes_kept():
    from apache_beam.runners.direct.direct_runner import SwitchingDirectRunner

    from wenmai.pipelines.graph import choose_knn

    assert choose_knn(SwitchingDirectRunner(), 10 ** 12, GraphConfig()) == "single"
    assert choose_knn("FnApiRunner", 0, GraphConfig(knn="sharded")) == "sharded"
    assert choose_knn("DataflowRunner", 10 ** 12, GraphConfig(knn="single")) == "single"


def test_index_kind_switches_at_exact_max():
    from wenmai.pipelines.graph import index_kind

    config = GraphConfig(exact_max=100)
    assert [index_kind(n, config) for n in (0, 100, 101)] == ["flat_ip", "flat_ip", "hnsw"]
    graph = build_graph([(f"d{i}", _unit([[1, i]])[0]) for i in range(5)],
                        GraphConfig(k=2, exact_max=3))
    assert graph.stats["index"] == "hnsw"
