"""Typed configuration: frozen dataclasses read once at the edge (the command line) and passed down.

Each stage and each model owns one small dataclass. The comment beside (or right above) a field
says why its default is what it is; `wenmai.cli.args` turns the fields into command-line flags
whose help is that comment, the default and, for `Literal` types, the choices. So a default, its
reason and its choices live in exactly one place. Nothing deeper in the package reads argv or
the environment.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional


# --------------------------------------------------------------------------------------------------
# Stage configs


@dataclass(frozen=True)
class ReadConfig:
    text_field: str = "text"  # JSON/Parquet field that holds the document text
    id_field: Optional[str] = None  # field with a given document id; None derives source:position
    max_chars: int = 20_000  # longer documents are truncated to this many characters (recorded)


@dataclass(frozen=True)
class SegmentConfig:
    max_keywords: int = 8  # keywords kept per cluster (class-based TF-IDF against the whole run)
    # a word in more than this share of the run's documents is no keyword (boilerplate such as a
    # broadcaster's name or a stock opener; the issue-14 news run had 央视网 in nearly all)
    keyword_max_df: float = 0.5


@dataclass(frozen=True)
class EmbedConfig:
    """How a document becomes one vector (`wenmai.pipelines.embed`; chosen on the tune-role
    topic files with `wenmai eval cluster`)."""

    # encoder vectors of the document's sentences (pieces of at most InferenceConfig.max_len
    # characters), averaged weighted by their length: the encoder never sees past max_len, so a
    # single vector of the whole text would read only its first 128 characters
    sentence_pooling: bool = True
    # char 1-2-gram TF-IDF -> truncated SVD dimensions appended to the encoder's vector, fitted on
    # this run's documents; 0 = encoder only. With sentence pooling it lifted k-means AMI on the
    # tune-role abstracts 0.23 -> 0.37 and app descriptions 0.19 -> 0.32 (wenmai eval cluster)
    lexical_dims: int = 128
    lexical_weight: float = 0.5  # share of cosine similarity the lexical part carries
    lexical_sample: int = 20_000  # documents the TF-IDF + SVD is fitted on (smallest id hashes)
    lexical_max_features: int = 50_000  # char n-grams kept (most frequent); bounds the side input


LengthBuckets = Literal["group", "beam", "off"]
KnnMode = Literal["auto", "single", "sharded"]
Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["fp32", "fp16", "bf16"]
Engine = Literal["infomap", "igraph"]
LENGTH_BUCKETS = typing.get_args(LengthBuckets)
KNN_MODES = typing.get_args(KnnMode)


@dataclass(frozen=True)
class InferenceConfig:
    """How examples are batched for the models."""

    max_len: int = 128  # characters fed to the encoder; sentence vectors saturate well before
    # group: GroupByKey on (length bucket, shard), each group cut into token-budget batches in
    #        its sorted order (batch-mates never depend on input order or bundles), one batch per
    #        RunInference element; works on every runner. beam: Beam 2.77's own stateful length
    #        buckets (batch_length_fn + batch_bucket_boundaries + max_batch_duration_secs); needs a runner
    #        with processing-time timers (Dataflow); the local FnApiRunner and DirectRunner fail
    #        on it. off: Beam's BatchElements, token-budget batches in arrival order.
    length_buckets: LengthBuckets = "group"
    bucket_boundaries: tuple[int, ...] = (16, 32, 64, 128, 256)  # characters; short lines dominate
    bucket_shards: int = 4  # keys per bucket: more spread work over workers, fewer pad less
    # A fixed token budget per batch (Beam's min = max): the same batches on every run, where an
    # adaptive, timing-driven size would vary with load. 4,096 measured best on CPU (`wenmai bench
    # encoder [--max-batch-tokens 16384]`: 2,579 vs 2,125 sentences/s, padding 0.90 vs 0.79);
    # raise it on a GPU.
    max_batch_tokens: int = 4_096
    max_batch_size: int = 256  # "beam" buckets only: elements per batch
    max_batch_duration_secs: float = 5.0  # "beam" buckets only: Beam buckets only with it set
    device: Device = "auto"  # auto: CUDA when present, else CPU
    # autocast for every model's inference (fp16 needs CUDA); halves memory traffic on a GPU.
    # Embeddings are stored as float32 whatever the precision.
    precision: Precision = "fp32"
    # int8 dynamic quantization of the encoder's Linear and GRU layers when it runs on a CPU
    # (torch quantize_dynamic; fp32 on CUDA): 1.9x its speed, LCQMC/STS-B/AFQMC within 0.004 of
    # fp32 (docs/benchmarks.md, `wenmai eval encoder --int8`). Its activations are scaled per
    # batch, so a vector moves a little with its batch-mates (batches are cut inside each length
    # group: not with the input's order, but with the corpus); False: vectors that depend on the
    # document alone
    encoder_int8: bool = True
    # intra-op threads of each worker process's models; 0 = torch's default (one per core). With
    # several worker processes (--direct_num_workers N --direct_running_mode multi_processing)
    # cores / N keeps them from oversubscribing the CPU
    torch_threads: int = 0


@dataclass(frozen=True)
class TitleConfig:
    """The titler step (`wenmai.pipelines.title`); its batches follow `InferenceConfig`."""

    titles: bool = True  # --no-titles: skip the step; documents.title stays null
    # a document this short is its own title (no model call): 32 characters is about the 90th
    # percentile of reference title lengths in the train-role title files (news 36, LCSTS 23,
    # CSL 26; `wenmai bench title-lengths`) and the longest title the titler writes
    title_min_chars: int = 32
    # a document up to this long (a question, a post) is titled by the whole clauses of its first
    # sentence that fit in --title-max-chars (at least 8 characters): 38 % of the Zhihu questions
    # are 33-64 characters, and of 40 read side by side the titler had garbled or misstated 13
    # (张文宏称「病毒比新冠病毒更狡猾」 for 「艾滋病病毒…」); their own clauses read better in 22,
    # as well in 17, worse in 1 (titler card); 0: the titler writes them
    title_lead_chars: int = 64
    # source characters the titler reads (wenmai eval titler --input-chars 256|160|128|96): CSL
    # test ROUGE-L 0.439 / 0.435 / 0.437 / 0.427, news held-out 0.485 / 0.497 / 0.495 / 0.493;
    # 160 costs 13-16 % less titler CPU than 256 with every figure within 0.005 or better; 128
    # (-20 %) made one campaign's title the output for 9 news stories (series_share 0.011). The
    # CSL protocol's cut, 256, is what `wenmai eval titler` scores by default
    title_input_chars: int = 160
    # 1 = greedy. 2 measured best per second (wenmai eval titler --beam-size 1|2|4, shipped titler,
    # one CPU thread): CSL test ROUGE-L 0.430 / 0.439 / 0.447 in 11 / 19 / 32 s; news held-out
    # 0.466 / 0.485 / 0.488 in 10 / 17 / 29 s: beam 2 keeps most of beam 4's gain at 60 % of its cost
    title_beam_size: int = 2
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
    # the DGCNN's convolutions in bfloat16 on a CPU with native bf16 (AMX / AVX512-BF16; fp32
    # elsewhere and on GPUs): 1.46x the extractor's speed on news, SKE dev F1 0.5803 -> 0.5804
    # (`wenmai eval extractor --conv-bf16`); the rest of the model stays fp32
    extract_conv_bf16: bool = True


@dataclass(frozen=True)
class GraphConfig:
    # neighbours per document in the kNN graph, chosen with `wenmai eval cluster` on the
    # tune-role csldcp/iflytek dev files: at 7 InfoMap's AMI beats k-means told the true k on
    # both (0.413 vs 0.367, 0.407 vs 0.323) with NMI at worst 0.015 below; 10 gains AMI (0.421,
    # 0.424) but puts iflytek's NMI 0.020 below; 5 loses AMI (0.386, 0.392)
    k: int = 7
    # cosine floor for an edge; below it documents are unrelated. 0.3-0.5 score alike on the
    # tune-role long texts; on 38k toutiao headlines (train role) 0.5 gave 1,661 clusters, 0.4
    # gave 924 at the same AMI (0.311, 0.313)
    min_similarity: float = 0.4
    # single: up to this many vectors IndexFlatIP (exact); beyond, HNSW (M 32): exact while it
    # is no slower. One thread, the 2-core machine under load (`wenmai bench knn --sizes 50000
    # 100000 200000 --sharded-max 0 --exact-max 200000 --queries 2000`): exact vs HNSW 73 vs 95 s
    # at 50k, 313 vs 110 s at 100k, 1,993 vs 146 s at 200k (N^2 against N log N), HNSW recall@7
    # 0.990 at each; at 1M HNSW took 238 s (recall 0.993), exact about 25x the 200k time
    exact_max: int = 50_000
    # single: every vector in one process (N x D x 4 bytes: 1M x 384 = 1.5 GB), searched by the
    # index exact_max picks. sharded: an IVF spread over workers, none holding all vectors
    # (wenmai.pipelines.knn). auto: single on a one-machine runner (FnApiRunner, DirectRunner,
    # Prism), whatever the size: there the sharded path holds every probe's copy of a vector in
    # the one process (10.7 GB peak at 100k vectors); on a distributed runner sharded once the
    # inputs pass sharded_above_bytes (the Beam graph is fixed before it sees data, so file sizes
    # decide: ~1 KB of text per news document)
    knn: KnnMode = "auto"
    # --knn auto on a distributed runner: input bytes above which it shards
    sharded_above_bytes: int = 2 * 1024 ** 3
    knn_lists: int = 0  # sharded: coarse lists; 0 = about sqrt(N)
    knn_probes: int = 16  # sharded: lists each document searches (recall vs time)
    knn_sample: int = 100_000  # sharded: vectors the coarse quantizer is trained on
    knn_seed: int = 42  # sharded: k-means seed


@dataclass(frozen=True)
class ClusterConfig:
    engine: Engine = "infomap"  # same result contract; docs/infomap.md compares them
    trials: int = 5  # InfoMap restarts; the best codelength is kept
    # InfoMap's Markov time: above 1 fewer, larger clusters. None: by the run's median document
    # length (`pipelines.cluster.markov_time_for`): 2 where it is at most 32 characters (headlines,
    # questions), else 0.9. Chosen with `wenmai eval cluster --markov-time`: on 10,000 toutiao
    # headlines (train role) 1 / 1.5 / 2 / 3 gave AMI 0.322 / 0.337 / 0.355 / 0.260 (k-means told
    # the true k 0.357) and 291 / 103 / 61 / 34 clusters for 15 labels. On the tune-role files,
    # NMI / AMI at 0.8 / 0.9 / 1: iflytek 0.634/0.398, 0.619/0.411, 0.599/0.407 (k-means
    # 0.627/0.346: at 1 NMI is 0.028 below it); csldcp 0.586/0.386, 0.581/0.409, 0.563/0.416
    # (k-means 0.526/0.374); 1.5 gave csldcp 28 clusters for 67 disciplines, 2 NMI 0.425. 0.9 keeps
    # both NMI and AMI at or near k-means on both. The igraph engine has no Markov time: 1 there
    markov_time: Optional[float] = None
    seed: int = 42  # InfoMap random seed: the same seed gives the same clusters


@dataclass(frozen=True)
class PipelineConfig:
    inputs: tuple[str, ...]
    output: str
    models_dir: Optional[str] = None  # None: the shipped weights
    read: ReadConfig = field(default_factory=ReadConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    title: TitleConfig = field(default_factory=TitleConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)


# --------------------------------------------------------------------------------------------------


class UsageError(Exception):
    """A problem with the command line or a config value: one line, exit code 2 in `wenmai.cli`."""


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
