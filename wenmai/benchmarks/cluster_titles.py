"""`wenmai bench cluster-titles --run OUT`: which cluster title reads better, measured on a run.

For every cluster of at least `--min-size` documents in a finished `wenmai run` output it
compares two titles from the same titler:
- representative: the title of the cluster's representative document (what the pipeline writes);
- central: a title generated from the cluster's `--central` documents nearest its mean
  embedding, joined as one source text.
Two proxies for "reads better as a name for the cluster", both from the run's own tables:
- keyword hits: the share of the cluster's top-5 keywords that occur in the title;
- coverage: mean character ROUGE-1 recall of the title against each member's text (how much of
  what the cluster's documents say the title shares).
It prints both means and a few clusters side by side, for a person to read as well.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Optional

import numpy as np

from wenmai.cli.args import ArgumentParser
from wenmai.models import DEFAULT_MODELS_DIR


def keyword_hits(title: str, keywords: list[str]) -> float:
    """Example: keyword_hits("华为发布新手机", ["华为", "手机", "芯片"]) == 2 / 3"""
    top = keywords[:5]
    return sum(k in title for k in top) / len(top) if top else 0.0


def char_recall(title: str, text: str) -> float:
    """Share of the title's characters (with multiplicity) found in the text.

    Example: char_recall("北京降温", "北京今天降温了") == 1.0
    """
    if not title:
        return 0.0
    have = Counter(text)
    return sum(min(n, have[c]) for c, n in Counter(title).items()) / len(title)


def central_source(members: list[dict], n: int) -> str:
    """The `n` members nearest the cluster's mean embedding, joined into one source text."""
    vectors = np.array([m["embedding"] for m in members], dtype=np.float32)
    closeness = vectors @ vectors.mean(axis=0)
    order = np.argsort(-closeness, kind="stable")[:n]
    return "。".join(members[i]["text"].rstrip("。") for i in order)


def compare(run: Path, models_dir: Path, min_size: int, central: int, beam_size: int) -> dict:
    import pyarrow.parquet as pq

    from wenmai.models.titler import generate_titles, load_titler

    docs = pq.read_table(run / "documents").to_pylist()
    clusters = [c for c in pq.read_table(run / "clusters").to_pylist() if c["size"] >= min_size]
    by_cluster: dict[int, list[dict]] = {}
    for d in docs:
        by_cluster.setdefault(d["cluster_id"], []).append(d)
    by_id = {d["doc_id"]: d for d in docs}
    model, vocab = load_titler(models_dir / "titler")
    sources = [central_source(by_cluster[c["cluster_id"]], central) for c in clusters]
    generated = generate_titles(model, vocab, sources, beam_size, 32)
    rows = []
    for c, (title, _) in zip(clusters, generated):
        members = by_cluster[c["cluster_id"]]
        rep = by_id[c["representative_doc_id"]]["title"] or ""
        row = {"cluster_id": c["cluster_id"], "size": c["size"], "keywords": c["keywords"][:5],
               "representative": rep, "central": title}
        for name in ("representative", "central"):
            row[f"{name}_keyword_hits"] = keyword_hits(row[name], c["keywords"])
            row[f"{name}_coverage"] = float(np.mean([char_recall(row[name], m["text"])
                                                     for m in members]))
        rows.append(row)
    means = {k: float(np.mean([r[k] for r in rows])) if rows else None
             for k in ("representative_keyword_hits", "central_keyword_hits",
                       "representative_coverage", "central_coverage")}
    return {"run": str(run), "clusters": len(rows), "min_size": min_size, "central": central,
            "beam_size": beam_size, "means": means, "rows": rows}


def main(argv: Optional[list[str]] = None) -> dict:
    parser = ArgumentParser(prog="wenmai bench cluster-titles", description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished wenmai run output")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--min-size", type=int, default=3)
    parser.add_argument("--central", type=int, default=3, help="documents joined for 'central'")
    parser.add_argument("--beam-size", type=int, default=4)
    parser.add_argument("--show", type=int, default=8)
    args = parser.parse_args(argv)
    if not (args.run / "clusters").is_dir():
        raise FileNotFoundError(f"--run {args.run}: no clusters/ table there")
    r = compare(args.run, args.models, args.min_size, args.central, args.beam_size)
    m = r["means"]
    print(f"{r['clusters']} clusters of >= {r['min_size']} documents")
    print(f"{'title':<16}{'keyword hits':>14}{'coverage':>10}")
    for name in ("representative", "central"):
        print(f"{name:<16}{m[name + '_keyword_hits']:>14.3f}{m[name + '_coverage']:>10.3f}")
    for row in r["rows"][:args.show]:
        print(f"#{row['cluster_id']:<3} {' '.join(row['keywords']):<24} | {row['representative']:<20}"
              f" | {row['central']}")
    print(json.dumps(r, ensure_ascii=False))
    return r
