"""`wenmai bench job`: the whole `wenmai run` at growing corpus sizes (the growth curve).

For each size N it writes N real texts (distinct lines of the `--texts` files, in order; short
headlines and questions, as a news feed or a question log would give) to a .txt corpus, runs
`wenmai run` on it in a fresh child process with the shipped models, and reports wall time,
documents/s, the child's peak resident memory (its own and the InfoMap child's, whichever is
larger) and the share of each top-level stage from the run manifest's `stage_seconds`.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from wenmai.benchmarks.data import add_data_dir_arg, data_dir
from wenmai.cli.args import ArgumentParser
from wenmai.models import DEFAULT_MODELS_DIR

# Runs `wenmai run ARGV...` and prints its peak RSS (MiB) as the last line. The process's own
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
print(json.dumps({"exit": code, "peak_rss_mib": peak}))
"""


def run_once(corpus: Path, out: Path, models_dir: Path, extra: list[str]) -> dict:
    argv = ["run", str(corpus), "--output", str(out), "--models", str(models_dir), "--overwrite",
            *extra]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, *argv], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"wenmai run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    manifest = json.loads((out / "manifest.json").read_text())
    stages = manifest.get("stage_seconds", {})
    busy = sum(stages.values()) or 1.0
    return {
        "documents": manifest["counts"].get("documents", 0),
        "triples": manifest["counts"].get("triples", 0),
        "clusters": manifest["counts"].get("clusters", 0),
        "wall_seconds": wall, "job_seconds": manifest["seconds"],
        "documents_per_s": manifest["counts"].get("documents", 0) / manifest["seconds"],
        "peak_rss_mib": child["peak_rss_mib"],
        "stage_share": {k: v / busy for k, v in stages.items()},
    }


def bench_job(texts: list[Path], models_dir: Path, sizes: list[int], extra: list[str]) -> dict:
    from wenmai.benchmarks.knn import read_texts

    distinct = read_texts(texts, max(sizes))
    report = {"texts": [str(t) for t in texts], "flags": extra, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            if n > len(distinct):
                raise ValueError(f"--sizes {n}: the --texts files hold only {len(distinct)} "
                                 f"distinct texts")
            corpus = Path(tmp) / f"corpus-{n}.txt"
            corpus.write_text("\n".join(distinct[:n]) + "\n", encoding="utf-8")
            row = run_once(corpus, Path(tmp) / f"out-{n}", models_dir, extra)
            row["n"] = n
            report["runs"].append(row)
            print(f"{n:>8} docs {row['job_seconds']:>8.1f} s {row['documents_per_s']:>8.0f} docs/s "
                  f"peak {row['peak_rss_mib']:>7.0f} MiB  " + " ".join(
                      f"{k} {v:.0%}" for k, v in list(row["stage_share"].items())[:5]), flush=True)
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
    parser.add_argument("--corpus", choices=["texts", "short"], default="texts",
                        help="texts: the --texts files; short: up to 1M distinct short documents "
                             "(wenmai.benchmarks.growth)")
    args, extra = parser.parse_known_args(argv)
    extra = [a for a in extra if a != "--"]
    if args.corpus == "short":
        from wenmai.benchmarks.growth import bench_growth

        report = bench_growth(data_dir(args.data_dir), args.models, args.sizes, extra)
        print(json.dumps(report))
        return report
    args.texts = args.texts or [data_dir(args.data_dir) / t for t in DEFAULT_TEXTS]
    report = bench_job(args.texts, args.models, args.sizes, extra)
    print(json.dumps(report))
    return report
