"""`wenmai bench efficiency --model titler|extractor|encoder`: a model's items/s as a bare loop
vs inside the Beam pipeline, on the same examples in the same run.

- bare: the handler's own `run_inference` over fixed-size batches in input order (what a script
  calling the model directly would do);
- pipeline: the pipeline's `KeyedInference` step (length buckets, token-budget batches,
  RunInference) on the FnApiRunner, with the handler and flags `wenmai run` uses.
The efficiency is pipeline / bare: below 1 is Beam's overhead, above 1 is the length buckets'
padding savings outweighing it. Examples: documents for the encoder and the titler (its input is
cut to `--title-input-chars`), sentences for the extractor (documents split as the pipeline does).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

from wenmai.benchmarks.data import add_data_dir_arg, data_dir
from wenmai.config import ExtractConfig, InferenceConfig, TitleConfig
from wenmai.cli.args import ArgumentParser
from wenmai.models import DEFAULT_MODELS_DIR

DEFAULT_TEXTS = {"encoder": "topics/tnews/unlabeled.txt",  # in --data-dir
                 "titler": "titles/lcsts/test.jsonl",
                 "extractor": "triples/ske2019/dev.json"}


def read_texts(path: Path, limit: int) -> list[str]:
    """Texts of a .txt (a line each) or JSON-lines file ("text" field)."""
    texts = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            text = json.loads(line).get("text", "") if path.suffix in (".json", ".jsonl") \
                else line.rstrip("\n")
            if text.strip():
                texts.append(text.strip())
            if len(texts) >= limit:
                break
    return texts


def examples_for(model: str, texts: list[str], sentence_chars: int) -> list:
    """(key, (text, words)) examples as the pipeline builds them for `model`."""
    from wenmai.text import normalize_text
    from wenmai.pipelines.extract import sentence_examples
    from wenmai.text import load_jieba, segment
    from wenmai.types import Doc

    jieba = load_jieba()
    docs = [Doc(f"{i:07d}", "bench", i, t, tokens=segment(jieba, t))
            for i, t in enumerate(normalize_text(t) for t in texts) if t]
    if model == "extractor":
        return [ex for d in docs for ex in sentence_examples(d, sentence_chars)]
    return [(d.doc_id, (d.text, d.tokens)) for d in docs]


def handler_for(model: str, models_dir: Path, inference: InferenceConfig, title: TitleConfig,
                extract: ExtractConfig):
    """The handler `wenmai run` would build (see `wenmai.job.default_handlers`)."""
    from wenmai.config import PipelineConfig
    from wenmai.job import default_handlers

    config = PipelineConfig(inputs=(), output="", models_dir=str(models_dir), inference=inference,
                            title=title, extract=extract)
    return getattr(default_handlers(config), model)


def bare(handler, examples: list, batch_size: int) -> float:
    """Seconds to load the model and run every batch (the pipeline's time includes both too)."""
    values = [ex for _, ex in examples]
    start = time.perf_counter()
    model = handler.load_model()
    for i in range(0, len(values), batch_size):
        list(handler.run_inference(values[i:i + batch_size], model))
    return time.perf_counter() - start


def in_pipeline(handler, examples: list, inference: InferenceConfig) -> float:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from wenmai.pipelines.infer import KeyedInference

    p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    out = p | beam.Create(examples) | KeyedInference(handler, inference)
    _ = out["results"] | beam.combiners.Count.Globally()
    start = time.perf_counter()
    p.run().wait_until_finish()
    return time.perf_counter() - start


def bench_efficiency(model: str, texts: Path, models_dir: Path, limit: int, batch_size: int,
                     inference: InferenceConfig, title: TitleConfig,
                     extract: ExtractConfig) -> dict:
    import torch

    examples = examples_for(model, read_texts(texts, limit), extract.sentence_chars)
    handler = handler_for(model, models_dir, inference, title, extract)
    bare_s = bare(handler, examples, batch_size)
    pipe_s = in_pipeline(handler, examples, inference)
    return {"model": model, "items": len(examples), "texts": str(texts), "batch_size": batch_size,
            "threads": torch.get_num_threads(),
            "bare_items_per_s": len(examples) / bare_s,
            "pipeline_items_per_s": len(examples) / pipe_s,
            "efficiency": bare_s / pipe_s}


def main(argv: Optional[list[str]] = None) -> dict:
    from wenmai.cli.args import add_dataclass_args, dataclass_from_args

    parser = ArgumentParser(prog="wenmai bench efficiency", description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=list(DEFAULT_TEXTS), required=True)
    add_data_dir_arg(parser)
    parser.add_argument("--texts", type=Path, default=None,
                        help="texts (default: per --model, " + ", ".join(
                            f"{m}: {p}" for m, p in DEFAULT_TEXTS.items()) + " in --data-dir)")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--limit", type=int, default=1000, help="texts read")
    parser.add_argument("--batch-size", type=int, default=64, help="bare loop batch size")
    for cls in (InferenceConfig, TitleConfig, ExtractConfig):
        add_dataclass_args(parser, cls)
    args = parser.parse_args(argv)
    texts = args.texts or data_dir(args.data_dir) / DEFAULT_TEXTS[args.model]
    if not texts.is_file():
        raise FileNotFoundError(f"--texts {texts}: no such file")
    r = bench_efficiency(args.model, texts, args.models, args.limit, args.batch_size,
                         dataclass_from_args(InferenceConfig, args),
                         dataclass_from_args(TitleConfig, args),
                         dataclass_from_args(ExtractConfig, args))
    print(f"{r['model']}: {r['items']} items; bare {r['bare_items_per_s']:.1f}/s, pipeline "
          f"{r['pipeline_items_per_s']:.1f}/s, efficiency {r['efficiency']:.2f}")
    print(json.dumps(r))
    return r
