"""The encoder's model card: every training file with its counts, the command, the recipe of the
objective used, and one row per epoch of held-out figures."""
import pytest

from wenmai.models.encoder import EncoderConfig, SentenceEncoder
from wenmai.models.encoder_card import encoder_card
from wenmai.models.encoder_data import PairData
from wenmai.models.train_encoder import EncoderTrainConfig
from wenmai.models.trainer import TrainResult
from wenmai.models.vocab import Vocab

COUNTS = {"similarity/toy/train.tsv": {"rows": 1200, "held_out": 30, "dropped_overlap": 7,
                                       "positives": 700, "negatives": 463},
          "raw/questions.txt": {"rows": 50, "held_out": 0, "dropped_overlap": 2, "positives": 0,
                                "negatives": 0}}
META = {"threshold": 0.61234, "dev_accuracy": 0.75, "dev_baseline_accuracy": 0.7,
        "pretrain": {"texts": 1500, "chars": 24000}}


@pytest.fixture(scope="module")
def parts():
    vocab = Vocab.build([("花呗怎么还款", ["花呗", "怎么", "还款"])])
    model = SentenceEncoder(EncoderConfig(char_vocab_size=vocab.n_chars,
                                          word_vocab_size=vocab.n_words, char_dim=4, word_dim=2,
                                          hidden=4, dim=4))
    data = PairData(texts=["a", "b", "c", "d"], positives=[(0, 1), (1, 2)], source=[0, 0],
                    negatives={}, group=[0, 0, 0, 1], singles=[3], dev={}, counts=COUNTS)
    result = TrainResult(history=[
        {"epoch": 1, "loss": 2.5, "toy_spearman": 0.41, "toy_auc": 0.7, "dev_spearman": 0.41,
         "seconds": 12.0},
        {"epoch": 2, "loss": 1.9, "toy_spearman": 0.52, "toy_auc": 0.8, "dev_spearman": 0.52,
         "seconds": 11.0}], best_epoch=2, seconds=90.0, steps=40)
    return data, vocab, model, result


def test_card_names_files_counts_command_and_epochs(parts):
    data, vocab, model, result = parts
    cfg = EncoderTrainConfig(epochs=2, loss="angular")
    card = encoder_card(cfg, data, vocab, model, result, META, ["--data-dir", "d", "--epochs", "2"])
    assert "| similarity/toy/train.tsv | 1,200 | 30 | 7 | 700 | 463 |" in card
    assert "| raw/questions.txt | 50 | 0 | 2 | 0 | 0 |" in card
    assert "2 distinct positive pairs in 1 paraphrase groups" in card
    assert "wenmai train encoder --data-dir d --epochs 2\n" in card
    assert "in-batch `angular` loss" in card and "Deep InfoMax" not in card
    assert "Training took 1.5 min (40 steps, 2 epochs)" in card and "best epoch 2" in card
    assert "| epoch | loss | toy_spearman | dev_spearman | seconds |" in card
    assert "| 2 | 1.9000 | 0.5200 | 0.5200 | 11 |" in card
    assert "0.6123" in card and "PPMI" not in card


def test_card_for_infomax_with_ppmi_and_a_start_model(parts):
    data, vocab, model, result = parts
    cfg = EncoderTrainConfig(objective="infomax", corpus=("news/*.jsonl",),
                             pretrain_files=("raw/questions.txt",), init_from="runs/prev")
    card = encoder_card(cfg, data, vocab, model, result, META, [])
    assert "Deep InfoMax" in card and "news/*.jsonl" in card and "Started from runs/prev." in card
    assert "1,500 texts / 24,000 characters" in card and "raw/questions.txt" in card
