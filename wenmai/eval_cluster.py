"""`wenmai eval cluster --labelled FILE.tsv`: how well the pipeline's clusters match topic labels.

Runs the pipeline's own code on every row (clean -> segment -> document vectors as
`wenmai.pipelines.embed` makes them -> FAISS kNN graph -> InfoMap; the same functions the Beam
stages call, without the runner around them) and scores the clusters against the labels with
NMI, AMI (adjusted for chance: many small clusters earn NMI but not AMI), ARI and V-measure. As a
baseline on the same vectors it runs k-means told the true number of topics. Prints one JSON
object last: {"nmi", "ami", "ari", "v_measure", "n_clusters", "n",
"baseline": {"name": "kmeans_true_k", "k", "nmi", "ami", "ari", "v_measure"}}
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from wenmai.config import ClusterConfig, EmbedConfig, GraphConfig, InferenceConfig
from wenmai.cli.args import ArgumentParser, add_dataclass_args, dataclass_from_args
from wenmai.models import DEFAULT_MODELS_DIR


def read_labelled(path) -> tuple[list[str], list[str]]:
    """label<TAB>text rows; every line is a row (a line without a tab is an error naming it)."""
    labels, texts = [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n").rstrip("\r")
            if "\t" not in line:
                raise ValueError(f"{path}:{number}: expected label<TAB>text")
            label, text = line.split("\t", 1)
            labels.append(label)
            texts.append(text)
    return labels, texts


def embed(texts: list[str], models_dir: Path, config: InferenceConfig,
          embed_config: EmbedConfig = EmbedConfig()) -> np.ndarray:
    """Document vectors as `wenmai.pipelines.embed.EncodeSentences` makes them (sentence pieces
    through the encoder handler in length-sorted batches, length-weighted mean, TF-IDF + SVD
    part fitted on the same deterministic sample), without the runner around them."""
    from wenmai.models.handlers import EncoderHandler
    from wenmai.pipelines.embed import document_pieces, fit_on_sample, mix, pool_pieces, sample_key
    from wenmai.text import load_jieba, normalize_text, segment

    jieba = load_jieba()
    handler = EncoderHandler(models_dir / "encoder", config)
    model = handler.load_model()
    cleaned = [normalize_text(t) for t in texts]
    pieces = []  # (row, offset, n_chars, (piece, words))
    for row, text in enumerate(cleaned):
        words = segment(jieba, text)
        if not embed_config.sentence_pooling:
            pieces.append((row, 0, 1, (text, words)))
            continue
        for offset, piece, piece_words in document_pieces(text, words, config.max_len):
            pieces.append((row, offset, len(piece), (piece, piece_words)))
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i][3][0]))
    encoded = [None] * len(pieces)
    for start in range(0, len(order), config.max_batch_size):
        idx = order[start:start + config.max_batch_size]
        results = handler.run_inference([pieces[i][3] for i in idx], model)
        for i, result in zip(idx, results):
            encoded[i] = result.inference
    per_row: list[list] = [[] for _ in texts]
    for (row, offset, n, _), vector in zip(pieces, encoded):
        per_row[row].append((offset, n, vector))
    dim = model.module.dim
    vectors = np.stack([pool_pieces(p) if p else np.zeros(dim, np.float32) for p in per_row])
    if embed_config.lexical_dims <= 0:
        return vectors.astype(np.float32)
    sample = sorted(sample_key(t) for t in cleaned)[:embed_config.lexical_sample]
    lexical = fit_on_sample(sample, embed_config)
    z = lexical.transform(cleaned) if lexical is not None else np.zeros(
        (len(texts), embed_config.lexical_dims), np.float32)
    return mix(vectors, z, embed_config.lexical_weight).astype(np.float32)


def cluster(vectors: np.ndarray, graph_config: GraphConfig, cluster_config: ClusterConfig,
            median_chars: Optional[float] = None) -> np.ndarray:
    """Cluster id per row, from the pipeline's kNN graph and InfoMap functions (`median_chars`:
    the documents' median length, which picks the Markov time as the pipeline does)."""
    from wenmai.pipelines.cluster import Assignment, cluster_graph
    from wenmai.pipelines.graph import build_graph

    ids = [f"{i:09d}" for i in range(len(vectors))]  # zero-padded: sorted order == row order
    graph = build_graph(list(zip(ids, vectors)), graph_config)
    out = np.zeros(len(vectors), dtype=np.int64)
    for item in cluster_graph(graph, cluster_config, median_chars):
        if isinstance(item, Assignment):
            out[int(item.doc_id)] = item.cluster_id
    return out


def scores(labels: list[str], predicted: np.ndarray) -> dict:
    from sklearn import metrics

    return {
        "nmi": float(metrics.normalized_mutual_info_score(labels, predicted)),
        "ami": float(metrics.adjusted_mutual_info_score(labels, predicted)),
        "ari": float(metrics.adjusted_rand_score(labels, predicted)),
        "v_measure": float(metrics.v_measure_score(labels, predicted)),
    }


def evaluate_cluster(labelled, models_dir=None, graph_config: GraphConfig = GraphConfig(),
                     cluster_config: ClusterConfig = ClusterConfig(),
                     inference_config: InferenceConfig = InferenceConfig(),
                     embed_config: EmbedConfig = EmbedConfig()) -> dict:
    from sklearn.cluster import KMeans

    from wenmai.pipelines.cluster import markov_time_for

    labels, texts = read_labelled(labelled)
    if not texts:
        raise ValueError(f"{labelled}: no rows")
    vectors = embed(texts, Path(models_dir or DEFAULT_MODELS_DIR), inference_config, embed_config)
    median = float(np.median([len(t) for t in texts]))
    predicted = cluster(vectors, graph_config, cluster_config, median)
    k = len(set(labels))
    kmeans = KMeans(n_clusters=min(k, len(texts)), n_init=10, random_state=cluster_config.seed)
    baseline = {"name": "kmeans_true_k", "k": k, **scores(labels, kmeans.fit_predict(vectors))}
    return {**scores(labels, predicted), "n_clusters": int(len(set(predicted.tolist()))),
            "n": len(texts), "markov_time": markov_time_for(cluster_config, median),
            "baseline": baseline}


def main(argv: Optional[list[str]] = None) -> dict:
    parser = ArgumentParser(prog="wenmai eval cluster", description=__doc__.split("\n")[0])
    parser.add_argument("--labelled", required=True, help="label<TAB>text file")
    parser.add_argument("--models", default=None, help="model directory with encoder/")
    add_dataclass_args(parser, GraphConfig)
    add_dataclass_args(parser, ClusterConfig)
    add_dataclass_args(parser, EmbedConfig)
    add_dataclass_args(parser, InferenceConfig)  # as `wenmai run` embeds (--no-encoder-int8, ...)
    args = parser.parse_args(argv)
    if not Path(args.labelled).is_file():
        raise FileNotFoundError(f"--labelled {args.labelled}: no such file")
    result = evaluate_cluster(args.labelled, args.models, dataclass_from_args(GraphConfig, args),
                              dataclass_from_args(ClusterConfig, args),
                              inference_config=dataclass_from_args(InferenceConfig, args),
                              embed_config=dataclass_from_args(EmbedConfig, args))
    print(json.dumps(result))
    sys.stdout.flush()
    return result


if __name__ == "__main__":
    main()
