"""Train the titler: train-role {"text", "title"} files -> a model directory (safetensors +
config.json + vocab.json + model card).

Data (../shared/data/README.md; report files are never read here):
- titles/csl/train.jsonl (paper abstract -> title, the scored domain): every `csl_dev_every`-th
  row (index % 10 == 0: 200 rows) is held out as the dev slice that picks the best epoch; the
  rest is repeated `csl_repeats` times per epoch;
- titles/lcsts/train.jsonl + dev.jsonl (Weibo post -> headline), once per epoch;
- titles/xwlb/news.jsonl + archive.jsonl (TV news -> title, 2012-2026): cleaned by `clean_news`
  (the stock openings of every year, link, timestamp and editor lines removed; the pipeline strips
  the same openings before titling), rows without text or titled "undefined" dropped. Series
  labels and titles that recur on `recurring_dates` or more dates (国内联播快讯, 李克强主持召开
  国务院常务会议, ...) are rubrics, not headlines: dropped as targets and stored with the model as
  `banned_title_keys` (hashes, no text), which the decoder never outputs. The stories of the latest dates of news.jsonl
  (at least `news_holdout`, whole days) are held out for reporting (`wenmai eval titler
  --news-holdout` reads the cut-off date stored with the model); of the rest, `news_per_epoch`
  random stories join each epoch.
Sources are truncated to `max_len` characters (256, as the CSL benchmark), titles to
`max_title_train` characters. Teacher forcing, token cross-entropy (`TitlerLoss`), the shared
Trainer (AdamW, warmup + cosine, EMA, best epoch by dev ROUGE-L with greedy decoding).

    wenmai train titler --data-dir ../shared/data --out models/weights/titler
    (resumable: a killed run continues with the same command plus --resume)
"""
from __future__ import annotations

import dataclasses
import json
import logging
import platform
import random
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import torch

from wenmai.models.checkpoint import save_pretrained
from wenmai.models.faithful import SERIES_LABELS, strip_opener, title_key
from wenmai.models.evaluate_titler import lead_title, read_title_pairs, rouge_scores
from wenmai.models.titler import (BOS_ID, EOS_ID, Titler, TitlerConfig, TitlerLoss,
                                  build_titler_vocab, encode_texts, generate_titles)
from wenmai.models.trainer import Trainer, TrainerConfig, pin_threads, set_seed
from wenmai.models.vocab import pad_ids

__all__ = ["TitlerTrainConfig", "train_titler", "clean_news", "news_rows", "split_news",
           "recurring_titles", "NEWS_FILES"]

log = logging.getLogger("wenmai.train.titler")


@dataclass(frozen=True)
class TitlerTrainConfig:
    # --- data (train-role files only)
    data_dir: str = "../shared/data"
    csl_file: str = "titles/csl/train.jsonl"
    lcsts_files: tuple[str, ...] = ("titles/lcsts/train.jsonl", "titles/lcsts/dev.jsonl")
    news_files: tuple[str, ...] = ("titles/xwlb/news.jsonl", "titles/xwlb/archive.jsonl")
    csl_dev_every: int = 10  # rows with index % this == 0 form the dev slice (200 of 2,000)
    csl_repeats: int = 4  # CSL is the scored domain but only 1,800 training pairs: oversample
    # at least this many of the latest stories of the first news file (whole days) held out
    news_holdout: int = 1000
    news_per_epoch: int = 12000  # random news stories per epoch (0: none, -1: all)
    # a title used on this many dates or more is a rubric (国内联播快讯), not a headline
    recurring_dates: int = 3
    out: str = "runs/titler"
    # a titler directory to start from; its vocabulary is kept (new characters become <unk>)
    init_from: Optional[str] = None
    resume: bool = False  # continue the run whose training state is in OUT/training_state
    checkpoint_every: int = 200  # steps between training-state saves (and on SIGTERM/SIGINT)
    model: TitlerConfig = field(default_factory=TitlerConfig)
    max_title_train: int = 40  # longer training titles are cut (99 % of CSL titles are shorter)
    max_chars: int = 7000  # character vocabulary cap
    min_char_count: int = 1  # rare characters stay in: the copy prior can still copy them
    # --- optimisation
    epochs: int = 5
    batch_size: int = 64
    lr: float = 2e-3
    warmup_steps: int = 200
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_decay: float = 0.998
    label_smoothing: float = 0.0
    dev_max_title_len: int = 32
    max_steps_per_epoch: int = 0  # cap (0: all rows); for smoke runs
    seed: int = 1337
    threads: int = 0  # torch CPU threads (0: torch's default); keep small on a shared machine
    progress: Optional[bool] = None  # tqdm bar; default only on a terminal


# --------------------------------------------------------------------------------------------------
# data

NEWS_FILES = ("titles/xwlb/news.jsonl", "titles/xwlb/archive.jsonl")
_NEWS_JUNK_LINE = re.compile(r"^\s*(\[查看原文\]|---|\(更新时间戳|[(（](视频|文字)?编辑[:：]|undefined\s*$)")


def clean_news(text: str) -> str:
    """A news story without the outlet's stock opening and its link/timestamp/editor lines.

    Example: "央视网消息（新闻联播）：今天……\\n[查看原文](https://…)" -> "今天……"
    """
    lines = [ln.strip() for ln in text.split("\n") if not _NEWS_JUNK_LINE.match(ln)]
    return strip_opener("".join(lines)).strip()


def news_rows(path) -> list[tuple[str, str, str]]:
    """(clean text, title, date) of every usable news story, in file order (empty text or an
    "undefined" title dropped)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            text, title = clean_news(row["text"]), row["title"].strip()
            if text and title and title != "undefined":
                out.append((text, title, str(row.get("date", ""))))
    return out


def recurring_titles(rows: Sequence[tuple[str, str, str]], min_dates: int) -> set[str]:
    """Series labels, and titles used on `min_dates` or more different dates.

    Example: with min_dates=2, rows titled "国内联播快讯" on two dates -> {"国内联播快讯", ...}.
    """
    dates: dict[str, set[str]] = {}
    for _, title, date in rows:
        dates.setdefault(title, set()).add(date)
    return {t for t, d in dates.items() if len(d) >= min_dates} | set(SERIES_LABELS)


def split_news(rows: Sequence[tuple[str, str, str]], holdout: int = 1000):
    """(train, held-out): the held-out slice is the stories of the latest dates, whole days, until
    it holds at least `holdout` stories; deterministic and free of same-day leakage."""
    counts: dict[str, int] = {}
    for _, _, date in rows:
        counts[date] = counts.get(date, 0) + 1
    held_dates, n = set(), 0
    for date in sorted(counts, reverse=True):
        if n >= holdout:
            break
        held_dates.add(date)
        n += counts[date]
    return ([r for r in rows if r[2] not in held_dates], [r for r in rows if r[2] in held_dates])


@dataclass
class TitleData:
    train: dict[str, list[tuple[str, str]]]  # source name -> (text, title)
    dev: list[tuple[str, str]]  # CSL held-out slice
    news_held: list[tuple[str, str, str]]
    counts: dict[str, dict]
    banned_titles: list[str]  # series labels and recurring titles: never targets, never output


def _load(cfg: TitlerTrainConfig) -> TitleData:
    root = Path(cfg.data_dir)
    texts, titles = read_title_pairs(root / cfg.csl_file)
    csl = list(zip(texts, titles))
    dev = [r for i, r in enumerate(csl) if i % cfg.csl_dev_every == 0]
    csl_train = [r for i, r in enumerate(csl) if i % cfg.csl_dev_every != 0]
    lcsts = []
    for name in cfg.lcsts_files:
        lcsts += list(zip(*read_title_pairs(root / name)))
    news_all = news_rows(root / cfg.news_files[0])
    news_train, news_held = split_news(news_all, cfg.news_holdout)
    cutoff = min(d for _, _, d in news_held) if news_held else None
    for name in cfg.news_files[1:]:  # older stories: training only
        news_train += [r for r in news_rows(root / name) if cutoff is None or r[2] < cutoff]
    banned = recurring_titles(news_train, cfg.recurring_dates)
    n_news = len(news_train)
    news_train = [r for r in news_train if r[1] not in banned]
    counts = {
        cfg.csl_file: {"rows": len(csl), "held_out": len(dev), "used": len(csl_train),
                       "per_epoch": len(csl_train) * cfg.csl_repeats},
        " + ".join(cfg.lcsts_files): {"rows": len(lcsts), "held_out": 0, "used": len(lcsts),
                                      "per_epoch": len(lcsts)},
        " + ".join(cfg.news_files): {
            "rows": n_news + len(news_held), "held_out": len(news_held), "used": len(news_train),
            "per_epoch": len(news_train) if cfg.news_per_epoch < 0
            else min(cfg.news_per_epoch, len(news_train)),
            "held_out_from": cutoff, "recurring_dropped": n_news - len(news_train)},
    }
    train = {"csl": csl_train, "lcsts": lcsts, "news": [(t, y) for t, y, _ in news_train]}
    return TitleData(train, dev, news_held, counts, sorted(banned))


def _make_batches(data: TitleData, vocab, cfg: TitlerTrainConfig):
    """`batches(epoch)`: the epoch's rows shuffled, sorted by source length within pools of 50
    batches (less padding), the batches shuffled again."""
    def encode(rows):
        src = encode_texts(vocab, [t for t, _ in rows], cfg.model.max_len)
        tgt = [[vocab.char_id(c) for c in y[:cfg.max_title_train]] for _, y in rows]
        return list(zip(src, tgt))

    enc = {name: encode(rows) for name, rows in data.train.items()}
    n_news = len(enc["news"]) if cfg.news_per_epoch < 0 else min(cfg.news_per_epoch, len(enc["news"]))
    n_rows = len(enc["csl"]) * cfg.csl_repeats + len(enc["lcsts"]) + n_news
    steps = max(1, n_rows // cfg.batch_size)
    if cfg.max_steps_per_epoch:
        steps = min(steps, cfg.max_steps_per_epoch)

    def batches(epoch: int):
        rng = random.Random(cfg.seed * 1000 + epoch)
        rows = enc["csl"] * cfg.csl_repeats + enc["lcsts"] + rng.sample(enc["news"], n_news)
        rng.shuffle(rows)
        rows = rows[: steps * cfg.batch_size]
        pool = 50 * cfg.batch_size
        chunks = []
        for p in range(0, len(rows), pool):
            part = sorted(rows[p:p + pool], key=lambda r: len(r[0]))
            chunks += [part[k:k + cfg.batch_size] for k in range(0, len(part), cfg.batch_size)]
        rng.shuffle(chunks)
        for chunk in chunks[:steps]:
            src = pad_ids([s for s, _ in chunk])  # (B, S)
            tgt_in = pad_ids([[BOS_ID] + t for _, t in chunk])  # (B, T+1)
            tgt_out = pad_ids([t + [EOS_ID] for _, t in chunk])  # (B, T+1)
            yield {"src": src, "tgt_in": tgt_in}, tgt_out

    return batches, steps


def _dev_scores(model, vocab, dev, cfg: TitlerTrainConfig) -> dict:
    preds = generate_titles(model, vocab, [t for t, _ in dev], 1, cfg.dev_max_title_len,
                            max_len=cfg.model.max_len)
    s = rouge_scores([p for p, _ in preds], [y for _, y in dev])
    return {"dev_rouge_1": s["rouge_1"], "dev_rouge_2": s["rouge_2"], "dev_rouge_l": s["rouge_l"]}


# --------------------------------------------------------------------------------------------------
# model card


def _card(cfg: TitlerTrainConfig, data: TitleData, vocab, model: Titler, result, meta: dict,
          argv: Optional[Sequence[str]]) -> str:
    flags = " ".join(argv) if argv is not None else " ".join(sys.argv[1:])
    lines = [
        "# wenmai titler",
        "",
        "Character seq2seq: shared char embedding -> bi-GRU encoder -> GRU decoder with Luong "
        "attention on top (no input feeding) -> logits tied to the embedding table, plus Su "
        "Jianlin's copy prior (a learned per-character bias for every character present in the "
        f"source; on: {cfg.model.copy_prior}), mixed with copy attention (pointer-generator gate; on: "
        f"{cfg.model.copy_attention}). Greedy or batched beam search with length normalisation "
        "and 3-gram repetition blocking (`models/titler.py`).",
        "",
        f"- parameters: {model.get_num_params():,}; vocabulary {vocab.n_chars:,} characters "
        f"(train-role sources and titles, count >= {cfg.min_char_count}); emb {cfg.model.emb_dim}, "
        f"encoder GRU {cfg.model.enc_hidden} x 2 directions, decoder GRU {cfg.model.dec_hidden} x "
        f"{cfg.model.dec_layers} layer(s); no word features",
        f"- recipe: {cfg.epochs} epochs, batch {cfg.batch_size}, AdamW lr {cfg.lr:g} (warmup "
        f"{cfg.warmup_steps} steps, cosine), weight EMA {cfg.ema_decay:g}, dropout {cfg.model.dropout:g}, "
        f"label smoothing {cfg.label_smoothing:g}; sources cut to {cfg.model.max_len} characters, "
        f"training titles to {cfg.max_title_train}",
        "",
        "## Training data (train-role files only)",
        "",
        "| file | usable rows | held out | used for training | rows per epoch |",
        "|---|---|---|---|---|",
    ]
    for name, c in data.counts.items():
        lines.append(f"| {name} | {c['rows']:,} | {c['held_out']:,} | {c['used']:,} | "
                     f"{c['per_epoch']:,} |")
    lines += [
        "",
        f"- CSL dev slice (model selection): rows of csl/train.jsonl with index % "
        f"{cfg.csl_dev_every} == 0 ({len(data.dev)} rows), never trained on.",
        f"- News held-out slice (reporting only): the stories dated {data.counts[' + '.join(cfg.news_files)]['held_out_from']}"
        f" or later ({len(data.news_held):,} stories, whole days), never trained on. News texts "
        "are cleaned (the stock openings of every year, link, timestamp and editor lines removed); "
        "stories without text or titled \"undefined\" are dropped; "
        f"{len(data.banned_titles):,} series labels and titles used on {cfg.recurring_dates}+ dates "
        "are dropped as targets and stored as `banned_title_keys` (hashes; never generated).",
        "- Only 2,000 in-domain CSL pairs exist here (1,800 trained on); published CSL anchors "
        "(BERT-UniLM 0.63-0.67, mT5 0.66-0.68 ROUGE-L) were trained on 10k in-domain pairs from "
        "pretrained models and are not like for like.",
        "",
        "## Command",
        "",
        "```",
        f"OMP_NUM_THREADS={cfg.threads or 'default'} wenmai train titler {flags}",
        "```",
        "",
        f"Training took {result.seconds / 60:.1f} min ({result.steps:,} steps) on "
        f"{platform.machine()} CPU with {torch.get_num_threads()} torch thread(s); best epoch "
        f"{result.best_epoch} by greedy ROUGE-L on the CSL dev slice.",
        "",
        "## CSL dev slice per epoch (greedy)",
        "",
        "| epoch | loss | ROUGE-1 | ROUGE-2 | ROUGE-L | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for row in result.history:
        lines.append(f"| {row['epoch']} | {row['loss']:.4f} | {row['dev_rouge_1']:.4f} | "
                     f"{row['dev_rouge_2']:.4f} | {row['dev_rouge_l']:.4f} | {row['seconds']:.0f} |")
    lead = meta["dev_lead_baseline"]
    lines += [
        "",
        f"Lead baseline on the same slice (first clause cut to the reference length): ROUGE-1 "
        f"{lead['rouge_1']:.4f}, ROUGE-2 {lead['rouge_2']:.4f}, ROUGE-L {lead['rouge_l']:.4f}.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------


def train_titler(config: TitlerTrainConfig, argv: Optional[Sequence[str]] = None) -> Path:
    """Trains, keeps the best epoch, writes the model directory `config.out` and returns it."""
    cfg = config
    if cfg.threads > 0:
        pin_threads(cfg.threads)
    set_seed(cfg.seed)
    t0 = time.time()
    data = _load(cfg)
    if cfg.init_from:  # start from a trained titler: its weights and its vocabulary
        from wenmai.models.titler import load_titler

        start, vocab = load_titler(cfg.init_from)
        if dataclasses.replace(start.config, dropout=cfg.model.dropout) != \
                dataclasses.replace(cfg.model, vocab_size=start.config.vocab_size):
            raise ValueError(f"--init-from {cfg.init_from}: its shape {start.config} differs from "
                             f"the flags' {cfg.model}")
    else:
        vocab_texts = [s for rows in data.train.values() for pair in rows for s in pair]
        vocab = build_titler_vocab(vocab_texts, max_chars=cfg.max_chars,
                                   min_count=cfg.min_char_count)
    batches, steps = _make_batches(data, vocab, cfg)
    log.info("rows per source %s, dev %d, news held out %d, vocab %s, %d steps/epoch, %.0fs",
             {k: len(v) for k, v in data.train.items()}, len(data.dev), len(data.news_held),
             vocab, steps, time.time() - t0)

    model = Titler(dataclasses.replace(cfg.model, vocab_size=vocab.n_chars))
    if cfg.init_from:
        model.load_state_dict(start.state_dict())
    loss_fn = TitlerLoss(model, label_smoothing=cfg.label_smoothing)
    trainer_cfg = TrainerConfig(epochs=cfg.epochs, lr=cfg.lr, warmup_steps=cfg.warmup_steps,
                                weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip,
                                ema_decay=cfg.ema_decay, best_metric="dev_rouge_l",
                                best_mode="max", seed=cfg.seed, progress=cfg.progress,
                                checkpoint_every=cfg.checkpoint_every)
    out = Path(cfg.out)
    meta = {"dev_lead_baseline": rouge_scores([lead_title(t, len(y)) for t, y in data.dev],
                                              [y for _, y in data.dev]),
            "train_config": dataclasses.asdict(cfg),
            "banned_title_keys": sorted({title_key(t) for t in data.banned_titles}),
            "news_held_out_from": data.counts[" + ".join(cfg.news_files)]["held_out_from"]}

    def on_best(judged, row, epoch):  # a usable directory after every improvement
        save_pretrained(judged, out, vocab=vocab, card=f"wenmai titler (epoch {epoch}, training "
                        f"in progress): {json.dumps(row)}\n", extra={**meta, "dev_metrics": row})

    trainer = Trainer(model, loss_fn, trainer_cfg, on_best=on_best,
                      evaluate=lambda m: _dev_scores(m, vocab, data.dev, cfg))
    state_dir = out / "training_state"
    result = trainer.fit(batches, steps, state_dir=state_dir, resume=cfg.resume)
    result.seconds = time.time() - t0
    meta["dev_metrics"] = result.best_metrics
    save_pretrained(model, out, vocab=vocab, extra=meta,
                    card=_card(cfg, data, vocab, model, result, meta, argv))
    shutil.rmtree(state_dir, ignore_errors=True)  # finished: nothing left to resume
    log.info("saved %s (best epoch %s: %s) in %.1f min", out, result.best_epoch,
             json.dumps(result.best_metrics), result.seconds / 60)
    return out
