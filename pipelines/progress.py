"""CountProgress: elements of one step -> nothing; a side branch that counts them into a small JSON
file so the driver's progress thread (`wenmai.progress`) can say how far a local run has got.

Each DoFn instance (one per worker thread or process) owns one file
`<directory>/<step>.<pid>.<random>.json` holding `{"step", "count", "open"}`, replaced atomically
at most once a second and at each bundle's start and end; the driver sums the files per step.
Where the directory does not exist (a remote worker) the counter turns itself off, so the branch
costs nothing there. Counts are for watching a run, never for the manifest: records read come
from `ReadCorpus`'s per-file statistics.
"""
from __future__ import annotations

import json
import os
import time
import uuid

import apache_beam as beam

FLUSH_SECS = 1.0  # how stale a count may get between bundle boundaries


def progress_path(directory: str, step: str) -> str:
    """Example: progress_path("/tmp/p", "embed") == "/tmp/p/embed.<pid>.<8 hex>.json" """
    return os.path.join(directory, f"{step}.{os.getpid()}.{uuid.uuid4().hex[:8]}.json")


class _CountFn(beam.DoFn):
    def __init__(self, directory: str, step: str):
        self._directory = directory
        self._step = step

    def setup(self):
        self._path = progress_path(self._directory, self._step)
        self._enabled = os.path.isdir(self._directory)
        self._count = 0
        self._open = False
        self._flushed = 0.0

    def start_bundle(self):
        self._open = True
        self._flush()

    def process(self, element):
        self._count += 1
        if time.monotonic() - self._flushed >= FLUSH_SECS:
            self._flush()

    def finish_bundle(self):
        self._open = False
        self._flush()

    def _flush(self) -> None:
        if not self._enabled:
            return
        self._flushed = time.monotonic()
        try:
            tmp = self._path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"step": self._step, "count": self._count, "open": self._open}, f)
            os.replace(tmp, self._path)
        except OSError:  # the driver has gone (or never was here): stop trying
            self._enabled = False


class CountProgress(beam.PTransform):
    """Any PCollection -> nothing (a counting side branch) for step `step`."""

    def __init__(self, directory: str, step: str):
        super().__init__()
        self._directory = directory
        self._step = step

    def expand(self, pcoll):
        return pcoll | "Count" >> beam.ParDo(_CountFn(self._directory, self._step))
