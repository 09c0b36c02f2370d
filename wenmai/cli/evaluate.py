"""`wenmai eval encoder|titler|...`: flags -> one evaluation in `wenmai.models` -> one JSON
object printed as the last line (the keys are a contract: see docs/design.md)."""
from __future__ import annotations

import json
from typing import Optional, Sequence

from wenmai.cli.args import ArgumentParser

MODELS_HELP = "directory that holds the model's subdirectory (default: the shipped weights)"


def encoder(argv: Optional[Sequence[str]] = None) -> dict:
    """`wenmai eval encoder --pairs FILE [--models DIR] [--batch-size N]`."""
    from wenmai.models.evaluate import evaluate_encoder, json_safe

    parser = ArgumentParser(prog="wenmai eval encoder",
                            description="Sentence-pair similarity: Spearman, Pearson, AUC, accuracy.")
    parser.add_argument("--pairs", required=True, help="text_a<TAB>text_b<TAB>label file")
    parser.add_argument("--models", default=None, help=MODELS_HELP)
    parser.add_argument("--batch-size", type=int, default=256, help="sentences per batch")
    parser.add_argument("--int8", action="store_true",
                        help="score the model int8-quantized as `wenmai run` runs it on a CPU")
    args = parser.parse_args(argv)
    result = evaluate_encoder(args.pairs, args.models, batch_size=args.batch_size, int8=args.int8)
    print(json.dumps(json_safe(result), ensure_ascii=False))
    return result


def titler(argv: Optional[Sequence[str]] = None) -> dict:
    """`wenmai eval titler --pairs FILE.jsonl [--models DIR] [--beam-size N] [--news-holdout]`."""
    from wenmai.config import TitleConfig
    from wenmai.models.evaluate_titler import evaluate_titler

    default = TitleConfig()
    parser = ArgumentParser(prog="wenmai eval titler",
                            description="Titles: character ROUGE F1 and faithfulness.")
    parser.add_argument("--pairs", required=True, help='JSON lines {"text": ..., "title": ...}; '
                        "with --news-holdout, a news file with dates")
    parser.add_argument("--models", default=None, help=MODELS_HELP)
    parser.add_argument("--beam-size", type=int, default=default.title_beam_size,
                        help="the decoding scored at the top level (wenmai run's default)")
    parser.add_argument("--other-beam-size", type=int, default=1,
                        help="a second decoding scored beside it (1: greedy)")
    parser.add_argument("--max-title-len", type=int, default=default.title_max_chars,
                        help="longest title generated")
    parser.add_argument("--batch-size", type=int, default=64, help="sources decoded at once")
    parser.add_argument("--news-holdout", action="store_true",
                        help="score the stories the model held out (dated on or after the "
                             "cut-off stored with it), less those titled with a series label")
    parser.add_argument("--unconstrained", action="store_true",
                        help="also score the default decoding without the faithfulness rules")
    parser.add_argument("--input-chars", type=int, default=None,
                        help="source characters the titler reads (default: the model's, 256, "
                             "the CSL protocol's cut; `wenmai run` reads --title-input-chars)")
    parser.add_argument("--int8", action="store_true",
                        help="score the model int8-quantized as `wenmai run` runs it on a CPU")
    args = parser.parse_args(argv)
    result = evaluate_titler(args.pairs, args.models, beam_size=args.beam_size,
                             other_beam_size=args.other_beam_size, max_title_len=args.max_title_len,
                             batch_size=args.batch_size, news_holdout=args.news_holdout,
                             unconstrained=args.unconstrained, int8=args.int8,
                             input_chars=args.input_chars)
    print(json.dumps(result, ensure_ascii=False))
    return result


def extractor(argv: Optional[Sequence[str]] = None) -> dict:
    """`wenmai eval extractor --data FILE.json [--models DIR] [--threshold P] [--by-predicate]`."""
    from wenmai.models.evaluate_extractor import evaluate_extractor

    parser = ArgumentParser(prog="wenmai eval extractor",
                            description="Triples: exact (s, p, o) precision, recall, F1.")
    parser.add_argument("--data", required=True,
                        help="triples file (LIC2019 or DuIE 2.0 JSON lines)")
    parser.add_argument("--models", default=None, help=MODELS_HELP)
    parser.add_argument("--threshold", type=float, default=None,
                        help="one pointer threshold everywhere, no type filter (default: the "
                             "model's own choices from its config.json)")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per batch")
    parser.add_argument("--by-predicate", action="store_true",
                        help="add a by_predicate entry: P/R/F1 and gold support per predicate")
    parser.add_argument("--int8", action="store_true",
                        help="score the model int8-quantized as `wenmai run` runs it on a CPU")
    parser.add_argument("--bf16", action="store_true",
                        help="score it under bf16 autocast, as `wenmai run --precision bf16` "
                             "runs it on a CPU with native bf16")
    parser.add_argument("--conv-bf16", action="store_true",
                        help="score it with its convolutions in bf16, as `wenmai run` runs it "
                             "by default on a CPU with native bf16 (elsewhere: fp32)")
    args = parser.parse_args(argv)
    result = evaluate_extractor(args.data, args.models, args.threshold, args.batch_size,
                                args.by_predicate, int8=args.int8, bf16=args.bf16,
                                conv_bf16=args.conv_bf16)
    print(json.dumps(result, ensure_ascii=False))
    return result
