"""`wenmai bench bert`: our sentence encoder vs a BERT-base encoder on the same texts.

BERT-base (12 layers, hidden 768, 12 heads, the `bert-base-chinese` shape) is built from its
config by `transformers`, randomly initialised: nothing is downloaded, and speed does not depend
on the weights. Chinese BERT tokenises one character per token, so both models see the same
input lengths (BERT adds [CLS] and [SEP]); both are capped at `--max-len` characters, both get the
same length-sorted batches, and both run fp32 under `inference_mode` on the same device. The
figure that matters is the ratio, measured in one run.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import torch

from wenmai.benchmarks.data import add_data_dir_arg, data_dir
from wenmai.config import InferenceConfig
from wenmai.cli.args import ArgumentParser
from wenmai.models import DEFAULT_MODELS_DIR

DEFAULT_TEXTS = "topics/tnews/unlabeled.txt"  # in --data-dir


def _batches(n: int, lengths: list[int], batch_size: int) -> list[list[int]]:
    order = sorted(range(n), key=lambda i: lengths[i])
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def ours(docs, models_dir: Path, batches, max_len: int, device: torch.device) -> float:
    """Seconds for our encoder over every batch (featurise + forward)."""
    from wenmai.models.encoder import embed_features, load_encoder

    model, vocab = load_encoder(models_dir / "encoder")
    model.to(device).eval()
    start = time.perf_counter()
    for batch in batches:
        feats = [vocab.encode(docs[i].text, docs[i].tokens, max_len) for i in batch]
        embed_features(model, feats, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bert_base(docs, batches, max_len: int, device: torch.device) -> tuple[float, int]:
    """Seconds for a randomly initialised BERT-base over the same batches, and its parameters."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=21128)).to(device).eval()  # bert-base-chinese's shape
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            longest = max(min(len(docs[i].text), max_len) for i in batch) + 2  # [CLS] ... [SEP]
            ids = torch.zeros(len(batch), longest, dtype=torch.long)
            mask = torch.zeros(len(batch), longest, dtype=torch.long)
            for row, i in enumerate(batch):
                n = min(len(docs[i].text), max_len) + 2
                ids[row, :n] = torch.randint(1000, 21128, (n,))
                mask[row, :n] = 1
            model(input_ids=ids.to(device), attention_mask=mask.to(device)).pooler_output
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, sum(p.numel() for p in model.parameters())


def bench_bert(texts: Path, models_dir: Path, limit: int, batch_size: int,
               max_len: int = InferenceConfig.max_len) -> dict:
    from wenmai.benchmarks.encoder import load_docs
    from wenmai.models.encoder import load_encoder
    from wenmai.models.handlers import select_device

    device = select_device("auto")
    docs = load_docs(texts, limit)
    batches = _batches(len(docs), [len(d.text) for d in docs], batch_size)
    ours(docs, models_dir, batches[:2], max_len, device)  # warm-up: allocator, kernels
    ours_s = ours(docs, models_dir, batches, max_len, device)
    bert_s, bert_params = bert_base(docs, batches, max_len, device)
    encoder, _ = load_encoder(models_dir / "encoder")
    return {"n": len(docs), "texts": str(texts), "device": str(device),
            "threads": torch.get_num_threads(), "batch_size": batch_size, "max_len": max_len,
            "mean_chars": sum(len(d.text) for d in docs) / max(1, len(docs)),
            "ours": {"sentences_per_s": len(docs) / ours_s, "seconds": ours_s,
                     "parameters": encoder.get_num_params()},
            "bert_base": {"sentences_per_s": len(docs) / bert_s, "seconds": bert_s,
                          "parameters": bert_params},
            "speedup": bert_s / ours_s}


def main(argv: Optional[list[str]] = None) -> dict:
    parser = ArgumentParser(prog="wenmai bench bert", description=__doc__.split("\n")[0])
    add_data_dir_arg(parser)
    parser.add_argument("--texts", type=Path, default=None,
                        help=f"one text per line (default: --data-dir's {DEFAULT_TEXTS})")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--limit", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    args.texts = args.texts or data_dir(args.data_dir) / DEFAULT_TEXTS
    if not args.texts.is_file():
        raise FileNotFoundError(f"--texts {args.texts}: no such file")
    r = bench_bert(args.texts, args.models, args.limit, args.batch_size)
    print(f"{r['n']} texts (mean {r['mean_chars']:.1f} chars) on {r['device']}, "
          f"{r['threads']} threads, batches of {r['batch_size']}")
    for name in ("ours", "bert_base"):
        print(f"  {name:<10}{r[name]['sentences_per_s']:>10.0f} sentences/s"
              f"{r[name]['parameters'] / 1e6:>8.1f}M parameters")
    print(f"  our encoder is {r['speedup']:.1f}x BERT-base")
    print(json.dumps(r))
    return r
