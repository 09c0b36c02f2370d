"""Deep InfoMax for sentences: an encoder trained without labels.

After Hjelm et al. 2019 (https://arxiv.org/abs/1808.06670) as Su Jianlin rewrote it in
"深度学习的互信息：无监督提取特征" (https://kexue.fm/archives/6024): a good sentence vector y keeps
as much information about its input as it can. Three terms, each estimated inside the batch:

- global: y must tell its own sentence's input summary x (the masked mean of the character and
  word embeddings) from the other sentences' (InfoNCE: cross-entropy over the batch, both ways);
- local: y must tell each of its own sentence's positions (the encoder's per-character states h_t)
  from positions of other sentences, so it keeps what is spread over the whole sentence;
- prior: instead of an adversary that matches y to a standard normal, the article's KL variant:
  y = mu + sigma * eps (a reparameterised Gaussian around the encoder's projection mu) with
  KL(N(mu, sigma^2) || N(0, I)), which keeps the vectors spread out and well conditioned.

    loss = alpha * global + beta * local + gamma * KL

Scores are bilinear, x^T W y and h_t^T W' y. The heads (W, W', the log-variance layer) live in
this module, so the saved encoder is the plain `SentenceEncoder`, used as `normalize(mu)`.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["InfoMaxLoss"]


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    return (x * m).sum(1) / m.sum(1).clamp(min=1.0)


class InfoMaxLoss(nn.Module):
    """Unsupervised objective for `SentenceEncoder`: features = [one batch of sentences].

    Args:
        model: the SentenceEncoder (its `encode` gives x, h, mask, pooled and the projection v).
        alpha, beta, gamma: weights of the global, local and prior (KL) terms.
    """

    def __init__(self, model: nn.Module, alpha: float = 0.5, beta: float = 1.0,
                 gamma: float = 0.1):
        super().__init__()
        cfg = model.config
        self.model = model
        self.alpha, self.beta, self.gamma = alpha, beta, gamma
        inputs = cfg.char_dim + cfg.word_dim
        self.log_var = nn.Linear(model.proj.in_features, cfg.dim)
        self.global_w = nn.Linear(inputs, cfg.dim, bias=False)
        self.local_w = nn.Linear(2 * cfg.hidden, cfg.dim, bias=False)

    def get_config_dict(self) -> dict:
        return {"alpha": self.alpha, "beta": self.beta, "gamma": self.gamma}

    def terms(self, features: dict) -> dict[str, torch.Tensor]:
        out = self.model.encode(**features)
        mu, mask = out["v"], out["mask"]  # (B, D), (B, T)
        log_var = self.log_var(out["pooled"]).clamp(-8.0, 8.0)  # (B, D)
        y = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var) if self.training else mu
        B = y.size(0)
        target = torch.arange(B, device=y.device)

        # global: input summary of sentence i against every sentence's y
        summary = self.global_w(_masked_mean(out["x"], mask))  # (B, D)
        scores = summary @ y.T  # (B, B)
        global_term = (F.cross_entropy(scores, target) + F.cross_entropy(scores.T, target)) / 2

        # local: position t of sentence i against every sentence's y
        local = torch.einsum("btd,jd->btj", self.local_w(out["h"]), y)  # (B, T, B)
        per_position = F.cross_entropy(local.reshape(-1, B), target.repeat_interleave(
            local.size(1)), reduction="none").view(B, -1)  # (B, T)
        local_term = (per_position * mask).sum() / mask.sum().clamp(min=1)

        kl = 0.5 * (mu.pow(2) + log_var.exp() - log_var - 1).sum(1).mean()
        return {"global": global_term, "local": local_term, "kl": kl}

    def forward(self, features: Sequence[dict], labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        t = self.terms(features[0])
        return self.alpha * t["global"] + self.beta * t["local"] + self.gamma * t["kl"]
