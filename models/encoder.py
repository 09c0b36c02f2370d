"""Sentence encoder: (char ids [B, T], aligned word ids [B, T]) -> L2-normalised vectors [B, D].

char embedding ⊕ jieba word embedding (per character) -> bidirectional GRU (packed, so padding
never reaches either direction) -> masked mean ⊕ max pooling -> linear -> L2 normalisation.
Cosine similarity of two outputs is their dot product; FAISS `IndexFlatIP` uses them as they are.

Trained with in-batch AM-Softmax (`losses.AMSoftmaxInBatchLoss`, `train_encoder.py`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from wenmai.models.vocab import pad_ids

if TYPE_CHECKING:
    from wenmai.models.vocab import Vocab

__all__ = ["EncoderConfig", "SentenceEncoder", "embed_features", "load_encoder", "pad_ids"]


@dataclass(frozen=True)
class EncoderConfig:
    # common CJK characters + punctuation cover > 99.9 % of tokens (set from the data)
    char_vocab_size: int = field(default=6000, metadata={"cli": False})
    # capped so that the shipped weights stay well under 20 MB (set from the data)
    word_vocab_size: int = field(default=20000, metadata={"cli": False})
    char_dim: int = 128
    word_dim: int = 64  # 0 turns word features off (char-only encoder)
    hidden: int = 256  # GRU units per direction
    n_layers: int = 1  # one layer: on ~30k training sentences a second one did not pay
    cell: str = "gru"  # gru | lstm | onlstm (ordered neurons, models/onlstm.py)
    chunk_size: int = 8  # onlstm only: neurons per master-gate chunk
    pooling: str = "mean_max"  # mean | max | mean_max (mean and max concatenated)
    embed_pool: bool = False  # also mean-pool the input embeddings: a bag-of-characters route
    dim: int = 256  # output vector size
    dropout: float = 0.1  # on embeddings and before the projection; two dropout views = SimCSE
    max_len: int = 128  # characters per sentence fed at inference (longer text is truncated)


_POOLINGS = ("mean", "max", "mean_max")
_CELLS = {"gru": nn.GRU, "lstm": nn.LSTM, "onlstm": None}


class MaskedPooling(nn.Module):
    """Mean and/or max over the valid positions; rows with no valid position pool to zeros."""

    def __init__(self, mode: str):
        super().__init__()
        assert mode in _POOLINGS, f"pooling must be one of {_POOLINGS}, got {mode!r}"
        self.mode = mode

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # h: (B, T, H), mask: (B, T) bool
        m = mask.unsqueeze(-1).to(h.dtype)  # (B, T, 1)
        out = []
        if self.mode in ("mean", "mean_max"):
            out.append((h * m).sum(1) / m.sum(1).clamp(min=1.0))  # (B, H)
        if self.mode in ("max", "mean_max"):
            mx = h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)  # (B, H)
            out.append(torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx)))
        return torch.cat(out, dim=-1)  # (B, H) or (B, 2H)


class SentenceEncoder(nn.Module):
    model_type = "sentence_encoder"

    def __init__(self, config: EncoderConfig):
        super().__init__()
        assert config.cell in _CELLS, f"cell must be one of {tuple(_CELLS)}, got {config.cell!r}"
        self.config = config
        self.char_emb = nn.Embedding(config.char_vocab_size, config.char_dim, padding_idx=0)
        self.word_emb = (nn.Embedding(config.word_vocab_size, config.word_dim, padding_idx=0)
                         if config.word_dim > 0 else None)
        self.drop = nn.Dropout(config.dropout)
        if config.cell == "onlstm":
            from wenmai.models.onlstm import ONLSTM

            assert config.n_layers == 1, "onlstm: one layer"
            self.rnn = ONLSTM(config.char_dim + config.word_dim, config.hidden, config.chunk_size)
        else:
            self.rnn = _CELLS[config.cell](
                config.char_dim + config.word_dim, config.hidden, num_layers=config.n_layers,
                batch_first=True, bidirectional=True,
                dropout=config.dropout if config.n_layers > 1 else 0.0)
        self.pool = MaskedPooling(config.pooling)
        pooled = 2 * config.hidden * (2 if config.pooling == "mean_max" else 1)
        pooled += (config.char_dim + config.word_dim) if config.embed_pool else 0
        self.embed_pool = MaskedPooling("mean") if config.embed_pool else None
        self.proj = nn.Linear(pooled, config.dim)

    @property
    def dim(self) -> int:
        return self.config.dim

    def get_num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def encode(self, char_ids: torch.Tensor, word_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate an objective may need: inputs `x` (B, T, C), per-position states
        `h` (B, T, 2H), `mask` (B, T), pooled features (B, P) and the projection `v` (B, D)
        before normalisation (Deep InfoMax reads `h` and `v`; `forward` only normalises `v`)."""
        B, T = char_ids.shape
        mask = char_ids != 0  # (B, T)
        lengths = mask.sum(1)  # (B,)
        x = self.char_emb(char_ids)  # (B, T, Cc)
        if self.word_emb is not None:
            x = torch.cat([x, self.word_emb(word_ids)], dim=-1)  # (B, T, Cc + Cw)
        x = self.drop(x)
        if self.config.cell == "onlstm":
            h = self.rnn(x, lengths.clamp(min=1))  # (B, T, 2H), zero at padding
        else:
            # packed: the backward direction starts at each row's last real character, not at
            # padding; all-padding rows run one (masked-out) step so that packing accepts them
            packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True,
                                          enforce_sorted=False)
            h, _ = self.rnn(packed)
            h, _ = pad_packed_sequence(h, batch_first=True, total_length=T)  # (B, T, 2H)
        pooled = self.pool(h, mask)  # (B, P)
        if self.embed_pool is not None:  # bag of characters (+ words) beside the GRU features
            pooled = torch.cat([pooled, self.embed_pool(x, mask)], dim=-1)  # (B, P + Cc + Cw)
        v = self.proj(self.drop(pooled))  # (B, D)
        return {"x": x, "h": h, "mask": mask, "pooled": pooled, "v": v}

    def forward(self, char_ids: torch.Tensor, word_ids: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.encode(char_ids, word_ids)["v"], dim=-1)  # (B, D), unit norm


def embed_features(model: SentenceEncoder, features: Sequence[tuple[Sequence[int], Sequence[int]]],
                   device: torch.device) -> tuple[np.ndarray, int, int]:
    """One batch of (char ids, word ids), padded to its own longest row, through the encoder.

    Returns (vectors [B, D] float32, real tokens, padded tokens): the pipeline's handler, the
    evaluations and the benchmark all embed through this one function.
    """
    chars = pad_ids([c for c, _ in features], device)  # (B, T)
    words = pad_ids([w for _, w in features], device)  # (B, T)
    with torch.inference_mode():
        vectors = model(chars, words).float().cpu().numpy()  # (B, D)
    return vectors, sum(len(c) for c, _ in features), chars.numel()


def load_encoder(directory) -> tuple[SentenceEncoder, "Vocab"]:
    """The encoder and vocabulary saved in `directory` (config.json + model.safetensors + vocab.json),
    in eval mode with gradients off."""
    from wenmai.models.checkpoint import load_pretrained

    return load_pretrained(directory, SentenceEncoder, EncoderConfig)
