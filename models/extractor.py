"""Triple extractor: (text, jieba words) -> [(subject, predicate, object) with character offsets].

After Su Jianlin's LIC2019 entry "基于DGCNN和概率图的轻量级信息抽取模型" (kexue.fm/archives/6671):

    char emb + word emb (jieba word of each character) + position emb
      -> DGCNN: dilated gated 1-D convolutions, x + (conv_a(x) - x) * sigmoid(conv_b(x))
         (or, for the baseline, a BiLSTM of the same width)
      -> subject head: self-attention, conv, start/end sigmoid pointers          (B, T, 2)
      -> object head, conditioned on one subject (its start and end states + each position's
         distance to it): self-attention, conv, start/end pointers per predicate (B, T, P, 2)

"Half pointer, half tagging": every predicate has its own pair of pointer columns, so one pass
per subject yields all of its objects. Spans are character offsets [start, end); a start is
paired with the nearest end at or after it.

Self-attention is full, or sparse for long inputs (kexue.fm/archives/6853): `local` lets each
position see the positions within `window` of it, `atrous` the positions sharing (i mod `rate`).
Both reshape into blocks, so their score tensors hold ~3·window·T and T²/rate entries, not T².
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from wenmai.models.vocab import pad_ids

if TYPE_CHECKING:
    from wenmai.models.vocab import Vocab

__all__ = ["ExtractorConfig", "TripleExtractor", "HalfPointerLoss", "GatedDilatedConv",
           "SelfAttention", "full_attention", "local_attention", "atrous_attention",
           "decode_spans", "extract_triples", "load_extractor"]

ARCHS = ("dgcnn", "bilstm")
ATTENTIONS = ("full", "local", "atrous")


@dataclass(frozen=True)
class ExtractorConfig:
    char_vocab_size: int = 6000
    word_vocab_size: int = 20000
    predicates: tuple[str, ...] = ()  # output columns of the object head, in order
    d: int = 128  # width of every layer (the BiLSTM has d/2 units per direction)
    word_dim: int = 64  # word embeddings are projected to d and added; 0 turns them off
    arch: str = "dgcnn"  # dgcnn | bilstm (the baseline)
    # one DGCNN block per rate; mixing 1, 2, 5 avoids the holes of repeated equal dilations
    dilations: tuple[int, ...] = (1, 2, 5, 1, 2, 5, 1, 1)
    kernel_size: int = 3
    lstm_layers: int = 2  # baseline only
    attention: str = "full"  # full | local | atrous
    n_heads: int = 4
    window: int = 32  # local attention: positions within this distance
    rate: int = 8  # atrous attention: positions i, j with i ≡ j (mod rate)
    max_len: int = 512  # size of the position table; longer inputs must be cut by the caller
    max_distance: int = 64  # |position - subject start| is clipped to this for its embedding
    dropout: float = 0.1
    # LayerNorm before each DGCNN block's convolution and after the stack (pre-norm residuals):
    # the un-normalised stack diverged at lr 2e-3; False keeps the first weights loadable
    layer_norm: bool = False

    @property
    def n_predicates(self) -> int:
        return len(self.predicates)


# --------------------------------------------------------------------------------------------------
# building blocks


class GatedDilatedConv(nn.Module):
    """One DGCNN block: y = x + (a - x) * sigmoid(b), with [a; b] = dilated conv(x) (2d channels).

    Gate 0 keeps x, gate 1 replaces it by a: a residual whose mix is learnt per position and
    channel. Padded positions are zeroed before the convolution and after it, so they never leak
    into real ones. Channels first, (B, d, T), as the convolution wants them: the stack stays in
    that layout, with no transpose or copy between blocks (the same numbers; the stack alone
    1.2-1.6x faster on a CPU than transposing around every convolution, docs/benchmarks.md).
    """

    def __init__(self, d: int, kernel_size: int, dilation: int, dropout: float,
                 layer_norm: bool = False):
        super().__init__()
        assert kernel_size % 2 == 1, "odd kernels keep the output aligned with the input"
        self.norm = nn.LayerNorm(d) if layer_norm else None
        self.conv = nn.Conv1d(d, 2 * d, kernel_size, dilation=dilation,
                              padding=dilation * (kernel_size - 1) // 2)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """x (B, d, T), m (B, 1, T) the mask in x's dtype -> (B, d, T)."""
        x = x * m
        h = x if self.norm is None else self.norm(x.transpose(1, 2)).transpose(1, 2) * m
        a, b = self.conv(h).chunk(2, dim=1)  # (B, d, T) each; the conv sees normalised input
        g = torch.sigmoid(b)
        return (x + (self.drop(a) - x) * g) * m


def _masked_softmax_attend(scores, allowed, v):
    """softmax over the last axis where `allowed`, then weights @ v. Rows with nothing allowed
    (padded queries) get a finite, meaningless output that the caller masks out."""
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1) @ v


def full_attention(q, k, v, key_mask, allowed: Optional[torch.Tensor] = None):
    """Dense attention; q, k, v (B, H, T, hs), key_mask (B, T) bool, allowed (T, T) bool or None.

    Without gradients (inference) torch's fused kernel computes the same numbers (to ~1e-6)
    without the (B, H, T, T) score tensor: 1.7-2.4x faster from 60 positions on, one CPU thread
    (docs/benchmarks.md). Training keeps the explicit form, whose saved tensors are what the
    sparse modes are measured against.
    """
    ok = key_mask[:, None, None, :]  # (B, 1, 1, T)
    if allowed is not None:
        ok = ok & allowed
    if not torch.is_grad_enabled():  # a row with no allowed key gives zeros, as masked out anyway
        return F.scaled_dot_product_attention(q, k, v, attn_mask=ok)  # (B, H, T, hs)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, H, T, T)
    return _masked_softmax_attend(scores, ok, v)  # (B, H, T, hs)


def local_attention(q, k, v, key_mask, window: int):
    """Position i attends to the keys j with |i - j| <= window, in blocks of `window` queries:
    each block sees its own key block and the two beside it. Scores (B, H, T/w, w, 3w)."""
    B, H, T, hs = q.shape
    w = window
    n = -(-T // w)  # blocks
    pad = n * w - T
    q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))  # (B, H, n*w, hs)
    key_mask = F.pad(key_mask, (0, pad), value=False)  # (B, n*w)
    qb = q.view(B, H, n, w, hs)  # (B, H, n, w, hs)
    # keys of blocks b-1, b, b+1 for every block b: pad one block each side, then slide by w
    kb = F.pad(k, (0, 0, w, w)).unfold(2, 3 * w, w).transpose(-2, -1)  # (B, H, n, 3w, hs)
    vb = F.pad(v, (0, 0, w, w)).unfold(2, 3 * w, w).transpose(-2, -1)  # (B, H, n, 3w, hs)
    mb = F.pad(key_mask, (w, w), value=False).unfold(1, 3 * w, w)  # (B, n, 3w)
    # query a of block b sits at b*w + a, key c of its window at b*w - w + c
    a = torch.arange(w, device=q.device)[:, None]
    c = torch.arange(3 * w, device=q.device)[None, :]
    band = (c - w - a).abs() <= w  # (w, 3w)
    scores = qb @ kb.transpose(-2, -1) / math.sqrt(hs)  # (B, H, n, w, 3w)
    y = _masked_softmax_attend(scores, band & mb[:, None, :, None, :], vb)  # (B, H, n, w, hs)
    return y.reshape(B, H, n * w, hs)[:, :, :T]


def atrous_attention(q, k, v, key_mask, rate: int):
    """Position i attends to the keys j with i ≡ j (mod rate): the sequence is regrouped into
    `rate` interleaved subsequences of length T/rate, each attended densely.
    Scores (B, H, r, T/r, T/r)."""
    B, H, T, hs = q.shape
    r = rate
    n = -(-T // r)
    pad = n * r - T
    q, k, v = (F.pad(t, (0, 0, 0, pad)).view(B, H, n, r, hs).transpose(2, 3) for t in (q, k, v))
    mg = F.pad(key_mask, (0, pad), value=False).view(B, n, r).transpose(1, 2)  # (B, r, n)
    scores = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (B, H, r, n, n)
    y = _masked_softmax_attend(scores, mg[:, None, :, None, :], v)  # (B, H, r, n, hs)
    return y.transpose(2, 3).reshape(B, H, n * r, hs)[:, :, :T]


class SelfAttention(nn.Module):
    """Multi-head self-attention over the real positions, full or sparse (see the module doc)."""

    def __init__(self, d: int, n_heads: int, mode: str = "full", window: int = 32, rate: int = 8):
        super().__init__()
        assert d % n_heads == 0, "d must split evenly into heads"
        assert mode in ATTENTIONS, f"attention must be one of {ATTENTIONS}, got {mode!r}"
        self.n_heads, self.mode, self.window, self.rate = n_heads, mode, window, rate
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)
                   for t in self.qkv(x).split(C, dim=-1))  # (B, H, T, hs) each
        if self.mode == "local":
            y = local_attention(q, k, v, mask, self.window)
        elif self.mode == "atrous":
            y = atrous_attention(q, k, v, mask, self.rate)
        else:
            y = full_attention(q, k, v, mask)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.proj(y) * mask.unsqueeze(-1).to(y.dtype)


class PointerHead(nn.Module):
    """[x; attention(x)] -> conv 3 -> ReLU -> linear: `n_out` pointer logits per position."""

    def __init__(self, config: ExtractorConfig, n_out: int):
        super().__init__()
        d = config.d
        self.attn = SelfAttention(d, config.n_heads, config.attention, config.window, config.rate)
        self.conv = nn.Conv1d(2 * d, d, 3, padding=1)
        self.out = nn.Linear(d, n_out)
        # pointers are rare (~1 % of positions): start at that prior, not at 0.5, or the first
        # hundred steps only learn to say "no" (focal-loss paper's initialisation)
        nn.init.constant_(self.out.bias, -math.log(99.0))
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        h = torch.cat([x, self.attn(x, mask)], dim=-1) * m  # (B, T, 2d)
        h = F.relu(self.conv(h.transpose(1, 2)).transpose(1, 2))  # (B, T, d)
        return self.out(self.drop(h))  # (B, T, n_out)


# --------------------------------------------------------------------------------------------------
# the model


class TripleExtractor(nn.Module):
    model_type = "triple_extractor"

    def __init__(self, config: ExtractorConfig):
        super().__init__()
        assert config.arch in ARCHS, f"arch must be one of {ARCHS}, got {config.arch!r}"
        assert config.n_predicates > 0, "the config must list the predicates"
        self.config = config
        d = config.d
        self.char_emb = nn.Embedding(config.char_vocab_size, d, padding_idx=0)
        self.word_emb = (nn.Embedding(config.word_vocab_size, config.word_dim, padding_idx=0)
                         if config.word_dim > 0 else None)
        self.word_proj = nn.Linear(config.word_dim, d, bias=False) if config.word_dim > 0 else None
        self.pos_emb = nn.Embedding(config.max_len, d)
        self.drop = nn.Dropout(config.dropout)
        if config.arch == "dgcnn":
            self.blocks = nn.ModuleList(GatedDilatedConv(d, config.kernel_size, r, config.dropout,
                                                         config.layer_norm)
                                        for r in config.dilations)
            self.final_norm = nn.LayerNorm(d) if config.layer_norm else None
        else:
            assert d % 2 == 0, "the BiLSTM splits d into two directions"
            self.lstm = nn.LSTM(d, d // 2, num_layers=config.lstm_layers, batch_first=True,
                                bidirectional=True,
                                dropout=config.dropout if config.lstm_layers > 1 else 0.0)
        self.subject_head = PointerHead(config, 2)  # start, end
        self.subject_proj = nn.Linear(2 * d, d)  # [h_start; h_end] of the subject -> added to x
        self.distance_emb = nn.Embedding(2 * config.max_distance + 1, d)
        # (start, end) per predicate
        self.object_head = PointerHead(config, 2 * config.n_predicates)

    def get_num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def encode(self, char_ids: torch.Tensor, word_ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, d) contextual states (zero at padding)."""
        B, T = char_ids.shape
        assert T <= self.config.max_len, \
            f"input of {T} positions, the model takes {self.config.max_len}"
        mask = char_ids != 0
        x = self.char_emb(char_ids) + self.pos_emb(torch.arange(T, device=char_ids.device))
        if self.word_emb is not None:
            x = x + self.word_proj(self.word_emb(word_ids))  # (B, T, d)
        x = self.drop(x) * mask.unsqueeze(-1).to(x.dtype)
        if self.config.arch == "dgcnn":
            m = mask.unsqueeze(1).to(x.dtype)  # (B, 1, T)
            x = x.transpose(1, 2).contiguous()  # (B, d, T) through the stack
            for block in self.blocks:
                x = block(x, m)
            x = x.transpose(1, 2).contiguous()  # (B, T, d)
            if self.final_norm is not None:
                x = self.final_norm(x) * mask.unsqueeze(-1).to(x.dtype)
            return x
        lengths = mask.sum(1).clamp(min=1).cpu()  # all-padding rows run one masked step
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        h, _ = self.lstm(packed)
        h, _ = pad_packed_sequence(h, batch_first=True, total_length=T)  # (B, T, d)
        return h * mask.unsqueeze(-1).to(h.dtype)

    def subject_logits(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.subject_head(x, mask)  # (B, T, 2)

    def object_logits(self, x: torch.Tensor, mask: torch.Tensor, s_start: torch.Tensor,
                      s_end: torch.Tensor) -> torch.Tensor:
        """Object pointers given one subject per row: x (N, T, d), s_start/s_end (N,) inclusive
        indices of the subject's first and last character -> (N, T, P, 2) logits."""
        N, T, _ = x.shape
        rows = torch.arange(N, device=x.device)
        subject = self.subject_proj(torch.cat([x[rows, s_start], x[rows, s_end]], dim=-1))  # (N, d)
        distance = torch.arange(T, device=x.device)[None, :] - s_start[:, None]  # (N, T)
        distance = distance.clamp(-self.config.max_distance, self.config.max_distance)
        u = x + subject[:, None, :] + self.distance_emb(distance + self.config.max_distance)
        return self.object_head(u, mask).view(N, T, self.config.n_predicates, 2)

    def forward(self, char_ids, word_ids, s_start, s_end):
        """Teacher-forced pass: subject logits (B, T, 2), and object logits (B, T, P, 2) for the
        subject given per row."""
        mask = char_ids != 0
        x = self.encode(char_ids, word_ids)
        return self.subject_logits(x, mask), self.object_logits(x, mask, s_start, s_end)


class HalfPointerLoss(nn.Module):
    """Binary cross-entropy on every pointer, averaged over the real positions.

    loss = mean_t [ Σ_{start,end} BCE(subject) + Σ_{p, start,end} BCE(object_p | sampled subject) ]
    as in the reference design (one subject sampled per sentence per step).

    Inputs: features {"char_ids", "word_ids"} (B, T); labels {"s_start", "s_end"} (B,) long,
    {"subject"} (B, T, 2) and {"object"} (B, T, P, 2) float 0/1 targets.
    """

    def __init__(self, model: TripleExtractor):
        super().__init__()
        self.model = model

    def forward(self, features: dict, labels: dict) -> torch.Tensor:
        chars = features["char_ids"]
        s_logits, o_logits = self.model(chars, features["word_ids"], labels["s_start"],
                                        labels["s_end"])
        mask = (chars != 0).to(s_logits.dtype)  # (B, T)
        s_loss = F.binary_cross_entropy_with_logits(s_logits, labels["subject"], reduction="none")
        o_loss = F.binary_cross_entropy_with_logits(o_logits, labels["object"], reduction="none")
        per_position = s_loss.sum(-1) + o_loss.sum((-1, -2))  # (B, T)
        return (per_position * mask).sum() / mask.sum().clamp(min=1.0)

    def get_config_dict(self) -> dict:
        return {}


# --------------------------------------------------------------------------------------------------
# decoding


def decode_spans(p_start: Sequence[float], p_end: Sequence[float], threshold: float
                 ) -> list[tuple[int, int, float]]:
    """Spans [start, end) from pointer probabilities: each start above `threshold` is paired with
    the nearest end above it at or after the start; score = min of the two probabilities.

    Example: decode_spans([.9, 0, .8, 0], [0, .7, 0, .6], .5) -> [(0, 2, .7), (2, 4, .6)]
    """
    ends = [j for j, p in enumerate(p_end) if p > threshold]
    spans, k = [], 0
    for i, p in enumerate(p_start):
        if p <= threshold:
            continue
        while k < len(ends) and ends[k] < i:
            k += 1
        if k == len(ends):
            break
        j = ends[k]
        spans.append((i, j + 1, float(min(p, p_end[j]))))
    return spans


def extract_triples(model: TripleExtractor, vocab: "Vocab",
                    examples: Sequence[tuple[str, Sequence[str]]], device,
                    threshold: Optional[float] = None, max_len: Optional[int] = None,
                    max_subjects: int = 256) -> list[list[dict]]:
    """Triples of each (text, words) example, in one padded batch.

    One forward for the whole batch, then one object pass for all subjects of all sentences
    together (in chunks of `max_subjects`). Each triple is {"subject", "predicate", "object",
    "subject_start", "subject_end", "object_start", "object_end", "score"}, offsets into the
    text (the first `max_len` characters are read), score = min of its four pointer probabilities.

    `threshold` None (the default): what `load_extractor` attached from config.json, all chosen
    on held-out train-role data: `model.threshold` for subjects, `model.object_thresholds` (one
    per predicate) for objects, `model.type_filter` (subject and object types must fit the
    predicate's schema slots) and `model.triple_rules` (the sentence's own evidence: word
    boundaries, name and country words, cue words; see `triple_rules`). A number: that one
    pointer threshold everywhere, no type filter, no rules.
    """
    n_pred = model.config.n_predicates
    type_filter = None
    if threshold is None:
        threshold = getattr(model, "threshold", 0.5)
        object_thresholds = getattr(model, "object_thresholds", None)
        type_filter = getattr(model, "type_filter", None)
    else:
        object_thresholds = None
    if object_thresholds is None:
        object_thresholds = [threshold] * n_pred
    assert len(object_thresholds) == n_pred, "one object threshold per predicate"
    lowest = min(object_thresholds)
    max_len = min(max_len or model.config.max_len, model.config.max_len)
    encoded = [vocab.encode(text, words, max_len) for text, words in examples]
    out: list[list[dict]] = [[] for _ in examples]
    if not any(c for c, _ in encoded):
        return out
    chars = pad_ids([c for c, _ in encoded], device)  # (B, T)
    words = pad_ids([w for _, w in encoded], device)  # (B, T)
    mask = chars != 0
    predicates = model.config.predicates
    with torch.inference_mode():
        x = model.encode(chars, words)  # (B, T, d)
        ps = torch.sigmoid(model.subject_logits(x, mask)).masked_fill(~mask[..., None], 0.0)
        ps = ps.float().cpu().numpy()  # (B, T, 2)
        subjects = [(b, s, e, score) for b, (c, _) in enumerate(encoded)
                    for s, e, score in decode_spans(ps[b, :len(c), 0], ps[b, :len(c), 1],
                                                    threshold)]
        for lo in range(0, len(subjects), max_subjects):
            chunk = subjects[lo:lo + max_subjects]
            rows = torch.tensor([b for b, _, _, _ in chunk], device=x.device)
            s_start = torch.tensor([s for _, s, _, _ in chunk], device=x.device)
            s_end = torch.tensor([e - 1 for _, _, e, _ in chunk], device=x.device)
            po = torch.sigmoid(model.object_logits(x[rows], mask[rows], s_start, s_end))
            po = po.float().cpu().numpy()  # (n, T, P, 2)
            for k, (b, s, e, s_score) in enumerate(chunk):
                text, n = examples[b][0], len(encoded[b][0])
                starts, ends = po[k, :n, :, 0], po[k, :n, :, 1]  # (n, P)
                for p in sorted(set((starts > lowest).nonzero()[1].tolist())):
                    for os_, oe, o_score in decode_spans(starts[:, p], ends[:, p],
                                                         object_thresholds[p]):
                        out[b].append({"subject": text[s:e], "predicate": predicates[p],
                                       "object": text[os_:oe], "subject_start": s, "subject_end": e,
                                       "object_start": os_, "object_end": oe,
                                       "score": min(s_score, o_score)})
    if type_filter is not None:
        out = [type_filter.keep(text, words, found) if found else found
               for (text, words), found in zip(examples, out)]
    rules = getattr(model, "triple_rules", None) if type_filter is not None else None
    if rules is not None:
        out = [rules.apply(text, words, found) if found else found
               for (text, words), found in zip(examples, out)]
    return out


def load_extractor(directory) -> tuple[TripleExtractor, "Vocab"]:
    """The extractor and vocabulary saved in `directory`, in eval mode with gradients off, with
    the decoding choices of its config.json attached: `model.threshold` (subject pointers; 0.5
    if absent), `model.object_thresholds` (per predicate; None: the subject threshold),
    `model.type_filter` (None when the directory has no span type classifier) and
    `model.triple_rules` (None when config.json has no `rules`)."""
    from wenmai.models.checkpoint import load_pretrained, read_config
    from wenmai.models.span_types import TypeFilter, load_span_types
    from wenmai.models.triple_rules import RuleConfig, TripleRules

    model, vocab = load_pretrained(directory, TripleExtractor, ExtractorConfig)
    meta = read_config(directory)
    model.threshold = float(meta.get("threshold", 0.5))
    by_predicate = meta.get("object_thresholds")
    model.object_thresholds = None if by_predicate is None else [
        float(by_predicate.get(p, model.threshold)) for p in model.config.predicates]
    classifier = load_span_types(directory)
    spec = meta.get("type_filter")
    model.type_filter = None
    if classifier is not None and spec is not None:
        model.type_filter = TypeFilter(classifier, spec["slots"], float(spec["min_share"]))
    rules = meta.get("rules")
    model.triple_rules = None
    if rules is not None and model.type_filter is not None:
        model.triple_rules = TripleRules({p: tuple(s) for p, s in rules["slots"].items()},
                                         RuleConfig(**rules["config"]), classifier)
    return model, vocab
