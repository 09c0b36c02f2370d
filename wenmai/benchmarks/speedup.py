"""`wenmai bench speedup`: this version of the job beside an earlier commit, in one bench run.

Both versions run the same corpora, `--news` newest news stories (articles) and `--headlines`
short texts (the `bench job` lines), each run a fresh child process with the models that version
ships, the versions alternating run by run (base, head, base, head, ...) so that a machine that
slows down or speeds up midway weighs on both alike. The base is the commit installed, not
editable, into its own virtual environment (`python -m venv --system-site-packages`, so it reuses
this machine's torch and Beam), from a `git worktree` of it, and run from a scratch directory
outside any repository: its children import its own code, never this checkout's (checked before
timing: the base's `wenmai` must live in its venv). The head is the installed `wenmai` of this
interpreter. A version's figure is its median over `--repeats`; the ratio is head / base docs/s,
the CPU ratio base / head CPU seconds of the runs' processes (the fairer figure where other jobs
share the machine; pin OMP_NUM_THREADS=1 so idle threads' spinning does not count).
"""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Optional

from wenmai.benchmarks.data import add_data_dir_arg, data_dir
from wenmai.benchmarks.job import NEWS_FILE, newest_stories, run_once, write_corpus
from wenmai.cli.args import ArgumentParser

WHERE = "import wenmai, sys; print(wenmai.__file__)"
PURELIB = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
HELP = "import sys; from wenmai.cli import main; sys.argv[0] = 'wenmai'; main(['run', '--help'])"


def install_commit(repo: Path, commit: str, work: Path) -> str:
    """A venv under `work` with `commit` of `repo` installed (a wheel, not editable) -> its python."""
    tree, wheels, venv = work / "tree", work / "wheels", work / "venv"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), commit],
                   check=True, capture_output=True, text=True)
    try:
        _list_cli_package(tree / "setup.py")
        # the wheel is built by this interpreter's setuptools (a fresh venv's may be too old to
        # build wheels); installing it needs no build step
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                        "--no-build-isolation", str(tree), "-w", str(wheels)],
                       check=True, capture_output=True, text=True, cwd=work)
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)],
                       capture_output=True, text=True)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    # --system-site-packages reaches the base interpreter's packages, not this venv's (where
    # torch and Beam live when wenmai runs from a venv): a .pth line puts this interpreter's
    # site-packages after the new venv's own. Only .pth files of a site directory run, so this
    # venv's editable wenmai (a finder a .pth file installs) is not imported by the base
    site = subprocess.run([python, "-c", PURELIB], check=True, capture_output=True,
                          text=True).stdout.strip()
    ours = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    (Path(site) / "wenmai_bench_head_site.pth").write_text("\n".join(sorted(ours)) + "\n")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    *map(str, wheels.glob("*.whl"))], check=True, capture_output=True, text=True,
                   cwd=work)
    return python


def _list_cli_package(setup_py: Path) -> None:
    """Commits before the packaging fix left `wenmai.cli` out of setup.py's packages, so their
    wheel had no `wenmai` command: list it as the fix does (the rest of the commit unchanged)."""
    text = setup_py.read_text(encoding="utf-8")
    if (setup_py.parent / "wenmai" / "cli" / "__init__.py").is_file() and '"wenmai.cli"' not in text:
        anchor = '"wenmai.benchmarks": "wenmai/benchmarks",'
        if anchor not in text:
            raise RuntimeError(f"{setup_py}: cannot add wenmai.cli to its packages")
        setup_py.write_text(text.replace(anchor, anchor + ' "wenmai.cli": "wenmai/cli",'),
                            encoding="utf-8")


def imported_from(python: str, cwd: Path) -> Path:
    """Where `python`, started in `cwd`, imports `wenmai` from."""
    out = subprocess.run([python, "-c", WHERE], check=True, capture_output=True, text=True,
                         cwd=cwd, env={"PYTHONSAFEPATH": "1", "PATH": "/usr/bin:/bin"})
    return Path(out.stdout.strip().splitlines()[-1]).resolve()


def has_quiet_flag(python: str, cwd: Path) -> bool:
    """Whether that version's `wenmai run` takes --quiet (commits before it did not, and printed
    their progress lines: part of their cost as shipped)."""
    out = subprocess.run([python, "-c", HELP], capture_output=True, text=True, cwd=cwd)
    return "--quiet" in out.stdout


def git_head(repo: Path) -> str:
    out = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return out.stdout.strip() + ("+working tree" if dirty else "")


def summarize(rows: list[dict]) -> list[dict]:
    """Per (version, corpus): medians of the timed runs, and head / base ratios."""
    out = []
    for key in sorted({(r["version"], r["corpus"]) for r in rows}, key=lambda k: (k[1], k[0] != "base")):
        runs = [r for r in rows if (r["version"], r["corpus"]) == key]
        shares = {}
        for run in runs:
            for stage, share in run["stage_share"].items():
                shares.setdefault(stage, []).append(share)
        out.append({"version": key[0], "corpus": key[1], "runs": len(runs),
                    "documents": runs[0]["documents"],
                    **{m: statistics.median(r[m] for r in runs)
                       for m in ("documents_per_s", "characters_per_s", "peak_rss_mib",
                                 "job_seconds", "cpu_seconds")},
                    "stage_share": {s: statistics.median(v) for s, v in
                                    sorted(shares.items(), key=lambda kv: -statistics.median(kv[1]))}})
    base = {r["corpus"]: r for r in out if r["version"] == "base"}
    for r in out:
        if r["corpus"] in base:
            r["ratio"] = r["documents_per_s"] / base[r["corpus"]]["documents_per_s"]
            r["cpu_ratio"] = base[r["corpus"]]["cpu_seconds"] / r["cpu_seconds"]
    return out


def table(summary: list[dict], labels: dict[str, str]) -> str:
    lines = ["| version | corpus | docs/s | chars/s | peak MiB | stage shares | ratio | CPU s | "
             "CPU ratio |", "|---|---|---|---|---|---|---|---|---|"]
    for r in summary:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in list(r["stage_share"].items())[:4])
        lines.append(f"| {labels[r['version']]} | {r['corpus']} ({r['documents']:,}) | "
                     f"{r['documents_per_s']:.1f} | {r['characters_per_s']:,.0f} | "
                     f"{r['peak_rss_mib']:,.0f} | {shares} | {r.get('ratio', 1.0):.2f} | "
                     f"{r['cpu_seconds']:.0f} | {r.get('cpu_ratio', 1.0):.2f} |")
    return "\n".join(lines)


def bench_speedup(base: str, data: Path, n_news: int, n_headlines: int, repeats: int,
                  extra: list[str], repo: Path, keep: Optional[Path] = None) -> dict:
    from wenmai.benchmarks.knn import DEFAULT_TEXTS, read_texts

    work = Path(tempfile.mkdtemp(prefix="wenmai-speedup-", dir=keep))
    try:
        pythons = {"base": install_commit(repo, base, work), "head": sys.executable}
        scratch = work / "run"  # outside any repository: no checkout on sys.path
        scratch.mkdir()
        where = {v: imported_from(p, scratch) for v, p in pythons.items()}
        if (work / "venv") not in where["base"].parents:
            raise RuntimeError(f"the base imports wenmai from {where['base']}, not its own venv")
        if where["head"] == where["base"]:
            raise RuntimeError("base and head import the same wenmai")
        quiet = {v: has_quiet_flag(p, scratch) for v, p in pythons.items()}
        corpora = {}
        if n_news:
            corpora["news"] = write_corpus(newest_stories(data / NEWS_FILE, n_news), work,
                                           "news", jsonl=True)
        if n_headlines:
            texts = read_texts([data / t for t in DEFAULT_TEXTS], n_headlines)
            corpora["headlines"] = write_corpus(texts, work, "headlines", jsonl=False)
        rows = []
        for rep in range(repeats):
            for corpus, path in corpora.items():
                for version in ("base", "head"):  # alternating, run by run
                    row = run_once(path, work / f"out-{version}-{corpus}", None, extra,
                                   python=pythons[version], cwd=scratch, quiet=quiet[version])
                    row.update(version=version, corpus=corpus, repeat=rep)
                    rows.append(row)
                    print(f"{version:>5} {corpus:>9} #{rep}: {row['documents_per_s']:.1f} docs/s, "
                          f"{row['job_seconds']:.1f} s, {row['cpu_seconds']:.1f} CPU s, peak "
                          f"{row['peak_rss_mib']:.0f} MiB", flush=True)
        labels = {"base": base, "head": git_head(repo)}
        summary = summarize(rows)
        print(table(summary, labels))
        return {"base": base, "head": labels["head"], "imported_from": {k: str(v) for k, v in
                                                                        where.items()},
                "flags": extra, "repeats": repeats, "summary": summary, "runs": rows,
                "table": table(summary, labels)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: Optional[list[str]] = None) -> dict:
    parser = ArgumentParser(prog="wenmai bench speedup", description=__doc__.split("\n")[0],
                            epilog="Flags after -- go to both versions' `wenmai run`.")
    add_data_dir_arg(parser)
    parser.add_argument("--base", default="e0fd0bc",
                        help="the commit to compare with (default: main before the speed work)")
    parser.add_argument("--repo", type=Path, default=Path.cwd(),
                        help="the git repository holding --base (default: the current directory)")
    parser.add_argument("--news", type=int, default=1_000, help="newest news stories (0: none)")
    parser.add_argument("--headlines", type=int, default=10_000,
                        help="short texts, `wenmai bench job`'s lines (0: none)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per version and corpus")
    args, extra = parser.parse_known_args(argv)
    extra = [a for a in extra if a != "--"]
    report = bench_speedup(args.base, data_dir(args.data_dir), args.news, args.headlines,
                           args.repeats, extra, args.repo.resolve())
    print(json.dumps(report))
    return report
