"""Progress of a local run: a thread that reads the counts `CountProgress` writes and prints one
line at least every `interval` seconds, and logs each stage's start and end at INFO.

```
wenmai: 0:00:20 read 12,000 | cleaned 11,800 | embedded 4,096 | titled 0 | documents 0
```
Plain lines, not a tqdm bar: a scheduled job's log is a file, where a redrawn bar becomes noise,
and the total is not known before the files are read. Counts are summed over every worker's
file; a stage starts when its first bundle opens and ends when its bundles have closed and no
count has moved since (a stage that gets more input later logs its start again).
"""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from typing import Callable, Optional, TextIO

_LOGGER = logging.getLogger("wenmai.progress")


def read_counts(directory: str) -> dict[str, tuple[int, bool]]:
    """{step: (count summed over workers, any bundle open)} from the files in `directory`."""
    out: dict[str, tuple[int, bool]] = {}
    try:
        names = os.listdir(directory)
    except OSError:
        return out
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                item = json.load(f)
        except (OSError, ValueError):  # being replaced right now: next poll
            continue
        count, is_open = out.get(item["step"], (0, False))
        out[item["step"]] = (count + int(item["count"]), is_open or bool(item["open"]))
    return out


def format_line(elapsed: float, counts: dict[str, tuple[int, bool]], steps: dict[str, str]) -> str:
    """Example: format_line(20.4, {"read": (12000, False), "cleaned": (11800, True)},
    {"read": "ReadCorpus", "cleaned": "CleanText"}) == "wenmai: 0:00:20 read 12,000 | cleaned 11,800"
    """
    seconds = int(elapsed)
    clock = f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    parts = [f"{step} {counts.get(step, (0, False))[0]:,}" for step in steps]
    return f"wenmai: {clock} " + " | ".join(parts)


class Progress:
    """Context manager: while inside, a daemon thread polls `directory` every `poll` seconds,
    writes a line to `stream` at least every `interval` seconds and logs stage starts/ends."""

    def __init__(self, directory: str, steps: dict[str, str], interval: float = 10.0,
                 poll: float = 1.0, stream: Optional[TextIO] = None,
                 clock: Callable[[], float] = time.monotonic):
        self._directory = directory
        self._steps = steps  # step -> stage name, in display order
        self._interval = interval
        self._poll = poll
        self._stream = stream
        self._clock = clock
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._started: dict[str, float] = {}
        self._state: dict[str, str] = {}  # step -> "running" | "done"
        self._last: dict[str, tuple[int, bool]] = {}

    def __enter__(self) -> "Progress":
        self._t0 = self._clock()
        self._thread = threading.Thread(target=self._loop, name="wenmai-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._stages(read_counts(self._directory), final=exc[0] is None)

    def _loop(self) -> None:
        printed = self._clock()
        while not self._stop.wait(self._poll):
            counts = read_counts(self._directory)
            self._stages(counts)
            if self._clock() - printed >= self._interval:
                printed = self._clock()
                self.print_line(counts)

    def print_line(self, counts: dict[str, tuple[int, bool]]) -> None:
        if not counts:  # no counter has written yet (or the workers cannot reach this disk)
            return
        stream = self._stream or sys.stderr
        try:
            print(format_line(self._clock() - self._t0, counts, self._steps), file=stream,
                  flush=True)
        except (OSError, ValueError):  # a closed or broken stream must not stop the run
            pass

    def _stages(self, counts: dict[str, tuple[int, bool]], final: bool = False) -> None:
        now = self._clock()
        for step, stage in self._steps.items():
            count, is_open = counts.get(step, (0, False))
            state = self._state.get(step)
            if state is None and (is_open or count):
                self._state[step], self._started[step] = "running", now
                _LOGGER.info("stage %s started", stage)
            elif state == "done" and is_open:
                self._state[step] = "running"
                _LOGGER.info("stage %s started again (%s %s so far)", stage, f"{count:,}", step)
            elif state == "running" and not is_open and (final or self._last.get(step) == (count,
                                                                                         False)):
                self._state[step] = "done"
                _LOGGER.info("stage %s done: %s %s in %.1f s", stage, f"{count:,}", step,
                             now - self._started[step])
            self._last[step] = (count, is_open)
