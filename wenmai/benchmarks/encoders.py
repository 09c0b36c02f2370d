"""`wenmai bench encoders`: the encoder variants side by side, trained on the same data with the
same budget and fixed seeds, scored on the same report files; writes docs/encoders.{md,json}.

Rows (each trained by `wenmai train encoder` with the shared budget flags):
    gru_am       GRU + AM-Softmax over in-batch classes (the shipped recipe's objective)
    gru_angular  GRU + additive angular margin (ArcFace-style)
    gru_softmax  GRU + normalised softmax, no margin
    gru_inbatch  GRU + pairwise contrastive loss with in-batch negatives
    onlstm_am    ON-LSTM + AM-Softmax
    infomax      GRU + Deep InfoMax on unlabelled text only (no labels at all)
    infomax_am   the infomax row's encoder fine-tuned with AM-Softmax
and three references that this script does not train: `shipped` (the encoder in
models/weights, the spine's model, trained with its own recipe and budget in its card), `random`
(the gru_am shape and vocabulary, random weights) and `char_tfidf` (character 1-2-gram TF-IDF;
for clustering reduced to 256 dimensions by truncated SVD so that the same kNN graph and InfoMap
run on it). The report ends with verdicts computed from the table: whether InfoMax alone beats
`random` and `char_tfidf` on clustering, which row leads on LCQMC test and by how much compared
with the seed spread, and what the shipped-default rule (`decision`) makes of it.

Columns: Spearman on LCQMC test, AFQMC dev, STS-B dev (`wenmai eval encoder`); THUCNews-dev
clustering with the pipeline's kNN graph and InfoMap (NMI, V-measure, AMI, cluster count, and
NMI with the cosine floor at 0) and with k-means told the true k (`cluster_scores` says why so
many); sentences/s of a bare batched loop on the same 5,000 headlines with `--threads` torch
threads. With several `--seeds`, each cell is the mean and the spread (max - min) across them.

Trained rows and their scores are kept under `--runs` (scores keyed by the model's sha256, the
seed and SCORES_VERSION), so a rerun, an added row or an added seed only does what is missing.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from wenmai.benchmarks.data import add_data_dir_arg, data_dir
from wenmai.cli.args import ArgumentParser
from wenmai.models import DEFAULT_MODELS_DIR

log = logging.getLogger("wenmai.bench.encoders")
ROWS = {
    "gru_am": [],
    "gru_angular": ["--loss", "angular"],
    "gru_softmax": ["--loss", "softmax"],
    "gru_inbatch": ["--loss", "contrastive"],
    "onlstm_am": ["--cell", "onlstm"],
    "infomax": ["--objective", "infomax"],
    "infomax_am": [],  # --init-from the infomax row's model
}
REFERENCES = ("shipped", "random", "char_tfidf")
PAIRS = {"lcqmc_test": "similarity/lcqmc/test.tsv", "afqmc_dev": "similarity/afqmc/dev.tsv",
         "stsb_dev": "similarity/stsb_zh/dev.tsv"}
CLUSTER_FILE = "topics/thucnews/dev.tsv"
# unlabelled train-role text in formats the pipeline reads (headlines; Weibo posts' "text")
UNLABELLED = ("topics/tnews/unlabeled.txt", "titles/lcsts/train.jsonl")
SPEED_TEXTS = "topics/tnews/unlabeled.txt"


@dataclass(frozen=True)
class Budget:
    epochs: int = 3
    max_pairs: int = 0  # 0: every training pair each epoch
    threads: int = 2
    extra: tuple[str, ...] = ()  # more `wenmai train encoder` flags, the same for every row
    unlabelled: tuple[str, ...] = UNLABELLED  # the infomax row's texts, in --data-dir


def train_row(row: str, out: Path, data_dir: Path, seed: int, budget: Budget,
              infomax_dir: Optional[Path] = None) -> Path:
    """Trains one row into `out/encoder` (skipped when it is already there) and returns `out`."""
    from wenmai.cli.train import encoder as train

    if (out / "encoder" / "model.safetensors").is_file():
        log.info("reusing %s (trained earlier; its card says how)", out / "encoder")
        return out
    flags = ["--data-dir", str(data_dir), "--out", str(out / "encoder"), "--seed", str(seed),
             "--epochs", str(budget.epochs), "--max-pairs", str(budget.max_pairs),
             "--threads", str(budget.threads), *budget.extra, *ROWS[row]]
    if row == "infomax":
        flags += ["--corpus", *[str(data_dir / f) for f in budget.unlabelled]]
    if row == "infomax_am":
        flags += ["--init-from", str(infomax_dir / "encoder")]
    train(flags)
    return out


def random_reference(like: Path, out: Path, seed: int) -> Path:
    """The shape and vocabulary of `like` (a models dir) with freshly initialised weights."""
    import torch

    from wenmai.models.checkpoint import read_config, save_pretrained
    from wenmai.models.encoder import SentenceEncoder, load_encoder

    if (out / "encoder" / "model.safetensors").is_file():  # same shape and seed: same weights
        return out
    model, vocab = load_encoder(like / "encoder")
    torch.manual_seed(seed)
    meta = read_config(like / "encoder")
    save_pretrained(SentenceEncoder(model.config), out / "encoder", vocab=vocab,
                    card="randomly initialised reference (wenmai bench encoders)",
                    extra={"threshold": meta.get("threshold", 0.5)})
    return out


def tfidf_vectors(texts: list[str], dim: int = 256, seed: int = 0) -> np.ndarray:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    sparse = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True).fit_transform(texts)
    dense = TruncatedSVD(n_components=min(dim, sparse.shape[1] - 1), random_state=seed).fit_transform(sparse)
    return (dense / np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def cluster_scores(vectors: np.ndarray, labels: list[str], seed: int) -> dict:
    """NMI and V-measure as the issue asks, plus what keeps them honest across encoders: NMI rewards
    splitting documents into many small pure clusters, and the pipeline's cosine floor
    (`GraphConfig.min_similarity`) splits an encoder whose similarities run low (char TF-IDF) far
    more than one whose similarities run high. So also: the cluster count, AMI (chance-adjusted,
    so fragments earn nothing), NMI of InfoMap on the same kNN graph without the floor, and
    k-means told the true k."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_mutual_info_score

    from wenmai.config import ClusterConfig, GraphConfig
    from wenmai.eval_cluster import cluster, scores

    predicted = cluster(vectors, GraphConfig(), ClusterConfig(seed=seed))
    ours = scores(labels, predicted)
    no_floor = scores(labels, cluster(vectors, GraphConfig(min_similarity=0.0), ClusterConfig(seed=seed)))
    k = len(set(labels))
    km = scores(labels, KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(vectors))
    return {"nmi": ours["nmi"], "v_measure": ours["v_measure"],
            "ami": float(adjusted_mutual_info_score(labels, predicted)),
            "clusters": float(len(set(predicted.tolist()))), "nmi_no_floor": no_floor["nmi"],
            "kmeans_nmi": km["nmi"], "kmeans_v_measure": km["v_measure"]}


# Bump when score_row's columns or method change: cached scores of another version are recomputed.
SCORES_VERSION = 2


def cached_score(cache: Path, models_dir: Optional[Path], data_dir: Path, seed: int) -> dict:
    """`score_row`, kept in `cache` (JSON) under a key of the model's sha256, the data dir, the
    seed and SCORES_VERSION, so adding a row or a seed does not rescore the rows already scored."""
    from wenmai.models.checkpoint import model_sha256

    key = {"version": SCORES_VERSION, "seed": seed, "data_dir": str(data_dir),
           "model": "char_tfidf" if models_dir is None else model_sha256(models_dir / "encoder")}
    if cache.is_file():
        found = json.loads(cache.read_text(encoding="utf-8"))
        if found.get("key") == key:
            log.info("scores of %s from %s", models_dir or "char_tfidf", cache)
            return found["scores"]
    scores = score_row(models_dir, data_dir, seed)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"key": key, "scores": scores}, indent=2), encoding="utf-8")
    return scores


def score_row(models_dir: Optional[Path], data_dir: Path, seed: int) -> dict:
    """Every column for a trained models dir, or for char TF-IDF when `models_dir` is None."""
    from wenmai.benchmarks.encoder import bare_loop, load_docs
    from wenmai.config import InferenceConfig
    from wenmai.eval_cluster import embed, read_labelled
    from wenmai.models.evaluate import (evaluate_encoder, read_pairs, score_pairs,
                                        tfidf_similarities)

    row = {}
    for name, path in PAIRS.items():
        if models_dir is None:
            a, b, y = read_pairs(data_dir / path)
            row[name] = score_pairs(tfidf_similarities(a, b), y, None)["spearman"]
        else:
            row[name] = evaluate_encoder(data_dir / path, models_dir)["spearman"]
    labels, texts = read_labelled(data_dir / CLUSTER_FILE)
    vectors = tfidf_vectors(texts, seed=seed) if models_dir is None else \
        embed(texts, models_dir, InferenceConfig())
    row.update(cluster_scores(vectors, labels, seed))
    if models_dir is not None:
        docs = load_docs(data_dir / SPEED_TEXTS, 5_000)
        row["sentences_per_s"] = bare_loop(docs, models_dir, InferenceConfig(), 256)["sentences_per_s"]
    return row


def summarise(per_seed: list[dict]) -> dict:
    """Mean and spread (max - min) of each figure across seeds."""
    out = {}
    for key in per_seed[0]:
        values = [r[key] for r in per_seed if r.get(key) is not None]
        out[key] = {"mean": float(np.mean(values)), "spread": float(np.ptp(values))}
    return out


COLUMNS = [("lcqmc_test", "LCQMC test ρ"), ("afqmc_dev", "AFQMC dev ρ"), ("stsb_dev", "STS-B dev ρ"),
           ("nmi", "THUCNews NMI (InfoMap)"), ("v_measure", "V (InfoMap)"),
           ("ami", "AMI (InfoMap)"), ("clusters", "clusters"),
           ("nmi_no_floor", "NMI (InfoMap, floor 0)"),
           ("kmeans_nmi", "NMI (k-means, true k)"), ("kmeans_v_measure", "V (k-means)"),
           ("sentences_per_s", "sentences/s")]


def markdown(report: dict) -> str:
    seeds = report["seeds"]
    lines = [
        "# Encoder variants, measured",
        "",
        f"`{report['command']}` (seeds {', '.join(map(str, seeds))}; {report['budget']['epochs']} "
        f"epochs per row, torch threads {report['budget']['threads']}). Every trained row sees the same "
        "train-role pairs (or, for infomax, only unlabelled text) with the same budget; the report "
        "files are only scored. Cells: mean over seeds, ± half the spread (max - min) when there are "
        "several. `shipped` is the encoder in models/weights (its own recipe and budget, in its "
        "card); `random` and `char_tfidf` are not trained.",
        "",
        "Clustering is THUCNews dev (10,000 headlines, 10 topics) through the pipeline's kNN graph "
        "(k = 10, cosine floor 0.5) and InfoMap. NMI rewards splitting documents into many small "
        "pure clusters, and the fixed floor splits an encoder whose similarities run low (char "
        "TF-IDF) far more than one whose similarities run high, so the `clusters` count, AMI "
        "(chance-adjusted: fragments earn nothing) and InfoMap NMI with the floor at 0 stand beside "
        "it, as does k-means told the true k.",
        "",
        "| row | " + " | ".join(title for _, title in COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for name, row in report["rows"].items():
        cells = []
        for key, _ in COLUMNS:
            cell = row.get(key)
            if cell is None:
                cells.append("–")
            elif key in ("sentences_per_s", "clusters"):
                cells.append(f"{cell['mean']:,.0f}")
            else:
                spread = f" ± {cell['spread'] / 2:.3f}" if len(seeds) > 1 else ""
                cells.append(f"{cell['mean']:.3f}{spread}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Verdicts (computed from the table above)", "", *verdicts(report["rows"]),
              "", f"This command took {report['seconds'] / 60:.1f} min"
              + (f"; {report['trained_rows_reused']} of its {report['trained_rows']} trained rows "
                 "were already in --runs and only scored (each row's training time is in its "
                 "model card there)" if report.get("trained_rows_reused") else "") + ".", ""]
    return "\n".join(lines)


def verdicts(rows: dict) -> list[str]:
    """The issue's questions answered from the numbers, so that a rerun restates them."""
    def mean(row, key):
        return rows[row][key]["mean"]

    out = []
    if {"infomax", "random", "char_tfidf"} <= set(rows):
        for key, what in (("nmi", "NMI with the pipeline's InfoMap"),
                          ("ami", "AMI (chance-adjusted) of the same clusters"),
                          ("nmi_no_floor", "NMI of InfoMap on the kNN graph with the cosine floor at 0 (not 0.5)"),
                          ("kmeans_nmi", "NMI of k-means told the true k")):
            if key not in rows["infomax"]:
                continue
            ours, rand, tfidf = (mean(r, key) for r in ("infomax", "random", "char_tfidf"))
            beaten = [name for name, v in (("random", rand), ("char_tfidf", tfidf)) if ours > v]
            out.append(f"- InfoMax alone (no labels), THUCNews {what}: {ours:.3f} vs random "
                       f"{rand:.3f} and char TF-IDF {tfidf:.3f}: beats "
                       f"{' and '.join(beaten) if beaten else 'neither'}.")
    trained = [r for r in rows if r in ROWS]
    if trained:
        best = max(trained, key=lambda r: mean(r, "lcqmc_test"))
        spread = rows[best]["lcqmc_test"]["spread"]
        line = f"- Best trained row on LCQMC test: {best} ({mean(best, 'lcqmc_test'):.3f}"
        line += f", seed spread {spread:.3f})" if spread else ")"
        if best != "gru_am" and "gru_am" in rows:
            gap = mean(best, "lcqmc_test") - mean("gru_am", "lcqmc_test")
            noise = max(spread, rows["gru_am"]["lcqmc_test"]["spread"])
            line += f"; {gap:+.3f} over gru_am, " + (
                ("more" if gap > noise else "no more") + f" than the larger seed spread ({noise:.3f})"
                if noise else "one seed, so no spread to compare with")
        if "shipped" in rows:
            line += f"; the shipped encoder scores {mean('shipped', 'lcqmc_test'):.3f}"
        out.append(line + ".")
        out.append("- " + decision(rows, best))
    return out


QUALITY = ("afqmc_dev", "stsb_dev", "nmi", "ami", "kmeans_nmi")


def decision(rows: dict, best: str) -> str:
    """The rule for the shipped default. The encoder serves similarity edges and clusters, so a
    variant replaces the shipped recipe's objective (gru_am) only when it leads on LCQMC test by
    more than the seed spread, loses on no other quality column by more than that column's seed
    spread, and keeps at least half of gru_am's speed; all measured over two or more seeds."""
    rule = ("Shipped default (rule: switch only when a row leads gru_am on LCQMC test beyond the "
            "seed spread, loses on no other quality column beyond its seed spread, and keeps at "
            "least half of gru_am's sentences/s; two or more seeds): ")
    if best == "gru_am":
        return rule + "keep the shipped recipe (gru_am leads)."
    if "gru_am" not in rows:
        return rule + "no decision (gru_am was not run)."

    def delta(key):
        a, b = rows[best].get(key), rows["gru_am"].get(key)
        if a is None or b is None:
            return None, 0.0
        return a["mean"] - b["mean"], max(a["spread"], b["spread"])

    gap, noise = delta("lcqmc_test")
    if noise == 0.0:
        return rule + "no decision from one seed (rerun with --seeds A B)."
    if gap <= noise:
        return rule + f"keep the shipped recipe ({best}'s lead is within seed noise)."
    losses = [f"{key} {d:+.3f}" for key in QUALITY for d, n in [delta(key)]
              if d is not None and d < -n]
    speed = rows[best].get("sentences_per_s"), rows["gru_am"].get("sentences_per_s")
    ratio = speed[0]["mean"] / speed[1]["mean"] if all(speed) else 1.0
    if not losses and ratio >= 0.5:
        return rule + f"switch to {best}."
    why = ([f"it loses beyond seed noise on {', '.join(losses)}"] if losses else []) + \
        ([f"it runs at {ratio:.3f}x gru_am's sentences/s"] if ratio < 0.5 else [])
    return rule + f"keep the shipped recipe: {best} leads LCQMC test by {gap:+.3f}, but " + \
        " and ".join(why) + "."


def bench_encoders(data_dir: Path, runs: Path, seeds: list[int], budget: Budget,
                   rows: list[str], command: str, shipped: Path = DEFAULT_MODELS_DIR) -> dict:
    start = time.time()
    reused = sum((runs / f"seed{seed}" / row / "encoder" / "model.safetensors").is_file()
                 for seed in seeds for row in rows)
    results: dict[str, list[dict]] = {name: [] for name in rows + list(REFERENCES)}
    for seed in seeds:
        here, trained = runs / f"seed{seed}", {}
        for row in rows:
            if row == "infomax_am" and "infomax" not in trained:  # its starting point
                trained["infomax"] = train_row("infomax", here / "infomax", data_dir, seed, budget)
            trained[row] = train_row(row, here / row, data_dir, seed, budget,
                                     infomax_dir=trained.get("infomax"))
            results[row].append(cached_score(trained[row] / "scores.json", trained[row],
                                             data_dir, seed))
            print(f"seed {seed} {row}: {json.dumps(results[row][-1])}", flush=True)
        results["shipped"].append(cached_score(here / "shipped" / "scores.json", shipped,
                                               data_dir, seed))
        like = trained.get("gru_am") or next(iter(trained.values()))
        results["random"].append(cached_score(here / "random" / "scores.json",
                                              random_reference(like, here / "random", seed),
                                              data_dir, seed))
        results["char_tfidf"].append(cached_score(here / "char_tfidf" / "scores.json", None,
                                                  data_dir, seed))
    return {"command": command, "seeds": seeds, "budget": budget.__dict__,
            "rows": {name: summarise(r) for name, r in results.items() if r},
            "seconds": time.time() - start, "trained_rows_reused": reused,
            "trained_rows": len(seeds) * len(rows)}


def main(argv: Optional[list[str]] = None) -> dict:
    import shlex
    import sys

    import torch

    parser = ArgumentParser(prog="wenmai bench encoders", description=__doc__.split("\n")[0])
    add_data_dir_arg(parser)
    parser.add_argument("--runs", type=Path, default=Path("runs/encoders"),
                        help="where the trained rows go (a finished row is reused)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1337])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--epochs", type=int, default=Budget.epochs)
    parser.add_argument("--max-pairs", type=int, default=Budget.max_pairs)
    parser.add_argument("--threads", type=int, default=Budget.threads,
                        help="torch threads for training and for scoring (sentences/s)")
    parser.add_argument("--train-args", default="",
                        help="more `wenmai train encoder` flags for every row, in one string")
    parser.add_argument("--infomax-corpus", nargs="+", default=list(UNLABELLED),
                        help="the infomax row's unlabelled texts, in --data-dir (default: "
                             f"{' '.join(UNLABELLED)})")
    parser.add_argument("--shipped", type=Path, default=DEFAULT_MODELS_DIR,
                        help="models dir of the `shipped` reference row")
    parser.add_argument("--out", type=Path, default=Path("docs/encoders"),
                        help="writes OUT.md and OUT.json")
    args = parser.parse_args(argv)
    data = data_dir(args.data_dir)
    torch.set_num_threads(args.threads)  # scoring too, so sentences/s are per thread budget
    command = "wenmai bench encoders " + shlex.join(argv if argv is not None else sys.argv[2:])
    report = bench_encoders(data, args.runs, args.seeds,
                            Budget(args.epochs, args.max_pairs, args.threads,
                                   tuple(args.train_args.split()), tuple(args.infomax_corpus)),
                            args.rows,
                            command.strip(), args.shipped)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return report
