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


def titler(argv: Optional[Sequence[str]] = None):
    from wenmai.models.train_titler import TitlerTrainConfig, train_titler

    parser = ArgumentParser(prog="wenmai train titler",
                            description="Train the titler on train-role title pairs.")
    add_dataclass_args(parser, TitlerTrainConfig)
    config = dataclass_from_args(TitlerTrainConfig, parser.parse_args(argv))
    _logging("wenmai.train.titler")
    return _run(train_titler, config, argv)


def encoder(argv: Optional[Sequence[str]] = None):
    from wenmai.models.train_encoder import EncoderTrainConfig, train_encoder

    parser = ArgumentParser(prog="wenmai train encoder",
                            description="Train the sentence encoder on train-role pairs.")
    add_dataclass_args(parser, EncoderTrainConfig)
    config = dataclass_from_args(EncoderTrainConfig, parser.parse_args(argv))
    _logging("wenmai.train.encoder")
    return _run(train_encoder, config, argv)
