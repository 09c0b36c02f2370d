"""Typed configuration: frozen dataclasses read once at the edge (the command line) and passed down.

Each stage and each model owns one small dataclass; `add_dataclass_args` turns its fields into
command-line flags and `dataclass_from_args` reads them back, so a default and its reason live in
exactly one place. Nothing deeper in the package reads argv or the environment.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional


# --------------------------------------------------------------------------------------------------
# Stage configs


@dataclass(frozen=True)
class ReadConfig:
    text_field: str = "text"  # JSON/Parquet field that holds the document text
    id_field: Optional[str] = None  # field with a given document id; None derives source:position
    max_chars: int = 20_000  # longer documents are truncated to this many characters (recorded)


@dataclass(frozen=True)
class SegmentConfig:
    max_keywords: int = 8  # keywords kept per cluster (jieba TF-IDF)


LENGTH_BUCKETS = ("group", "beam", "off")
KNN_MODES = ("auto", "single", "sharded")


@dataclass(frozen=True)
class InferenceConfig:
    """How examples are batched for the models (all batching itself is Beam's BatchElements)."""

    max_len: int = 128  # characters fed to the encoder; sentence vectors saturate well before
    # group: GroupByKey on (length bucket, shard) before RunInference, then token-budget batches;
    #        works on every runner. beam: Beam 2.77's own stateful length buckets
    #        (batch_length_fn + batch_bucket_boundaries + max_batch_duration_secs); needs a runner
    #        with processing-time timers (Dataflow); the local FnApiRunner and DirectRunner fail
    #        on it. off: token-budget batches in arrival order.
    length_buckets: str = "group"
    bucket_boundaries: tuple[int, ...] = (16, 32, 64, 128, 256)  # characters; short lines dominate
    bucket_shards: int = 4  # keys per bucket: more spread work over workers, fewer pad less
    # A fixed token budget per batch (Beam's min = max): the same batches on every run, where an
    # adaptive, timing-driven size would vary with load. 4,096 measured best on CPU (`wenmai bench
    # encoder [--max-batch-tokens 16384]`: 2,579 vs 2,125 sentences/s, padding 0.90 vs 0.79);
    # raise it on a GPU.
    max_batch_tokens: int = 4_096
    max_batch_size: int = 256  # "beam" buckets only: elements per batch
    max_batch_duration_secs: float = 5.0  # "beam" buckets only: Beam buckets only with it set
    device: str = "auto"  # auto (CUDA when present) | cpu | cuda
    # fp32 | fp16 (CUDA) | bf16: autocast for every model's inference; halves memory traffic on
    # a GPU. Embeddings are stored as float32 whatever the precision.
    precision: str = "fp32"


@dataclass(frozen=True)
class TitleConfig:
    """The titler step (`wenmai.pipelines.title`); its batches follow `InferenceConfig`."""

    titles: bool = True  # --no-titles: skip the step; documents.title stays null
    title_input_chars: int = 256  # source characters the titler reads (the CSL protocol's cut)
    title_beam_size: int = 4  # 1 = greedy
    title_max_chars: int = 32  # longest title generated
    title_batch_tokens: int = 8_192  # source tokens per batch (fixed: same batches every run)


@dataclass(frozen=True)
class ExtractConfig:
    """The triple extractor step (`wenmai.pipelines.extract`)."""

    triples: bool = True  # --no-triples: skip the step; the triples table is written empty
    sentence_chars: int = 256  # documents are split into sentences of at most this many characters
    # pointer probability a span must reach; None: the one stored with the model (chosen on its
    # held-out slice at training time)
    triple_threshold: Optional[float] = None
    extract_batch_tokens: int = 8_192  # sentence tokens per batch


@dataclass(frozen=True)
class GraphConfig:
    k: int = 10  # neighbours per document in the kNN graph
    min_similarity: float = 0.5  # cosine floor for an edge; below it documents are unrelated
    exact_max: int = 1_000_000  # single: up to this many vectors IndexFlatIP (exact); beyond, HNSW
    # single: every vector on one worker (N x D x 4 bytes: 1M x 256 = 1 GB). sharded: an IVF
    # spread over workers, none holding all vectors (wenmai.pipelines.knn). auto: sharded when
    # the inputs total more than sharded_above_bytes (a Beam graph is fixed before it sees data,
    # so the choice is made from file sizes: ~1 KB of text per news document).
    knn: str = "auto"
    sharded_above_bytes: int = 2 * 1024 ** 3
    knn_lists: int = 0  # sharded: coarse lists; 0 = about sqrt(N)
    knn_probes: int = 16  # sharded: lists each document searches (recall vs time)
    knn_sample: int = 100_000  # sharded: vectors the coarse quantizer is trained on
    knn_seed: int = 42  # sharded: k-means seed


@dataclass(frozen=True)
class ClusterConfig:
    engine: str = "infomap"  # infomap | igraph (same contract; see docs/infomap.md for figures)
    trials: int = 5  # InfoMap restarts; the best codelength is kept
    seed: int = 42


@dataclass(frozen=True)
class PipelineConfig:
    inputs: tuple[str, ...]
    output: str
    models_dir: Optional[str] = None  # None: the shipped weights
    read: ReadConfig = field(default_factory=ReadConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    title: TitleConfig = field(default_factory=TitleConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)


# --------------------------------------------------------------------------------------------------
# dataclass <-> argparse


class UsageError(Exception):
    """A problem with the command line: printed as one line, exit code 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad flag as a UsageError (one line, exit 2 in `wenmai.cli`)
    instead of printing the whole usage block."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _scalar_type(tp: Any) -> Any:
    """Unwrap Optional[X] to X."""
    if typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0]
    return tp


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type, prefix: str = "") -> None:
    """Adds one flag per scalar field of `cls` (nested dataclasses are skipped).

    Example: `GraphConfig.min_similarity` becomes `--min-similarity` (or `--graph-min-similarity`
    with prefix "graph_").
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = _scalar_type(hints[f.name])
        if dataclasses.is_dataclass(tp):
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        name = _flag(prefix + f.name)
        if tp is bool:
            parser.add_argument(name, action=argparse.BooleanOptionalAction, default=default)
        elif typing.get_origin(tp) is tuple:
            item = typing.get_args(tp)[0]
            parser.add_argument(name, nargs="+", type=item, default=default)
        else:
            parser.add_argument(name, type=tp, default=default)


def dataclass_from_args(cls: type, args: argparse.Namespace, prefix: str = "", **overrides: Any):
    """Builds `cls` from the flags `add_dataclass_args` added; `overrides` win."""
    values = {}
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        if f.name in overrides:
            values[f.name] = overrides[f.name]
        elif hasattr(args, key):
            value = getattr(args, key)
            values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def to_dict(config: Any) -> dict:
    """JSON-ready dict of a (nested) config dataclass, for the run manifest."""
    def convert(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value

    return convert(dataclasses.asdict(config))
