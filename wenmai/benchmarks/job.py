"""`wenmai bench job`: the whole `wenmai run` at growing corpus sizes (the growth curve).

For each size N it writes N real texts to a corpus, runs `wenmai run` on it in a fresh child
process with the shipped models, and reports wall time, documents/s, characters/s, the child's
peak resident memory (its own and the InfoMap child's, whichever is larger) and the share of each
top-level stage from the run manifest's `stage_seconds`. Corpora (`--corpus`):
- texts: distinct lines of the `--texts` files, in order (short headlines and questions, as a
  news feed or a question log would give), as a .txt;
- news: the N newest stories of `titles/xwlb/news.jsonl` (articles of ~600 characters, the
  latest dates; texts only), as a .jsonl;
- short: up to 1M distinct short documents (`wenmai.benchmarks.growth`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from wenmai.benchmarks.data import add_data_dir_arg, data_dir
from wenmai.cli.args import ArgumentParser
from wenmai.models import DEFAULT_MODELS_DIR

# Runs `wenmai run ARGV...` and prints its peak RSS (MiB) and CPU seconds as the last line. The process's own
# peak is VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across fork + exec, so a child
# of a large parent would report the parent's size. Its children (the InfoMap process) are
# counted with ru_maxrss, which that quirk can only push up to this process's size at the fork.
_CHILD = """
import json, resource, sys
from wenmai.cli import main
code = main(sys.argv[1:])
with open("/proc/self/status") as f:
    own = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
peak = max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
cpu = sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, (resource.RUSAGE_SELF,
                                                                    resource.RUSAGE_CHILDREN)))
print(json.dumps({"exit": code, "peak_rss_mib": peak, "cpu_seconds": cpu}))
"""


NEWS_FILE = "titles/xwlb/news.jsonl"  # in --data-dir


def newest_stories(path: Path, n: int) -> list[str]:
    """The texts of the n newest stories of a dated news file (by date, then file order), oldest
    first; fewer when the file holds fewer."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if line.strip():
                row = json.loads(line)
                rows.append((str(row.get("date", "")), i, row["text"]))
    rows.sort()
    return [text for _, _, text in rows[len(rows) - n:]] if n else []


def write_corpus(texts: list[str], directory: Path, name: str, jsonl: bool) -> Path:
    """texts -> NAME.jsonl ({"text"} a line; for texts with line breaks) or NAME.txt (a line each)."""
    if jsonl:
        path = directory / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n"
                                for t in texts), encoding="utf-8")
    else:
        path = directory / f"{name}.txt"
        path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


def run_once(corpus: Path, out: Path, models_dir: Optional[Path], extra: list[str],
             python: str = sys.executable, cwd: Optional[Path] = None, quiet: bool = True) -> dict:
    """One `wenmai run` in a child process (`python`: another version's interpreter; None
    models_dir: the models that version ships; `quiet` False for a version without --quiet),
    timed; -> its row of figures."""
    models = ["--models", str(models_dir)] if models_dir is not None else []
    argv = ["run", str(corpus), "--output", str(out), *models, "--overwrite",
            *(["--quiet"] if quiet else []), *extra]
    env = {**os.environ, "PYTHONSAFEPATH": "1"}  # never import a checkout from the cwd
    start = time.perf_counter()
    proc = subprocess.run([python, "-c", _CHILD, *argv], capture_output=True, text=True,
                          cwd=cwd, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"wenmai run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    manifest = json.loads((out / "manifest.json").read_text())
    stages = manifest.get("stage_seconds", {})
    busy = sum(stages.values()) or 1.0
    chars = corpus_chars(corpus)
    return {
        "characters": chars, "characters_per_s": chars / manifest["seconds"],
        "documents": manifest["counts"].get("documents", 0),
        "triples": manifest["counts"].get("triples", 0),
        "clusters": manifest["counts"].get("clusters", 0),
        "wall_seconds": wall, "job_seconds": manifest["seconds"],
        "documents_per_s": manifest["counts"].get("documents", 0) / manifest["seconds"],
        "peak_rss_mib": child["peak_rss_mib"],
        # CPU seconds of the run's processes (all threads): on a shared machine, where wall time
        # depends on the other jobs, the fairer comparison of two versions
        "cpu_seconds": child.get("cpu_seconds"),
        "stage_share": {k: v / busy for k, v in stages.items()},
        # per model: batches, examples, inference seconds, padding (`wenmai run --profile`)
        "inference": manifest.get("inference", {}),
    }


def corpus_chars(corpus: Path) -> int:
    """Characters of text in a .txt (a record a line) or .jsonl ({"text"}) corpus."""
    with open(corpus, encoding="utf-8") as f:
        if corpus.suffix == ".jsonl":
            return sum(len(json.loads(line)["text"]) for line in f if line.strip())
        return sum(len(line.rstrip("\n")) for line in f)


def row_line(row: dict) -> str:
    return (f"{row['n']:>8} docs {row['job_seconds']:>8.1f} s {row['documents_per_s']:>8.1f} docs/s "
            f"{row['characters_per_s']:>8.0f} chars/s peak {row['peak_rss_mib']:>7.0f} MiB  "
            + " ".join(f"{k} {v:.0%}" for k, v in list(row["stage_share"].items())[:5])
            + "".join(f" | {m} {p['seconds']:.1f} s, padding {p['padding_share'] or 0:.0%}"
                      for m, p in row.get("inference", {}).items()))


def bench_job(texts: Optional[list[Path]], models_dir: Path, sizes: list[int], extra: list[str],
              news: Optional[Path] = None) -> dict:
    """The growth curve on the --texts lines, or (`news` given) on the newest news stories."""
    from wenmai.benchmarks.knn import read_texts

    distinct = newest_stories(news, max(sizes)) if news else read_texts(texts, max(sizes))
    source = [str(news)] if news else [str(t) for t in texts]
    report = {"texts": source, "corpus": "news" if news else "texts", "flags": extra, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            if n > len(distinct):
                raise ValueError(f"--sizes {n}: {', '.join(source)} hold only {len(distinct)} "
                                 f"distinct texts")
            corpus = write_corpus(distinct[len(distinct) - n:] if news else distinct[:n],
                                  Path(tmp), f"corpus-{n}", jsonl=bool(news))
            row = run_once(corpus, Path(tmp) / f"out-{n}", models_dir, extra)
            row["n"] = n
            report["runs"].append(row)
            print(row_line(row), flush=True)
    return report


def main(argv: Optional[list[str]] = None) -> dict:
    from wenmai.benchmarks.knn import DEFAULT_TEXTS

    parser = ArgumentParser(prog="wenmai bench job", description=__doc__.split("\n")[0],
                            epilog="Flags after -- go to `wenmai run` (e.g. -- --no-titles).")
    add_data_dir_arg(parser)
    parser.add_argument("--texts", type=Path, nargs="+", default=None,
                        help="txt, labelled or pair files (default: `wenmai bench knn`'s, in "
                             "--data-dir)")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--corpus", choices=["texts", "news", "short"], default="texts",
                        help="texts: the --texts files; news: the newest stories of "
                             f"{NEWS_FILE} (articles); short: up to 1M distinct short documents "
                             "(wenmai.benchmarks.growth)")
    parser.add_argument("--max-rss-mib", type=float, default=0.0,
                        help="--corpus short: stop a run whose processes pass this much resident "
                             "memory (0: no cap), so a shared machine is not starved")
    args, extra = parser.parse_known_args(argv)
    extra = [a for a in extra if a != "--"]
    if args.corpus == "short":
        from wenmai.benchmarks.growth import bench_growth

        report = bench_growth(data_dir(args.data_dir), args.models, args.sizes, extra,
                              max_rss_mib=args.max_rss_mib)
        print(json.dumps(report))
        return report
    if args.corpus == "news":
        report = bench_job(None, args.models, args.sizes, extra,
                           news=data_dir(args.data_dir) / NEWS_FILE)
        print(json.dumps(report))
        return report
    args.texts = args.texts or [data_dir(args.data_dir) / t for t in DEFAULT_TEXTS]
    report = bench_job(args.texts, args.models, args.sizes, extra)
    print(json.dumps(report))
    return report
