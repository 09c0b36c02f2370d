"""`wenmai bench encoder|infomap|extractor`: throughput and quality figures, each from one run.

`wenmai bench encoder`: encoder throughput as a bare PyTorch loop and inside the Beam pipeline.

On the same texts in the same run it prints:
- sentences/s of a bare loop (fixed-size batches in input order, each padded to its longest);
- sentences/s of the pipeline's EncodeSentences stage on the FnApiRunner, with length buckets
  ("group") and without ("off"), and the ratio to the bare loop (pipeline efficiency);
- padding efficiency (real tokens / padded tokens) for each, from the handler's own counters.
Texts are segmented once up front, so every variant does the same work: featurise + model.
The last line is one JSON object with every figure. Benchmarks print figures; tests never time.

`wenmai bench extractor`: one self-attention layer (full, local, atrous) at 512/1024/2048
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

from wenmai.config import ArgumentParser, InferenceConfig
from wenmai.models import DEFAULT_MODELS_DIR
from wenmai.types import Doc

DEFAULT_TEXTS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "topics" / \
    "tnews" / "unlabeled.txt"


def load_docs(path: Path, limit: int) -> list[Doc]:
    from wenmai.pipelines.clean import normalize_text
    from wenmai.pipelines.segment import load_jieba, segment

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
    return report


def bench_infomap(labelled: Path, models_dir: Path, limit: int, trials: int) -> dict:
    """Both InfoMap engines on the same kNN graph of real embeddings: time, codelength, quality."""
    from sklearn.metrics import normalized_mutual_info_score

    from wenmai.config import ClusterConfig, GraphConfig
    from wenmai.eval_cluster import embed, read_labelled
    from wenmai.pipelines.cluster import Assignment, cluster_graph
    from wenmai.pipelines.graph import build_graph

    labels, texts = read_labelled(labelled)
    labels, texts = labels[:limit], texts[:limit]
    vectors = embed(texts, models_dir, InferenceConfig())
    graph = build_graph([(f"{i:09d}", v) for i, v in enumerate(vectors)], GraphConfig())
    report = {"n": len(texts), "edges": int(len(graph.src)), "labelled": str(labelled), "engines": {}}
    for engine in ("infomap", "igraph"):
        start = time.perf_counter()
        out = list(cluster_graph(graph, ClusterConfig(engine=engine, trials=trials)))
        seconds = time.perf_counter() - start
        predicted = [0] * len(texts)
        for a in out:
            if isinstance(a, Assignment):
                predicted[int(a.doc_id)] = a.cluster_id
        stats = [o.value for o in out if not isinstance(o, Assignment)][0]
        report["engines"][engine] = {
            "seconds": seconds, "codelength": stats["codelength"], "clusters": stats["clusters"],
            "singletons": stats["singletons"], "nmi": normalized_mutual_info_score(labels, predicted)}
    return report


def main_infomap(argv: Optional[list[str]] = None) -> dict:
    parser = ArgumentParser(prog="wenmai bench infomap", description=bench_infomap.__doc__)
    parser.add_argument("--labelled", type=Path, required=True, help="label<TAB>text file")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--limit", type=int, default=10_000)
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args(argv)
    report = bench_infomap(args.labelled, args.models, args.limit, args.trials)
    print(f"{report['n']} nodes, {report['edges']} edges")
    print(f"{'engine':<10}{'seconds':>10}{'codelength':>12}{'clusters':>10}{'nmi':>8}")
    for name, r in report["engines"].items():
        print(f"{name:<10}{r['seconds']:>10.2f}{r['codelength']:>12.4f}{r['clusters']:>10}"
              f"{r['nmi']:>8.3f}")
    print(json.dumps(report))
    return report


def main(argv: Optional[list[str]] = None) -> dict:
    parser = ArgumentParser(prog="wenmai bench encoder", description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=Path, default=DEFAULT_TEXTS, help="one text per line")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--limit", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=256, help="bare loop batch size")
    parser.add_argument("--max-batch-tokens", type=int, default=InferenceConfig.max_batch_tokens,
                        help="the pipeline's token budget per batch")
    args = parser.parse_args(argv)
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
    print(json.dumps(report))
    return report


# --------------------------------------------------------------------------------------------------
# wenmai bench extractor

DEFAULT_TRIPLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "triples" / \
    "duie2" / "dev.json"

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
    return time.perf_counter() - start


def bench_extractor(data: Path, models_dir: Path, baseline_dir: Optional[Path], limit: int,
                    batch_size: int, lengths, attention_batch: int, repeats: int) -> dict:
    """Sparse vs full attention per layer, and extractor throughput DGCNN vs BiLSTM."""
    from wenmai.models.checkpoint import read_config
    from wenmai.models.evaluate_extractor import EXTRACTOR_SUBDIR, read_triples
    from wenmai.models.extractor import TripleExtractor, extract_triples, load_extractor
    from wenmai.pipelines.segment import load_jieba, segment

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
    cpu = torch.device("cpu")
    max_len = 256

    def forward(m):
        """Fixed work per sentence: encoder + subject head + object head for one subject."""
        def run(batch):
            feats = [vocab.encode(t, w, max_len) for t, w in batch]
            chars = torch.zeros(len(feats), max(len(c) for c, _ in feats), dtype=torch.long)
            words = torch.zeros_like(chars)
            for i, (c, w) in enumerate(feats):
                chars[i, :len(c)], words[i, :len(w)] = torch.tensor(c), torch.tensor(w)
            zero = torch.zeros(len(feats), dtype=torch.long)
            with torch.inference_mode():
                m(chars, words, zero, zero)
        return run

    same_width = {}
    for arch in ("dgcnn", "bilstm"):  # equal width, random weights: the architectures' own cost
        torch.manual_seed(0)
        m = TripleExtractor(dataclasses.replace(cfg, arch=arch)).eval()
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
        threshold = float(read_config(directory / EXTRACTOR_SUBDIR).get("threshold", 0.5))
        seconds = _time_batches(lambda b: extract_triples(m, v, b, cpu, threshold, max_len), batches)
        report["extract_trained"][name] = {"arch": m.config.arch, "dir": str(directory),
                                           "sentences_per_s": len(examples) / seconds}
    report["n"] = len(examples)
    report["data"] = str(data)
    return report


def main_extractor(argv: Optional[list[str]] = None) -> dict:
    """`wenmai bench extractor`: sparse attention cost at 512/1024/2048 characters, and sentences/s
    of the DGCNN extractor vs the BiLSTM baseline of equal width on the same sentences."""
    parser = ArgumentParser(prog="wenmai bench extractor", description=main_extractor.__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_TRIPLES, help="triples file (texts)")
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


DEFAULT_TITLE_PAIRS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "titles" / \
    "csl" / "test.jsonl"


def bench_titler(pairs: Path, models_dir: Path, limit: int, batch_size: int, beam_sizes,
                 max_title_len: int) -> dict:
    """Titles/s of `generate_titles` on the same texts, batched, for each beam size (1 = greedy)."""
    from wenmai.models.evaluate_titler import read_title_pairs
    from wenmai.models.titler import generate_titles, load_titler

    texts = read_title_pairs(pairs)[0][:limit]
    model, vocab = load_titler(models_dir / "titler")
    generate_titles(model, vocab, texts[:batch_size], 1, max_title_len)  # warm-up
    report = {"n": len(texts), "pairs": str(pairs), "batch_size": batch_size,
              "max_len": model.config.max_len, "max_title_len": max_title_len,
              "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
              "device": str(next(model.parameters()).device), "beams": {}}
    for k in beam_sizes:
        start = time.perf_counter()
        titles = generate_titles(model, vocab, texts, k, max_title_len, batch_size=batch_size)
        seconds = time.perf_counter() - start
        report["beams"][str(k)] = {"titles_per_s": len(texts) / seconds, "seconds": seconds,
                                   "mean_title_chars": sum(len(t) for t, _ in titles) / len(texts)}
    greedy = report["beams"].get("1")
    for row in report["beams"].values():
        row["slowdown_vs_greedy"] = greedy["titles_per_s"] / row["titles_per_s"] if greedy else None
    return report


def main_titler(argv: Optional[list[str]] = None) -> dict:
    parser = ArgumentParser(prog="wenmai bench titler", description=bench_titler.__doc__)
    parser.add_argument("--pairs", type=Path, default=DEFAULT_TITLE_PAIRS,
                        help='JSON lines {"text", "title"}; only the texts are used')
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--beam-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--max-title-len", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
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
