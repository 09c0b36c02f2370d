"""One small training loop for every wenmai model: (model, loss, batches per epoch) -> trained model.

Plain nanoGPT-style loop: AdamW (decay only on 2-D+ weights), linear warmup + cosine learning
rate, gradient clipping, a running loss in a tqdm bar (off when stderr is not a terminal or CI is
set), weight EMA (`torch.optim.swa_utils.AveragedModel`), a dev evaluation callback after each
epoch that returns a metric dict, and best-checkpoint keeping by one named metric.

The loss is an `nn.Module` that holds the model and maps one batch `(features, labels)` to a scalar
(see `losses.py`), so the loop knows nothing about the task. Batches come from a function
`batches(epoch) -> Iterable[(features, labels)]`, which lets each epoch resample its pairs.

Resumable: with a `state_dir`, the whole training state (weights, optimizer, EMA, best weights,
history, the python/numpy/torch random states, the step within the epoch) is written every
`checkpoint_every` steps and when SIGTERM or SIGINT arrives (then `TrainingInterrupted` is
raised). `fit(..., resume=True)` continues exactly where it stopped: it replays the interrupted
epoch's batches up to that step (so `batches` must be a function of its epoch and the random
state, as it is when it seeds itself from the epoch) and restores every random state after
them, so an interrupted and resumed run ends with the same weights as one that never stopped.
The state is tensors in safetensors plus JSON: nothing is unpickled.
"""
from __future__ import annotations

import copy
import json
import logging
import math
import os
import random
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import numpy as np
import torch
import torch.nn as nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

__all__ = ["TrainerConfig", "Trainer", "TrainResult", "TrainingInterrupted", "set_seed", "get_lr",
           "configure_optimizer", "STATE_FILE", "STATE_TENSORS"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainerConfig:
    epochs: int = 10
    lr: float = 2e-3  # peak AdamW learning rate; small GRU encoders like it high
    min_lr_ratio: float = 0.05  # cosine decays to lr * min_lr_ratio at the last step
    warmup_steps: int = 100  # linear warmup from 0
    weight_decay: float = 0.01  # only on weights with 2+ dims (not biases, norms)
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    ema_decay: float = 0.995  # weight EMA per step (≈ last 200 steps); 0 disables
    best_metric: Optional[str] = None  # dev metric that picks the best epoch; None: keep the last
    best_mode: str = "max"  # max | min
    seed: int = 1337
    log_every: int = 50  # steps between log lines
    progress: Optional[bool] = None  # tqdm bar; None: only on a terminal outside CI
    # steps between training-state checkpoints (with a state_dir); a state also is written on
    # SIGTERM/SIGINT. 500 steps of a small CPU model are minutes: little is lost to a kill.
    checkpoint_every: int = 500


class TrainingInterrupted(Exception):
    """SIGTERM or SIGINT stopped training; its state was saved in `state_dir` to resume from."""

    def __init__(self, state_dir: Path, step: int):
        super().__init__(f"training interrupted at step {step}; state saved in {state_dir}")
        self.state_dir, self.step = state_dir, step


STATE_FILE = "state.json"
STATE_TENSORS = "state.safetensors"


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)  # one row per epoch: epoch, loss, dev metrics
    best_epoch: Optional[int] = None
    best_metrics: Optional[dict] = None
    seconds: float = 0.0
    steps: int = 0


def pin_threads(threads: int):
    """torch's CPU threads and every BLAS/OpenMP pool (numpy's, scipy's, scikit-learn's) to
    `threads`, so a training command gives the same numbers however many cores the machine has:
    with two BLAS threads the extractor's span type fit came out up to 0.004 per weight apart.
    scikit-learn is loaded first, as a limit reaches only libraries already loaded. Returns the
    `threadpoolctl` limiter (`.restore_original_limits()` undoes the BLAS part)."""
    import sklearn.linear_model  # noqa: F401  (loads scipy's BLAS)
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    return threadpool_limits(threads)


def set_seed(seed: int) -> None:
    """Seeds python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def get_lr(step: int, *, lr: float, warmup_steps: int, total_steps: int, min_lr: float) -> float:
    # 1) linear warmup for warmup_steps steps
    if step < warmup_steps:
        return lr * (step + 1) / (warmup_steps + 1)
    # 2) after total_steps, min_lr
    if step >= total_steps:
        return min_lr
    # 3) in between, cosine decay down to min_lr
    ratio = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))  # 1 -> 0
    return min_lr + coeff * (lr - min_lr)


def configure_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr)


def _show_progress(flag: Optional[bool]) -> bool:
    if flag is not None:
        return flag
    return sys.stderr.isatty() and not os.environ.get("CI")


class Trainer:
    """Trains `model` through `loss_fn` (which holds it).

    Args:
        evaluate: `evaluate(model) -> dict` on the model to judge (the EMA copy when EMA is on),
            called after every epoch; its figures join the history.
        on_best: `on_best(model, metrics, epoch)` whenever `best_metric` improves (e.g. save it).
    After `fit`, `model` holds the best epoch's weights (EMA weights when EMA is on).
    """

    def __init__(self, model: nn.Module, loss_fn: nn.Module, config: TrainerConfig, *,
                 evaluate: Optional[Callable[[nn.Module], dict]] = None,
                 on_best: Optional[Callable[[nn.Module, dict, int], Any]] = None):
        assert config.best_mode in ("max", "min"), config.best_mode
        self.model = model
        self.loss_fn = loss_fn
        self.config = config
        self.evaluate = evaluate
        self.on_best = on_best
        self.best_state: Optional[dict] = None

    def _is_better(self, value: float, best: Optional[float]) -> bool:
        if best is None:
            return True
        return value > best if self.config.best_mode == "max" else value < best

    def fit(self, batches: Callable[[int], Iterable], steps_per_epoch: int,
            state_dir: Optional[os.PathLike] = None, resume: bool = False) -> TrainResult:
        cfg = self.config
        set_seed(cfg.seed)
        # Adam's moments of embedding rows that a batch does not touch decay geometrically into
        # subnormal floats, which CPUs process ~100x slower: training crawled by its last epochs
        torch.set_flush_denormal(True)
        model, loss_fn = self.model, self.loss_fn
        optimizer = configure_optimizer(loss_fn, cfg.lr, cfg.weight_decay)
        ema = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
               if cfg.ema_decay > 0 else None)
        total_steps = cfg.epochs * steps_per_epoch
        min_lr = cfg.lr * cfg.min_lr_ratio
        result = TrainResult()
        best_value: Optional[float] = None
        step, start_epoch, skip, elapsed = 0, 1, 0, 0.0
        saved_rng, saved_running = None, 0.0
        if resume:
            if state_dir is None:
                raise ValueError("resume needs the state directory")
            meta = _load_state(Path(state_dir), model, optimizer, ema, self)
            step, start_epoch, skip = meta["step"], meta["epoch"], meta["step_in_epoch"]
            best_value, elapsed, saved_rng = meta["best_value"], meta["seconds"], meta["rng"]
            saved_running = meta.get("running_loss", 0.0)  # states saved before it was kept: 0
            result.history = meta["history"]
            result.best_epoch, result.best_metrics = meta["best_epoch"], meta["best_metrics"]
            log.info("resuming at epoch %d step %d from %s", start_epoch, step, state_dir)
        t0 = time.time() - elapsed
        show = _show_progress(cfg.progress)

        def save(epoch: int, step_in_epoch: int) -> None:
            if state_dir is not None:
                _save_state(Path(state_dir), model, optimizer, ema, self, {
                    "step": step, "epoch": epoch, "step_in_epoch": step_in_epoch,
                    "best_value": best_value, "seconds": time.time() - t0,
                    "history": result.history, "best_epoch": result.best_epoch,
                    "best_metrics": result.best_metrics, "rng": _rng_state(),
                    "running_loss": running})

        with _stop_signals() as stop:
            for epoch in range(start_epoch, cfg.epochs + 1):
                model.train()
                loss_fn.train()
                running, seen = 0.0, 0
                epoch_batches = iter(batches(epoch))
                if epoch == start_epoch and saved_rng is not None:
                    for _ in range(skip):  # replay the data order up to where it stopped
                        next(epoch_batches)
                    _set_rng_state(saved_rng)
                    running, seen = saved_running, skip
                bar = tqdm(epoch_batches, total=steps_per_epoch - seen,
                           desc=f"epoch {epoch}/{cfg.epochs}", disable=not show, leave=False)
                for features, labels in bar:
                    # --- one step: lr schedule, forward, backward, clip, update, EMA
                    lr = get_lr(step, lr=cfg.lr, warmup_steps=cfg.warmup_steps,
                                total_steps=total_steps, min_lr=min_lr)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    loss = loss_fn(features, labels)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if cfg.grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(loss_fn.parameters(), cfg.grad_clip)
                    optimizer.step()
                    if ema is not None:
                        ema.update_parameters(model)
                    step += 1
                    value = loss.item()
                    running = value if seen == 0 else 0.98 * running + 0.02 * value  # smoothed
                    seen += 1
                    bar.set_postfix(loss=f"{running:.4f}", lr=f"{lr:.2e}")
                    if cfg.log_every and step % cfg.log_every == 0:
                        log.info("epoch %d step %d loss %.4f lr %.2e", epoch, step, running, lr)
                    if stop.requested or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0):
                        save(epoch, seen)
                    if stop.requested:
                        if state_dir is None:
                            raise KeyboardInterrupt
                        raise TrainingInterrupted(Path(state_dir), step)

                # --- end of epoch: evaluate the model we would ship, keep the best
                judged = ema.module if ema is not None else model
                row = {"epoch": epoch, "loss": running, "step": step,
                       "seconds": round(time.time() - t0, 1)}
                if self.evaluate is not None:
                    judged.eval()
                    with torch.no_grad():
                        row.update(self.evaluate(judged))
                    judged.train()
                result.history.append(row)
                log.info("epoch %d: %s", epoch, {k: (round(v, 4) if isinstance(v, float) else v)
                                                  for k, v in row.items()})
                key = cfg.best_metric
                if key and self.evaluate is not None and key not in row:
                    raise KeyError(f"best_metric {key!r} is not among the dev figures {sorted(row)}")
                score = row.get(key) if key else None
                if key is None or (score is not None and self._is_better(score, best_value)):
                    best_value = score
                    result.best_epoch, result.best_metrics = epoch, dict(row)
                    self.best_state = copy.deepcopy(judged.state_dict())
                    if self.on_best is not None:
                        self.on_best(judged, row, epoch)
                if epoch < cfg.epochs:
                    save(epoch + 1, 0)

        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        elif ema is not None:
            model.load_state_dict(ema.module.state_dict())
        result.seconds = time.time() - t0
        result.steps = step
        return result


# --------------------------------------------------------------------------------------------------
# training state: tensors in safetensors, everything else in JSON (nothing unpickled)


class _StopFlag:
    requested = False


@contextmanager
def _stop_signals():
    """SIGTERM/SIGINT set a flag the loop checks after each step (main thread only)."""
    flag = _StopFlag()
    if threading.current_thread() is not threading.main_thread():  # signal() works there only
        yield flag
        return

    def handler(signum, frame):
        flag.requested = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _rng_state() -> dict:
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": [version, list(internal), gauss],
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            "torch": torch.get_rng_state().tolist()}


def _set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))


def _save_state(directory: Path, model, optimizer, ema, trainer: "Trainer", meta: dict) -> None:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    if ema is not None:
        tensors.update({f"ema/{k}": v for k, v in ema.state_dict().items()})
    if trainer.best_state is not None:
        tensors.update({f"best/{k}": v for k, v in trainer.best_state.items()})
    opt = optimizer.state_dict()
    for index, slots in opt["state"].items():
        for name, value in slots.items():
            tensors[f"optim/{index}/{name}"] = torch.as_tensor(value)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    meta = {**meta, "param_groups": opt["param_groups"], "has_best": trainer.best_state is not None}
    # write then rename, so a kill during the save leaves the previous state whole
    save_file(tensors, str(directory / (STATE_TENSORS + ".tmp")))
    (directory / (STATE_FILE + ".tmp")).write_text(json.dumps(meta), encoding="utf-8")
    os.replace(directory / (STATE_TENSORS + ".tmp"), directory / STATE_TENSORS)
    os.replace(directory / (STATE_FILE + ".tmp"), directory / STATE_FILE)


def _load_state(directory: Path, model, optimizer, ema, trainer: "Trainer") -> dict:
    from safetensors.torch import load_file

    if not (directory / STATE_FILE).is_file() or not (directory / STATE_TENSORS).is_file():
        raise FileNotFoundError(f"no training state to resume in {directory} (expected "
                                f"{STATE_FILE} and {STATE_TENSORS})")
    meta = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    tensors = load_file(str(directory / STATE_TENSORS))

    def part(prefix: str) -> dict:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    model.load_state_dict(part("model/"))
    if ema is not None:
        ema.load_state_dict(part("ema/"))
    if meta["has_best"]:
        trainer.best_state = part("best/")
    slots: dict[int, dict] = {}
    for key, value in part("optim/").items():
        index, name = key.split("/", 1)
        slots.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": slots, "param_groups": meta["param_groups"]})
    return meta
