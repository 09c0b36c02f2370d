"""A finished encoder run -> its model card (README.md in the model directory, Markdown).

The card names every training file with how many of its pairs were held out, dropped and used,
the command that reproduces the run, and the training time.
"""
from __future__ import annotations

import platform
import sys
from typing import TYPE_CHECKING, Optional, Sequence

from wenmai.models.encoder import SentenceEncoder
from wenmai.models.encoder_data import PairData
from wenmai.models.trainer import TrainResult
from wenmai.models.vocab import Vocab

if TYPE_CHECKING:
    from wenmai.models.train_encoder import EncoderTrainConfig

__all__ = ["encoder_card"]


def encoder_card(cfg: EncoderTrainConfig, data: PairData, vocab: Vocab, model: SentenceEncoder,
                 result: TrainResult, meta: dict, argv: Optional[Sequence[str]]) -> str:
    """The model directory's README.md: architecture, recipe, every training file with its counts,
    the command that reproduces the run (`argv`, else this process's arguments), the training time
    and the per-epoch figures on the held-out slice.

    `meta` is what config.json stores beside the weights: `threshold`, `dev_accuracy`,
    `dev_baseline_accuracy` and `pretrain` (`texts`, `chars`).
    """
    flags = " ".join(argv) if argv is not None else " ".join(sys.argv[1:])
    lines = [
        "# wenmai sentence encoder",
        "",
        f"Character + jieba-word embeddings -> bidirectional {cfg.model.cell.upper()} -> masked "
        f"{cfg.model.pooling} pooling -> linear -> L2-normalised vector. "
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
        f"{cfg.model.dropout:g}, per-file repeats {list(cfg.repeats) or 'all 1'}, "
        f"{cfg.singletons:,} SimCSE-style singleton rows per epoch (second view: characters "
        f"deleted at rate {cfg.deletion:g}), bag-of-embeddings pooling: {cfg.model.embed_pool}",
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
