"""`wenmai bench clusterers`: the pipeline's InfoMap against other clusterers on the same document
vectors -> docs/clusterers.md (+ .json).

Rows per labelled file: InfoMap on the pipeline's kNN graph (`GraphConfig`, `ClusterConfig`
defaults), k-means told the true number of labels, scikit-learn's HDBSCAN
(min_cluster_size 10) and BERTopic's default clusterer (UMAP to 5 dimensions, cosine, 15
neighbours, min_dist 0, then HDBSCAN min_cluster_size 10; umap-learn is the `bench` extra).
HDBSCAN's outliers (-1) count as one cluster in NMI/AMI/ARI; their share is its own column and
the cluster count leaves them out. Seconds are the clusterer's alone (the vectors are made once
per file; that time is listed beside the file). For InfoMap the table also gives the share of
clusters (2+ documents) whose top keyword (`wenmai.pipelines.summarize.cluster_keywords`) is
specific: in at least 3x the share of the cluster's documents as of the run's.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from wenmai.benchmarks.data import add_data_dir_arg, data_dir
from wenmai.cli.args import ArgumentParser
from wenmai.config import ClusterConfig, EmbedConfig, GraphConfig, InferenceConfig, SegmentConfig
from wenmai.models import DEFAULT_MODELS_DIR

# (file in --data-dir, role): the tune-role files chose the settings; THUCNews is only quoted
DATASETS = (("topics/csldcp/dev.tsv", "tune"), ("topics/iflytek/dev.tsv", "tune"),
            ("topics/thucnews/dev.tsv", "report"))
CLUSTERERS = ("infomap", "kmeans_true_k", "hdbscan", "umap_hdbscan")
SPECIFIC = 3.0  # a top keyword is specific at this many times its share of the run's documents


@dataclass(frozen=True)
class ClusterersConfig:
    min_cluster_size: int = 10  # HDBSCAN's, as BERTopic's default
    umap_dims: int = 5  # BERTopic's default UMAP: 5 dimensions, cosine, 15 neighbours
    umap_neighbors: int = 15
    seed: int = 42  # k-means and UMAP


def scores(labels, predicted) -> dict:
    """NMI, AMI, ARI; the label -1 (HDBSCAN's outliers) is one cluster like any other.

    Example: scores(["a", "a", "b"], [0, 0, -1])["ami"] == 1.0
    """
    from sklearn import metrics

    return {"nmi": float(metrics.normalized_mutual_info_score(labels, predicted)),
            "ami": float(metrics.adjusted_mutual_info_score(labels, predicted)),
            "ari": float(metrics.adjusted_rand_score(labels, predicted))}


def run_clusterer(name: str, vectors: np.ndarray, k: int, config: ClusterersConfig,
                  median_chars: Optional[float] = None) -> np.ndarray:
    """Cluster id per row (-1: an HDBSCAN outlier); InfoMap at the Markov time the pipeline
    would take for documents of `median_chars` median length."""
    if name == "infomap":
        from wenmai.eval_cluster import cluster

        return cluster(vectors, GraphConfig(), ClusterConfig(), median_chars)
    if name == "kmeans_true_k":
        from sklearn.cluster import KMeans

        return KMeans(n_clusters=min(k, len(vectors)), n_init=10,
                      random_state=config.seed).fit_predict(vectors)
    from sklearn.cluster import HDBSCAN

    if name == "umap_hdbscan":
        import umap

        vectors = umap.UMAP(n_neighbors=config.umap_neighbors, n_components=config.umap_dims,
                            min_dist=0.0, metric="cosine",
                            random_state=config.seed).fit_transform(vectors)
    # unit vectors: Euclidean distance orders neighbours as cosine does
    return HDBSCAN(min_cluster_size=config.min_cluster_size, copy=True).fit_predict(vectors)


def specific_share(predicted: np.ndarray, tokens: list, min_size: int = 2) -> tuple[float, int]:
    """(share of clusters with >= min_size documents whose top keyword is specific, clusters).

    Example: two clusters of two documents, top keywords found only in their own cluster -> (1.0, 2)
    """
    from wenmai.pipelines.summarize import cluster_keywords, keyword_tokens

    config = SegmentConfig()
    predicted = [int(c) for c in predicted]
    top = cluster_keywords(predicted, tokens, 1, config.keyword_max_df)
    doc_words = [set(keyword_tokens(t)) for t in tokens]
    sizes: dict[int, int] = {}
    for c in predicted:
        sizes[c] = sizes.get(c, 0) + 1
    n, judged, specific = len(predicted), 0, 0
    for c, words in top.items():
        if sizes[c] < min_size:
            continue
        judged += 1
        if not words:
            continue
        w = words[0]
        in_cluster = sum(w in doc_words[i] for i in range(n) if predicted[i] == c) / sizes[c]
        in_run = sum(w in d for d in doc_words) / n
        specific += in_cluster >= SPECIFIC * in_run
    return (specific / judged if judged else 0.0), judged


def bench_file(path: Path, models_dir: Path, config: ClusterersConfig) -> dict:
    from wenmai.eval_cluster import embed, read_labelled
    from wenmai.text import load_jieba, normalize_text, segment

    labels, texts = read_labelled(path)
    start = time.perf_counter()
    vectors = embed(texts, models_dir, InferenceConfig(), EmbedConfig())
    out = {"n": len(texts), "labels": len(set(labels)), "dims": int(vectors.shape[1]),
           "embed_seconds": time.perf_counter() - start, "rows": {}}
    for name in CLUSTERERS:
        start = time.perf_counter()
        predicted = np.asarray(run_clusterer(name, vectors, len(set(labels)), config,
                                             float(np.median([len(t) for t in texts]))))
        seconds = time.perf_counter() - start
        clusters = set(predicted.tolist()) - {-1}
        out["rows"][name] = {**scores(labels, predicted), "clusters": len(clusters),
                             "outlier_share": float(np.mean(predicted == -1)), "seconds": seconds}
        if name == "infomap":
            jieba = load_jieba()
            tokens = [segment(jieba, normalize_text(t)) for t in texts]
            share, judged = specific_share(predicted, tokens)
            out["rows"][name].update(specific_top_keyword=share, clusters_judged=judged)
    return out


def _markov(value) -> str:
    return ("by median document length: 2 up to 32 characters, else 0.9" if value is None
            else str(value))


def render(report: dict) -> str:
    lines = ["# Clusterers on our document vectors", "",
             "Written by `" + report["command"] + "`. Vectors: the pipeline's document vectors "
             "(length-weighted mean of sentence-piece encoder vectors + char TF-IDF/SVD, "
             "`wenmai.pipelines.embed`), the same for every clusterer. InfoMap: the pipeline's kNN "
             f"graph (k {report['graph']['k']}, floor {report['graph']['min_similarity']}) and "
             f"InfoMap (markov time {_markov(report['cluster'].get('markov_time'))}, "
             f"{report['cluster']['trials']} trials). k-means is told the true number of labels. "
             "HDBSCAN: scikit-learn's, min_cluster_size 10, on the vectors; UMAP+HDBSCAN: "
             "BERTopic's default clusterer (UMAP 5 dims, cosine, 15 neighbours, min_dist 0). "
             "HDBSCAN's outliers (-1) count as one cluster in NMI/AMI/ARI; `clusters` leaves them "
             "out. Seconds: the clusterer alone, one thread, on the CPU this ran on (shared with "
             "other jobs: compare rows, not machines); UMAP's first call includes numba's "
             "compilation.", ""]
    for name, r in report["files"].items():
        lines += [f"## {name} ({r['role']} role): {r['n']:,} texts, {r['labels']} labels", "",
                  f"Vectors: {r['dims']} dims in {r['embed_seconds']:.0f} s.", "",
                  "| clusterer | NMI | AMI | ARI | clusters | outlier share | seconds |",
                  "|---|---|---|---|---|---|---|"]
        for c, row in r["rows"].items():
            lines.append(f"| {c} | {row['nmi']:.3f} | {row['ami']:.3f} | {row['ari']:.3f} | "
                         f"{row['clusters']} | {row['outlier_share']:.3f} | {row['seconds']:.1f} |")
        im, km = r["rows"]["infomap"], r["rows"]["kmeans_true_k"]
        lines += ["", f"InfoMap vs k-means told the true k: AMI {im['ami']:.3f} vs {km['ami']:.3f} "
                  f"({'at least' if im['ami'] >= km['ami'] else 'below'}), NMI {im['nmi']:.3f} vs "
                  f"{km['nmi']:.3f} ({'within 0.02 or above' if im['nmi'] >= km['nmi'] - 0.02 else 'more than 0.02 below'}). "
                  f"Top keyword specific (>= {SPECIFIC:g}x its share of the run's documents) in "
                  f"{im['specific_top_keyword']:.1%} of InfoMap's {im['clusters_judged']} clusters "
                  "of 2+ documents.", ""]
    return "\n".join(lines)


def bench_clusterers(root: Path, models_dir: Path, config: ClusterersConfig, out: Path,
                     command: str, files: Optional[list[str]] = None) -> dict:
    report = {"command": command, "config": asdict(config), "graph": asdict(GraphConfig()),
              "cluster": asdict(ClusterConfig()), "embed": asdict(EmbedConfig()), "files": {}}
    roles = dict(DATASETS)
    for name in files or [f for f, _ in DATASETS]:
        report["files"][name] = {"role": roles.get(name, "?"),
                                 **bench_file(root / name, models_dir, config)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(report) + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def main(argv: Optional[list[str]] = None) -> dict:
    import sys

    parser = ArgumentParser(prog="wenmai bench clusterers", description=__doc__.split("\n")[0])
    add_data_dir_arg(parser)
    parser.add_argument("--files", nargs="+", default=None,
                        help="labelled files in --data-dir (default: csldcp, iflytek, THUCNews dev)")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--out", type=Path, default=Path("docs/clusterers.md"))
    args = parser.parse_args(argv)
    command = "wenmai bench clusterers " + " ".join(sys.argv[3:] if argv is None else argv)
    report = bench_clusterers(data_dir(args.data_dir), args.models, ClusterersConfig(),
                              args.out, command.strip(), args.files)
    print(json.dumps({name: {c: {k: round(v, 4) if isinstance(v, float) else v
                                 for k, v in row.items()} for c, row in r["rows"].items()}
                      for name, r in report["files"].items()}))
    return report


if __name__ == "__main__":
    main()
