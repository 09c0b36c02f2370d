"""Where a run writes and how it publishes: a hidden staging location first, the output last.

Two publishers with one contract (`prepare` before the pipeline, `publish` after it):
- `LocalOutput` (a path on this machine): tables go to a hidden sibling directory
  `.NAME.tmp-RUNID`, which one `rename` turns into the output, so the output appears complete or
  not at all.
- `ObjectStoreOutput` (gs://, s3://, ... through Beam's `FileSystems`): object stores have no
  directory rename, so tables go to the hidden prefix `.NAME.tmp-RUNID/` next to the output and
  are then moved object by object; `_SUCCESS` is written last, and readers (and schedulers) take
  an output as complete only when it is there, which is how Hadoop, Spark and Dataflow jobs mark
  finished output on object stores.
Both replace an existing output only with --overwrite or when it holds the same run id (a
scheduler retrying the run). Each staging location holds an `_OWNER` file (host and pid of the
run writing it, removed before publishing); `prepare` removes every staging location of the same
output whose owner is gone (a killed or failed run, whatever its run id), and `discard` removes
the run's own (Ctrl-C).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path
from typing import Optional

from apache_beam.io.filesystems import FileSystems

from wenmai.config import UsageError

SUCCESS = "_SUCCESS"
MANIFEST = "manifest.json"
OWNER = "_OWNER"
ORPHAN_SECS = 60  # a staging location without an owner file is stale once this old


def owner_record() -> str:
    return json.dumps({"host": socket.gethostname(), "pid": os.getpid()})


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def owner_gone(text: Optional[str], age_secs: float) -> bool:
    """Whether a staging location with this `_OWNER` text (None: no such file) was left by a run
    that no longer runs. An owner on another host is presumed alive (it cannot be checked here).

    Example: owner_gone('{"host": "<this host>", "pid": <a dead pid>}', 5.0) is True
    """
    if text is None:
        return age_secs > ORPHAN_SECS
    try:
        owner = json.loads(text)
        host, pid = owner["host"], int(owner["pid"])
    except (ValueError, KeyError, TypeError):
        return True
    return host == socket.gethostname() and not _pid_alive(pid)


def is_remote(path: str) -> bool:
    """Example: is_remote("gs://b/out") is True; is_remote("out") is False"""
    return FileSystems.get_scheme(path) not in (None, "file")


def _parent_and_name(output: str) -> tuple[str, str]:
    stripped = output.rstrip("/")
    parent, _, name = stripped.rpartition("/")
    return parent, name


class LocalOutput:
    def __init__(self, output: str, run_id: str):
        self.output = output
        self.run_id = run_id
        target = Path(output)
        self.staging = str(target.parent / f".{target.name}.tmp-{run_id}")

    def published_run_id(self) -> Optional[str]:
        try:
            return json.loads((Path(self.output) / MANIFEST).read_text())["run_id"]
        except (OSError, ValueError, KeyError):
            return None

    def prepare(self, overwrite: bool) -> str:
        target, staging = Path(self.output), Path(self.staging)
        if (target.exists() and any(target.iterdir()) and not overwrite
                and self.published_run_id() != self.run_id):
            raise UsageError(f"output {self.output} exists and is not empty; pass --overwrite to "
                             f"replace it")
        try:
            if staging.exists():
                shutil.rmtree(staging)
            self._remove_stale()
            staging.mkdir(parents=True)
            (staging / OWNER).write_text(owner_record(), encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot write output next to {self.output}: {e.strerror or e}") from e
        return self.staging

    def _remove_stale(self) -> None:
        """Removes the staging directories of this output that killed or failed runs left."""
        target = Path(self.output)
        if not target.parent.is_dir():
            return
        for other in target.parent.glob(f".{target.name}.tmp-*"):
            owner = other / OWNER
            text = owner.read_text(encoding="utf-8") if owner.is_file() else None
            if other.is_dir() and owner_gone(text, time.time() - other.stat().st_mtime):
                shutil.rmtree(other, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def write_text(self, name: str, text: str) -> None:
        path = Path(self.staging) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def remove(self, name: str) -> None:
        shutil.rmtree(Path(self.staging) / name, ignore_errors=True)

    def publish(self) -> None:
        """Moves the finished staging directory into place; an old output is replaced only then."""
        (Path(self.staging) / OWNER).unlink(missing_ok=True)
        self.write_text(SUCCESS, "")
        target = Path(self.output)
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            target.rename(old)
        Path(self.staging).rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


class ObjectStoreOutput:
    """The same contract on an object store, through Beam's FileSystems (any scheme it knows).

    Works on local paths too, which is how the tests exercise it without a bucket."""

    def __init__(self, output: str, run_id: str):
        self.output = output.rstrip("/")
        self.run_id = run_id
        parent, name = _parent_and_name(self.output)
        self.staging = f"{parent}/.{name}.tmp-{run_id}"

    @staticmethod
    def _files(prefix: str) -> list[str]:
        match = FileSystems.match([FileSystems.join(prefix, "**")])[0]
        return sorted(m.path for m in match.metadata_list)

    def published_run_id(self) -> Optional[str]:
        try:
            with FileSystems.open(FileSystems.join(self.output, MANIFEST)) as f:
                return json.loads(f.read().decode("utf-8"))["run_id"]
        except (OSError, ValueError, KeyError):
            return None

    def prepare(self, overwrite: bool) -> str:
        try:
            existing = self._files(self.output)
        except ValueError as e:  # no filesystem for the scheme, e.g. gs:// without wenmai[gcp]
            raise UsageError(f"cannot write output {self.output}: {e}") from e
        if existing and not overwrite and self.published_run_id() != self.run_id:
            raise UsageError(f"output {self.output} exists and is not empty; pass --overwrite to "
                             f"replace it")
        stale = sorted(set(self._files(self.staging)) | set(self._stale_files()))
        if stale:
            FileSystems.delete(stale)
        self.write_text(OWNER, owner_record())
        return self.staging

    def _stale_files(self) -> list[str]:
        """Objects under this output's other staging prefixes whose owner is gone."""
        parent, name = _parent_and_name(self.output)
        prefixes: dict[str, list[str]] = {}
        for path in self._files(f"{parent}/.{name}.tmp-*"):
            prefix = path[len(parent) + 1:].split("/", 1)[0]
            prefixes.setdefault(f"{parent}/{prefix}", []).append(path)
        stale = []
        for prefix, files in prefixes.items():
            owner = FileSystems.join(prefix, OWNER)
            try:
                with FileSystems.open(owner) as f:
                    text = f.read().decode("utf-8")
            except (OSError, ValueError):
                text = None
            if owner_gone(text, float("inf")):  # no listing times here: ownerless is stale
                stale += files
        return stale

    def discard(self) -> None:
        files = self._files(self.staging)
        if files:
            FileSystems.delete(files)

    def write_text(self, name: str, text: str) -> None:
        with FileSystems.create(FileSystems.join(self.staging, name)) as f:
            f.write(text.encode("utf-8"))

    def remove(self, name: str) -> None:
        files = self._files(FileSystems.join(self.staging, name))
        if files:
            FileSystems.delete(files)

    def publish(self) -> None:
        """Clears the old output, moves every staged object, then writes `_SUCCESS` last."""
        old = self._files(self.output)
        if old:
            FileSystems.delete(old)
        owner = FileSystems.join(self.staging, OWNER)
        if FileSystems.exists(owner):
            FileSystems.delete([owner])
        staged = self._files(self.staging)
        targets = [self.output + path[len(self.staging):] for path in staged]
        if not is_remote(self.output):  # local "objects" need their directories (tests)
            for target in targets:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
        if staged:
            FileSystems.rename(staged, targets)
        with FileSystems.create(FileSystems.join(self.output, SUCCESS)) as f:
            f.write(b"")
        leftover = self._files(self.staging)
        if leftover:
            FileSystems.delete(leftover)


def output_for(output: str, run_id: str):
    """The publisher for `output`: a local directory or an object-store prefix."""
    return ObjectStoreOutput(output, run_id) if is_remote(output) else LocalOutput(output, run_id)
