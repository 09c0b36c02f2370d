"""`wenmai bench extractor`: one self-attention layer (full, local, atrous) at 512/1024/2048
characters (ms, elements kept for backward, peak RSS growth of a fresh child process), and
sentences/s of the DGCNN extractor vs the BiLSTM baseline of equal width on the same sentences.
"""
from __future__ import annotations

import dataclasses
import json
import platform
import time
from pathlib import Path
from typing import Optional

import torch

from wenmai.benchmarks.data import add_data_dir_arg, data_dir
from wenmai.cli.args import ArgumentParser
from wenmai.models import DEFAULT_MODELS_DIR

DEFAULT_TRIPLES = "triples/duie2/dev.json"  # in --data-dir

_RSS_CHILD = """
import json, sys, torch
from wenmai.models.extractor import SelfAttention
mode, T, B, d, heads, window, rate = sys.argv[1], *map(int, sys.argv[2:8])

def rss_kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])

torch.manual_seed(0)
layer = SelfAttention(d, heads, mode, window, rate).eval()
with torch.inference_mode():
    layer(torch.randn(B, 64, d), torch.ones(B, 64, dtype=torch.bool))  # warm up kernels, allocator
    x, mask = torch.randn(B, T, d), torch.ones(B, T, dtype=torch.bool)
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
    before = rss_kib("VmRSS:")
    layer(x, mask)
    peak = rss_kib("VmHWM:")
print(json.dumps({"peak_rss_delta_mib": (peak - before) / 1024}))
"""


def _saved_elements(layer, x, mask) -> int:
    """Elements autograd keeps for backward in one training forward of `layer`."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(x, mask)
    return total


def bench_attention(lengths, batch: int, d: int, heads: int, window: int, rate: int,
                    repeats: int) -> list[dict]:
    """One self-attention layer per mode and length: inference time (best of `repeats`), peak RSS
    growth of a fresh child process running one inference forward, and the elements autograd
    keeps for backward (training memory)."""
    import subprocess
    import sys

    from wenmai.models.extractor import SelfAttention

    rows = []
    for T in lengths:
        for mode in ("full", "local", "atrous"):
            torch.manual_seed(0)
            layer = SelfAttention(d, heads, mode, window, rate)
            x, mask = torch.randn(batch, T, d), torch.ones(batch, T, dtype=torch.bool)
            saved = _saved_elements(layer, x.requires_grad_(), mask)
            layer.eval()
            times = []
            with torch.inference_mode():
                for _ in range(repeats):
                    start = time.perf_counter()
                    layer(x, mask)
                    times.append(time.perf_counter() - start)
            child = subprocess.run(
                [sys.executable, "-c", _RSS_CHILD, mode, str(T), str(batch), str(d), str(heads),
                 str(window), str(rate)], capture_output=True, text=True, check=True)
            rows.append({"length": T, "attention": mode, "ms_per_layer": 1000 * min(times),
                         "saved_elements": saved,
                         **json.loads(child.stdout.strip().splitlines()[-1])})
    return rows


def _time_batches(fn, batches) -> float:
    start = time.perf_counter()
    for batch in batches:
        fn(batch)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench_extractor(data: Path, models_dir: Path, baseline_dir: Optional[Path], limit: int,
                    batch_size: int, lengths, attention_batch: int, repeats: int) -> dict:
    """Sparse vs full attention per layer (CPU: its peak memory is the point), and extractor
    throughput DGCNN vs BiLSTM on the GPU when there is one (as the pipeline's handler would)."""
    from wenmai.models.checkpoint import read_config
    from wenmai.models.evaluate_extractor import EXTRACTOR_SUBDIR, read_triples
    from wenmai.models.extractor import TripleExtractor, extract_triples, load_extractor
    from wenmai.models.handlers import select_device
    from wenmai.text import load_jieba, segment

    model, vocab = load_extractor(models_dir / EXTRACTOR_SUBDIR)
    cfg = model.config
    report = {"threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
              "attention": bench_attention(lengths, attention_batch, cfg.d, cfg.n_heads, cfg.window,
                                           cfg.rate, repeats)}

    # --- throughput on the same sentences, segmented once, batched by length
    jieba = load_jieba()
    texts = [t for t, _ in read_triples(data)][:limit]
    examples = sorted(((t, list(segment(jieba, t))) for t in texts), key=lambda e: len(e[0]))
    batches = [examples[i:i + batch_size] for i in range(0, len(examples), batch_size)]
    device = select_device("auto")
    report["device"] = str(device)
    max_len = 256

    def forward(m):
        """Fixed work per sentence: encoder + subject head + object head for one subject."""
        def run(batch):
            feats = [vocab.encode(t, w, max_len) for t, w in batch]
            chars = torch.zeros(len(feats), max(len(c) for c, _ in feats), dtype=torch.long)
            words = torch.zeros_like(chars)
            for i, (c, w) in enumerate(feats):
                chars[i, :len(c)], words[i, :len(w)] = torch.tensor(c), torch.tensor(w)
            zero = torch.zeros(len(feats), dtype=torch.long, device=device)
            with torch.inference_mode():
                m(chars.to(device), words.to(device), zero, zero)
        return run

    same_width = {}
    for arch in ("dgcnn", "bilstm"):  # equal width, random weights: the architectures' own cost
        torch.manual_seed(0)
        m = TripleExtractor(dataclasses.replace(cfg, arch=arch)).to(device).eval()
        _time_batches(forward(m), batches[:2])  # warm-up
        seconds = _time_batches(forward(m), batches)
        same_width[arch] = {"sentences_per_s": len(examples) / seconds,
                            "parameters": m.get_num_params()}
    report["forward_equal_width"] = same_width
    trained = {"dgcnn": models_dir}
    if baseline_dir is not None:
        trained["bilstm"] = baseline_dir
    report["extract_trained"] = {}
    for name, directory in trained.items():  # end to end: decoding of the subjects each finds
        m, v = load_extractor(directory / EXTRACTOR_SUBDIR)
        m.to(device)
        threshold = float(read_config(directory / EXTRACTOR_SUBDIR).get("threshold", 0.5))
        seconds = _time_batches(lambda b: extract_triples(m, v, b, device, threshold, max_len), batches)
        report["extract_trained"][name] = {"arch": m.config.arch, "dir": str(directory),
                                           "sentences_per_s": len(examples) / seconds}
    report["n"] = len(examples)
    report["data"] = str(data)
    return report


def main(argv: Optional[list[str]] = None) -> dict:
    """`wenmai bench extractor`: sparse attention cost at 512/1024/2048 characters, and sentences/s
    of the DGCNN extractor vs the BiLSTM baseline of equal width on the same sentences."""
    parser = ArgumentParser(prog="wenmai bench extractor", description=main.__doc__)
    add_data_dir_arg(parser)
    parser.add_argument("--data", type=Path, default=None,
                        help=f"triples file (texts; default: --data-dir's {DEFAULT_TRIPLES})")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR,
                        help="directory holding extractor/ (the DGCNN; default: shipped)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="directory holding extractor/ of a trained BiLSTM baseline")
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--attention-batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    args.data = args.data or data_dir(args.data_dir) / DEFAULT_TRIPLES
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.data.is_file():
        raise FileNotFoundError(f"--data {args.data}: no such file")
    r = bench_extractor(args.data, args.models, args.baseline, args.limit, args.batch_size,
                        args.lengths, args.attention_batch, args.repeats)
    print(f"self-attention, one layer, batch {args.attention_batch}, {r['threads']} thread(s)")
    print(f"{'length':>7}{'attention':>10}{'ms/layer':>10}{'saved elems':>14}{'peak RSS MiB':>14}")
    for row in r["attention"]:
        print(f"{row['length']:>7}{row['attention']:>10}{row['ms_per_layer']:>10.1f}"
              f"{row['saved_elements']:>14,}{row['peak_rss_delta_mib']:>14.1f}")
    print(f"throughput on {r['n']} sentences of {r['data']}")
    for arch, row in r["forward_equal_width"].items():
        print(f"  forward, equal width, {arch:<7}{row['sentences_per_s']:>9.0f} sent/s "
              f"({row['parameters']:,} parameters)")
    for name, row in r["extract_trained"].items():
        print(f"  extract, trained,     {name:<7}{row['sentences_per_s']:>9.0f} sent/s")
    print(json.dumps(r))
    return r


if __name__ == "__main__":
    main()
