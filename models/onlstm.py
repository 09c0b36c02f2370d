"""ON-LSTM: an LSTM whose neurons are ordered, so that high-ranking units keep long-lived,
high-level information (phrases, clauses) and low-ranking ones are rewritten often.

After Shen et al. 2019, "Ordered Neurons" (https://arxiv.org/abs/1810.09536), as explained in
Su Jianlin's "ON-LSTM：用有序神经元表达层次结构" (https://kexue.fm/archives/6621). Besides the
usual gates, two *master* gates are cumulative softmaxes ("cumax"), monotone over the neuron
order, computed per chunk of `chunk_size` neurons to save parameters:

    f~ = cumax(W_f~ x_t + U_f~ h_{t-1} + b)          master forget: rises from 0 to 1
    i~ = 1 - cumax(W_i~ x_t + U_i~ h_{t-1} + b)      master input: falls from 1 to 0
    w  = f~ * i~                                     where the two overlap
    f^ = f * w + (f~ - w),   i^ = i * w + (i~ - w)
    c_t = f^ * c_{t-1} + i^ * tanh(W_c x_t + U_c h_{t-1} + b),   h_t = o * tanh(c_t)

`ONLSTM` is a drop-in for the encoder's `nn.GRU(batch_first=True, bidirectional=True)` given the
sequence lengths: each direction reads only a row's real characters (the backward one starts at
its last character), like a packed GRU. It steps through time in Python, so it trains slower
than cuDNN/MKL fused GRUs; the comparison table in docs/encoders.md measures by how much.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["cumax", "ONLSTMCell", "ONLSTM"]


def cumax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Cumulative softmax: monotone from ~0 to 1 along `dim` (a soft "split point")."""
    return torch.cumsum(F.softmax(x, dim=dim), dim=dim)


class ONLSTMCell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, chunk_size: int):
        super().__init__()
        assert hidden_size % chunk_size == 0, "hidden_size must be a multiple of chunk_size"
        self.hidden_size = hidden_size
        self.chunk_size = chunk_size
        self.n_chunks = hidden_size // chunk_size
        gates = 4 * hidden_size + 2 * self.n_chunks  # f, i, o, c and the two master gates
        self.ih = nn.Linear(input_size, gates)
        self.hh = nn.Linear(hidden_size, gates, bias=False)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        # x: (B, I); state: h, c each (B, H)
        h, c = state
        g = self.ih(x) + self.hh(h)  # (B, 4H + 2K)
        K = self.n_chunks
        master_f = cumax(g[:, :K])  # (B, K)
        master_i = 1.0 - cumax(g[:, K:2 * K])  # (B, K)
        master_f = master_f.repeat_interleave(self.chunk_size, dim=1)  # (B, H)
        master_i = master_i.repeat_interleave(self.chunk_size, dim=1)  # (B, H)
        f, i, o, cand = g[:, 2 * K:].chunk(4, dim=1)  # each (B, H)
        f, i, o, cand = torch.sigmoid(f), torch.sigmoid(i), torch.sigmoid(o), torch.tanh(cand)
        overlap = master_f * master_i
        f_hat = f * overlap + (master_f - overlap)
        i_hat = i * overlap + (master_i - overlap)
        c = f_hat * c + i_hat * cand
        h = o * torch.tanh(c)
        return h, c


class ONLSTM(nn.Module):
    """Bidirectional ON-LSTM over padded batches: (B, T, I) + lengths (B,) -> (B, T, 2H).

    Outputs at padded positions are zero; a row's backward pass starts at its own last token.
    """

    def __init__(self, input_size: int, hidden_size: int, chunk_size: int = 8):
        super().__init__()
        self.hidden_size = hidden_size
        self.fwd = ONLSTMCell(input_size, hidden_size, chunk_size)
        self.bwd = ONLSTMCell(input_size, hidden_size, chunk_size)

    def _run(self, cell: ONLSTMCell, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        h = x.new_zeros(B, self.hidden_size)
        c = x.new_zeros(B, self.hidden_size)
        out = []
        for t in range(T):
            h_new, c_new = cell(x[:, t], (h, c))
            keep = mask[:, t].unsqueeze(1)  # (B, 1): padding leaves the state as it was
            h = torch.where(keep, h_new, h)
            c = torch.where(keep, c_new, c)
            out.append(h * keep)
        return torch.stack(out, dim=1)  # (B, T, H)

    @staticmethod
    def _reverse(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Reverses each row's first `length` positions, leaving its padding in place."""
        B, T = x.shape[:2]
        pos = torch.arange(T, device=x.device).unsqueeze(0)  # (1, T)
        idx = torch.where(pos < lengths.unsqueeze(1), lengths.unsqueeze(1) - 1 - pos, pos)  # (B, T)
        return x.gather(1, idx.unsqueeze(-1).expand_as(x)) if x.dim() == 3 else x.gather(1, idx)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        T = x.size(1)
        mask = torch.arange(T, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
        forward = self._run(self.fwd, x, mask)  # (B, T, H)
        backward = self._reverse(self._run(self.bwd, self._reverse(x, lengths), mask), lengths)
        return torch.cat([forward, backward], dim=-1)  # (B, T, 2H)
