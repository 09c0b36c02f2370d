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
