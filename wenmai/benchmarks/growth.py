"""`wenmai bench job --corpus short`: the growth curve on up to 1M distinct short documents.

Short documents as a news feed or a question log gives them: headlines, questions, the
sentences of the similarity files, and sentences of the news programme's stories (a story's
sentence longer than a short document is cut at its commas into runs of clauses). Every text is
normalised as `CleanText` normalises it and kept once, so the corpus has no exact duplicates,
and only texts of `--min-chars` to `TitleConfig.title_min_chars` characters are kept: each is
its own title, as the job does for short documents by design (no titler call).

The distinct texts are shuffled with a fixed seed and every size is a prefix of the same order:
the 10k corpus is inside the 100k one, and each size has the same mix of sources. Each size runs
`wenmai run` in a fresh child process (as `wenmai.benchmarks.job.run_once` does); the curve
reports time, peak resident memory, peak memory per 1,000 documents (the figure that must not
grow with N), and the peak of each phase between the job's stage log lines, which says which
step holds the memory.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterable, Iterator

from wenmai.config import TitleConfig
from wenmai.text import normalize_text

# In --data-dir, in this order (the order only matters for which source a text is counted under).
HEADLINES = ("topics/toutiao/headlines.tsv", "topics/tnews/unlabeled.txt", "raw/zhihu_questions.txt")
PAIRS = ("similarity/afqmc/train.tsv", "similarity/atec/train.tsv", "similarity/bq/train.tsv",
         "similarity/bq/dev.tsv", "similarity/lcqmc/dev.tsv", "similarity/oppo/dev.tsv",
         "similarity/pawsx_zh/dev.tsv", "similarity/simclue/train.tsv",
         "similarity/stsb_zh/train.tsv")
STORIES = ("titles/xwlb/news.jsonl", "titles/xwlb/archive.jsonl")

_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|\n")
_CLAUSE_END = re.compile(r"(?<=[，,：:、])")


def line_texts(line: str) -> list[str]:
    """The texts of one line of a txt (the line), labelled (label<TAB>text) or pairs
    (a<TAB>b<TAB>label) file.

    Example: line_texts("怎么还款\\t如何还款\\t1\\n") == ["怎么还款", "如何还款"]
    """
    parts = line.rstrip("\n").split("\t")
    return parts[:2] if len(parts) == 3 else parts[-1:]


def clause_runs(sentence: str, max_chars: int) -> list[str]:
    """A long sentence cut after commas/colons into runs of whole clauses of at most
    `max_chars` characters (a single clause longer than that stays whole).

    Example: clause_runs("今天上午，会议在北京召开，代表出席。", 13)
             == ["今天上午，会议在北京召开，", "代表出席。"]
    """
    runs, current = [], ""
    for clause in _CLAUSE_END.split(sentence):
        if current and len(current) + len(clause) > max_chars:
            runs.append(current)
            current = ""
        current += clause
    if current:
        runs.append(current)
    return runs


def story_texts(text: str, max_chars: int) -> Iterator[str]:
    """A story's sentences; one longer than `max_chars` as its runs of clauses."""
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        if len(sentence) <= max_chars:
            yield sentence
        else:
            yield from clause_runs(sentence, max_chars)


def raw_texts(data: Path, max_chars: int) -> Iterator[str]:
    """Every candidate text of the source files, in file order (not yet normalised)."""
    for name in HEADLINES + PAIRS:
        with open(data / name, encoding="utf-8") as f:
            for line in f:
                yield from line_texts(line)
    for name in STORIES:
        with open(data / name, encoding="utf-8") as f:
            for line in f:
                story = json.loads(line)
                yield story["title"]
                yield from story_texts(story["text"], max_chars)


def distinct_short(texts: Iterable[str], min_chars: int, max_chars: int) -> list[str]:
    """Normalised texts of min_chars..max_chars characters, each once, in first-seen order.

    Example: distinct_short(["ＡＩ芯片", "AI芯片", "长", " AI芯片 "], 2, 8) == ["AI芯片"]
    """
    seen: dict[str, None] = {}
    for text in texts:
        text = normalize_text(text)
        if min_chars <= len(text) <= max_chars:
            seen.setdefault(text, None)
    return list(seen)


def short_corpus(data: Path, n: int, *, min_chars: int = 4,
                 max_chars: int = TitleConfig.title_min_chars, seed: int = 0) -> list[str]:
    """The first n of the distinct short texts in a fixed shuffled order (so every smaller
    corpus is a prefix of a larger one, with the same mix of sources)."""
    texts = distinct_short(raw_texts(data, max_chars), min_chars, max_chars)
    if n > len(texts):
        raise ValueError(f"--sizes {n}: {data} holds only {len(texts)} distinct short texts "
                         f"({min_chars}-{max_chars} characters)")
    random.Random(seed).shuffle(texts)
    return texts[:n]


_STAGE_EVENT = re.compile(r"stage (\w+) (started|done)")


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants (MiB), from /proc; 0 once gone."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack += [int(c) for c in f.read().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total / 1024


class PhaseMemory:
    """Peak resident memory per phase of a run: a phase starts at each "stage X started|done"
    line the job logs (stages overlap under Beam's fusion, so a phase is named by the last event
    before it: "after Segment done" holds whatever ran next, up to the following event)."""

    def __init__(self):
        self.phase = "start"
        self.peaks: dict[str, float] = {}
        self._lock = threading.Lock()

    def event(self, line: str) -> None:
        match = _STAGE_EVENT.search(line)
        if match:
            with self._lock:
                self.phase = f"{match.group(1)} {match.group(2)}"

    def sample(self, mib: float) -> None:
        with self._lock:
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), mib)


class MemoryCapHit(RuntimeError):
    """The job's process tree passed `--max-rss-mib` and was stopped; `phases` says where."""

    def __init__(self, message: str, phases: dict):
        super().__init__(message)
        self.phases = phases


def run_traced(corpus: Path, out: Path, models_dir: Path, extra: list[str],
               interval: float = 0.5, max_rss_mib: float = 0.0) -> dict:
    """`wenmai.benchmarks.job.run_once`, plus the peak resident memory of the job's process tree
    in each phase between its stage log lines (`phase_peak_rss_mib`). With `max_rss_mib`, a tree
    that grows past it is killed (MemoryCapHit) before it starves a shared machine."""
    from wenmai.benchmarks.job import _CHILD

    argv = ["run", str(corpus), "--output", str(out), "--models", str(models_dir), "--overwrite",
            *extra]
    phases = PhaseMemory()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    tail: list[str] = []

    def read_stderr():
        for line in proc.stderr:
            phases.event(line)
            tail.append(line)
            del tail[:-40]

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    while proc.poll() is None:
        rss = tree_rss_mib(proc.pid)
        phases.sample(rss)
        if max_rss_mib and rss > max_rss_mib:
            _kill_tree(proc.pid)
            proc.wait()
            peaks = {k: round(v) for k, v in phases.peaks.items()}
            raise MemoryCapHit(f"stopped at {rss:,.0f} MiB (--max-rss-mib {max_rss_mib:,.0f}) in "
                               f"phase {phases.phase!r} after {time.perf_counter() - start:.0f} s",
                               peaks)
        time.sleep(interval)
    stdout = proc.stdout.read()
    reader.join()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"wenmai run failed ({proc.returncode}): {''.join(tail)[-2000:]}")
    child = json.loads(stdout.strip().splitlines()[-1])
    manifest = json.loads((out / "manifest.json").read_text())
    stages = manifest.get("stage_seconds", {})
    busy = sum(stages.values()) or 1.0
    documents = manifest["counts"].get("documents", 0)
    return {
        "documents": documents, "triples": manifest["counts"].get("triples", 0),
        "clusters": manifest["counts"].get("clusters", 0),
        "wall_seconds": wall, "job_seconds": manifest["seconds"],
        "documents_per_s": documents / manifest["seconds"],
        "peak_rss_mib": child["peak_rss_mib"],
        "phase_peak_rss_mib": {k: round(v) for k, v in phases.peaks.items()},
        "stage_share": {k: v / busy for k, v in stages.items()},
        "graph": manifest.get("graph", {}),
    }


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and its descendants (children first found, then all killed)."""
    import signal

    found, stack = [], [pid]
    while stack:
        p = stack.pop()
        found.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack += [int(c) for c in f.read().split()]
        except OSError:
            continue
    for p in found:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def per_thousand(row: dict) -> float:
    """Peak resident memory (MiB) per 1,000 documents of a run.

    Example: per_thousand({"n": 100_000, "peak_rss_mib": 2_500.0}) == 25.0
    """
    return row["peak_rss_mib"] / (row["n"] / 1_000)


def bench_growth(data: Path, models_dir: Path, sizes: list[int], extra: list[str], *,
                 min_chars: int = 4, seed: int = 0, max_rss_mib: float = 0.0) -> dict:
    """Runs the whole job on each prefix size of the short corpus; one row per size (a size
    stopped at `max_rss_mib` gets a row with `stopped` and its phase peaks, and ends the curve)."""
    texts = short_corpus(data, max(sizes), min_chars=min_chars, seed=seed)
    report = {"corpus": "short", "data": str(data), "sources": list(HEADLINES + PAIRS + STORIES),
              "min_chars": min_chars, "max_chars": TitleConfig.title_min_chars, "seed": seed,
              "flags": extra, "runs": []}
    with tempfile.TemporaryDirectory(prefix="wenmai-growth-") as tmp:
        for n in sorted(sizes):
            corpus = Path(tmp) / f"corpus-{n}.txt"
            corpus.write_text("\n".join(texts[:n]) + "\n", encoding="utf-8")
            out = Path(tmp) / f"out-{n}"
            try:
                row = run_traced(corpus, out, models_dir, extra, max_rss_mib=max_rss_mib)
            except MemoryCapHit as e:
                report["runs"].append({"n": n, "stopped": str(e), "phase_peak_rss_mib": e.phases})
                print(f"{n:>8} docs {e}\n   peak MiB by phase: " + ", ".join(
                    f"{k} {v:,}" for k, v in e.phases.items()), flush=True)
                break
            row["n"] = n
            row["peak_mib_per_1k_docs"] = per_thousand(row)
            report["runs"].append(row)
            corpus.unlink()
            shutil.rmtree(out)  # at 1M the tables take GBs; the figures are in the row
            print(f"{n:>8} docs {row['job_seconds']:>8.1f} s {row['documents_per_s']:>8.0f} docs/s "
                  f"peak {row['peak_rss_mib']:>7.0f} MiB ({row['peak_mib_per_1k_docs']:.2f} per 1k) "
                  + " ".join(f"{k} {v:.0%}" for k, v in sorted(row["stage_share"].items(),
                                                                 key=lambda kv: -kv[1])[:5]),
                  flush=True)
            print("   peak MiB by phase: " + ", ".join(
                f"{k} {v:,}" for k, v in row["phase_peak_rss_mib"].items()), flush=True)
    return report
