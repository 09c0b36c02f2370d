import json

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline

from wenmai.pipelines.write import WriteTables
from wenmai.schemas import TABLES


def test_tables_round_trip_with_their_schemas_even_when_empty(tmp_path):
    edge = {"src": "a", "dst": "b", "similarity": 0.75}
    dead = {"source": "s", "position": 1, "stage": "clean", "reason": "empty", "raw": ""}
    with TestPipeline() as p:
        WriteTables(str(tmp_path)).expand({
            "edges": p | "Edges" >> beam.Create([edge]),
            "dead_letter": p | "Dead" >> beam.Create([dead]),
            "clusters": p | "Clusters" >> beam.Create([]),
            "stats": p | "Stats" >> beam.Create([("graph", {"edges": 1})]),
        })
    edges = pq.read_table(tmp_path / "edges")
    assert edges.schema.equals(TABLES["edges"], check_metadata=False)
    assert edges.to_pylist() == [edge]
    assert pq.read_table(tmp_path / "dead_letter").to_pylist() == [dead]
    clusters = pq.read_table(tmp_path / "clusters")
    assert clusters.num_rows == 0 and clusters.schema.names == TABLES["clusters"].names
    (stats,) = list((tmp_path / "_stats").glob("*.jsonl"))
    assert json.loads(stats.read_text()) == {"name": "graph", "value": {"edges": 1}}


def test_write_tables_returns_its_write_results_not_pdone(tmp_path):
    """Write results (file names per table) keep the pipeline an ordinary graph that runners
    serialise and rebuild before running (a PDone output stopped that)."""
    from apache_beam.testing.util import assert_that, equal_to

    with TestPipeline() as p:
        results = WriteTables(str(tmp_path)).expand({
            "edges": p | "Edges" >> beam.Create([{"src": "a", "dst": "b", "similarity": 0.5}]),
            "stats": p | "Stats" >> beam.Create([("graph", {"edges": 1})]),
        })
        assert set(results) == {"edges", "stats"}
        assert all(isinstance(r, beam.pvalue.PCollection) for r in results.values())
        names = results["edges"] | "Names" >> beam.Map(lambda path: path.rsplit("/", 2)[-2])
        assert_that(names, equal_to(["edges"]))
