"""CarryTopics: edges inside a previous topic weigh more, across topics less, new ones as they were."""
import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from wenmai.pipelines.carry import CarryTopics, carry_partition
from wenmai.pipelines.graph import Graph
from wenmai.pipelines.previous import PreviousDoc, text_hash
from wenmai.types import Doc


def graph():
    # a-b, b-c, c-d; ids sorted like BuildKnnGraph's
    return Graph(["a", "b", "c", "d"], np.array([0, 1, 2]), np.array([1, 2, 3]),
                 np.array([0.5, 0.5, 0.5], dtype=np.float32), {"edges": 3})


def test_carry_partition_reweights_only_edges_between_documents_seen_again():
    carried = carry_partition(graph(), {"a": 1, "b": 1, "c": 2}, boost=2.0, damp=0.5)
    assert carried.similarity.tolist() == pytest.approx([1.5, 0.25, 0.5])  # c-d: d is new
    assert carried.stats == {"edges": 3, "carried_edges_boosted": 1, "carried_edges_damped": 1}
    assert graph().similarity.tolist() == [0.5, 0.5, 0.5]  # the input graph is left as it was


def test_carry_topics_joins_on_doc_id_and_same_text():
    docs = [Doc("a", "s", 1, "北京降温"), Doc("b", "s", 2, "北京下雪"), Doc("c", "s", 3, "上海下雨")]
    before = [(d, PreviousDoc(d, text_hash(t), topic, "2026-06-01", np.zeros(2, np.float32)))
              for d, t, topic in (("a", "北京降温", 7), ("b", "北京下雪", 7),
                                  ("c", "上海下雨了", 7))]  # c's text changed: not seen again
    with TestPipeline() as p:
        out = ({"graph": p | "Graph" >> beam.Create([graph()]), "docs": p | "Docs" >> beam.Create(docs),
                "previous_documents": p | "Prev" >> beam.Create(before)}
               | CarryTopics(boost=2.0, damp=0.5))
        assert_that(out | beam.Map(lambda g: [round(float(w), 3) for w in g.similarity]),
                    equal_to([[1.5, 0.5, 0.5]]))
