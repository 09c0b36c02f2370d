"""Train the sentence encoder: train-role similarity pairs -> a model directory (safetensors +
config.json with the decision threshold + vocab.json + model card).

Recipe (DESIGN.md, measured best): AM-Softmax over in-batch classes. Positive pairs are joined
into paraphrase groups (connected components, union-find); each epoch every positive pair is one
row (anchor, positive) of a batch, the group id is its label so that two rows of one group never
count as each other's negatives, and the other side of a labelled *negative* pair of the anchor
is appended as a hard-negative column (a random training sentence when the anchor has none).

Model selection never sees a report file: a held-out slice of the train-role files (default
1,500 LCQMC-dev + 1,500 AFQMC-train + 500 STS-B-train pairs) is removed from training together
with every training pair that shares a sentence with it; the epoch with the best mean Spearman on
that slice is kept, and the accuracy thresholds stored in config.json are chosen on it.

Optional levers, each measured on that slice: per-file repeats, SimCSE-style singleton rows,
bag-of-embeddings pooling, and embeddings initialised by PPMI + SVD over raw train-role text.

    wenmai train encoder --data-dir ../shared/data --out models/weights/encoder
    (same flags: python -m wenmai.models.train_encoder ...)
"""
from __future__ import annotations

import dataclasses
import json
import logging
import platform
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from wenmai.cli.args import ArgumentParser, add_dataclass_args, dataclass_from_args
from wenmai.models.checkpoint import save_pretrained
from wenmai.models.encoder import EncoderConfig, SentenceEncoder
from wenmai.models.evaluate import (best_threshold, pair_similarities, read_pairs, score_pairs,
                                    tfidf_similarities)
from wenmai.models.trainer import Trainer, TrainerConfig, set_seed
from wenmai.models.vocab import Vocab

__all__ = ["EncoderTrainConfig", "train_encoder", "main", "build_groups", "ppmi_svd", "PairData"]

log = logging.getLogger("wenmai.train.encoder")


@dataclass(frozen=True)
class EncoderTrainConfig:
    # --- data (train-role files only; see ../shared/data/README.md)
    data_dir: str = "../shared/data"
    train_files: tuple[str, ...] = ("similarity/lcqmc/dev.tsv", "similarity/bq/dev.tsv",
                                    "similarity/afqmc/train.tsv", "similarity/stsb_zh/train.tsv",
                                    "similarity/pawsx_zh/dev.tsv")
    dev_files: tuple[str, ...] = ("similarity/lcqmc/dev.tsv", "similarity/afqmc/train.tsv",
                                  "similarity/stsb_zh/train.tsv")
    # unlabelled train-role sentences (label<TAB>text .tsv: last column; .txt: one a line); they
    # join the singleton pool below
    unlabeled_files: tuple[str, ...] = ()
    # raw train-role text (.jsonl "text" field, .tsv last column, .txt lines) whose character and
    # word co-occurrences initialise the embeddings (PPMI + truncated SVD, a count-based word2vec);
    # its words also enter the vocabulary
    pretrain_files: tuple[str, ...] = ()
    pretrain_max_chars: int = 3_000_000  # read at most this many characters of them (jieba time)
    ppmi_window: int = 2  # co-occurrence window, tokens either side
    dev_sizes: tuple[int, ...] = (1500, 1500, 500)  # held-out pairs per dev file (model selection)
    graded_positive: float = 4.0  # STS-B 0-5: score >= 4 is a paraphrase for training...
    graded_negative: float = 1.0  # ... and <= 1 a (hard) negative; the middle is not used
    hard_negatives: bool = True  # labelled negatives as extra AM-Softmax columns
    repeats: tuple[int, ...] = ()  # per train file, times each positive pair is seen an epoch (1)
    singletons: int = 0  # per epoch, this many sentences in no positive pair as (s, s') rows (SimCSE)
    deletion: float = 0.1  # s' = s with each character deleted at this rate (0: dropout views only)
    max_pairs: int = 0  # cap on training pairs per epoch (0: all); for smoke runs
    out: str = "runs/encoder"
    # --- model
    char_dim: int = 128
    word_dim: int = 64  # 0: characters only
    hidden: int = 256
    n_layers: int = 1
    cell: str = "gru"  # gru | lstm | onlstm
    chunk_size: int = 8  # onlstm: neurons per master-gate chunk
    pooling: str = "mean_max"
    embed_pool: bool = False  # concatenate mean-pooled input embeddings (bag of characters)
    dim: int = 256
    dropout: float = 0.1
    max_len: int = 64  # training truncation; nearly all questions/captions are shorter
    max_chars: int = 6000  # character vocabulary cap (most frequent in the training sentences)
    max_words: int = 20000  # jieba word vocabulary cap (keeps the shipped dir well under 20 MB)
    min_word_count: int = 2  # words seen once stay <unk>: their vectors would barely train
    # --- objective
    # amsoftmax: the paraphrase-pair recipe above, with --loss. infomax: Deep InfoMax, no labels
    # (models/infomax.py) on --corpus (any files the pipeline reads), else on the train files'
    # sentences; the held-out slice is only reported, never used to pick an epoch.
    objective: str = "amsoftmax"
    loss: str = "amsoftmax"  # amsoftmax | angular | softmax | contrastive (models/losses.py)
    corpus: tuple[str, ...] = ()  # infomax: globs of .txt/.jsonl/.parquet(.gz) to train on
    corpus_max_texts: int = 200_000  # infomax: read at most this many texts of them
    infomax_alpha: float = 0.5  # global term weight
    infomax_beta: float = 1.0  # local term weight
    infomax_gamma: float = 0.1  # prior (KL) term weight
    init_from: str = ""  # a model directory to start from (its vocabulary and shape), e.g.
    # an infomax run before AM-Softmax fine-tuning
    # --- optimisation
    epochs: int = 10
    batch_size: int = 128  # (anchor, positive) rows per batch = in-batch classes
    lr: float = 2e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_decay: float = 0.995  # 0: no weight EMA
    margin: float = 0.2  # AM-Softmax m
    scale: float = 30.0  # AM-Softmax s
    seed: int = 1337
    threads: int = 2  # torch CPU threads (shared machines: keep small)
    progress: Optional[bool] = None  # tqdm bar; default only on a terminal


# --------------------------------------------------------------------------------------------------
# data


def build_groups(pairs: Sequence[tuple[int, int]], n: int) -> list[int]:
    """Group id of each of `n` items: connected components of the `pairs` graph (union-find).

    Example: build_groups([(0, 1), (1, 2), (3, 4)], 6) -> [0, 0, 0, 1, 1, 2]
    """
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    ids: dict[int, int] = {}
    return [ids.setdefault(find(i), len(ids)) for i in range(n)]


@dataclass
class PairData:
    """Training sentences (ids into `texts`), positive pairs, negatives per sentence, groups."""

    texts: list[str]
    positives: list[tuple[int, int]]
    source: list[int]  # index into train_files of each positive pair (its first file)
    negatives: dict[int, list[int]]
    group: list[int]
    singles: list[int]  # sentences in no positive pair
    dev: dict[str, tuple[list[str], list[str], np.ndarray]]  # name -> held-out pairs
    counts: dict[str, dict]  # per file: rows, used positives/negatives (for the model card)


def _load_data(cfg: EncoderTrainConfig) -> PairData:
    rng = random.Random(cfg.seed)
    root = Path(cfg.data_dir)
    assert len(cfg.dev_files) == len(cfg.dev_sizes), "one dev size per dev file"
    raw = {name: read_pairs(root / name) for name in dict.fromkeys(cfg.train_files + cfg.dev_files)}

    # 1) the held-out slice, and every sentence in it (training must not see them)
    dev, dev_rows, dev_texts = {}, {}, set()
    for name, size in zip(cfg.dev_files, cfg.dev_sizes):
        a, b, y = raw[name]
        rows = sorted(rng.sample(range(len(y)), min(size, len(y))))
        dev_rows[name] = set(rows)
        dev[name] = ([a[i] for i in rows], [b[i] for i in rows], y[rows])
        dev_texts.update(dev[name][0])
        dev_texts.update(dev[name][1])

    # 2) training pairs from the remaining rows
    texts: list[str] = []
    index: dict[str, int] = {}

    def sid(t: str) -> int:
        if t not in index:
            index[t] = len(texts)
            texts.append(t)
        return index[t]

    positives: dict[tuple[int, int], int] = {}
    neg_pairs, counts = [], {}
    for file_index, name in enumerate(cfg.train_files):
        a, b, y = raw[name]
        graded = not np.isin(y, (0.0, 1.0)).all()
        pos_cut, neg_cut = (cfg.graded_positive, cfg.graded_negative) if graded else (1.0, 0.0)
        c = {"rows": int(len(y)), "held_out": len(dev_rows.get(name, ())), "dropped_overlap": 0,
             "positives": 0, "negatives": 0}
        for i in range(len(y)):
            if i in dev_rows.get(name, ()):
                continue
            ta, tb = a[i].strip(), b[i].strip()
            if not ta or not tb:
                continue
            if a[i] in dev_texts or b[i] in dev_texts:
                c["dropped_overlap"] += 1
                continue
            if y[i] >= pos_cut:
                if ta != tb:
                    positives.setdefault((sid(ta), sid(tb)), file_index)
                    c["positives"] += 1
            elif y[i] <= neg_cut:
                neg_pairs.append((sid(ta), sid(tb)))
                c["negatives"] += 1
        counts[name] = c
    for name in cfg.unlabeled_files:
        lines = (root / name).read_text(encoding="utf-8").splitlines()
        kept = [t for t in (line.split("\t")[-1].strip() for line in lines)
                if t and t not in dev_texts]
        for t in kept:
            sid(t)
        counts[name] = {"rows": len(lines), "held_out": 0, "dropped_overlap": len(lines) - len(kept),
                        "positives": 0, "negatives": 0}
    source = [positives[p] for p in sorted(positives)]
    positives = sorted(positives)
    group = build_groups(positives, len(texts))
    negatives: dict[int, list[int]] = defaultdict(list)
    for x, z in neg_pairs:
        if group[x] != group[z]:  # transitivity can make a labelled negative a paraphrase
            negatives[x].append(z)
            negatives[z].append(x)
    in_pair = {i for p in positives for i in p}
    singles = [i for i in range(len(texts)) if i not in in_pair]
    return PairData(texts, positives, source, dict(negatives), group, singles, dev, counts)


def _read_texts(path: Path) -> list[str]:
    """Texts of a raw file: .jsonl "text" fields, .tsv last columns, other files' lines."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if path.suffix == ".jsonl":
                text = json.loads(line).get("text", "") if line.strip() else ""
            else:
                text = line.split("\t")[-1] if path.suffix == ".tsv" else line
            if text.strip():
                out.append(text.strip())
    return out


def ppmi_svd(sequences: Sequence[Sequence[int]], vocab_size: int, dim: int, window: int = 2,
             seed: int = 0) -> Optional[np.ndarray]:
    """[vocab_size, dim] vectors from co-occurrence counts: positive PMI (context distribution
    smoothed ** 0.75) factorised by truncated SVD, U·sqrt(S), scaled to unit entry variance.

    Ids 0 and 1 (pad, unknown) are never counted; ids never seen get zero rows. None when the
    vocabulary is too small for `dim` components.
    """
    from scipy import sparse
    from sklearn.decomposition import TruncatedSVD

    if vocab_size <= dim + 1:
        return None
    gap = np.full(window, -1, dtype=np.int64)  # sentence break: no window crosses it
    ids = np.concatenate([np.concatenate([np.asarray(s, dtype=np.int64), gap]) for s in sequences])
    rows, cols = [], []
    for d in range(1, window + 1):
        a, b = ids[:-d], ids[d:]
        ok = (a > 1) & (b > 1)
        rows += [a[ok], b[ok]]
        cols += [b[ok], a[ok]]
    r, c = np.concatenate(rows), np.concatenate(cols)
    counts = sparse.coo_matrix((np.ones(len(r)), (r, c)), shape=(vocab_size, vocab_size)).tocsr()
    counts = counts.tocoo()  # duplicates summed
    total = counts.data.sum()
    row_p = np.asarray(counts.tocsr().sum(1)).ravel() / total
    col_p = np.asarray(counts.tocsr().sum(0)).ravel() ** 0.75
    col_p = col_p / col_p.sum()
    pmi = np.log(counts.data / total) - np.log(row_p[counts.row]) - np.log(col_p[counts.col])
    keep = pmi > 0
    matrix = sparse.csr_matrix((pmi[keep], (counts.row[keep], counts.col[keep])),
                               shape=(vocab_size, vocab_size))
    svd = TruncatedSVD(n_components=dim, random_state=seed)
    vecs = svd.fit_transform(matrix) / np.sqrt(np.maximum(svd.singular_values_, 1e-8))  # U·sqrt(S)
    seen = np.abs(vecs).sum(1) > 0
    if seen.any():
        vecs = vecs / vecs[seen].std()
    return vecs.astype(np.float32)


def _init_embedding(emb: torch.nn.Embedding, vecs: Optional[np.ndarray]) -> int:
    """Copies the non-zero rows of `vecs` into `emb` (others keep their random init); returns how many."""
    if emb is None or vecs is None:
        return 0
    seen = np.abs(vecs).sum(1) > 0
    seen[0] = False  # the padding row stays zero
    with torch.no_grad():
        emb.weight[torch.from_numpy(seen)] = torch.from_numpy(vecs[seen])
    return int(seen.sum())


def _pad(rows: list[list[int]]) -> torch.Tensor:
    T = max(1, max(len(r) for r in rows))
    out = torch.zeros(len(rows), T, dtype=torch.long)  # (B, T), 0 = pad
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def _features(seqs: list[tuple[list[int], list[int]]]) -> dict:
    return {"char_ids": _pad([c for c, _ in seqs]), "word_ids": _pad([w for _, w in seqs])}


def _delete_chars(seq: tuple[list[int], list[int]], rate: float, rng: random.Random):
    """The (char ids, word ids) with each position dropped at `rate`; never empties a sentence.

    Example (rate 0.5): ([5, 6, 7, 8], [2, 2, 3, 3]) -> ([5, 7, 8], [2, 3, 3])
    """
    keep = [k for k in range(len(seq[0])) if rng.random() >= rate] or [0]
    return [seq[0][k] for k in keep], [seq[1][k] for k in keep]


def _make_batches(data: PairData, encoded, cfg: EncoderTrainConfig):
    """`batches(epoch)`: every positive pair once (random side first), plus optional singletons
    (s, s with characters deleted)."""
    assert not cfg.repeats or len(cfg.repeats) == len(cfg.train_files), "one repeat per train file"
    repeats = cfg.repeats or (1,) * len(cfg.train_files)
    pairs = [p for p, src in zip(data.positives, data.source) for _ in range(repeats[src])]
    n_rows = len(pairs) if not cfg.max_pairs else min(cfg.max_pairs, len(pairs))
    n_rows += min(cfg.singletons, len(data.singles))
    steps = max(1, n_rows // cfg.batch_size)

    def batches(epoch: int):
        rng = random.Random(cfg.seed * 1000 + epoch)
        rows = list(pairs)
        rng.shuffle(rows)
        if cfg.max_pairs:
            rows = rows[:cfg.max_pairs]
        rows = [(b, a) if rng.random() < 0.5 else (a, b) for a, b in rows]
        if cfg.singletons:
            rows += [(s, s) for s in rng.sample(data.singles, min(cfg.singletons, len(data.singles)))]
        rng.shuffle(rows)
        n_texts = len(data.texts)
        for k in range(steps):
            chunk = rows[k * cfg.batch_size:(k + 1) * cfg.batch_size]
            labels = torch.tensor([data.group[a] for a, _ in chunk], dtype=torch.long)
            anchors = [encoded[a] for a, _ in chunk]
            pos = [_delete_chars(encoded[p], cfg.deletion, rng) if a == p else encoded[p]
                   for a, p in chunk]
            features = [_features(anchors), _features(pos)]
            if cfg.hard_negatives:
                negs = []
                for a, p in chunk:
                    cands = data.negatives.get(a) or data.negatives.get(p)
                    negs.append(encoded[rng.choice(cands) if cands else rng.randrange(n_texts)])
                features.append(_features(negs))
            yield features, labels

    return batches, steps


def _sentence_batches(encoded: list, cfg: EncoderTrainConfig):
    """`batches(epoch)` for an unsupervised objective: every sentence once, shuffled."""
    steps = max(1, len(encoded) // cfg.batch_size)

    def batches(epoch: int):
        order = list(range(len(encoded)))
        random.Random(cfg.seed * 1000 + epoch).shuffle(order)
        for k in range(steps):
            chunk = order[k * cfg.batch_size:(k + 1) * cfg.batch_size]
            yield [_features([encoded[i] for i in chunk])], None

    return batches, steps


def _corpus_texts(cfg: EncoderTrainConfig, data: "PairData") -> list[str]:
    """InfoMax training texts: the --corpus files (deduplicated, capped), else the sentences of
    the train files; never a sentence of the held-out slice."""
    from wenmai.pipelines.clean import normalize_text
    from wenmai.pipelines.read import iter_texts

    held_out = {t for a, b, _ in data.dev.values() for t in a + b}
    if not cfg.corpus:
        return list(data.texts)
    texts: dict[str, None] = {}
    for raw in iter_texts(list(cfg.corpus)):
        text = normalize_text(raw)
        if text and text not in held_out:
            texts.setdefault(text, None)
            if len(texts) >= cfg.corpus_max_texts:
                break
    return list(texts)


def build_loss(model: SentenceEncoder, cfg: EncoderTrainConfig):
    from wenmai.models.infomax import InfoMaxLoss
    from wenmai.models.losses import LOSSES

    if cfg.objective == "infomax":
        return InfoMaxLoss(model, cfg.infomax_alpha, cfg.infomax_beta, cfg.infomax_gamma)
    if cfg.objective != "amsoftmax":
        raise ValueError(f"--objective {cfg.objective!r}: expected amsoftmax or infomax")
    if cfg.loss not in LOSSES:
        raise ValueError(f"--loss {cfg.loss!r}: expected one of {', '.join(sorted(LOSSES))}")
    return LOSSES[cfg.loss](model, scale=cfg.scale, margin=cfg.margin)


# --------------------------------------------------------------------------------------------------
# dev evaluation (held-out train-role slice)


def _dev_scores(model, vocab, dev, segment, max_len: int) -> tuple[dict, dict]:
    """Per-slice figures + mean Spearman, and the raw (sims, labels) for threshold picking."""
    row, raw = {}, {}
    for name, (a, b, y) in dev.items():
        sims = pair_similarities(a, b, model, vocab, max_len=max_len, segment=segment)
        key = Path(name).parent.name
        figures = score_pairs(sims, y, None)
        row[f"{key}_spearman"] = figures["spearman"]
        row[f"{key}_auc"] = figures["auc"]
        raw[name] = (sims, y)
    row["dev_spearman"] = float(np.mean([v for k, v in row.items() if k.endswith("_spearman")]))
    return row, raw


def _thresholds(raw: dict, dev: dict) -> tuple[float, float, dict]:
    """Accuracy-best thresholds for our cosine and for the TF-IDF baseline, on the dev slice."""
    from wenmai.models.evaluate import binarise

    sims = np.concatenate([s for s, _ in raw.values()])
    labels = np.concatenate([binarise(y) for _, y in raw.values()]).astype(np.float64)
    ours = best_threshold(sims, labels)
    base_sims = np.concatenate([tfidf_similarities(a, b) for a, b, _ in dev.values()])
    base = best_threshold(base_sims, labels)
    acc = {"dev_accuracy": float(((sims > ours) == (labels == 1)).mean()),
           "dev_baseline_accuracy": float(((base_sims > base) == (labels == 1)).mean())}
    return ours, base, acc


# --------------------------------------------------------------------------------------------------
# model card


def _card(cfg: EncoderTrainConfig, data: PairData, vocab: Vocab, model: SentenceEncoder,
          result, meta: dict, argv: Optional[Sequence[str]]) -> str:
    flags = " ".join(argv) if argv is not None else " ".join(sys.argv[1:])
    lines = [
        "# wenmai sentence encoder",
        "",
        f"Character + jieba-word embeddings -> bidirectional {cfg.cell.upper()} -> masked "
        f"{cfg.pooling} pooling -> linear -> L2-normalised vector. "
        + (f"Trained without labels by Deep InfoMax (global {cfg.infomax_alpha:g}, local "
           f"{cfg.infomax_beta:g}, prior KL {cfg.infomax_gamma:g}) on "
           f"{', '.join(cfg.corpus) or 'the train files sentences'}."
           if cfg.objective == "infomax" else
           f"Trained with the in-batch `{cfg.loss}` loss (margin {cfg.margin}, scale {cfg.scale}), "
           f"hard negatives from labelled negative pairs: {cfg.hard_negatives}.")
        + (f" Started from {cfg.init_from}." if cfg.init_from else ""),
        "",
        f"- recipe: {cfg.epochs} epochs, batch {cfg.batch_size} pairs, AdamW lr {cfg.lr:g} "
        f"(warmup {cfg.warmup_steps} steps, cosine), weight EMA {cfg.ema_decay:g}, dropout "
        f"{cfg.dropout:g}, per-file repeats {list(cfg.repeats) or 'all 1'}, "
        f"{cfg.singletons:,} SimCSE-style singleton rows per epoch (second view: characters "
        f"deleted at rate {cfg.deletion:g}), bag-of-embeddings pooling: {cfg.embed_pool}",
        *([f"- embeddings initialised by PPMI + truncated SVD (window {cfg.ppmi_window}) over "
           f"{meta['pretrain']['texts']:,} texts / {meta['pretrain']['chars']:,} characters: the "
           f"training sentences and the train-role files {', '.join(cfg.pretrain_files)} "
           f"(at most {cfg.pretrain_max_chars:,} characters of them; their words join the vocabulary)"]
          if cfg.pretrain_files else []),
        f"- parameters: {model.get_num_params():,}; output dim {model.dim}; "
        f"vocabulary {vocab.n_chars:,} characters, {vocab.n_words:,} words",
        f"- decision threshold (cosine, config.json `threshold`): {meta['threshold']:.4f}, chosen "
        "for best accuracy on the held-out train-role slice (never on a report file)",
        "",
        "## Training data (train-role files only)",
        "",
        "| file | rows | held out (dev slice) | dropped (shares a sentence with the dev slice) "
        "| positive pairs used | negative pairs used |",
        "|---|---|---|---|---|---|",
    ]
    for name, c in data.counts.items():
        lines.append(f"| {name} | {c['rows']:,} | {c['held_out']:,} | "
                     f"{c['dropped_overlap']:,} | {c['positives']:,} | {c['negatives']:,} |")
    n_groups = len({data.group[a] for a, _ in data.positives})
    lines += [
        "",
        f"{len(data.positives):,} distinct positive pairs in {n_groups:,} paraphrase groups "
        f"(connected components), {len(data.texts):,} distinct training sentences. STS-B scores "
        f">= {cfg.graded_positive:g} count as positive, <= {cfg.graded_negative:g} as negative. "
        "These are small dev/test-sized splits (the official LCQMC/BQ training sets were not "
        "available), so figures are not comparable to full-data published numbers.",
        "",
        "## Command",
        "",
        "```",
        f"wenmai train encoder {flags}",
        f"# equivalently: python -m wenmai.models.train_encoder {flags}",
        "```",
        "",
        f"Training took {result.seconds / 60:.1f} min ({result.steps:,} steps, {cfg.epochs} epochs) "
        f"on {platform.machine()} CPU with {cfg.threads} torch threads; best epoch "
        f"{result.best_epoch} by mean Spearman on the held-out slice.",
        "",
        "## Held-out train-role slice (model selection)",
        "",
        "| epoch | loss | " + " | ".join(k for k in result.history[0] if k.endswith("spearman"))
        + " | seconds |",
        "|---|---|" + "---|" * sum(k.endswith("spearman") for k in result.history[0]) + "---|",
    ]
    for row in result.history:
        cells = " | ".join(f"{v:.4f}" for k, v in row.items() if k.endswith("spearman"))
        lines.append(f"| {row['epoch']} | {row['loss']:.4f} | {cells} | {row['seconds']:.0f} |")
    lines += [
        "",
        f"Accuracy on the slice at the stored thresholds: ours {meta['dev_accuracy']:.4f}, "
        f"char TF-IDF {meta['dev_baseline_accuracy']:.4f}.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------


def train_encoder(config: EncoderTrainConfig, argv: Optional[Sequence[str]] = None) -> Path:
    """Trains, keeps the best epoch, writes the model directory `config.out` and returns it."""
    cfg = config
    torch.set_num_threads(max(1, cfg.threads))
    set_seed(cfg.seed)
    t0 = time.time()

    # --- data and vocabulary
    data = _load_data(cfg)
    import jieba

    jieba.setLogLevel(logging.WARNING)
    unsupervised = cfg.objective == "infomax"
    train_texts = _corpus_texts(cfg, data) if unsupervised else data.texts
    all_texts = list(dict.fromkeys(train_texts + data.texts
                                   + [t for a, b, _ in data.dev.values() for t in a + b]))
    words = {t: jieba.lcut(t) for t in all_texts}
    pre_texts: list[str] = []
    budget = cfg.pretrain_max_chars
    for name in cfg.pretrain_files:
        for t in _read_texts(Path(cfg.data_dir) / name):
            if budget <= 0:
                break
            pre_texts.append(t)
            budget -= len(t)
    pre_words = [jieba.lcut(t) for t in pre_texts]
    segmented = list(zip(train_texts, (words[t] for t in train_texts))) + list(zip(pre_texts,
                                                                                  pre_words))
    start = None
    if cfg.init_from:  # continue from a trained encoder: its vocabulary, shape and weights
        from wenmai.models.encoder import load_encoder

        start, vocab = load_encoder(cfg.init_from)
    else:
        vocab = Vocab.build(segmented, max_chars=cfg.max_chars, max_words=cfg.max_words,
                            min_count=1)
        if cfg.min_word_count > 1:  # rebuild the word table with the count floor
            kept = Vocab.build(segmented, max_chars=cfg.max_chars, max_words=cfg.max_words,
                               min_count=cfg.min_word_count)
            vocab = Vocab(vocab.chars, kept.words)
    encoded = [vocab.encode(t, words[t], cfg.max_len) for t in data.texts]
    log.info("%d training sentences, %d positive pairs, %d singles, vocab %s, %.0fs",
             len(data.texts), len(data.positives), len(data.singles), vocab, time.time() - t0)

    # --- model, loss, trainer
    enc_cfg = EncoderConfig(char_vocab_size=vocab.n_chars, word_vocab_size=vocab.n_words,
                            char_dim=cfg.char_dim, word_dim=cfg.word_dim, hidden=cfg.hidden,
                            n_layers=cfg.n_layers, cell=cfg.cell, chunk_size=cfg.chunk_size,
                            pooling=cfg.pooling,
                            embed_pool=cfg.embed_pool, dim=cfg.dim, dropout=cfg.dropout, max_len=128)
    if start is not None:
        enc_cfg = dataclasses.replace(start.config, dropout=cfg.dropout)
    model = SentenceEncoder(enc_cfg)
    if start is not None:
        model.load_state_dict(start.state_dict())
    elif cfg.pretrain_files:  # count-based vectors from all train-role text we hold
        char_seqs = [[vocab.char_id(c) for c in t] for t, _ in segmented]
        word_seqs = [[vocab.word_id(w) for w in ws] for _, ws in segmented]
        n_c = _init_embedding(model.char_emb, ppmi_svd(char_seqs, vocab.n_chars, cfg.char_dim,
                                                       cfg.ppmi_window, cfg.seed))
        n_w = _init_embedding(model.word_emb, ppmi_svd(word_seqs, vocab.n_words, cfg.word_dim,
                                                       cfg.ppmi_window, cfg.seed))
        log.info("PPMI-SVD init from %d texts (%d chars): %d char and %d word vectors, %.0fs",
                 len(segmented), sum(len(t) for t, _ in segmented), n_c, n_w, time.time() - t0)
    loss_fn = build_loss(model, cfg)
    if unsupervised:
        batches, steps = _sentence_batches(
            [vocab.encode(t, words[t], cfg.max_len) for t in train_texts], cfg)
    else:
        batches, steps = _make_batches(data, encoded, cfg)
    trainer_cfg = TrainerConfig(epochs=cfg.epochs, lr=cfg.lr, warmup_steps=cfg.warmup_steps,
                                weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip,
                                ema_decay=cfg.ema_decay,
                                best_metric=None if unsupervised else "dev_spearman",
                                best_mode="max", seed=cfg.seed, progress=cfg.progress)
    segment = words.__getitem__
    trainer = Trainer(model, loss_fn, trainer_cfg,
                      evaluate=lambda m: _dev_scores(m, vocab, data.dev, segment, cfg.max_len)[0])
    result = trainer.fit(batches, steps)

    # --- thresholds on the held-out slice, then save with the card
    _, raw = _dev_scores(model, vocab, data.dev, segment, cfg.max_len)
    threshold, base_threshold, acc = _thresholds(raw, data.dev)
    result.seconds = time.time() - t0
    meta = {"threshold": threshold, "baseline_threshold": base_threshold, **acc,
            "pretrain": {"texts": len(segmented), "chars": sum(len(t) for t, _ in segmented)},
            "dev_metrics": result.best_metrics, "train_config": dataclasses.asdict(cfg)}
    out = Path(cfg.out)
    card = _card(cfg, data, vocab, model, result, meta, argv)
    save_pretrained(model, out, vocab=vocab, card=card, extra=meta)
    log.info("saved %s (best epoch %s: %s) in %.1f min", out, result.best_epoch,
             json.dumps(result.best_metrics), result.seconds / 60)
    return out


def main(argv: Optional[Sequence[str]] = None) -> Path:
    parser = ArgumentParser(prog="wenmai train encoder", description=__doc__.split("\n")[0])
    add_dataclass_args(parser, EncoderTrainConfig)
    args = parser.parse_args(argv)
    config = dataclass_from_args(EncoderTrainConfig, args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("wenmai").setLevel(logging.INFO)  # `wenmai` set the root to WARNING first
    return train_encoder(config, argv=argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
