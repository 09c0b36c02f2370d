"""Title generator: document text -> (title, score), a character seq2seq with a copy prior.

    source chars -> shared char embedding -> bi-GRU encoder (packed)          memory [B, S, 2He]
    title so far -> same embedding -> GRU decoder (init from the encoder's final states)
                 -> Luong attention over the memory -> tanh(W [h; context]) -> logits tied to the
                    embedding table
                 + copy prior: a learned bias for every vocabulary character present in the source
                 -> softmax, mixed with copy attention: p = g * p_vocab + (1 - g) * p_copy

The copy prior is Su Jianlin's (https://kexue.fm/archives/5861, "玩转Keras之seq2seq自动生成标题"):
titles mostly reuse the source's characters, so a bag-of-source-characters vector, scaled per
character (`exp(log_scale)`) and shifted (`shift`), is added to the decoder's logits. It is
computed once per document, so beam search pays nothing for it per step. On top of it (config
`copy_attention`, on by default) the output is mixed with the attention weights summed per source
character (a pointer-generator, See et al. 2017, https://arxiv.org/abs/1704.04368): the prior says
*which* characters, the pointer says *which one next*, so the decoder can copy a whole phrase in
order, which the prior alone cannot do. With the prior only, our first run's greedy titles after
one epoch were mostly "基于…" fragments (CSL dev-slice ROUGE-L 0.19, below the lead baseline 0.31).
Neither extends the vocabulary: a source character outside it cannot be copied, so the vocabulary
covers every character of the training text.

Like Su's model (and unlike Bahdanau's), attention sits on top of the decoder GRU without input
feeding, so teacher-forced training runs the decoder GRU over the whole title in one call.

`beam_search` decodes a whole batch at once (tensors of (B*K, ...)), with length normalisation,
a maximum title length and n-gram repetition blocking; greedy is beam size 1 of the same code.
`generate_titles(model, vocab, texts, ...)` is what the Beam handler, the evaluation and the
benchmark call.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from wenmai.models.vocab import pad_ids

if TYPE_CHECKING:
    from wenmai.models.vocab import Vocab

__all__ = ["TitlerConfig", "Titler", "TitlerLoss", "beam_search", "generate_titles", "encode_texts",
           "load_titler", "build_titler_vocab", "BOS_ID", "EOS_ID", "SPECIALS"]

# the char table starts <pad>, <unk> (vocab.py) and then the decoder's two markers; multi-character
# names can never collide with a (single) normalised text character
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>"]
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


@dataclass(frozen=True)
class TitlerConfig:
    # characters of the train-role text; covers CSL's technical terms (set from the data)
    vocab_size: int = field(default=7000, metadata={"cli": False})
    emb_dim: int = 128  # shared by encoder input, decoder input and the (tied) output layer
    enc_hidden: int = 160  # encoder GRU units per direction; 192+ ran ~4x slower per CPU step
    dec_hidden: int = 320  # decoder GRU units (= 2 * enc_hidden: the memory's width)
    dec_layers: int = 1
    dropout: float = 0.2  # embeddings and the attention output; ~40k pairs overfit quickly
    copy_prior: bool = True  # Su's bag-of-source-characters bias on the output logits
    copy_attention: bool = True  # pointer mix: p = g * p_vocab + (1 - g) * attention on source ids
    max_len: int = 256  # source characters fed (longer text is truncated, as the CSL benchmark does)


# --------------------------------------------------------------------------------------------------
# parts


class Encoder(nn.Module):
    """Char ids [B, S] -> memory [B, S, 2He] and the decoder's initial state [L, B, Hd]."""

    def __init__(self, config: TitlerConfig):
        super().__init__()
        self.rnn = nn.GRU(config.emb_dim, config.enc_hidden, batch_first=True, bidirectional=True)
        self.init_state = nn.Linear(2 * config.enc_hidden, config.dec_layers * config.dec_hidden)
        self.dec_layers, self.dec_hidden = config.dec_layers, config.dec_hidden

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, S, _ = x.shape
        # packed: the backward direction starts at each row's last real character, not at padding
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        memory, h_n = self.rnn(packed)  # h_n: (2, B, He), forward and backward final states
        memory, _ = pad_packed_sequence(memory, batch_first=True, total_length=S)  # (B, S, 2He)
        h0 = torch.tanh(self.init_state(torch.cat([h_n[0], h_n[1]], dim=-1)))  # (B, L * Hd)
        h0 = h0.view(B, self.dec_layers, self.dec_hidden).transpose(0, 1).contiguous()  # (L, B, Hd)
        return memory, h0


class Attention(nn.Module):
    """Luong "general" attention: decoder outputs [B, T, Hd] over memory [B, S, 2He] -> (context,
    weights)."""

    def __init__(self, config: TitlerConfig):
        super().__init__()
        self.key = nn.Linear(2 * config.enc_hidden, config.dec_hidden, bias=False)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor,
                mask: torch.Tensor, beams: int = 1) -> torch.Tensor:
        # query: (B*k, T, Hd), keys: (B, S, Hd) = self.key(memory), mask: (B*k, S) bool; the k
        # beams of one source share its keys and memory: one (k*T, S) product per source reads
        # them once, where a copy per beam would read them k times (the decoder's costliest step)
        R, T, _ = query.shape
        B, S, _ = keys.shape
        q = query.reshape(B, beams * T, -1)  # (B, k*T, Hd)
        scores = (q @ keys.transpose(1, 2)).view(R, T, S)  # (B*k, T, S)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = F.softmax(scores, dim=-1)  # (B*k, T, S)
        context = (weights.view(B, beams * T, S) @ memory).view(R, T, -1)  # (B*k, T, 2He)
        return context, weights


class CopyPrior(nn.Module):
    """Su's output prior: logit bias exp(g + log_scale_c) * [c in source] + shift_c per character c.

    The shared log-scale g (our addition) lets characters too rare to learn their own scale still
    be copied. Specials (pad, unk, <s>, </s>) never count as present, so the prior cannot favour
    them.
    """

    def __init__(self, vocab_size: int):
        super().__init__()
        self.global_log_scale = nn.Parameter(torch.zeros(()))
        self.log_scale = nn.Parameter(torch.zeros(vocab_size))
        self.shift = nn.Parameter(torch.zeros(vocab_size))

    @staticmethod
    def bag(src: torch.Tensor, vocab_size: int) -> torch.Tensor:
        """[B, V] 0/1: which vocabulary characters occur in each source row."""
        present = torch.zeros(src.size(0), vocab_size, device=src.device)
        present.scatter_(1, src, 1.0)  # (B, V)
        present[:, : len(SPECIALS)] = 0.0
        return present

    def forward(self, present: torch.Tensor) -> torch.Tensor:
        return present * (self.global_log_scale + self.log_scale).exp() + self.shift  # (B, V)


@dataclass
class Memory:
    """Everything the decoder needs about a batch of sources, computed once (row = one source,
    or one beam of one source after `repeat`)."""

    memory: torch.Tensor  # (B, S, 2He)
    keys: torch.Tensor  # (B, S, Hd)
    mask: torch.Tensor  # (B, S) bool
    prior: torch.Tensor  # (B, V) logit bias (zeros without the copy prior)
    src: torch.Tensor  # (B, S) source ids, where copy attention puts its mass
    beams: int = 1  # rows of mask/prior/src per row of memory/keys (beams of one source)

    def repeat(self, k: int) -> "Memory":
        """k beams per source, adjacent: mask, prior and src become (B*k, ...); memory and keys
        stay (B, ...), shared by a source's beams (`Attention` reads them once per source)."""
        small = (t.repeat_interleave(k, dim=0) for t in (self.mask, self.prior, self.src))
        return Memory(self.memory, self.keys, *small, beams=self.beams * k)

    def take(self, sources: torch.Tensor) -> "Memory":
        """The rows of the given sources (indices into memory's B), with all their beams."""
        rows = (sources.unsqueeze(1) * self.beams
                + torch.arange(self.beams, device=sources.device)).view(-1)
        small = (t[rows] for t in (self.mask, self.prior, self.src))
        return Memory(self.memory[sources], self.keys[sources], *small, beams=self.beams)


# --------------------------------------------------------------------------------------------------
# the model


class Titler(nn.Module):
    model_type = "titler"

    def __init__(self, config: TitlerConfig):
        super().__init__()
        assert config.vocab_size > len(SPECIALS), "vocabulary must hold characters besides specials"
        self.config = config
        self.emb = nn.Embedding(config.vocab_size, config.emb_dim, padding_idx=PAD_ID)
        self.drop = nn.Dropout(config.dropout)
        self.encoder = Encoder(config)
        self.decoder = nn.GRU(config.emb_dim, config.dec_hidden, num_layers=config.dec_layers,
                              batch_first=True, dropout=config.dropout if config.dec_layers > 1 else 0)
        self.attention = Attention(config)
        self.combine = nn.Linear(config.dec_hidden + 2 * config.enc_hidden, config.emb_dim)
        self.out_bias = nn.Parameter(torch.zeros(config.vocab_size))  # weights tied to self.emb
        self.prior = CopyPrior(config.vocab_size) if config.copy_prior else None
        # copy gate g from (decoder output, context, input embedding), as in See et al. 2017
        self.gate = (nn.Linear(config.dec_hidden + 2 * config.enc_hidden + config.emb_dim, 1)
                     if config.copy_attention else None)

    def get_num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def encode(self, src: torch.Tensor) -> tuple[Memory, torch.Tensor]:
        """Source ids [B, S] (each row ends with </s>, so none is empty) -> (Memory, h0 [L, B, Hd])."""
        mask = src != PAD_ID  # (B, S)
        lengths = mask.sum(1).clamp(min=1)  # (B,)
        memory, h0 = self.encoder(self.drop(self.emb(src)), lengths)  # (B, S, 2He), (L, B, Hd)
        if self.prior is not None:
            prior = self.prior(CopyPrior.bag(src, self.config.vocab_size))  # (B, V)
        else:
            prior = memory.new_zeros(src.size(0), self.config.vocab_size)
        return Memory(memory, self.attention.key(memory), mask, prior, src), h0

    def decode(self, tgt_in: torch.Tensor, mem: Memory, h: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Title prefix ids [B, T] -> (log-probabilities [B, T, V], state [L, B, Hd]); T = 1 in
        beam search."""
        x = self.drop(self.emb(tgt_in))  # (B, T, E)
        y, h = self.decoder(x, h)  # (B, T, Hd)
        context, weights = self.attention(y, mem.keys, mem.memory, mem.mask,
                                          mem.beams)  # (B, T, 2He), (B, T, S)
        z = self.drop(torch.tanh(self.combine(torch.cat([y, context], dim=-1))))  # (B, T, E)
        logits = z @ self.emb.weight.T + self.out_bias + mem.prior.unsqueeze(1)  # (B, T, V)
        if self.gate is None:
            return F.log_softmax(logits, dim=-1), h
        # pointer mix: attention weights summed per source character id
        B, T, S = weights.shape
        g = torch.sigmoid(self.gate(torch.cat([y, context, x], dim=-1)))  # (B, T, 1)
        # under autocast the attention weights may be bf16/fp16 while the logits are fp32
        copy = torch.zeros_like(logits).scatter_add_(2, mem.src.unsqueeze(1).expand(B, T, S),
                                                     weights.to(logits.dtype))  # (B, T, V)
        p = g * F.softmax(logits, dim=-1) + (1 - g) * copy  # (B, T, V)
        return p.clamp_min(1e-12).log(), h

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor,
                tgt_out: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Teacher forcing: (log-probs [B, T, V], mean NLL over non-pad targets or None)."""
        mem, h0 = self.encode(src)
        logp, _ = self.decode(tgt_in, mem, h0)
        loss = None
        if tgt_out is not None:
            loss = F.nll_loss(logp.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD_ID)
        return logp, loss


class TitlerLoss(nn.Module):
    """Token-level cross-entropy of the teacher-forced decoder (optionally label-smoothed).

    Inputs: features {"src": [B, S], "tgt_in": [B, T]} (tgt_in = <s> + title), labels [B, T]
    (title + </s>, 0 = padding, ignored). Returns the mean over real target tokens.
    """

    def __init__(self, model: Titler, label_smoothing: float = 0.0):
        super().__init__()
        self.model = model
        self.label_smoothing = label_smoothing

    def get_config_dict(self) -> dict:
        return {"label_smoothing": self.label_smoothing}

    def forward(self, features: dict, labels: torch.Tensor) -> torch.Tensor:
        logp, _ = self.model(features["src"], features["tgt_in"])  # (B, T, V) log-probabilities
        logp, labels = logp.flatten(0, 1), labels.flatten()  # (B*T, V), (B*T,)
        loss = F.nll_loss(logp, labels, ignore_index=PAD_ID)
        if self.label_smoothing > 0:  # mix in the mean NLL of a uniform target
            real = labels != PAD_ID
            loss = (1 - self.label_smoothing) * loss - self.label_smoothing * logp[real].mean()
        return loss


# --------------------------------------------------------------------------------------------------
# decoding


def _block_repeats(logp: torch.Tensor, seqs: torch.Tensor, n: int) -> torch.Tensor:
    """Forbids every next token that would repeat an n-gram already in the row.

    logp: (R, V) next-token log-probs; seqs: (R, L) tokens generated so far. A token t is banned
    in row r when seqs[r, -(n-1):] + [t] already occurs in seqs[r]. Example (n = 2): after
    "A B A" the next token B is banned (the bigram "A B" exists).
    """
    R, L = seqs.shape
    if n < 2 or L < n:
        return logp
    prefixes = seqs.unfold(1, n - 1, 1)[:, : L - n + 1]  # (R, L-n+1, n-1): every (n-1)-gram start
    last = seqs[:, L - n + 1:]  # (R, n-1): the current suffix
    match = (prefixes == last.unsqueeze(1)).all(-1)  # (R, L-n+1)
    followers = seqs[:, n - 1:]  # (R, L-n+1): the token that followed each prefix
    banned = torch.zeros_like(logp).scatter_add_(1, followers, match.to(logp.dtype))  # (R, V)
    return logp.masked_fill(banned > 0, float("-inf"))


class _Constraints:
    """The per-source `TitleConstraint`s of a batch, turned into (B*K, V) masks each step."""

    def __init__(self, constraints: Sequence["TitleConstraint"], chars: Sequence[str], K: int):
        from wenmai.models.faithful import SPAN_CHARS

        self._rules, self._chars, self._K = list(constraints), chars, K
        self._ids = {c: i for i, c in enumerate(chars) if i >= len(SPECIALS)}
        self._span = [i for c, i in self._ids.items() if c in SPAN_CHARS]
        self._prefixes = [""] * (len(self._rules) * K)  # each row's title so far, as text

    def advance(self, parent: list[int], token: list[int]) -> None:
        """Row r now extends row parent[r] by token[r] (one character, not a re-join per step)."""
        self._prefixes = [self._prefixes[p] + self._chars[t] for p, t in zip(parent, token)]

    def take(self, sources: list[int]) -> None:
        """Keep only these sources' rules and rows (finished sources leave the batch)."""
        K = self._K
        self._rules = [self._rules[b] for b in sources]
        self._prefixes = [self._prefixes[b * K + k] for b in sources for k in range(K)]

    def _id_list(self, chars) -> list[int]:
        return [EOS_ID if c == "" else self._ids[c] for c in chars if c == "" or c in self._ids]

    def apply(self, logp: torch.Tensor, raw: torch.Tensor, seqs: torch.Tensor,
              finished: torch.Tensor) -> torch.Tensor:
        """logp with every unfaithful next character banned; a row that must go on keeps its
        raw scores there (n-gram and stutter bans do not apply: "1100" repeats a character)."""
        ban = torch.zeros_like(logp, dtype=torch.bool)
        ban[:, self._span] = True
        # (row, id) pairs gathered over the rows, then written with one indexed store each:
        # a store per row was a tenth of the titler's time
        only_rows, kept, free, banned = [], ([], []), ([], []), ([], [])
        for r, done in enumerate(finished.tolist()):
            if done:
                continue
            only, allow, extra = self._rules[r // self._K].rule(self._prefixes[r])
            if only is not None:
                only_rows.append(r)
                ids = self._id_list(only)
                kept[0].extend([r] * len(ids))
                kept[1].extend(ids)
            else:
                ids = self._id_list(allow)
                extra_ids = self._id_list(extra)
                banned[0].extend([r] * len(extra_ids))
                banned[1].extend(extra_ids)
            free[0].extend([r] * len(ids))
            free[1].extend(ids)
        ban[only_rows] = True
        ban[free] = False
        ban[banned] = True
        logp[kept] = raw[kept]  # a row that must go on keeps its raw scores there
        logp = logp.masked_fill(ban, float("-inf"))
        dead = torch.isinf(logp).all(1) & ~finished  # nothing faithful left: end here
        logp[dead, EOS_ID] = raw[dead, EOS_ID]  # (`TitleConstraint.finish` trims what it must)
        return logp


@torch.no_grad()
def beam_search(model: Titler, src: torch.Tensor, beam_size: int = 4, max_title_len: int = 32,
                length_alpha: float = 1.0, no_repeat_ngram: int = 3, no_stutter: bool = True,
                source_only: Sequence[int] = (), constraints: Optional[Sequence] = None,
                chars: Optional[Sequence[str]] = None) -> tuple[list[list[int]], list[float]]:
    """Batched beam search: source ids [B, S] -> per row (title ids without </s>, score).

    All B*K hypotheses advance together. A candidate's rank is its summed log-probability divided
    by length**length_alpha (length counts </s>), so 1.0 ranks by log-probability per character;
    finished hypotheses keep their slot and score; a source whose every beam has ended leaves the
    batch, so the rest decode at their own cost. The returned score is always the summed
    log-probability per token (title characters + </s> when it ended). beam_size 1 is greedy.
    `no_stutter` forbids a character right after itself: a character-level pointer otherwise
    stutters ("乙乙醇醇"), which n-gram blocking alone does not stop. Ids in `source_only` may
    appear in a title only when they occur in its source (see `SOURCE_ONLY`). `constraints`
    (one `faithful.TitleConstraint` per source row, with the vocabulary's `chars`) decide which
    characters may follow each hypothesis: numbers and Latin words only as whole source runs,
    no end inside a copied name, never a series label.
    """
    assert beam_size >= 1 and max_title_len >= 1
    B, K = src.size(0), beam_size
    V = model.config.vocab_size
    mem, h = model.encode(src)  # h: (L, B, Hd)
    mem = mem.repeat(K)  # rows b*K .. b*K+K-1 are the beams of source b
    h = h.repeat_interleave(K, dim=1)  # (L, B*K, Hd)
    device = src.device
    tokens = torch.full((B * K, 1), BOS_ID, dtype=torch.long, device=device)
    seqs = torch.zeros((B * K, 0), dtype=torch.long, device=device)  # generated tokens
    scores = torch.zeros(B, K, device=device)
    scores[:, 1:] = float("-inf")  # all beams start identical: keep only the first alive
    scores = scores.view(-1)  # (B*K,)
    lengths = torch.zeros(B * K, device=device)
    finished = torch.zeros(B * K, dtype=torch.bool, device=device)
    only = torch.as_tensor(list(source_only), dtype=torch.long, device=device)  # (O,)
    absent = ~(src.unsqueeze(-1) == only).any(1)  # (B, O): not in that row's source
    absent = absent.repeat_interleave(K, dim=0)  # (B*K, O)
    rules = _Constraints(constraints, chars, K) if constraints is not None else None
    active = list(range(B))  # the input row of each source still decoding
    out: list[tuple[list[int], float]] = [([], 0.0)] * B
    for _ in range(max_title_len + 1):
        logp, h = model.decode(tokens, mem, h)  # (B*K, 1, V)
        logp = logp[:, -1].float()  # (B*K, V)
        logp[:, [PAD_ID, UNK_ID, BOS_ID]] = float("-inf")
        raw = logp.clone() if rules is not None else None
        if seqs.size(1) >= max_title_len:  # the title is full: only </s> may follow
            logp[:, EOS_ID + 1:] = float("-inf")
        logp = _block_repeats(logp, seqs, no_repeat_ngram)
        if no_stutter and seqs.size(1) > 0:
            logp.scatter_(1, seqs[:, -1:], float("-inf"))
        if len(only):
            logp[:, only] = logp[:, only].masked_fill(absent, float("-inf"))
        if rules is not None and seqs.size(1) < max_title_len:
            logp = rules.apply(logp, raw, seqs, finished)
        # a finished hypothesis extends only by padding, at no cost
        logp = torch.where(finished.unsqueeze(1), torch.full_like(logp, float("-inf")), logp)
        logp[:, PAD_ID] = torch.where(finished, 0.0, float("-inf"))
        cand = scores.unsqueeze(1) + logp  # (B*K, V) summed log-probs
        cand_len = (lengths + (~finished).float()).unsqueeze(1)  # (B*K, 1)
        ranked = cand / cand_len.clamp(min=1).pow(length_alpha)  # (B*K, V)
        top = ranked.view(B, K * V).topk(K, dim=1).indices  # (B, K) into each source's K*V block
        parent = (top // V + torch.arange(B, device=device).unsqueeze(1) * K).view(-1)  # (B*K,)
        token = (top % V).view(-1)  # (B*K,)
        scores = cand.view(-1)[parent * V + token]
        lengths = cand_len.squeeze(1)[parent]
        finished = finished[parent] | (token == EOS_ID)
        seqs = torch.cat([seqs[parent], token.unsqueeze(1)], dim=1)  # (B*K, t+1)
        h = h[:, parent]
        tokens = token.unsqueeze(1)
        if rules is not None:
            rules.advance(parent.tolist(), token.tolist())
        done = finished.view(B, K).all(1)  # (B,) sources whose every beam has ended
        if bool(done.all()):
            break
        if int(done.sum()) * 4 >= B:  # a quarter has ended: they leave the batch, so later
            # steps cost only the others (each leaving copies the memory: not for every one)
            for b, title, score in zip(*_best(scores, lengths, seqs, K, length_alpha, done)):
                out[active[b]] = (title, score)
            keep = (~done).nonzero().squeeze(1)  # (B',)
            rows = (keep.unsqueeze(1) * K + torch.arange(K, device=device)).view(-1)  # (B'*K,)
            active = [active[b] for b in keep.tolist()]
            B = len(active)
            mem, h, tokens, seqs = mem.take(keep), h[:, rows], tokens[rows], seqs[rows]
            scores, lengths, finished, absent = scores[rows], lengths[rows], finished[rows], \
                absent[rows]
            if rules is not None:
                rules.take(keep.tolist())
    every = torch.ones(B, dtype=torch.bool, device=device)
    for b, title, score in zip(*_best(scores, lengths, seqs, K, length_alpha, every)):
        out[active[b]] = (title, score)
    return [title for title, _ in out], [score for _, score in out]


def _best(scores: torch.Tensor, lengths: torch.Tensor, seqs: torch.Tensor, K: int,
          length_alpha: float, sources: torch.Tensor):
    """(source index, title ids, log-probability per token) of the best beam of each source
    marked in `sources` (B,) bool; scores/lengths (B*K,), seqs (B*K, t)."""
    final = (scores / lengths.clamp(min=1).pow(length_alpha)).view(-1, K)
    picked = sources.nonzero().squeeze(1)  # (n,)
    best = final[picked].argmax(1) + picked * K  # (n,)
    titles = [[t for t in seqs[row].tolist() if t not in (PAD_ID, EOS_ID)]
              for row in best.tolist()]
    per_token = (scores[best] / lengths[best].clamp(min=1)).tolist()
    return picked.tolist(), titles, per_token


# Characters a title may use only when its source does: the news titles this model learned from
# often open with a broadcaster's series tag in 【】 that the story itself never mentions, and a
# title for someone else's document must not invent one.
SOURCE_ONLY = "【】"


def encode_texts(vocab: "Vocab", texts: Sequence[str], max_len: int) -> list[list[int]]:
    """Source ids: the first `max_len` characters (normalised as vocab.py does) + </s>."""
    return [[vocab.char_id(c) for c in text[:max_len]] + [EOS_ID] for text in texts]


def generate_titles(model: Titler, vocab: "Vocab", texts: Sequence[str], beam_size: int = 1,
                    max_title_len: int = 32, device: Optional[torch.device] = None, *,
                    max_len: Optional[int] = None, batch_size: int = 64,
                    length_alpha: float = 1.0, no_repeat_ngram: int = 3,
                    no_stutter: bool = True, source_only: Optional[str] = None,
                    faithful: bool = True) -> list[tuple[str, float]]:
    """(title, log-probability per character) for each text, in input order.

    Texts are sorted by length and decoded `batch_size` at a time, each batch padded to its own
    longest source; a row's result does not depend on its batch-mates. An empty text still gets
    a (possibly empty) title. `faithful` decodes under `faithful.TitleConstraint` (numbers and
    Latin words copied whole from the source, names not cut, no series label; on by default).
    """
    if not texts:
        return []
    device = device or next(model.parameters()).device
    max_len = max_len or model.config.max_len
    texts = [read_to_word_end(text, max_len) for text in texts]
    encoded = encode_texts(vocab, texts, max_len)
    only = [vocab.char_id(c) for c in (SOURCE_ONLY if source_only is None else source_only)]
    only = [i for i in only if i != UNK_ID]
    rules = _title_constraints(texts, getattr(model, "banned_title_keys", ())) \
        if faithful else None
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    out: list[tuple[str, float]] = [("", 0.0)] * len(texts)
    was_training = model.training
    model.eval()
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        ids, scores = beam_search(model, pad_ids([encoded[i] for i in idx], device), beam_size,
                                  max_title_len, length_alpha, no_repeat_ngram, no_stutter, only,
                                  [rules[i] for i in idx] if rules else None, vocab.chars)
        for i, title, score in zip(idx, ids, scores):
            text = "".join(vocab.chars[t] for t in title)
            out[i] = (rules[i].finish(text) if rules else text, score)
    model.train(was_training)
    return out


def read_to_word_end(text: str, max_len: int) -> str:
    """What the titler reads of a text: its first `max_len` characters, ended before a word the
    cut would split (jieba), so a title cannot copy half a word (a rescue story titled 中学教
    because the cut fell in 中学教|师). A text that is one long word keeps the plain cut, less a
    number or Latin run the cut splits ("1244万" cut to "124" is not copyable).

    Example: read_to_word_end("暴雨中中学教师转移学生", 6) == "暴雨中"."""
    if len(text) <= max_len:
        return text
    from wenmai.models.faithful import SPAN_CHARS
    from wenmai.text import load_jieba, segment

    end = 0
    for word in segment(load_jieba(), text[:max_len + 8]):
        if end + len(word) > max_len:
            break
        end += len(word)
    if end:
        return text[:end]
    seen = text[:max_len]
    if seen[-1] in SPAN_CHARS and text[max_len] in SPAN_CHARS:
        seen = seen.rstrip("".join(SPAN_CHARS))
    return seen


def _title_constraints(texts: Sequence[str], banned: Sequence[str]) -> list:
    """One `TitleConstraint` per text as the titler reads it (`read_to_word_end`)."""
    from wenmai.models.faithful import TitleConstraint
    from wenmai.text import load_jieba, segment

    jieba = load_jieba()
    return [TitleConstraint(text, segment(jieba, text), banned) for text in texts]


# --------------------------------------------------------------------------------------------------
# vocabulary and loading


def build_titler_vocab(texts: Sequence[str], max_chars: int = 7000, min_count: int = 2) -> "Vocab":
    """A `Vocab` whose char table is <pad>, <unk>, <s>, </s>, then the most frequent normalised
    characters of `texts` (sources and titles: the output side must be covered too). The word
    table holds only the specials: this titler reads characters alone."""
    from wenmai.models.vocab import Vocab

    base = Vocab.build(((t, []) for t in texts), max_chars=max_chars, min_count=min_count)
    return Vocab(SPECIALS + base.chars[2:], SPECIALS[:2])


def load_titler(directory) -> tuple[Titler, "Vocab"]:
    """The titler and vocabulary saved in `directory` (config.json + model.safetensors +
    vocab.json), in eval mode with gradients off."""
    from wenmai.models.checkpoint import load_pretrained

    from wenmai.models.checkpoint import read_config

    model, vocab = load_pretrained(directory, Titler, TitlerConfig)
    # keys of the titles the training data repeated on many dates (rubrics): never generated
    model.banned_title_keys = tuple(read_config(directory).get("banned_title_keys", ()))
    if vocab.chars[: len(SPECIALS)] != SPECIALS or vocab.n_chars != model.config.vocab_size:
        raise ValueError(f"{directory}: vocab.json does not match the titler "
                         f"({vocab.n_chars} characters, config says {model.config.vocab_size})")
    return model, vocab
