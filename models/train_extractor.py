"""Train the triple extractor: train-role triples files -> a model directory (safetensors +
config.json + vocab.json + model card).

Data: SKE 2019 train (LIC2019 format) and DuIE 2.0 train + dev (their "@value" format). The
predicate inventory is SKE's schema (50 predicates); DuIE's predicates that SKE lacks (配音, 主题曲,
代言人, 票房, 获奖, 校长, 饰演) are dropped and counted, so the model predicts only what the SKE report
file can score. A subject or object that does not occur in the (truncated) text is skipped and
counted; spans are the first occurrence of the string, as in the reference design.

Model selection never sees a report file: a deterministic held-out slice of the train-role files
(default 300 SKE-train + 300 DuIE-dev sentences) is scored (P/R/F1) after every epoch and the
best epoch is kept. `--train-fraction` keeps a deterministic subset of the remaining sentences
(for the learning curve); `--arch bilstm` trains the baseline with the same embeddings and heads.

Each step samples one subject per sentence (a new one every epoch): subject pointers are trained
on all subjects of the sentence, object pointers on the sampled subject's objects.

    wenmai train extractor --data-dir ../shared/data --out models/weights/extractor
    (same flags: python -m wenmai.models.train_extractor ...)
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import platform
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch

from wenmai.models.calibrate_extractor import calibrate_extractor
from wenmai.models.checkpoint import save_pretrained
from wenmai.models.evaluate_extractor import predict_texts, read_triples, score_triples
from wenmai.models.extractor import ExtractorConfig, HalfPointerLoss, TripleExtractor
from wenmai.models.extractor_augment import EntitySwap
from wenmai.models.ppmi import init_embedding as _init_embedding, ppmi_svd, read_texts as _read_texts
from wenmai.models.triple_rules import slot_types
from wenmai.models.trainer import Trainer, TrainerConfig, pin_threads, set_seed
from wenmai.models.vocab import Vocab

__all__ = ["ExtractorTrainConfig", "Example", "train_extractor", "main", "read_predicates",
           "to_example", "make_batches"]

log = logging.getLogger("wenmai.train.extractor")


@dataclass(frozen=True)
class ExtractorTrainConfig:
    # --- data (train-role files only; see ../shared/data/README.md)
    data_dir: str = "../shared/data"
    train_files: tuple[str, ...] = ("triples/ske2019/train.json", "triples/duie2/train.json",
                                    "triples/duie2/dev.json")
    schema_file: str = "triples/ske2019/schemas.json"  # the predicates the model predicts
    dev_sizes: tuple[int, ...] = (300, 0, 300)  # held-out sentences per train file (selection)
    train_fraction: float = 1.0  # deterministic subset of the rest, for the learning curve
    # copies of each training sentence with its typed entities swapped for other training
    # entities of the same schema type (wenmai.models.extractor_augment); 0: none
    augment_copies: int = 0
    # raw train-role text (.jsonl "text", .tsv last column, .txt lines) whose character and word
    # co-occurrences initialise the embeddings (PPMI + SVD, as the encoder); its words join the
    # vocabulary, so entity names unseen in the triples files still get a vector
    pretrain_files: tuple[str, ...] = ()
    pretrain_max_chars: int = 3_000_000  # read at most this many characters of them (jieba time)
    ppmi_window: int = 2
    out: str = "runs/extractor"
    resume: bool = False  # continue the run whose training state is in OUT/training_state
    checkpoint_every: int = 500  # steps between training-state saves (and on SIGTERM/SIGINT)
    # --- model
    arch: str = "dgcnn"  # dgcnn | bilstm (baseline: same embeddings and heads)
    d: int = 128
    word_dim: int = 64
    dilations: tuple[int, ...] = (1, 2, 5, 1, 2, 5, 1, 1)
    lstm_layers: int = 2
    attention: str = "full"  # full | local | atrous
    n_heads: int = 4
    window: int = 32
    rate: int = 8
    dropout: float = 0.1
    layer_norm: bool = False  # LayerNorm per DGCNN block (pre-norm) and after the stack
    max_len: int = 256  # training and inference truncation (characters)
    max_chars: int = 6000
    max_words: int = 20000
    min_word_count: int = 2  # words seen once stay <unk>
    # --- optimisation
    epochs: int = 12
    batch_size: int = 32  # sentences per step, length-bucketed
    lr: float = 2e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    threshold: float = 0.5  # pointer threshold for dev decoding during training
    # after training, the threshold with the best F1 on the held-out slice is stored in config.json
    threshold_grid: tuple[float, ...] = (0.3, 0.35, 0.4, 0.45, 0.5)
    seed: int = 1337
    threads: Optional[int] = None  # torch and BLAS CPU threads; None: their defaults
    progress: Optional[bool] = None
    # --- decoding choices on the held-out slice (see wenmai.models.calibrate_extractor)
    calibrate: bool = True  # fit the span type filter and per-predicate thresholds after training
    # skip training: calibrate the model already in --out (its config.json names its data split)
    calibrate_only: bool = False


# --------------------------------------------------------------------------------------------------
# data


def read_predicates(path) -> list[str]:
    """Predicate names of a schema file (JSON lines with a "predicate"), in order, once each."""
    with open(path, encoding="utf-8") as fh:
        return list(dict.fromkeys(json.loads(line)["predicate"] for line in fh if line.strip()))


@dataclass
class Example:
    """One training sentence: ids, and its triples as spans (inclusive start/end indices)."""

    text: str
    char_ids: list[int]
    word_ids: list[int]
    triples: dict  # (s_start, s_end) -> [(predicate id, o_start, o_end)]


def to_example(text: str, words: Sequence[str], spo, predicate_ids: dict, vocab: Vocab,
               max_len: int, counts: Counter) -> Example:
    """Spans of each (s, p, o) at the first occurrence of the strings in text[:max_len]; a triple
    whose predicate is unknown or whose subject/object does not occur is skipped and counted.

    Example: ("《围城》作者钱锺书", [("围城", "作者", "钱锺书")]) -> triples {(1, 2): [(p, 6, 8)]}.
    """
    char_ids, word_ids = vocab.encode(text, words, max_len)
    seen = text[:max_len]
    triples: dict = {}
    for s, p, o in dict.fromkeys(spo):
        counts["triples"] += 1
        if p not in predicate_ids:
            counts["dropped_predicate"] += 1
            continue
        i, j = (seen.find(s) if s else -1), (seen.find(o) if o else -1)
        if i < 0 or j < 0:
            in_text = bool(s and o) and s in text and o in text
            counts["skipped_past_max_len" if in_text else "skipped_not_in_text"] += 1
            continue
        triples.setdefault((i, i + len(s) - 1), []).append((predicate_ids[p], j, j + len(o) - 1))
        counts["used"] += 1
    return Example(text, char_ids, word_ids, triples)


def _split(rows: list, n_dev: int, seed: int, name: str) -> tuple[list, list]:
    """Deterministic (dev, rest) split of one file's rows."""
    order = list(range(len(rows)))
    random.Random(f"{seed}:{name}").shuffle(order)
    return [rows[i] for i in order[:n_dev]], [rows[i] for i in order[n_dev:]]


def make_batches(examples: list[Example], n_predicates: int, batch_size: int, seed: int):
    """`batches(epoch)`: length-bucketed batches (shuffled within and across buckets); each
    sentence's subject for this epoch is sampled with the epoch's seed."""
    steps = -(-len(examples) // batch_size)

    def batches(epoch: int):
        rng = random.Random(seed * 1000 + epoch)
        order = list(range(len(examples)))
        rng.shuffle(order)
        # sort chunks of 50 batches by length: little padding, still random batch mates
        chunk = 50 * batch_size
        order = [i for lo in range(0, len(order), chunk)
                 for i in sorted(order[lo:lo + chunk], key=lambda i: len(examples[i].char_ids))]
        groups = [order[lo:lo + batch_size] for lo in range(0, len(order), batch_size)]
        rng.shuffle(groups)
        for group in groups:
            yield _collate([examples[i] for i in group], n_predicates, rng)

    return batches, steps


def _collate(batch: list[Example], n_predicates: int, rng: random.Random):
    B, T = len(batch), max(1, max(len(e.char_ids) for e in batch))
    chars = torch.zeros(B, T, dtype=torch.long)
    words = torch.zeros(B, T, dtype=torch.long)
    subject = torch.zeros(B, T, 2)
    obj = torch.zeros(B, T, n_predicates, 2)
    s_start = torch.zeros(B, dtype=torch.long)
    s_end = torch.zeros(B, dtype=torch.long)
    for b, e in enumerate(batch):
        chars[b, :len(e.char_ids)] = torch.tensor(e.char_ids)
        words[b, :len(e.word_ids)] = torch.tensor(e.word_ids)
        for s, t in e.triples:
            subject[b, s, 0] = subject[b, t, 1] = 1.0
        if e.triples:  # one subject for this step; a sentence with none trains subjects only
            s, t = rng.choice(sorted(e.triples))
            s_start[b], s_end[b] = s, t
            for p, o_start, o_end in e.triples[(s, t)]:
                obj[b, o_start, p, 0] = obj[b, o_end, p, 1] = 1.0
    features = {"char_ids": chars, "word_ids": words}
    labels = {"s_start": s_start, "s_end": s_end, "subject": subject, "object": obj}
    return features, labels


# --------------------------------------------------------------------------------------------------
# model card


def _card(cfg: ExtractorTrainConfig, model: TripleExtractor, vocab: Vocab, meta: dict, result,
          argv: Optional[Sequence[str]]) -> str:
    flags = " ".join(argv) if argv is not None else " ".join(sys.argv[1:])
    arch = ("DGCNN (" + ", ".join(str(r) for r in cfg.dilations) + " dilations, kernel 3)"
            if cfg.arch == "dgcnn"
            else f"BiLSTM ({cfg.lstm_layers} layers, {cfg.d // 2} units per direction)")
    lines = [
        "# wenmai triple extractor",
        "",
        f"Character + jieba-word + position embeddings (width {cfg.d}) -> {arch} -> subject "
        f"start/end pointers ({cfg.attention} self-attention + conv head), then object start/end "
        f"pointers for all {model.config.n_predicates} predicates at once, conditioned on one "
        "subject (\"half-pointer, half-tagging\", after Su Jianlin's LIC2019 DGCNN entry).",
        "",
        f"- parameters: {model.get_num_params():,}; vocabulary {vocab.n_chars:,} characters, "
        f"{vocab.n_words:,} words",
        (f"- embeddings initialised by PPMI + truncated SVD (window {cfg.ppmi_window}) over "
         f"{meta['pretrain']['texts']:,} texts / {meta['pretrain']['chars']:,} characters: the "
         f"training sentences and the train-role files {', '.join(cfg.pretrain_files)} (at most "
         f"{cfg.pretrain_max_chars:,} characters of them; their words join the vocabulary)"
         if cfg.pretrain_files else "- embeddings randomly initialised"),
        f"- recipe: {cfg.epochs} epochs, batch {cfg.batch_size} sentences (one sampled subject "
        f"each), AdamW lr {cfg.lr:g} (warmup {cfg.warmup_steps}, cosine), weight EMA "
        f"{cfg.ema_decay:g}, dropout {cfg.dropout:g}, texts cut at {cfg.max_len} characters, "
        f"pointer threshold {meta['threshold']:g} (best F1 on the held-out slice among "
        f"{', '.join(f'{t:g}' for t in cfg.threshold_grid)}: "
        + ", ".join(f"{float(k):g} -> {v:.4f}"
                    for k, v in meta["dev_f1_by_threshold"].items()) + ")",
        "",
        "## Training data (train-role files only)",
        "",
        "| file | rows | held out (dev slice) | training rows used |",
        "|---|---|---|---|",
    ]
    for name, c in meta["files"].items():
        lines.append(f"| {name} | {c['rows']:,} | {c['dev']:,} | {c['train']:,} |")
    counts = meta["triple_counts"]
    lines += [
        "",
        f"Training fraction {cfg.train_fraction:g}: {meta['n_train']:,} training sentences"
        + (f" ({counts['augmented_sentences']:,} of them entity-swapped copies, "
           f"--augment-copies {cfg.augment_copies}; the counts below are the originals')"
           if counts.get("augmented_sentences") else "") + ". "
        f"Triples in the training sentences: {counts.get('triples', 0):,}; used "
        f"{counts.get('used', 0):,}; dropped because SKE's schema lacks the predicate "
        f"{counts.get('dropped_predicate', 0):,}; skipped because subject or object does not occur "
        f"in the text {counts.get('skipped_not_in_text', 0):,}, or only after the first "
        f"{cfg.max_len} characters {counts.get('skipped_past_max_len', 0):,}.",
        "",
        "## Command",
        "",
        "```",
        f"wenmai train extractor {flags}",
        "```",
        "",
        f"Training took {result.seconds / 60:.1f} min ({result.steps:,} steps) on "
        f"{platform.machine()} CPU with {torch.get_num_threads()} torch thread(s); best epoch "
        f"{result.best_epoch} by F1 on the held-out slice (at threshold {cfg.threshold:g}).",
        "",
        "## Held-out train-role slice (model selection)",
        "",
        "| epoch | loss | precision | recall | F1 | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for row in result.history:
        lines.append(f"| {row['epoch']} | {row['loss']:.4f} | {row['dev_precision']:.4f} | "
                     f"{row['dev_recall']:.4f} | {row['dev_f1']:.4f} | {row['seconds']:.0f} |")
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------


def train_extractor(config: ExtractorTrainConfig, argv: Optional[Sequence[str]] = None) -> Path:
    """Trains, keeps the best epoch, writes the model directory `config.out` and returns it."""
    cfg = config
    if cfg.threads:
        pin_threads(cfg.threads)  # BLAS too: the span type fit is then the same every run
    if cfg.calibrate_only:
        calibrate_extractor(cfg.out, cfg.data_dir, cfg.schema_file)
        return Path(cfg.out)
    assert 0 < cfg.train_fraction <= 1, "--train-fraction must be in (0, 1]"
    assert len(cfg.dev_sizes) == len(cfg.train_files), "one dev size per train file"
    set_seed(cfg.seed)
    t0 = time.time()
    import jieba

    jieba.setLogLevel(logging.WARNING)

    # --- data: held-out slice per file, then the training subset
    data = Path(cfg.data_dir)
    predicates = read_predicates(data / cfg.schema_file)
    predicate_ids = {p: i for i, p in enumerate(predicates)}
    dev_rows, train_rows, files = [], [], {}
    for name, n_dev in zip(cfg.train_files, cfg.dev_sizes):
        rows = read_triples(data / name)
        dev, rest = _split(rows, n_dev, cfg.seed, name)
        dev_rows += dev
        train_rows += [(name, row) for row in rest]
        files[name] = {"rows": len(rows), "dev": len(dev), "train": 0}
    random.Random(cfg.seed).shuffle(train_rows)
    train_rows = train_rows[:round(len(train_rows) * cfg.train_fraction)]
    for name, _ in train_rows:
        files[name]["train"] += 1
    segmented = [(t, jieba.lcut(t)) for _, (t, _) in train_rows]
    pre_texts: list[str] = []
    budget = cfg.pretrain_max_chars
    for name in cfg.pretrain_files:
        for t in _read_texts(data / name):
            if budget <= 0:
                break
            pre_texts.append(t)
            budget -= len(t)
    pretrain = segmented + [(t, jieba.lcut(t)) for t in pre_texts]
    vocab = Vocab.build(pretrain, max_chars=cfg.max_chars, max_words=cfg.max_words)
    if cfg.min_word_count > 1:
        vocab = Vocab(vocab.chars, Vocab.build(pretrain, max_chars=cfg.max_chars,
                                               max_words=cfg.max_words,
                                               min_count=cfg.min_word_count).words)
    counts: Counter = Counter()
    examples = [to_example(t, w, spo, predicate_ids, vocab, cfg.max_len, counts)
                for (t, w), (_, (_, spo)) in zip(segmented, train_rows)]
    if cfg.augment_copies:
        swap = EntitySwap(slot_types(data / cfg.schema_file), [r for _, r in train_rows])
        rng = random.Random(f"{cfg.seed}:augment")
        swapped = [x for _ in range(cfg.augment_copies) for _, (t, spo) in train_rows
                   if (x := swap.swap(t, spo, rng)) is not None]
        examples += [to_example(t, jieba.lcut(t), spo, predicate_ids, vocab, cfg.max_len,
                                Counter()) for t, spo in swapped]
        counts["augmented_sentences"] = len(swapped)
    # the dev slice is scored like the report file: against its triples with known predicates
    dev_texts = [t for t, _ in dev_rows]
    dev_gold = [[x for x in spo if x[1] in predicate_ids] for _, spo in dev_rows]
    dev_words = {t: jieba.lcut(t) for t in dev_texts}
    log.info("%d training / %d dev sentences, %s, vocab %s, %.0fs", len(examples), len(dev_rows),
             dict(counts), vocab, time.time() - t0)

    # --- model, loss, trainer
    model_cfg = ExtractorConfig(
        char_vocab_size=vocab.n_chars, word_vocab_size=vocab.n_words, predicates=tuple(predicates),
        d=cfg.d, word_dim=cfg.word_dim, arch=cfg.arch, dilations=cfg.dilations,
        lstm_layers=cfg.lstm_layers, attention=cfg.attention, n_heads=cfg.n_heads,
        window=cfg.window, rate=cfg.rate, max_len=max(cfg.max_len, 512), dropout=cfg.dropout,
        layer_norm=cfg.layer_norm)
    model = TripleExtractor(model_cfg)
    if cfg.pretrain_files:  # count-based vectors from all train-role text we read
        n_c = _init_embedding(model.char_emb, ppmi_svd(
            [[vocab.char_id(c) for c in t] for t, _ in pretrain], vocab.n_chars, cfg.d,
            cfg.ppmi_window, cfg.seed))
        n_w = _init_embedding(model.word_emb, ppmi_svd(
            [[vocab.word_id(w) for w in ws] for _, ws in pretrain], vocab.n_words, cfg.word_dim,
            cfg.ppmi_window, cfg.seed)) if cfg.word_dim else 0
        log.info("PPMI-SVD init from %d texts (%d chars): %d char and %d word vectors, %.0fs",
                 len(pretrain), sum(len(t) for t, _ in pretrain), n_c, n_w, time.time() - t0)
    loss_fn = HalfPointerLoss(model)
    batches, steps = make_batches(examples, len(predicates), cfg.batch_size, cfg.seed)

    def evaluate(m, threshold: float = cfg.threshold) -> dict:
        pred = predict_texts(dev_texts, m, vocab, threshold=threshold, max_len=cfg.max_len,
                             segment=dev_words.__getitem__)
        figures = score_triples([[(t["subject"], t["predicate"], t["object"]) for t in p]
                                 for p in pred], dev_gold)
        return {f"dev_{k}": v for k, v in figures.items()}

    trainer_cfg = TrainerConfig(epochs=cfg.epochs, lr=cfg.lr, warmup_steps=cfg.warmup_steps,
                                weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip,
                                ema_decay=cfg.ema_decay, best_metric="dev_f1", best_mode="max",
                                seed=cfg.seed, progress=cfg.progress,
                                checkpoint_every=cfg.checkpoint_every)
    state_dir = Path(cfg.out) / "training_state"
    result = Trainer(model, loss_fn, trainer_cfg, evaluate=evaluate).fit(
        batches, steps, state_dir=state_dir, resume=cfg.resume)
    model.eval()
    with torch.no_grad():
        by_threshold = {th: evaluate(model, th)["dev_f1"] for th in cfg.threshold_grid}
    threshold = max(by_threshold, key=lambda th: (by_threshold[th], th))
    log.info("held-out F1 by threshold %s: %s", by_threshold, threshold)
    result.seconds = time.time() - t0

    # --- save with the card
    meta = {"threshold": threshold,
            "dev_f1_by_threshold": {str(k): v for k, v in by_threshold.items()},
            "max_len": cfg.max_len, "files": files,
            "n_train": len(examples), "triple_counts": dict(counts),
            "pretrain": {"texts": len(pretrain), "chars": sum(len(t) for t, _ in pretrain)},
            "dev_metrics": result.best_metrics, "history": result.history,
            "train_config": dataclasses.asdict(cfg)}
    out = Path(cfg.out)
    card = _card(cfg, model, vocab, meta, result, argv)
    save_pretrained(model, out, vocab=vocab, card=card, extra=meta)
    shutil.rmtree(state_dir, ignore_errors=True)  # finished: nothing left to resume
    if cfg.calibrate:
        calibrate_extractor(out, cfg.data_dir, cfg.schema_file)
    log.info("saved %s (best epoch %s: %s) in %.1f min", out, result.best_epoch,
             json.dumps(result.best_metrics), result.seconds / 60)
    return out
