"""Offline evaluation of the titler: {"text", "title"} JSON lines -> character-level ROUGE F1.

The CSL benchmark's protocol (CLUEbenchmark/CLGE, bert4keras' autotitle example): prediction and
reference are lower-cased, their characters joined by spaces, scored by the `rouge` package's
F1 for ROUGE-1, ROUGE-2 and ROUGE-L, and averaged over *every* row; an empty prediction (or an
empty reference) scores 0 and still counts. The top-level figures are the default decoding's,
the one `wenmai run` uses; another decoding (greedy unless told) and a lead baseline (the
source's first clause cut to the reference's length, on the same rows) sit beside them.

`wenmai eval titler --pairs FILE.jsonl [--models DIR] [--beam-size N]` prints the JSON last.
`--news-holdout` scores the titler's own held-out slice of the news file instead of every row:
the stories dated on or after the cut-off stored with the model (never trained on), cleaned as
training cleaned them, less those whose reference is a series label; `slice` says so.
Faithfulness (`faithful.py`): number_faithful, names_faithful, series_share, novel_char_share.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["read_title_pairs", "rouge_scores", "lead_title", "evaluate_titler", "faithfulness",
           "decode_titles", "news_holdout_rows", "TITLER_SUBDIR"]

TITLER_SUBDIR = "titler"
# clause ends: Chinese and ASCII sentence/clause punctuation; "." only outside numbers (CSL
# abstracts use "." as their full stop and also write decimals "6.8")
_CLAUSE_END = re.compile(r"[。！？!?；;，,\n]|(?<!\d)\.|\.(?!\d)")


def read_title_pairs(path) -> tuple[list[str], list[str]]:
    """(texts, titles) of a JSON-lines file; a malformed line raises ValueError naming it.

    Example line: {"text": "目的：了解抗高血压药的应用情况……", "title": "抗高血压药应用分析"}
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pairs file not found: {path}")
    texts, titles = [], []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            try:
                row = json.loads(line)
                text, title = row["text"], row["title"]
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{lineno}: expected a JSON object with \"text\" and "
                                 f"\"title\" ({e.__class__.__name__}: {e})") from None
            if not isinstance(text, str) or not isinstance(title, str):
                raise ValueError(f"{path}:{lineno}: \"text\" and \"title\" must be strings")
            texts.append(text)
            titles.append(title)
    return texts, titles


def rouge_scores(predictions: Sequence[str], references: Sequence[str]) -> dict:
    """Mean character-level ROUGE-1/2/L F1 over all rows (CSL protocol; empty side -> 0).

    Example: rouge_scores(["北京天气"], ["北京今日天气"]) -> rouge_1 = 0.8 (4 of 4 vs 4 of 6 chars).
    """
    from rouge import Rouge

    assert len(predictions) == len(references), "one prediction per reference"
    rouge = Rouge()
    total = {"rouge_1": 0.0, "rouge_2": 0.0, "rouge_l": 0.0}
    for pred, ref in zip(predictions, references):
        hyp = " ".join(pred.strip()).lower()
        gold = " ".join(ref.strip()).lower()
        if not hyp.strip() or not gold.strip():
            continue  # scores 0, still counted in n
        s = rouge.get_scores(hyps=hyp, refs=gold)[0]
        total["rouge_1"] += s["rouge-1"]["f"]
        total["rouge_2"] += s["rouge-2"]["f"]
        total["rouge_l"] += s["rouge-l"]["f"]
    n = max(1, len(references))
    return {k: v / n for k, v in total.items()}


def lead_title(text: str, length: int) -> str:
    """The baseline title: the text's first clause, cut to `length` characters.

    Example: lead_title("目的:了解抗高血压药的应用情况.方法:……", 8) -> "目的:了解抗高血";
    lead_title("研究了一种新的算法，实验表明", 20) -> "研究了一种新的算法".
    """
    clause = _CLAUSE_END.split(text.strip(), maxsplit=1)[0]
    return clause[:length]


def faithfulness(titles: Sequence[str], texts: Sequence[str], banned: Sequence[str] = ()) -> dict:
    """number_faithful (null when no title holds a number), names_faithful (null when no title
    holds a 《》 name), series_share, novel_char_share; the definitions are `faithful.py`'s, the
    ones the decoder enforces."""
    from wenmai.models.faithful import (has_names, names_faithful, novel_char_share,
                                        number_faithful, number_strings, series_share)

    with_numbers = [(t, s) for t, s in zip(titles, texts) if t and number_strings(t)]
    with_names = [(t, s) for t, s in zip(titles, texts) if t and has_names(t)]
    return {"number_faithful": (sum(number_faithful(t, s) for t, s in with_numbers)
                                / len(with_numbers) if with_numbers else None),
            "titles_with_numbers": len(with_numbers),
            "names_faithful": (sum(names_faithful(t, s) for t, s in with_names)
                               / len(with_names) if with_names else None),
            "titles_with_names": len(with_names),
            "series_share": series_share(titles, texts, banned),
            "novel_char_share": novel_char_share(titles, texts)}


def news_holdout_rows(news_path, meta: dict) -> tuple[list[str], list[str], dict]:
    """The news stories the model never trained on: those dated on or after the cut-off stored
    with the model, minus the ones whose reference title is a series label or a title the
    training data repeated (a rubric is no reference for a headline)."""
    from wenmai.models.faithful import is_series_label
    from wenmai.models.train_titler import news_rows

    cutoff = meta.get("news_held_out_from")
    if cutoff is None:
        raise ValueError("--news-holdout: the model stores no news_held_out_from (train it with "
                         "`wenmai train titler`)")
    held = [r for r in news_rows(news_path) if r[2] >= cutoff]
    banned = meta.get("banned_title_keys", ())
    kept = [(t, y) for t, y, _ in held if not is_series_label(y, banned)]
    slice_ = {"name": "news_holdout", "from_date": cutoff, "stories": len(held),
              "scored": len(kept), "label_references_left_out": len(held) - len(kept)}
    return [t for t, _ in kept], [y for _, y in kept], slice_


def decode_titles(model, vocab, texts: Sequence[str], beam_size: int, max_title_len: int,
                  batch_size: int, faithful: bool = True,
                  input_chars: Optional[int] = None) -> tuple[list[str], float]:
    """Titles as `wenmai run` makes them (no title for a text that is not Chinese), seconds."""
    from wenmai.models.faithful import titler_input, untitled_reason
    from wenmai.models.titler import generate_titles

    inputs = [titler_input(t) for t in texts]
    keep = [i for i, t in enumerate(inputs) if untitled_reason(t) is None]
    t0 = time.perf_counter()
    made = generate_titles(model, vocab, [inputs[i] for i in keep], beam_size, max_title_len,
                           batch_size=batch_size, faithful=faithful, max_len=input_chars)
    titles = [""] * len(texts)
    for i, (title, _) in zip(keep, made):
        titles[i] = title
    return titles, time.perf_counter() - t0


def evaluate_titler(pairs_path, models_dir=None, beam_size: int = 4, other_beam_size: int = 1,
                    max_title_len: int = 32, batch_size: int = 64, news_holdout: bool = False,
                    unconstrained: bool = False, int8: bool = False,
                    input_chars: Optional[int] = None) -> dict:
    """Scores every row of a pairs file (or the model's news hold-out) with the titler in
    `models_dir/titler/`.

    Top level: {"rouge_1", "rouge_2", "rouge_l", "n", "number_faithful", "series_share",
    "novel_char_share"} for the default decoding (beam `beam_size`, what `wenmai run` uses);
    "other": the same keys at `other_beam_size`; "lead_baseline"; with `unconstrained`, the
    default decoding without the faithfulness constraints too.
    """
    from wenmai.models import DEFAULT_MODELS_DIR
    from wenmai.models.checkpoint import read_config
    from wenmai.models.titler import load_titler

    titler_dir = Path(models_dir if models_dir is not None else DEFAULT_MODELS_DIR) / TITLER_SUBDIR
    model, vocab = load_titler(titler_dir)
    if int8:  # as `wenmai run` runs it on a CPU (wenmai.models.quantize)
        from wenmai.models.quantize import quantize_int8

        model = quantize_int8(model)
    meta = read_config(titler_dir)
    slice_ = None
    if news_holdout:
        texts, titles, slice_ = news_holdout_rows(pairs_path, meta)
    else:
        texts, titles = read_title_pairs(pairs_path)
    banned = meta.get("banned_title_keys", ())

    def scored(k: int, faithful: bool = True) -> dict:
        made, seconds = decode_titles(model, vocab, texts, k, max_title_len, batch_size, faithful,
                                      input_chars)
        return {"beam_size": k, **rouge_scores(made, titles), **faithfulness(made, texts, banned),
                "seconds": round(seconds, 2)}

    main = scored(beam_size)
    result = {**{k: v for k, v in main.items()}, "n": len(titles)}
    if slice_ is not None:
        result["slice"] = slice_
    if other_beam_size != beam_size:
        result["other"] = scored(other_beam_size)
    if unconstrained:
        result["unconstrained"] = scored(beam_size, faithful=False)
    lead = [lead_title(text, len(title)) for text, title in zip(texts, titles)]
    result["lead_baseline"] = {"name": "first clause cut to the reference length",
                               **rouge_scores(lead, titles)}
    result["max_title_len"] = max_title_len
    return result
