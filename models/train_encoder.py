"""Train the sentence encoder: train-role similarity pairs -> a model directory (safetensors +
config.json with the decision threshold + vocab.json + model card).

Recipe (docs/design.md, measured best): AM-Softmax over in-batch classes. Positive pairs are joined
into paraphrase groups (connected components); each epoch every positive pair is one row (anchor,
positive) of a batch, the group id is its label so that two rows of one group never count as each
other's negatives, and the other side of a labelled *negative* pair of the anchor is appended as a
hard-negative column (a random training sentence when the anchor has none).

Model selection never sees a report file: a held-out slice of the train-role files (default
1,500 LCQMC-dev + 1,500 AFQMC-train + 500 STS-B-train pairs) is removed from training together
with every training pair that shares a sentence with it; the epoch with the best mean Spearman on
that slice is kept, and the accuracy thresholds stored in config.json are chosen on it.

Optional levers, each measured on that slice: per-file repeats, SimCSE-style singleton rows,
bag-of-embeddings pooling, and embeddings initialised by PPMI + SVD over raw train-role text.

The parts: `encoder_data` (pairs, groups, held-out slice, vocabulary), `ppmi` (embedding
initialisation), `encoder_batches`, `encoder_dev` (epoch selection, thresholds), `encoder_card`.

    wenmai train encoder --data-dir ../shared/data --out models/weights/encoder
    (same flags: python -m wenmai.models.train_encoder ...)
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import torch

from wenmai.models.checkpoint import save_pretrained
from wenmai.models.encoder import EncoderConfig, SentenceEncoder
from wenmai.models.encoder_batches import pair_batches, sentence_batches
from wenmai.models.encoder_card import encoder_card
from wenmai.models.encoder_data import build_vocab, corpus_texts, load_pair_data
from wenmai.models.encoder_dev import dev_scores, dev_thresholds
from wenmai.models.ppmi import init_embedding, ppmi_svd, read_pretrain_texts
from wenmai.models.trainer import Trainer, TrainerConfig, pin_threads, set_seed

__all__ = ["EncoderTrainConfig", "train_encoder", "build_loss"]

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
    resume: bool = False  # continue the run whose training state is in OUT/training_state
    checkpoint_every: int = 500  # steps between training-state saves (and on SIGTERM/SIGINT)
    # --- model (its shape; vocabulary sizes come from the data)
    model: EncoderConfig = field(default_factory=EncoderConfig)
    train_max_len: int = 64  # training truncation; nearly all questions/captions are shorter
    max_chars: int = 6000  # character vocabulary cap (most frequent in the training sentences)
    max_words: int = 20000  # jieba word vocabulary cap (keeps the shipped dir well under 20 MB)
    min_word_count: int = 2  # words seen once stay <unk>: their vectors would barely train
    # --- objective
    # amsoftmax: the paraphrase-pair recipe above, with --loss. infomax: Deep InfoMax, no labels
    # (models/infomax.py) on --corpus (any files the pipeline reads), else on the train files'
    # sentences; the held-out slice is only reported, never used to pick an epoch.
    objective: str = "amsoftmax"
    loss: str = "amsoftmax"  # amsoftmax | angular | softmax | contrastive | amsoftmax_cosent (models/losses.py)
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


def build_loss(model: SentenceEncoder, cfg: EncoderTrainConfig):
    """The loss module `cfg.objective` and `cfg.loss` name (it embeds the batch itself); a
    ValueError naming the flag for an unknown one."""
    from wenmai.models.infomax import InfoMaxLoss
    from wenmai.models.losses import LOSSES

    if cfg.objective == "infomax":
        return InfoMaxLoss(model, cfg.infomax_alpha, cfg.infomax_beta, cfg.infomax_gamma)
    if cfg.objective != "amsoftmax":
        raise ValueError(f"--objective {cfg.objective!r}: expected amsoftmax or infomax")
    if cfg.loss not in LOSSES:
        raise ValueError(f"--loss {cfg.loss!r}: expected one of {', '.join(sorted(LOSSES))}")
    if cfg.loss == "amsoftmax_cosent" and not cfg.hard_negatives:
        raise ValueError("--loss amsoftmax_cosent ranks (anchor, positive) pairs above (anchor, "
                         "hard negative) pairs: it needs --hard-negatives")
    return LOSSES[cfg.loss](model, scale=cfg.scale, margin=cfg.margin)


def train_encoder(config: EncoderTrainConfig, argv: Optional[Sequence[str]] = None) -> Path:
    """Trains, keeps the best epoch, writes the model directory `config.out` and returns it.

    `argv` is the command line quoted in the model card (default: this process's arguments).
    """
    cfg = config
    pin_threads(max(1, cfg.threads))  # BLAS too (the PPMI SVD)
    set_seed(cfg.seed)
    t0 = time.time()

    # --- data and vocabulary
    data = load_pair_data(cfg)
    import jieba

    jieba.setLogLevel(logging.WARNING)
    unsupervised = cfg.objective == "infomax"
    train_texts = corpus_texts(cfg, data) if unsupervised else data.texts
    all_texts = list(dict.fromkeys(train_texts + data.texts
                                   + [t for a, b, _ in data.dev.values() for t in a + b]))
    words = {t: jieba.lcut(t) for t in all_texts}
    pre_texts = read_pretrain_texts(Path(cfg.data_dir), cfg.pretrain_files, cfg.pretrain_max_chars)
    pre_words = [jieba.lcut(t) for t in pre_texts]
    segmented = list(zip(train_texts, (words[t] for t in train_texts))) + list(zip(pre_texts,
                                                                                  pre_words))
    start = None
    if cfg.init_from:  # continue from a trained encoder: its vocabulary, shape and weights
        from wenmai.models.encoder import load_encoder

        start, vocab = load_encoder(cfg.init_from)
    else:
        vocab = build_vocab(segmented, cfg)
    encoded = [vocab.encode(t, words[t], cfg.train_max_len) for t in data.texts]
    log.info("%d training sentences, %d positive pairs, %d singles, vocab %s, %.0fs",
             len(data.texts), len(data.positives), len(data.singles), vocab, time.time() - t0)

    # --- model, loss, trainer
    enc_cfg = dataclasses.replace(cfg.model, char_vocab_size=vocab.n_chars,
                                  word_vocab_size=vocab.n_words)
    if start is not None:
        enc_cfg = dataclasses.replace(start.config, dropout=cfg.model.dropout)
    model = SentenceEncoder(enc_cfg)
    if start is not None:
        model.load_state_dict(start.state_dict())
    elif cfg.pretrain_files:  # count-based vectors from all train-role text we hold
        char_seqs = [[vocab.char_id(c) for c in t] for t, _ in segmented]
        word_seqs = [[vocab.word_id(w) for w in ws] for _, ws in segmented]
        n_c = init_embedding(model.char_emb, ppmi_svd(char_seqs, vocab.n_chars, cfg.model.char_dim,
                                                      cfg.ppmi_window, cfg.seed))
        n_w = init_embedding(model.word_emb, ppmi_svd(word_seqs, vocab.n_words, cfg.model.word_dim,
                                                      cfg.ppmi_window, cfg.seed))
        log.info("PPMI-SVD init from %d texts (%d chars): %d char and %d word vectors, %.0fs",
                 len(segmented), sum(len(t) for t, _ in segmented), n_c, n_w, time.time() - t0)
    loss_fn = build_loss(model, cfg)
    if unsupervised:
        batches, steps = sentence_batches(
            [vocab.encode(t, words[t], cfg.train_max_len) for t in train_texts], cfg)
    else:
        batches, steps = pair_batches(data, encoded, cfg)
    trainer_cfg = TrainerConfig(epochs=cfg.epochs, lr=cfg.lr, warmup_steps=cfg.warmup_steps,
                                weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip,
                                ema_decay=cfg.ema_decay,
                                best_metric=None if unsupervised else "dev_spearman",
                                best_mode="max", seed=cfg.seed, progress=cfg.progress,
                                checkpoint_every=cfg.checkpoint_every)
    segment = words.__getitem__
    trainer = Trainer(model, loss_fn, trainer_cfg,
                      evaluate=lambda m: dev_scores(m, vocab, data.dev, segment, cfg.train_max_len)[0])
    state_dir = Path(cfg.out) / "training_state"
    result = trainer.fit(batches, steps, state_dir=state_dir, resume=cfg.resume)

    # --- thresholds on the held-out slice, then save with the card
    _, raw = dev_scores(model, vocab, data.dev, segment, cfg.train_max_len)
    threshold, base_threshold, acc = dev_thresholds(raw, data.dev)
    result.seconds = time.time() - t0
    meta = {"threshold": threshold, "baseline_threshold": base_threshold, **acc,
            "pretrain": {"texts": len(segmented), "chars": sum(len(t) for t, _ in segmented)},
            "dev_metrics": result.best_metrics, "train_config": dataclasses.asdict(cfg)}
    out = Path(cfg.out)
    card = encoder_card(cfg, data, vocab, model, result, meta, argv)
    save_pretrained(model, out, vocab=vocab, card=card, extra=meta)
    shutil.rmtree(state_dir, ignore_errors=True)  # finished: nothing left to resume
    log.info("saved %s (best epoch %s: %s) in %.1f min", out, result.best_epoch,
             json.dumps(result.best_metrics), result.seconds / 60)
    return out
