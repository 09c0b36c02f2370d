"""Offline evaluation of the titler: {"text", "title"} JSON lines -> character-level ROUGE F1.

The CSL benchmark's protocol (CLUEbenchmark/CLGE, bert4keras' autotitle example): prediction and
reference are lower-cased, their characters joined by spaces, scored by the `rouge` package's
F1 for ROUGE-1, ROUGE-2 and ROUGE-L, and averaged over *every* row; an empty prediction (or an
empty reference) scores 0 and still counts. Greedy decoding gives the top-level figures (the
comparable setting); beam search and a lead baseline (the source's first clause cut to the
reference's length, computed on the same rows) are reported beside them.

`wenmai eval titler --pairs FILE.jsonl [--models DIR] [--beam-size N]` prints the JSON last.
`--news-holdout` scores the titler's own held-out slice of the news file instead of every row
(the slice and the cleaning are `train_titler.news_rows` / `split_news`, the ones training used).
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Optional, Sequence

from wenmai.cli.args import ArgumentParser

__all__ = ["read_title_pairs", "rouge_scores", "lead_title", "evaluate_titler", "main_titler",
           "TITLER_SUBDIR"]

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


def evaluate_titler(pairs_path, models_dir=None, beam_size: int = 4, max_title_len: int = 32,
                    batch_size: int = 64, news_holdout: bool = False) -> dict:
    """Scores every row of a pairs file with the titler in `models_dir/titler/`.

    Returns {"rouge_1", "rouge_2", "rouge_l", "n"} for greedy decoding, plus "beam" (the same
    figures at `beam_size`), "lead_baseline" and timings.
    """
    from wenmai.models import DEFAULT_MODELS_DIR
    from wenmai.models.titler import generate_titles, load_titler

    if news_holdout:
        from wenmai.models.train_titler import news_rows, split_news

        _, held = split_news(news_rows(pairs_path))
        texts, titles = [t for t, _, _ in held], [y for _, y, _ in held]
    else:
        texts, titles = read_title_pairs(pairs_path)
    titler_dir = Path(models_dir if models_dir is not None else DEFAULT_MODELS_DIR) / TITLER_SUBDIR
    model, vocab = load_titler(titler_dir)
    t0 = time.perf_counter()
    greedy = generate_titles(model, vocab, texts, 1, max_title_len, batch_size=batch_size)
    t1 = time.perf_counter()
    result = {**rouge_scores([t for t, _ in greedy], titles), "n": len(titles)}
    if beam_size > 1:
        beam = generate_titles(model, vocab, texts, beam_size, max_title_len, batch_size=batch_size)
        t2 = time.perf_counter()
        result["beam"] = {"beam_size": beam_size,
                          **rouge_scores([t for t, _ in beam], titles), "seconds": t2 - t1}
    lead = [lead_title(text, len(title)) for text, title in zip(texts, titles)]
    result["lead_baseline"] = {"name": "first clause cut to the reference length",
                               **rouge_scores(lead, titles)}
    result["greedy_seconds"] = t1 - t0
    result["max_title_len"] = max_title_len
    return result


def main_titler(argv: Optional[Sequence[str]] = None) -> dict:
    """`wenmai eval titler --pairs FILE.jsonl [--models DIR] [--beam-size N]`: JSON as the last line."""
    parser = ArgumentParser(prog="wenmai eval titler", description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", required=True, help='JSON lines {"text": ..., "title": ...}')
    parser.add_argument("--models", default=None,
                        help="directory that holds titler/ (default: the shipped weights)")
    parser.add_argument("--beam-size", type=int, default=4,
                        help="beam figures beside the greedy ones (1: greedy only)")
    parser.add_argument("--max-title-len", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--news-holdout", action="store_true",
                        help="score the titler's held-out slice of a news file (date, text, title)")
    args = parser.parse_args(argv)
    result = evaluate_titler(args.pairs, args.models, beam_size=args.beam_size,
                             max_title_len=args.max_title_len, batch_size=args.batch_size,
                             news_holdout=args.news_holdout)
    print(json.dumps(result, ensure_ascii=False))
    return result


if __name__ == "__main__":
    main_titler()
