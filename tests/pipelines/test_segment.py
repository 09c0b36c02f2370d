import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from wenmai.pipelines.segment import Segment, load_jieba, segment
from wenmai.types import Doc


@pytest.fixture(scope="module")
def jieba():
    return load_jieba()


@pytest.mark.parametrize("text", ["华为公司总部位于深圳", "AI芯片 出货量 123 万片", "emoji😀混合 text",
                                  "好", "《三体》的作者是刘慈欣。"])
def test_tokens_join_back_to_the_text(jieba, text):
    tokens = segment(jieba, text)
    assert "".join(tokens) == text and all(tokens)


def test_segment_words(jieba):
    assert segment(jieba, "华为公司总部位于深圳") == ("华为公司", "总部", "位于", "深圳")


def test_segment_transform():
    with TestPipeline() as p:
        out = (p | beam.Create([Doc("a", "s", 0, "今天天气很好")]) | Segment()
               | beam.Map(lambda d: "".join(d.tokens)))
        assert_that(out, equal_to(["今天天气很好"]))
