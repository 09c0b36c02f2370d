"""Model directories: nn.Module + config dataclass + Vocab <-> config.json, model.safetensors,
vocab.json and README.md (the model card).

Weights are safetensors only; nothing here unpickles (no `torch.load`). `config.json` is

    {"format_version": 1, "model_type": "sentence_encoder", "config": {<dataclass fields>}, **extra}

where `extra` carries what the model needs at inference besides its shape (the encoder stores its
decision `threshold` there).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Optional

import torch.nn as nn
from safetensors.torch import load_file, save_file

from wenmai.models.vocab import VOCAB_FILE, Vocab

__all__ = ["FORMAT_VERSION", "save_pretrained", "load_pretrained", "read_config", "model_sha256",
           "load_encoder", "CONFIG_FILE", "WEIGHTS_FILE", "CARD_FILE"]

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"


def _model_type(model_cls: type) -> str:
    """`model_cls.model_type`, else the class name in snake case (SentenceEncoder -> sentence_encoder)."""
    explicit = getattr(model_cls, "model_type", None)
    if isinstance(explicit, str):
        return explicit
    return re.sub(r"(?<!^)(?=[A-Z])", "_", model_cls.__name__).lower()


def save_pretrained(model: nn.Module, directory, *, vocab: Optional[Vocab] = None,
                    card: Optional[str] = None, extra: Optional[dict] = None) -> None:
    """Writes config.json, model.safetensors and, when given, vocab.json and README.md."""
    config = getattr(model, "config", None)
    assert dataclasses.is_dataclass(config), "model.config must be a config dataclass"
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    meta = {"format_version": FORMAT_VERSION, "model_type": _model_type(type(model)),
            "config": dataclasses.asdict(config), **(extra or {})}
    (path / CONFIG_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n",
                                    encoding="utf-8")
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path / WEIGHTS_FILE), metadata={"format_version": str(FORMAT_VERSION)})
    if vocab is not None:
        vocab.save(path)
    if card is not None:
        (path / CARD_FILE).write_text(card, encoding="utf-8")


def read_config(directory) -> dict:
    """The parsed config.json of a model directory (FileNotFoundError naming the path if absent)."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"model config not found: {path}")
    return json.loads(path.read_text(encoding="utf-8"))


def _build_config(config_cls: type, values: dict) -> Any:
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"config has fields {config_cls.__name__} does not know: {unknown}")
    return config_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def load_pretrained(directory, model_cls: type, config_cls: type) -> tuple[nn.Module, Vocab]:
    """Rebuilds `model_cls(config_cls(**config))` from a model directory, in eval mode, frozen."""
    path = Path(directory)
    if not path.is_dir():
        raise FileNotFoundError(f"model directory not found: {path}")
    meta = read_config(path)
    config_path = path / CONFIG_FILE
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{config_path}: format_version {meta.get('format_version')!r}, "
                         f"this wenmai reads {FORMAT_VERSION}")
    expected_type = _model_type(model_cls)
    if meta.get("model_type") != expected_type:
        raise ValueError(f"{config_path}: model_type {meta.get('model_type')!r}, "
                         f"expected {expected_type!r}")
    model = model_cls(_build_config(config_cls, meta["config"]))

    weights_path = path / WEIGHTS_FILE
    if not weights_path.is_file():
        raise FileNotFoundError(f"model weights not found: {weights_path}")
    try:
        found = load_file(str(weights_path))  # plain tensors, no pickle
    except Exception as e:  # safetensors raises its own error type on a damaged file
        raise ValueError(f"{weights_path}: not a readable safetensors file ({e})") from e
    expected = model.state_dict()
    problems = []
    for name in sorted(set(expected) | set(found)):
        if name not in found:
            problems.append(f"missing {name} (expected shape {tuple(expected[name].shape)})")
        elif name not in expected:
            problems.append(f"unexpected {name} (found shape {tuple(found[name].shape)})")
        elif found[name].shape != expected[name].shape:
            problems.append(f"{name}: expected shape {tuple(expected[name].shape)}, "
                            f"found {tuple(found[name].shape)}")
    if problems:
        raise ValueError(f"{weights_path} does not match {model_cls.__name__}: " + "; ".join(problems))
    model.load_state_dict(found, strict=True)
    model.eval()
    model.requires_grad_(False)
    return model, Vocab.load(path)


def model_sha256(directory) -> str:
    """sha256 over config.json + model.safetensors + vocab.json (in that order), for manifests."""
    path = Path(directory)
    digest = hashlib.sha256()
    for name in (CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE):
        file = path / name
        if not file.is_file():
            raise FileNotFoundError(f"model file not found: {file}")
        digest.update(name.encode())
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def load_encoder(directory):
    """Same as `wenmai.models.encoder.load_encoder` (kept here too for callers of checkpoint)."""
    from wenmai.models.encoder import load_encoder as _load

    return _load(directory)
