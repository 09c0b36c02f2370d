"""`wenmai bench titler`: titles/s of `generate_titles` on the same texts, batched, for each beam
size (1 = greedy), and the slowdown of each beam size against greedy decoding."""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Optional

import torch

from wenmai.benchmarks.data import add_data_dir_arg, data_dir
from wenmai.cli.args import ArgumentParser
from wenmai.models import DEFAULT_MODELS_DIR

DEFAULT_TITLE_PAIRS = "titles/csl/test.jsonl"  # in --data-dir


def bench_titler(pairs: Path, models_dir: Path, limit: int, batch_size: int, beam_sizes,
                 max_title_len: int) -> dict:
    """Titles/s of `generate_titles` on the same texts, batched, for each beam size (1 = greedy),
    on the GPU when there is one (as the pipeline's handler would run it)."""
    from wenmai.models.evaluate_titler import read_title_pairs
    from wenmai.models.handlers import select_device
    from wenmai.models.titler import generate_titles, load_titler

    texts = read_title_pairs(pairs)[0][:limit]
    model, vocab = load_titler(models_dir / "titler")
    model.to(select_device("auto"))
    generate_titles(model, vocab, texts[:batch_size], 1, max_title_len)  # warm-up
    report = {"n": len(texts), "pairs": str(pairs), "batch_size": batch_size,
              "max_len": model.config.max_len, "max_title_len": max_title_len,
              "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
              "device": str(next(model.parameters()).device), "beams": {}}
    for k in beam_sizes:
        start = time.perf_counter()
        titles = generate_titles(model, vocab, texts, k, max_title_len, batch_size=batch_size)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        report["beams"][str(k)] = {"titles_per_s": len(texts) / seconds, "seconds": seconds,
                                   "mean_title_chars": sum(len(t) for t, _ in titles) / len(texts)}
    greedy = report["beams"].get("1")
    for row in report["beams"].values():
        row["slowdown_vs_greedy"] = greedy["titles_per_s"] / row["titles_per_s"] if greedy else None
    return report


def main(argv: Optional[list[str]] = None) -> dict:
    parser = ArgumentParser(prog="wenmai bench titler", description=bench_titler.__doc__)
    add_data_dir_arg(parser)
    parser.add_argument("--pairs", type=Path, default=None,
                        help='JSON lines {"text", "title"}; only the texts are used (default: '
                             f"--data-dir's {DEFAULT_TITLE_PAIRS})")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--beam-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--max-title-len", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    args.pairs = args.pairs or data_dir(args.data_dir) / DEFAULT_TITLE_PAIRS
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.pairs.is_file():
        raise FileNotFoundError(f"--pairs {args.pairs}: no such file")
    r = bench_titler(args.pairs, args.models, args.limit, args.batch_size, args.beam_sizes,
                     args.max_title_len)
    print(f"{r['n']} texts (first {r['max_len']} chars) on {r['device']}, {r['threads']} thread(s), "
          f"batch {r['batch_size']}")
    print(f"{'beam':>5}{'titles/s':>10}{'x greedy':>10}{'chars/title':>13}")
    for k, row in r["beams"].items():
        slow = row["slowdown_vs_greedy"]
        print(f"{k:>5}{row['titles_per_s']:>10.1f}{slow if slow is not None else float('nan'):>10.2f}"
              f"{row['mean_title_chars']:>13.1f}")
    print(json.dumps(r))
    return r


if __name__ == "__main__":
    main()
