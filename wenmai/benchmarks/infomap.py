"""`wenmai bench infomap`: both InfoMap engines (infomap, igraph) on the same kNN graph of real
embeddings: time, codelength, clusters and NMI against the labels, each from one run."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

from wenmai.benchmarks.data import add_data_dir_arg, data_dir
from wenmai.config import InferenceConfig
from wenmai.cli.args import ArgumentParser
from wenmai.models import DEFAULT_MODELS_DIR

DEFAULT_LABELLED = "topics/thucnews/dev.tsv"  # in --data-dir; report role, 10 classes


def bench_infomap(labelled: Path, models_dir: Path, limit: int, trials: int) -> dict:
    """Both InfoMap engines on the same kNN graph of real embeddings: time, codelength, quality."""
    from sklearn.metrics import normalized_mutual_info_score

    from wenmai.config import ClusterConfig, GraphConfig
    from wenmai.eval_cluster import embed, read_labelled
    from wenmai.pipelines.cluster import Assignment, cluster_graph
    from wenmai.pipelines.graph import build_graph

    labels, texts = read_labelled(labelled)
    labels, texts = labels[:limit], texts[:limit]
    vectors = embed(texts, models_dir, InferenceConfig())
    graph = build_graph([(f"{i:09d}", v) for i, v in enumerate(vectors)], GraphConfig())
    report = {"n": len(texts), "edges": int(len(graph.src)), "labelled": str(labelled), "engines": {}}
    for engine in ("infomap", "igraph"):
        start = time.perf_counter()
        out = list(cluster_graph(graph, ClusterConfig(engine=engine, trials=trials)))
        seconds = time.perf_counter() - start
        predicted = [0] * len(texts)
        for a in out:
            if isinstance(a, Assignment):
                predicted[int(a.doc_id)] = a.cluster_id
        stats = [o.value for o in out if not isinstance(o, Assignment)][0]
        report["engines"][engine] = {
            "seconds": seconds, "codelength": stats["codelength"], "clusters": stats["clusters"],
            "singletons": stats["singletons"], "nmi": normalized_mutual_info_score(labels, predicted)}
    return report


def main(argv: Optional[list[str]] = None) -> dict:
    parser = ArgumentParser(prog="wenmai bench infomap", description=bench_infomap.__doc__)
    add_data_dir_arg(parser)
    parser.add_argument("--labelled", type=Path, default=None,
                        help=f"label<TAB>text file (default: --data-dir's {DEFAULT_LABELLED})")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--limit", type=int, default=10_000)
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args(argv)
    args.labelled = args.labelled or data_dir(args.data_dir) / DEFAULT_LABELLED
    if not args.labelled.is_file():
        raise FileNotFoundError(f"--labelled {args.labelled}: no such file")
    report = bench_infomap(args.labelled, args.models, args.limit, args.trials)
    print(f"{report['n']} nodes, {report['edges']} edges")
    print(f"{'engine':<10}{'seconds':>10}{'codelength':>12}{'clusters':>10}{'nmi':>8}")
    for name, r in report["engines"].items():
        print(f"{name:<10}{r['seconds']:>10.2f}{r['codelength']:>12.4f}{r['clusters']:>10}"
              f"{r['nmi']:>8.3f}")
    print(json.dumps(report))
    return report



if __name__ == "__main__":
    main()
