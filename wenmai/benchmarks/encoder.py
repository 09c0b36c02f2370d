"""`wenmai bench encoder`: encoder throughput as a bare PyTorch loop and inside the Beam pipeline.

On the same texts in the same run it prints:
- sentences/s of a bare loop (fixed-size batches in input order, each padded to its longest);
- sentences/s of the pipeline's EncodeSentences stage on the FnApiRunner, with length buckets
  ("group") and without ("off"), and the ratio to the bare loop (pipeline efficiency);
- padding efficiency (real tokens / padded tokens) for each, from the handler's own counters;
- how far a text's vector moves with its batch-mates (`batch_stability`), int8 and fp32.
Texts are segmented once up front, so every variant does the same work: featurise + model.
The last line is one JSON object with every figure. Benchmarks print figures; tests never time.
"""
from __future__ import annotations

import dataclasses
import json
import platform
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from wenmai.benchmarks.data import add_data_dir_arg, data_dir
from wenmai.config import InferenceConfig
from wenmai.cli.args import ArgumentParser
from wenmai.models import DEFAULT_MODELS_DIR
from wenmai.types import Doc

DEFAULT_TEXTS = "topics/tnews/unlabeled.txt"  # in --data-dir


def load_docs(path: Path, limit: int) -> list[Doc]:
    from wenmai.text import normalize_text
    from wenmai.text import load_jieba, segment

    jieba = load_jieba()
    docs = []
    with open(path, encoding="utf-8") as f:
        for position, line in enumerate(f):
            text = normalize_text(line)
            if text:
                docs.append(Doc(f"{position}", str(path), position, text, tokens=segment(jieba, text)))
            if len(docs) >= limit:
                break
    return docs


def bare_loop(docs: list[Doc], models_dir: Path, config: InferenceConfig, batch_size: int) -> dict:
    from wenmai.models.encoder import embed_features
    from wenmai.models.handlers import EncoderHandler

    handler = EncoderHandler(models_dir / "encoder", config)
    model = handler.load_model()
    real = padded = 0
    start = time.perf_counter()
    for i in range(0, len(docs), batch_size):
        feats = [model.vocab.encode(d.text, d.tokens, config.max_len) for d in docs[i:i + batch_size]]
        _, batch_real, batch_padded = embed_features(model.module, feats, model.device)
        real += batch_real
        padded += batch_padded
    seconds = time.perf_counter() - start
    return {"sentences_per_s": len(docs) / seconds, "seconds": seconds,
            "padding_efficiency": real / padded, "batch_size": batch_size}


def in_pipeline(docs: list[Doc], models_dir: Path, config: InferenceConfig) -> dict:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from wenmai.models.handlers import EncoderHandler
    from wenmai.pipelines.embed import EncodeSentences

    handler = EncoderHandler(models_dir / "encoder", config)
    p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    out = p | beam.Create(docs) | EncodeSentences(handler, config)
    _ = out["embeddings"] | beam.combiners.Count.Globally()
    start = time.perf_counter()
    result = p.run()
    result.wait_until_finish()
    seconds = time.perf_counter() - start
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]
                if c.key.metric.namespace == "wenmai.encoder"}
    return {"sentences_per_s": len(docs) / seconds, "seconds": seconds,
            "padding_efficiency": counters["tokens_real"] / counters["tokens_padded"],
            "embedded": counters.get("num_inferences")}


def batch_stability(docs: list[Doc], models_dir: Path, config: InferenceConfig, batch_size: int,
                    n: int = 100) -> dict:
    """The cosine of each of the first `n` texts' vector embedded alone and inside one batch of
    the first `batch_size` texts, int8 and fp32. fp32 rows never depend on their batch-mates; the
    int8 encoder (the CPU default) scales each batch's activations as a whole, so a document's
    vector moves a little with the documents it is batched with."""
    from wenmai.models.encoder import embed_features
    from wenmai.models.handlers import EncoderHandler

    out = {}
    for name, int8 in (("int8", True), ("fp32", False)):
        handler = EncoderHandler(models_dir / "encoder", dataclasses.replace(config, encoder_int8=int8))
        model = handler.load_model()
        feats = [model.vocab.encode(d.text, d.tokens, config.max_len) for d in docs[:batch_size]]
        together = embed_features(model.module, feats, model.device)[0]  # (b, D)
        alone = np.stack([embed_features(model.module, [f], model.device)[0][0]
                          for f in feats[:n]])  # (n, D)
        cosine = (alone * together[:len(alone)]).sum(1)
        out[name] = {"min_cosine": float(cosine.min()), "mean_cosine": float(cosine.mean()),
                     "texts": len(alone), "batch": len(feats)}
    return out


def bench_encoder(texts: Path, models_dir: Path, limit: int, batch_size: int,
                  max_batch_tokens: int = InferenceConfig.max_batch_tokens) -> dict:
    docs = load_docs(texts, limit)
    base = InferenceConfig(device="auto")
    bare = bare_loop(docs, models_dir, base, batch_size)
    report = {"n": len(docs), "texts": str(texts), "max_batch_tokens": max_batch_tokens, "device": str(torch.device(
        "cuda" if torch.cuda.is_available() else "cpu")), "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(), "bare_loop": bare}
    for mode in ("group", "off"):
        stats = in_pipeline(docs, models_dir, InferenceConfig(length_buckets=mode,
                                                              max_batch_tokens=max_batch_tokens))
        stats["efficiency_vs_bare"] = stats["sentences_per_s"] / bare["sentences_per_s"]
        report[f"pipeline_buckets_{mode}"] = stats
    report["batch_stability"] = batch_stability(docs, models_dir, base, batch_size)
    return report


def main(argv: Optional[list[str]] = None) -> dict:
    parser = ArgumentParser(prog="wenmai bench encoder", description=__doc__.split("\n")[0])
    add_data_dir_arg(parser)
    parser.add_argument("--texts", type=Path, default=None,
                        help=f"one text per line (default: --data-dir's {DEFAULT_TEXTS})")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--limit", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=256, help="bare loop batch size")
    parser.add_argument("--max-batch-tokens", type=int, default=InferenceConfig.max_batch_tokens,
                        help="the pipeline's token budget per batch")
    args = parser.parse_args(argv)
    args.texts = args.texts or data_dir(args.data_dir) / DEFAULT_TEXTS
    if not args.texts.is_file():
        raise FileNotFoundError(f"--texts {args.texts}: no such file")
    report = bench_encoder(args.texts, args.models, args.limit, args.batch_size,
                           args.max_batch_tokens)
    print(f"{report['n']} texts on {report['device']} ({report['threads']} threads)")
    print(f"{'variant':<24}{'sent/s':>10}{'vs bare':>10}{'padding eff':>14}")
    for name in ("bare_loop", "pipeline_buckets_group", "pipeline_buckets_off"):
        r = report[name]
        print(f"{name:<24}{r['sentences_per_s']:>10.0f}{r.get('efficiency_vs_bare', 1.0):>10.2f}"
              f"{r['padding_efficiency']:>14.2f}")
    for name, r in report["batch_stability"].items():
        print(f"{name}: a text's vector alone vs in a batch of {r['batch']}: cosine min "
              f"{r['min_cosine']:.4f}, mean {r['mean_cosine']:.4f} ({r['texts']} texts)")
    print(json.dumps(report))
    return report



if __name__ == "__main__":
    main()
