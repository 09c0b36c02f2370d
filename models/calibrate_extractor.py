"""Decoding choices of a trained extractor, made on train-role data only: a model directory ->
the same directory with a span type filter and per-predicate thresholds.

1. A span type classifier (`span_types`) is fitted on the typed subject and object spans of the
   training portion of the train-role files (the rows the extractor was trained on; the
   held-out slice is not used), plus `negatives` untyped jieba word n-grams per sentence as the
   NONE class.
2. On the held-out slice the extractor was selected on (the same deterministic split, read from
   the model's config.json), the pointer probabilities are computed once; then, for each subject
   threshold and minimum type share in the grids, every predicate's object threshold is chosen on
   the slice's micro F1 once its precision reaches `precision_target` (a sweep over the price of
   a false positive, then coordinate ascent), with the decode-time rules (`triple_rules`)
   applied. A predicate with fewer than `min_gold` triples in the slice may only move up (1.0
   turns it off). The best combination is kept.

Micro F1 is a sum over predicates (a triple has one predicate), so each sweep only re-adds
counts: the whole search takes seconds once the probabilities are known.
"""
from __future__ import annotations

import json
import logging
import random
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from wenmai.models.checkpoint import CARD_FILE, CONFIG_FILE, read_config
from wenmai.models.extractor import decode_spans, load_extractor
from wenmai.models.vocab import pad_ids
from wenmai.models.span_types import (NONE, PosFilter, TypeFilter, canonical_type,
                                      fit_span_types, slots_from_schema,
                                      span_features)
from wenmai.models.triple_rules import RuleConfig, TripleRules, slot_types
from wenmai.text import dictionary_tags

__all__ = ["CalibrationConfig", "calibrate_extractor", "typed_spans", "pointer_tables",
           "count_table", "choose_thresholds"]

log = logging.getLogger("wenmai.train.extractor")


@dataclass(frozen=True)
class CalibrationConfig:
    negatives: int = 3  # untyped word n-grams per training sentence, as the NONE class
    # typed spans grown by the word before or after them (总裁张三 for 张三), as NONE: the
    # filter then also rejects spans that swallow a title or a neighbouring word
    boundary_negatives: bool = True
    c: float = 1.0  # inverse L2 strength of the span type classifier
    min_shares: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3)  # type filter grid (0: off)
    subject_thresholds: tuple[float, ...] = (0.35, 0.45, 0.55)  # subject pointer grid
    # object pointer grid per predicate
    # object pointer grid per predicate; 1.0 turns a predicate off (a probability never exceeds it)
    object_thresholds: tuple[float, ...] = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6,
                                            0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
    min_gold: int = 5  # slice triples a predicate needs before it gets its own threshold
    # slice precision the thresholds must reach before F1 counts: about half of the slice's
    # false positives are true facts its sparse gold lacks, and 0.8 turned 国籍 off on news
    precision_target: Optional[float] = 0.78
    rules: RuleConfig = RuleConfig()  # decode-time evidence rules (see triple_rules)


def _value(x):
    return x["@value"] if isinstance(x, dict) else x


def typed_spans(text: str, spo_list: Sequence[dict]) -> dict[tuple[int, int], str]:
    """(start, end) -> class of each typed subject / object at its first occurrence.

    Example: typed_spans("《围城》作者钱锺书", [{"subject": "围城", "subject_type": "图书作品",
    "object": "钱锺书", "object_type": "人物", ...}]) == {(1, 3): "作品", (6, 9): "人物"}
    """
    spans = {}
    for t in spo_list:
        for key, kind in ((_value(t["subject"]), t.get("subject_type")),
                          (_value(t["object"]), _value(t.get("object_type")))):
            i = text.find(key) if key and kind else -1
            if i >= 0:
                spans[(i, i + len(key))] = canonical_type(kind)
    return spans


_NOT_IN_NAMES = set("，。、；：！？,;:()（）《》“”\"")


def _negatives(text: str, tokens: Sequence[str], spans, k: int, rng: random.Random):
    """k word n-grams (1-3 words, 2+ characters, no punctuation) touching no typed span."""
    bounds = np.cumsum([0] + [len(w) for w in tokens]).tolist()
    out = []
    for i in range(len(tokens)):
        for n in (1, 2, 3):
            if i + n > len(tokens):
                break
            a, b = bounds[i], bounds[i + n]
            s = text[a:b]
            if len(s) < 2 or not any(c.isalnum() for c in s) or _NOT_IN_NAMES & set(s):
                continue
            if any(a < y and x < b for x, y in spans):
                continue
            out.append((a, b))
    return rng.sample(out, min(k, len(out)))


def _grown(text: str, tokens: Sequence[str], spans, rng: random.Random):
    """Each typed span grown by one whole word on one side (chosen at random), when that word
    has no punctuation and the grown span is not itself a typed span.

    Example: "总裁张三说" with tokens (总裁, 张三, 说) and the span 张三 -> 总裁张三 or 张三说.
    """
    bounds = np.cumsum([0] + [len(w) for w in tokens]).tolist()
    starts, ends = set(bounds[:-1]), set(bounds[1:])
    out = []
    for a, b in spans:
        if a not in starts or b not in ends:
            continue
        i, j = bounds.index(a), bounds.index(b)
        sides = [(bounds[i - 1], b)] if i > 0 else []
        sides += [(a, bounds[j + 1])] if j + 1 < len(bounds) else []
        sides = [(x, y) for x, y in sides if (x, y) not in spans
                 and not _NOT_IN_NAMES & set(text[x:y]) and text[x:y].strip() == text[x:y]]
        if sides:
            out.append(rng.choice(sides))
    return out


def fit_type_classifier(rows: Sequence[dict], max_len: int, cfg: CalibrationConfig, seed: int):
    """The span type classifier from raw train-role rows {"text", "spo_list"}."""
    import jieba

    tags, rng = dictionary_tags(), random.Random(seed)
    feats, labels = [], []
    for r in rows:
        text = r["text"][:max_len]
        tokens = jieba.lcut(text)
        spans = typed_spans(text, r.get("spo_list") or [])
        for (a, b), kind in spans.items():
            feats.append(span_features(text, tokens, a, b, tags))
            labels.append(kind)
        grown = _grown(text, tokens, spans, rng) if cfg.boundary_negatives else []
        for a, b in _negatives(text, tokens, spans, cfg.negatives, rng) + grown:
            feats.append(span_features(text, tokens, a, b, tags))
            labels.append(NONE)
    log.info("span types: %d spans %s", len(labels), dict(Counter(labels).most_common()))
    return fit_span_types(feats, labels, c=cfg.c, seed=seed)


def pointer_tables(model, vocab, texts: Sequence[str], words: Sequence[Sequence[str]],
                   max_len: int, lowest_subject: float, batch_size: int = 64) -> list[dict]:
    """Per text: subject probabilities (n, 2) and, for every subject decoded at `lowest_subject`
    or above any higher threshold, its object probabilities (n, P, 2)."""
    out: list[dict] = [{} for _ in texts]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    device = next(model.parameters()).device
    with torch.inference_mode():
        for lo in range(0, len(order), batch_size):
            idx = order[lo:lo + batch_size]
            enc = [vocab.encode(texts[i], words[i], max_len) for i in idx]
            chars, wids = pad_ids([c for c, _ in enc], device), pad_ids([w for _, w in enc], device)
            mask = chars != 0
            x = model.encode(chars, wids)
            ps = torch.sigmoid(model.subject_logits(x, mask)).float().cpu().numpy()
            for k, i in enumerate(idx):
                n = len(enc[k][0])
                subjects = sorted({(s, e) for s, e, _ in
                                   decode_spans(ps[k, :n, 0], ps[k, :n, 1], lowest_subject)}
                                  | {(s, e) for th in (0.5, 0.6, 0.7) for s, e, _ in
                                     decode_spans(ps[k, :n, 0], ps[k, :n, 1], th)})
                po = {}
                if subjects and n:
                    rows = torch.full((len(subjects),), k, device=device)
                    p = torch.sigmoid(model.object_logits(
                        x[rows], mask[rows], torch.tensor([s for s, _ in subjects], device=device),
                        torch.tensor([e - 1 for _, e in subjects], device=device)))
                    p = p.float().cpu().numpy()[:, :n]
                    po = {span: p[j] for j, span in enumerate(subjects)}
                out[i] = {"ps": ps[k, :n], "po": po}
    return out


def count_table(tables, texts, words, gold, predicates, subject_threshold: float,
                grid: Sequence[float], type_filter: Optional[TypeFilter], min_share: float,
                rules=None):
    """tp[p, g], n_pred[p, g] at object threshold grid[g] for predicate p, and n_gold[p].
    `rules` (a `TripleRules`, or None) is applied to each triple after the type filter."""
    P, G = len(predicates), len(grid)
    tp, n_pred, n_gold = np.zeros((P, G)), np.zeros((P, G)), np.zeros(P)
    pid = {p: i for i, p in enumerate(predicates)}
    for table, text, tokens, true in zip(tables, texts, words, gold):
        true = set(true)
        for _, p, _ in true:
            n_gold[pid[p]] += 1
        if not table or not len(table["ps"]):
            continue
        found: dict = {}
        share: dict = {}
        ruled: dict = {}
        ps = table["ps"]
        for s, e, _ in decode_spans(ps[:, 0], ps[:, 1], subject_threshold):
            po = table["po"].get((s, e))
            if po is None:
                continue
            for p in sorted(set((po[:, :, 0] > grid[0]).nonzero()[1].tolist())):
                for g, th in enumerate(grid):
                    for a, b, _ in decode_spans(po[:, p, 0], po[:, p, 1], th):
                        if type_filter is not None and min_share > 0:
                            key = (s, e, a, b, p)
                            if key not in share:
                                t = {"predicate": predicates[p], "subject_start": s,
                                     "subject_end": e, "object_start": a, "object_end": b}
                                share[key] = float(type_filter.shares(text, tokens, [t]).min())
                            if share[key] < min_share:
                                continue
                        triple = (text[s:e], predicates[p], text[a:b])
                        if rules is not None:
                            key = (s, e, a, b, p)
                            if key not in ruled:
                                t = {"subject": triple[0], "predicate": triple[1],
                                     "object": triple[2], "subject_start": s, "subject_end": e,
                                     "object_start": a, "object_end": b}
                                kept = rules.apply(text, tokens, [t])
                                ruled[key] = ((kept[0]["subject"], triple[1], kept[0]["object"])
                                              if kept else None)
                            triple = ruled[key]
                            if triple is None:
                                continue
                        found.setdefault((p, g), set()).add(triple)
        for (p, g), triples in found.items():
            tp[p, g] += len(triples & true)
            n_pred[p, g] += len(triples)
    return tp, n_pred, n_gold


def _micro(tp, n_pred, n_gold, choice) -> tuple[float, float, float]:
    rows = np.arange(len(choice))
    t, n, g = tp[rows, choice].sum(), n_pred[rows, choice].sum(), n_gold.sum()
    p, r = (t / n if n else 0.0), (t / g if g else 0.0)
    return float(p), float(r), float(2 * p * r / (p + r) if p + r else 0.0)


def _objective(figures: tuple[float, float, float], precision_target: Optional[float]) -> float:
    """F1, or with a precision target: F1 once precision reaches it, else precision - 1 (any
    choice that meets the target beats every one that does not)."""
    p, _, f1 = figures
    if precision_target is None or p >= precision_target:
        return f1
    return p - 1.0


def _tradeoff_start(tp, n_pred, n_gold, start: int, min_gold: int, precision_target: float):
    """The best start for coordinate ascent under a precision target: for each price `lam` of a
    false positive, every predicate takes the threshold that maximises tp - lam * fp on its own
    (micro counts add up over predicates, so this traces the precision-recall frontier); the
    choice with the highest F1 that meets the target wins, else the most precise one."""
    fp = n_pred - tp
    rows = np.arange(len(n_gold))
    lowest = np.where(n_gold >= min_gold, 0, start)
    best, best_score = np.full(len(n_gold), start), -np.inf
    for lam in np.concatenate([np.linspace(0, 4, 81), np.linspace(4.5, 50, 92)]):
        gain = tp - lam * fp  # (P, G)
        gain[np.arange(gain.shape[1])[None, :] < lowest[:, None]] = -np.inf
        # ties: the start when it is among them (a predicate the slice says nothing about
        # stays), else the higher threshold (fewer outputs for the same gain)
        choice = gain.shape[1] - 1 - np.argmax(gain[:, ::-1], axis=1)
        choice = np.where(gain[:, start] >= gain.max(axis=1), start, choice)
        score = _objective(_micro(tp, n_pred, n_gold, choice), precision_target)
        if score > best_score:
            best, best_score = choice, score
    assert len(best) == len(rows)
    return best


def choose_thresholds(tp, n_pred, n_gold, start: int, min_gold: int, sweeps: int = 3,
                      precision_target: Optional[float] = None):
    """Per-predicate grid indices by coordinate ascent on micro F1 (subject to a precision
    target when one is given), from `start` everywhere. A predicate with fewer than `min_gold`
    gold triples may only move up the grid (fewer outputs): the slice cannot vouch for it.

    Example: one predicate whose triples are all right at index 2 and half wrong at index 0
    moves from start 0 to 2 when it has min_gold gold triples.
    """
    choice = np.full(len(n_gold), start)
    if precision_target is not None:
        choice = _tradeoff_start(tp, n_pred, n_gold, start, min_gold, precision_target)
    best = _objective(_micro(tp, n_pred, n_gold, choice), precision_target)
    for _ in range(sweeps):
        for p in range(len(n_gold)):
            lowest = 0 if n_gold[p] >= min_gold else start
            if n_gold[p] < min_gold and precision_target is None:
                continue
            for g in range(lowest, tp.shape[1]):
                trial = choice.copy()
                trial[p] = g
                score = _objective(_micro(tp, n_pred, n_gold, trial), precision_target)
                if score > best + 1e-12:
                    best, choice = score, trial
    return choice


_RULES = (("word_boundary (drop)", {"word_boundary": "drop"}),
          ("person_evidence", {"person_evidence": True}),
          ("country_lexicon", {"country_lexicon": True}),
          ("date_shape", {"date_shape": True}),
          ("nationality_link", {"nationality_link": True}),
          ("cues", {"cues": True}),
          ("work_marks", {"work_marks": True}),
          ("abbreviation_link", {"abbreviation_link": True}))


def rule_variants(rules: RuleConfig) -> list[tuple[str, Optional[RuleConfig]]]:
    """(name, config) of the ablation: no rules; only the always-on checks; the checks with each
    rule alone (and word boundaries extended instead of dropped); all of `rules`; all but one."""
    off = replace(rules, word_boundary="off", person_evidence=False, country_lexicon=False,
                  date_shape=False, nationality_link=False, cues=False, work_marks=False,
                  labels=False, abbreviation_link=False)
    out: list[tuple[str, Optional[RuleConfig]]] = [("none", None), ("always-on checks only", off)]
    out += [("checks + " + name, replace(off, **on)) for name, on in _RULES]
    out += [("checks + word_boundary (extend)", replace(off, word_boundary="extend")),
            ("all (shipped)", rules)]
    out += [("all but " + name, replace(rules, **{k: getattr(off, k) for k in on}))
            for name, on in _RULES]
    out += [("all but labels (person_evidence and work_marks without field labels)",
             replace(rules, labels=False)),
            ("all, word_boundary extend", replace(rules, word_boundary="extend"))]
    return out


def calibrate_extractor(directory, data_dir, schema_file: str,
                        cfg: CalibrationConfig = CalibrationConfig()) -> dict:
    """Fits the type filter, chooses thresholds (with `cfg.rules` applied, and the precision
    target), and writes them into the model directory (config.json keys `threshold`,
    `object_thresholds`, `type_filter`, `rules`, `calibration`;
    span_types.json + span_types.safetensors; a card section). Returns the `calibration` entry."""
    import jieba

    from wenmai.models.evaluate_extractor import read_triples
    from wenmai.models.train_extractor import _split

    directory, data = Path(directory), Path(data_dir)
    meta = read_config(directory)
    tc = meta["train_config"]
    held_raw, train_raw, held = [], [], []
    for name, n_dev in zip(tc["train_files"], tc["dev_sizes"]):
        raw = [json.loads(line) for line in open(data / name, encoding="utf-8") if line.strip()]
        rows = read_triples(data / name)
        dev_i, rest_i = _split(list(range(len(rows))), n_dev, tc["seed"], name)
        held += [rows[i] for i in dev_i]
        train_raw += [raw[i] for i in rest_i]
    max_len = int(meta.get("max_len", 256))
    classifier = fit_type_classifier(train_raw, max_len, cfg, tc["seed"])
    slots = slots_from_schema(data / schema_file)

    model, vocab = load_extractor(directory)
    predicates = list(model.config.predicates)
    texts = [t for t, _ in held]
    words = [jieba.lcut(t[:max_len]) for t in texts]
    gold = [[x for x in spo if x[1] in slots] for _, spo in held]
    tables = pointer_tables(model, vocab, texts, words, max_len, min(cfg.subject_thresholds))
    type_filter = TypeFilter(classifier, slots, 0.0)
    schema_types = slot_types(data / schema_file)
    rules = None if cfg.rules is None else TripleRules(schema_types, cfg.rules, classifier)
    target = cfg.precision_target

    grid = list(cfg.object_thresholds)
    results = []
    for ts in cfg.subject_thresholds:
        for share in cfg.min_shares:
            counts = count_table(tables, texts, words, gold, predicates, ts, grid, type_filter,
                                 share, rules)
            start = int(np.argmin([abs(g - ts) for g in grid]))
            flat = _micro(*counts, np.full(len(predicates), start))
            choice = choose_thresholds(*counts, start, cfg.min_gold, precision_target=target)
            figures = _micro(*counts, choice)
            results.append({"subject_threshold": ts, "min_share": share,
                            "flat": dict(zip(("precision", "recall", "f1"), flat)),
                            "tuned": dict(zip(("precision", "recall", "f1"), figures)),
                            "object_thresholds": {p: grid[g] for p, g in zip(predicates, choice)}})
            log.info("subject %.2f, type share %.2f: flat %s, per predicate %s", ts, share,
                     flat, figures)
    best = max(results, key=lambda r: _objective(tuple(r["tuned"].values()), target))
    # the baseline: jieba POS evidence instead of the classifier, at the chosen subject threshold
    ts = best["subject_threshold"]
    counts = count_table(tables, texts, words, gold, predicates, ts, grid, PosFilter(slots), 0.5,
                         rules)
    start = int(np.argmin([abs(g - ts) for g in grid]))
    pos = {"flat": dict(zip(("precision", "recall", "f1"),
                            _micro(*counts, np.full(len(predicates), start)))),
           "tuned": dict(zip(("precision", "recall", "f1"),
                             _micro(*counts, choose_thresholds(*counts, start, cfg.min_gold,
                                                               precision_target=target))))}
    log.info("jieba POS evidence instead: %s", pos)

    meta["threshold"] = best["subject_threshold"]
    meta["object_thresholds"] = best["object_thresholds"]
    meta["type_filter"] = {"min_share": best["min_share"],
                           "slots": {p: [sorted(s), sorted(o)] for p, (s, o) in slots.items()}}
    if cfg.rules is None:
        meta.pop("rules", None)
    else:
        meta["rules"] = {"config": asdict(cfg.rules),
                         "slots": {p: list(t) for p, t in schema_types.items()}}
    # what each rule does at the chosen thresholds (the rules are what changed; see the card)
    ablation = []
    if cfg.rules is not None:
        choice = np.array([grid.index(best["object_thresholds"][p]) for p in predicates])
        for name, variant in rule_variants(cfg.rules):
            r = None if variant is None else TripleRules(schema_types, variant, classifier)
            counts = count_table(tables, texts, words, gold, predicates, ts, grid, type_filter,
                                 best["min_share"], r)
            ablation.append({"rules": name, **dict(zip(("precision", "recall", "f1"),
                                                       _micro(*counts, choice)))})
    meta["calibration"] = {"config": asdict(cfg), "held_out_sentences": len(held),
                           "rules_ablation": ablation,
                           "chosen": {k: best[k] for k in ("subject_threshold", "min_share",
                                                           "flat", "tuned")},
                           "grid": [{k: r[k] for k in ("subject_threshold", "min_share", "flat",
                                                       "tuned")} for r in results],
                           "pos_evidence": pos}
    classifier.save(directory)
    (directory / CONFIG_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
    card = directory / CARD_FILE
    if card.is_file():
        card.write_text(with_card_section(card.read_text(encoding="utf-8"), _card_section(
            meta["calibration"], best, len(train_raw))), encoding="utf-8")
    return meta["calibration"]


def with_card_section(card: str, section: str) -> str:
    """The card with its generated decoding section replaced by `section` (from its heading to
    the end of its last table; the hand-written text after that stays), or `section` appended
    when the card has none, so a recalibration rewrites its figures in place.

    Example: with_card_section("# m\n\n## H\n\n| a |\n\nnotes\n", "## H\n\n| b |")
    == "# m\n\n## H\n\n| b |\n\nnotes\n".
    """
    heading = section.split("\n", 1)[0]
    lines = card.rstrip("\n").split("\n")
    if heading not in lines:
        return "\n".join(lines) + "\n\n" + section + "\n"
    start = lines.index(heading)
    end = start + 1
    while end < len(lines) and not lines[end].startswith("## "):
        end += 1
    tables = [i for i in range(start, end) if lines[i].startswith("|")]
    stop = tables[-1] + 1 if tables else start + 1
    return "\n".join(lines[:start] + section.split("\n") + lines[stop:]) + "\n"


def _card_section(cal: dict, best: dict, n_train_rows: int) -> str:
    lines = ["## Decoding choices (held-out train-role slice)", "",
             f"Span type classifier fitted on the typed spans of the {n_train_rows:,} training "
             f"rows; thresholds chosen on the {cal['held_out_sentences']:,} held-out sentences "
             "(`wenmai.models.calibrate_extractor`).", "",
             "| subject threshold | min type share | P flat | R flat | F1 flat | P tuned | "
             "R tuned | F1 tuned |", "|---|---|---|---|---|---|---|---|"]
    for r in cal["grid"]:
        f, t = r["flat"], r["tuned"]
        lines.append(f"| {r['subject_threshold']:g} | {r['min_share']:g} | {f['precision']:.4f} "
                     f"| {f['recall']:.4f} | {f['f1']:.4f} | {t['precision']:.4f} | "
                     f"{t['recall']:.4f} | {t['f1']:.4f} |")
    f, t = cal["pos_evidence"]["flat"], cal["pos_evidence"]["tuned"]
    lines.append(f"| {best['subject_threshold']:g} | jieba POS evidence instead | "
                 f"{f['precision']:.4f} | {f['recall']:.4f} | {f['f1']:.4f} | "
                 f"{t['precision']:.4f} | {t['recall']:.4f} | {t['f1']:.4f} |")
    changed = {p: t for p, t in best["object_thresholds"].items()
               if t != best["subject_threshold"]}
    lines += ["", f"Chosen: subject threshold {best['subject_threshold']:g}, minimum type share "
              f"{best['min_share']:g}; object thresholds that differ from it: "
              + (", ".join(f"{p} {t:g}" for p, t in sorted(changed.items())) or "none") + "."]
    if cal.get("rules_ablation"):
        lines += ["", "Decode-time rules at the chosen thresholds (held-out slice):", "",
                  "| rules | P | R | F1 |", "|---|---|---|---|"]
        lines += [f"| {r['rules']} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} |"
                  for r in cal["rules_ablation"]]
    return "\n".join(lines)
