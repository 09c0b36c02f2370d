"""Train-role similarity files -> `PairData`: training sentences, positive pairs joined into
paraphrase groups, labelled negatives per sentence and a held-out slice for model selection.

The held-out slice is drawn first, and every training pair that shares a sentence with it is
dropped, so the epoch picked on the slice never saw its sentences. Positive pairs are joined
transitively (connected components): two rows of one group are never each other's negatives.
"""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from wenmai.models.evaluate import read_pairs
from wenmai.models.vocab import Vocab

if TYPE_CHECKING:
    from wenmai.models.train_encoder import EncoderTrainConfig

__all__ = ["PairData", "build_groups", "load_pair_data", "corpus_texts", "build_vocab"]


def build_groups(pairs: Sequence[tuple[int, int]], n: int) -> list[int]:
    """Group id of each of `n` items: the connected components of the `pairs` graph, numbered in
    the order of their first member.

    Example: build_groups([(0, 1), (1, 2), (3, 4)], 6) -> [0, 0, 0, 1, 1, 2]
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if n == 0:
        return []
    a, b = (np.asarray(side, dtype=np.int64) for side in zip(*pairs)) if pairs else ([], [])
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # renumber by first member, whatever order scipy labels components in
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse].tolist()


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


def load_pair_data(cfg: EncoderTrainConfig) -> PairData:
    """Reads `cfg.train_files`, `cfg.dev_files` and `cfg.unlabeled_files` under `cfg.data_dir`.

    Binary labels: 1 is a positive pair, 0 a negative. Graded labels (STS-B 0-5): at least
    `cfg.graded_positive` is positive, at most `cfg.graded_negative` negative, the middle unused.
    """
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


def corpus_texts(cfg: EncoderTrainConfig, data: PairData) -> list[str]:
    """InfoMax training texts: the `cfg.corpus` files (normalised as the pipeline does,
    deduplicated, at most `cfg.corpus_max_texts`), else the sentences of the train files; never a
    sentence of the held-out slice."""
    from wenmai.text import iter_texts, normalize_text

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


def build_vocab(segmented: Sequence[tuple[str, Sequence[str]]], cfg: EncoderTrainConfig) -> Vocab:
    """The most frequent `cfg.max_chars` characters and `cfg.max_words` words of `(text, words)`
    pairs; words seen fewer than `cfg.min_word_count` times stay <unk>, characters never do."""
    vocab = Vocab.build(segmented, max_chars=cfg.max_chars, max_words=cfg.max_words, min_count=1)
    if cfg.min_word_count > 1:  # rebuild the word table with the count floor
        kept = Vocab.build(segmented, max_chars=cfg.max_chars, max_words=cfg.max_words,
                           min_count=cfg.min_word_count)
        vocab = Vocab(vocab.chars, kept.words)
    return vocab
