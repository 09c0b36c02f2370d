"""`wenmai bench buffers`: which of the job's steps hold memory on the local runner, and how much.

`wenmai bench job --corpus short` gives each phase's peak resident memory; this says why. It runs
`wenmai run` on the short corpus (`wenmai.benchmarks.growth`) or the newest news stories in this
process on the FnApiRunner, whose embedded worker keeps every PCollection between fused stages in
memory, and records after each bundle the process's resident memory and the bytes the runner holds
in its buffers, and at each grouping (GroupByKey, CoGroupByKey, a combiner's shuffle) its keys,
values and encoded bytes. A grouping decodes all its values into Python objects and re-encodes
them as one output, so it is where the resident memory jumps.

It hooks private classes of Beam's FnApiRunner (`execution.ListBuffer`, `GroupingBuffer`,
`FnApiRunner._execute_bundle`, as in Beam 2.77); `BufferTrace` fails loudly if they are gone.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import weakref
from argparse import ArgumentParser
from pathlib import Path
from typing import Optional

from wenmai.benchmarks.data import data_dir
from wenmai.benchmarks.growth import short_corpus, tree_rss_mib
from wenmai.benchmarks.job import NEWS_FILE, newest_stories, write_corpus

_MIB = 2 ** 20


def rss_mib() -> float:
    """Resident memory of this process and any workers it started (MiB)."""
    return tree_rss_mib(os.getpid())


def stage_label(name: str) -> str:
    """A fused stage's name -> its first step, readable ("((ref_AppliedPTransform_Summarize-Join..."
    -> "Summarize-Join...")."""
    name = re.sub(r"ref_AppliedPTransform_|ref_PCollection_", "", name.lstrip("("))
    return re.split(r"[)+]", name)[0][:80]


class BufferTrace:
    """Context manager: while open, records `stages` (one row per executed bundle) and
    `groupings` (one row per grouping buffer, when it is read) of every FnApiRunner in this
    process."""

    def __init__(self):
        self.stages: list[dict] = []
        self.groupings: list[dict] = []
        self._lists: weakref.WeakSet = weakref.WeakSet()
        self._groups: weakref.WeakSet = weakref.WeakSet()
        self._encoded: dict[int, int] = {}
        self._saved: list[tuple[type, str, object]] = []

    def held_mib(self) -> tuple[float, int]:
        """(MiB of encoded elements in live list buffers, each bytes object once; values decoded
        in grouping buffers not yet read)."""
        seen = {id(b): len(b) for buf in list(self._lists) for b in buf._inputs}
        values = sum(sum(len(v) for v in g._table.values()) for g in list(self._groups))
        return sum(seen.values()) / _MIB, values

    def __enter__(self) -> "BufferTrace":
        from apache_beam.runners.portability.fn_api_runner import execution, fn_runner

        trace = self
        list_init, group_init = execution.ListBuffer.__init__, execution.GroupingBuffer.__init__
        group_append, group_partition = (execution.GroupingBuffer.append,
                                         execution.GroupingBuffer.partition)
        execute = fn_runner.FnApiRunner._execute_bundle

        def new_list(self, *args, **kwargs):
            list_init(self, *args, **kwargs)
            trace._lists.add(self)

        def new_group(self, *args, **kwargs):
            group_init(self, *args, **kwargs)
            trace._groups.add(self)

        def append(self, data: bytes):
            trace._encoded[id(self)] = trace._encoded.get(id(self), 0) + len(data)
            return group_append(self, data)

        def partition(self, n: int):
            if not self._grouped_output:
                trace.groupings.append({
                    "keys": len(self._table), "values": sum(len(v) for v in self._table.values()),
                    "encoded_mib": round(trace._encoded.pop(id(self), 0) / _MIB, 1),
                    "rss_mib_before": round(rss_mib())})
            return group_partition(self, n)

        def execute_bundle(self, context, bundle, data_input):
            before = rss_mib()
            result = execute(self, context, bundle, data_input)
            held, values = trace.held_mib()
            after = rss_mib()
            trace.stages.append({"stage": stage_label(bundle.stage.name), "rss_mib": round(after),
                                 "rss_change_mib": round(after - before),
                                 "buffers_mib": round(held, 1), "grouped_values": values})
            if trace.groupings and "stage" not in trace.groupings[-1]:
                trace.groupings[-1]["stage"] = trace.stages[-1]["stage"]
            return result

        for cls, name, new in ((execution.ListBuffer, "__init__", new_list),
                               (execution.GroupingBuffer, "__init__", new_group),
                               (execution.GroupingBuffer, "append", append),
                               (execution.GroupingBuffer, "partition", partition),
                               (fn_runner.FnApiRunner, "_execute_bundle", execute_bundle)):
            self._saved.append((cls, name, cls.__dict__[name]))  # KeyError: Beam moved it
            setattr(cls, name, new)
        return self

    def __exit__(self, *exc) -> None:
        for cls, name, old in reversed(self._saved):
            setattr(cls, name, old)
        self._saved.clear()

    def report(self, top: int = 8) -> dict:
        stages = sorted(self.stages, key=lambda s: -s["rss_change_mib"])
        return {"peak_rss_mib": max((s["rss_mib"] for s in self.stages), default=0),
                "peak_buffers_mib": max((s["buffers_mib"] for s in self.stages), default=0),
                "largest_rss_steps": stages[:top],
                "largest_groupings": sorted(self.groupings, key=lambda g: -g["encoded_mib"])[:top],
                "stages": self.stages}


def bench_buffers(data: Path, n: int, models: Optional[Path], extra: list[str],
                  corpus_kind: str = "short") -> dict:
    from wenmai.cli import main as wenmai_main

    with tempfile.TemporaryDirectory(prefix="wenmai-buffers-") as tmp:
        if corpus_kind == "news":
            corpus = write_corpus(newest_stories(data / NEWS_FILE, n), Path(tmp), "news", True)
        else:
            corpus = write_corpus(short_corpus(data, n), Path(tmp), "short", False)
        argv = ["run", str(corpus), "--output", str(Path(tmp) / "out"), "--runner", "FnApiRunner",
                *(["--models", str(models)] if models else []), *extra]
        with BufferTrace() as trace:
            code = wenmai_main(argv)
    if code != 0:
        raise RuntimeError(f"wenmai {' '.join(argv)} exited with {code}")
    return {"corpus": corpus_kind, "documents": n, "flags": extra, **trace.report()}


def main(argv: Optional[list[str]] = None) -> dict:
    parser = ArgumentParser(prog="wenmai bench buffers", description=__doc__.split("\n")[0],
                            epilog="Flags after -- go to `wenmai run` (e.g. -- --no-triples).")
    parser.add_argument("--data-dir", default=None, help="the datasets, laid out as ../shared/data")
    parser.add_argument("--size", type=int, default=20_000, help="documents")
    parser.add_argument("--corpus", choices=["short", "news"], default="short",
                        help="short: the distinct short documents of `wenmai bench job --corpus "
                             f"short`; news: the newest stories of {NEWS_FILE}")
    parser.add_argument("--models", type=Path, default=None)
    args, extra = parser.parse_known_args(argv)
    report = bench_buffers(data_dir(args.data_dir), args.size, args.models,
                           [a for a in extra if a != "--"], args.corpus)
    print(f"{args.size:,} documents: peak {report['peak_rss_mib']:,} MiB resident, "
          f"{report['peak_buffers_mib']:,} MiB in the runner's buffers")
    for s in report["largest_rss_steps"]:
        print(f"  +{s['rss_change_mib']:>5} MiB -> {s['rss_mib']:>6,}  buffers "
              f"{s['buffers_mib']:>7,} MiB  {s['stage']}")
    for g in report["largest_groupings"]:
        print(f"  grouping {g['keys']:>8,} keys {g['values']:>8,} values "
              f"{g['encoded_mib']:>7,} MiB encoded  {g.get('stage', '')}")
    print(json.dumps({k: v for k, v in report.items() if k != "stages"}))
    return report
