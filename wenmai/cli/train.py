"""`wenmai train encoder|titler|extractor`: flags -> the model's typed training config -> its
trainer (in `wenmai.models`). Ctrl-C or SIGTERM saves the training state and exits 130 with the
flag that resumes it."""
from __future__ import annotations

import logging
import sys
from typing import Optional, Sequence

from wenmai.cli.args import ArgumentParser, add_dataclass_args, dataclass_from_args


def _logging(*names: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for name in names + ("wenmai.models.trainer",):  # `wenmai` configured logging at WARNING
        logging.getLogger(name).setLevel(logging.INFO)


def _run(train, config, argv):
    from wenmai.models.trainer import TrainingInterrupted

    try:
        return train(config, argv=list(argv) if argv is not None else sys.argv[2:])
    except TrainingInterrupted as e:
        print(f"wenmai: {e}; continue with the same command and --resume", file=sys.stderr)
        raise SystemExit(130)


def _command(name: str, description: str, module: str, config_cls: str, train_fn: str, argv):
    """Flags -> `module.config_cls` -> `module.train_fn(config, argv)`, the same for every model."""
    import importlib

    mod = importlib.import_module(module)
    parser = ArgumentParser(prog=f"wenmai train {name}", description=description)
    add_dataclass_args(parser, getattr(mod, config_cls))
    config = dataclass_from_args(getattr(mod, config_cls), parser.parse_args(argv))
    _logging(f"wenmai.train.{name}")
    return _run(getattr(mod, train_fn), config, argv)


def titler(argv: Optional[Sequence[str]] = None):
    return _command("titler", "Train the titler on train-role title pairs.",
                    "wenmai.models.train_titler", "TitlerTrainConfig", "train_titler", argv)


def encoder(argv: Optional[Sequence[str]] = None):
    return _command("encoder", "Train the sentence encoder on train-role pairs.",
                    "wenmai.models.train_encoder", "EncoderTrainConfig", "train_encoder", argv)


def extractor(argv: Optional[Sequence[str]] = None):
    return _command("extractor", "Train the triple extractor on train-role triples.",
                    "wenmai.models.train_extractor", "ExtractorTrainConfig", "train_extractor", argv)
