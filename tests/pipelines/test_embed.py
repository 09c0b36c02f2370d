import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from wenmai.pipelines.embed import EncodeSentences
from wenmai.pipelines.infer import to_example
from wenmai.types import Doc

from .fakes import FakeEncoderHandler


def test_to_example():
    assert to_example(Doc("a", "s", 0, "你好", tokens=("你好",))) == ("a", ("你好", ("你好",)))


def test_embeddings_keyed_by_doc_id_and_failures_reported():
    docs = [Doc(f"d{i}", "s", i, text, tokens=(text,)) for i, text in
            enumerate(["华为公司", "北京降温", "坏样本", "国足比赛"])]
    with TestPipeline() as p:
        out = p | beam.Create(docs) | EncodeSentences(FakeEncoderHandler(fail_on="坏"))
        ok = out["embeddings"] | "Norms" >> beam.MapTuple(
            lambda doc_id, v: (doc_id, round(float(np.linalg.norm(v)), 4)))
        failed = out["errors"] | "FailedIds" >> beam.Keys()
        # The fake batches 4 at a time, so the failing document takes its batch-mates with it:
        # every one of them is reported, none vanishes.
        assert_that((ok, failed) | beam.Flatten() | beam.Map(
            lambda x: x[0] if isinstance(x, tuple) else x), equal_to(["d0", "d1", "d2", "d3"]))
