"""Everything a runner ships to workers pickles with Beam's own pickler (Dataflow, Flink, Spark
and multi-process local runs all do this); `tests/wenmai/test_job.py` also runs the whole job
under --direct_running_mode=multi_processing."""
from apache_beam.internal import pickler

from wenmai.config import (ClusterConfig, EmbedConfig, GraphConfig, InferenceConfig, ReadConfig,
                           SegmentConfig)
from wenmai.pipelines.clean import CleanFn, CleanText
from wenmai.pipelines.cluster import ClusterInfomap
from wenmai.pipelines.embed import EncodeSentences, LexicalVectors
from wenmai.pipelines.extract import Extract
from wenmai.pipelines.graph import BuildKnnGraph
from wenmai.pipelines.infer import FailureStats, GroupByLength, KeyedInference, PreBatched
from wenmai.pipelines.knn import ShardedKnn
from wenmai.pipelines.read import ReadCorpus
from wenmai.pipelines.segment import Segment, SegmentFn
from wenmai.pipelines.summarize import Keywords, Summarize
from wenmai.pipelines.title import Title
from wenmai.pipelines.write import WriteTables

from .fakes import FakeEncoderHandler


def _handlers(models_dir):
    from wenmai.models.handlers import EncoderHandler, ExtractorHandler, KeyedHandler, TitlerHandler

    encoder = EncoderHandler(models_dir / "encoder", InferenceConfig())
    return [encoder, KeyedHandler(encoder), PreBatched(KeyedHandler(encoder)),
            TitlerHandler(models_dir / "titler"),
            ExtractorHandler(models_dir / "extractor")]


def _steps(tmp_path):
    fake = FakeEncoderHandler()
    return [ReadCorpus([str(tmp_path / "x.txt")], ReadConfig()), CleanText(ReadConfig()), CleanFn(ReadConfig()),
            Segment(), SegmentFn(), EncodeSentences(fake), KeyedInference(fake),
            GroupByLength((16, 32), 4, fake), FailureStats(), Title(fake), Extract(fake, 256),
            BuildKnnGraph(GraphConfig()), ShardedKnn(GraphConfig(knn="sharded")),
            ClusterInfomap(ClusterConfig()), Summarize(SegmentConfig()),
            Keywords(SegmentConfig()), LexicalVectors(EmbedConfig()), WriteTables(str(tmp_path))]


def test_every_step_pickles(tmp_path):
    for step in _steps(tmp_path):
        clone = pickler.loads(pickler.dumps(step))
        assert type(clone) is type(step)


def test_every_handler_pickles_and_loads_its_model_after(models_dir):
    for handler in _handlers(models_dir):
        clone = pickler.loads(pickler.dumps(handler))
        assert type(clone) is type(handler)
        assert clone.load_model() is not None  # the clone still finds its weights
