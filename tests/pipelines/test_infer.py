import zlib

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from wenmai.config import InferenceConfig
from wenmai.pipelines.infer import (GroupByLength, KeyedInference, bucket_key, failed_batch,
                                    shortest_first)

from .fakes import FakeEncoderHandler


def test_failed_batch_reports_every_key():
    out = list(failed_batch(([("a", ("x", ())), (("b", 3), ("y", ()))], ValueError("boom"))))
    assert out == [("a", "inference_error: ValueError: boom"),
                   (("b", 3), "inference_error: ValueError: boom")]
    beam_form = (ValueError, "ValueError('boom')", ["Traceback ...\n", "ValueError: boom\n"])
    assert list(failed_batch(([("a", ("x", ()))], beam_form))) == [
        ("a", "inference_error: ValueError: boom")]


def test_bucket_key_by_length_and_a_shard_of_the_text_not_the_key():
    assert bucket_key(("a", ("你好", ())), (16, 32), 4) == (0, zlib.crc32("你好".encode()) % 4)
    assert bucket_key(("a", ("字" * 20, ())), (16, 32), 4)[0] == 1
    assert bucket_key(("a", ("字" * 40, ())), (16, 32), 4)[0] == 2
    # keys embed the input's path: the same sentence read from another file shares its bucket
    texts = [f"第{i}句话" for i in range(50)]
    here = [bucket_key((("/data/a.jsonl:1", 7 * i), (t, ())), (16,), 8) for i, t in enumerate(texts)]
    there = [bucket_key((("/tmp/b.jsonl:1", 7 * i), (t, ())), (16,), 8) for i, t in enumerate(texts)]
    assert here == there and len({shard for _, shard in here}) > 1


def test_shortest_first_orders_by_length_then_text_then_key():
    group = ((0, 0), [("b", ("长一点的", ())), ("c", ("短", ())), ("a", ("短", ())), ("d", ("矮", ()))])
    # equal lengths go by text ("短" < "矮"), equal texts by key
    assert [k for k, _ in shortest_first(group)] == ["a", "c", "d", "b"]


def test_group_by_length_keeps_every_example():
    examples = [(f"d{i}", ("字" * n, ())) for i, n in enumerate([3, 40, 17, 3, 90])]
    with TestPipeline() as p:
        out = p | beam.Create(examples) | GroupByLength((16, 32, 64), 2)
        assert_that(out, equal_to(examples))


def test_keyed_inference_results_and_errors_cover_every_key():
    examples = [(("d", i), (text, ())) for i, text in enumerate(["华为", "坏", "北京", "上海", "广州"])]
    with TestPipeline() as p:
        out = (p | beam.Create(examples)
               | KeyedInference(FakeEncoderHandler(fail_on="坏"), InferenceConfig()))
        keys = ((out["results"] | "ResultKeys" >> beam.Keys()),
                (out["errors"] | "ErrorKeys" >> beam.Keys())) | beam.Flatten()
        assert_that(keys, equal_to([k for k, _ in examples]))
