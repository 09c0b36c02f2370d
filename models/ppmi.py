"""Raw train-role text -> embedding tables initialised by PPMI + truncated SVD (a count-based
word2vec), shared by the encoder and extractor trainers.

On the small labelled sets a randomly initialised table only learns the characters and words the
pairs contain; co-occurrence counts over more raw text give every vocabulary entry a starting
vector for free (no labels, seconds of CPU).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

__all__ = ["read_texts", "read_pretrain_texts", "ppmi_svd", "init_embedding"]


def read_texts(path: Path) -> list[str]:
    """Texts of a raw file: .jsonl "text" fields, .tsv last columns, other files' lines; blank
    texts skipped, the rest stripped.

    Example: a .tsv line "1\\t今天天气很好 " -> "今天天气很好"
    """
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


def read_pretrain_texts(root: Path, names: Sequence[str], max_chars: int) -> list[str]:
    """`read_texts` of the files `root / name`, in order, until `max_chars` characters are taken
    (the last text is kept whole, so the total may run past the budget by one text)."""
    texts: list[str] = []
    budget = max_chars
    for name in names:
        if budget <= 0:
            break
        for t in read_texts(Path(root) / name):
            if budget <= 0:
                break
            texts.append(t)
            budget -= len(t)
    return texts


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


def init_embedding(emb: Optional[torch.nn.Embedding], vecs: Optional[np.ndarray]) -> int:
    """Copies the non-zero rows of `vecs` into `emb` (others keep their random init, the padding
    row stays zero); returns how many rows were copied (0 when either is None)."""
    if emb is None or vecs is None:
        return 0
    seen = np.abs(vecs).sum(1) > 0
    seen[0] = False  # the padding row stays zero
    with torch.no_grad():
        emb.weight[torch.from_numpy(seen)] = torch.from_numpy(vecs[seen])
    return int(seen.sum())
