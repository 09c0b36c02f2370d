"""Shared fixtures: a tiny random encoder saved like a shipped model, and a tiny corpus.

Everything here is written by us; no test needs ../shared or the shipped weights.
"""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("TQDM_DISABLE", "1")

# A few short documents in three topics, with one exact duplicate and some bad lines.
TINY_CORPUS = [
    "华为公司总部位于深圳",
    "华为的总部设在广东深圳",
    "今天北京气温骤降，最高只有五度",
    "北京今日降温明显，最高气温仅五度",
    "国足在世界杯预选赛中战胜对手",
    "中国男足在预选赛里赢下比赛",
    "",
    "   ",
    "！！😀",
    "华为公司总部位于深圳",
    "ＡＩ芯片出货量达到１２３万片",
    "The quick brown fox 123",
]


def tiny_model_dir(directory, texts=TINY_CORPUS, seed: int = 0):
    """Randomly initialised encoder, titler and extractor with vocabularies of `texts`, saved
    as a models directory (encoder/, titler/, extractor/) like the shipped one."""
    import torch

    from wenmai.models.checkpoint import save_pretrained
    from wenmai.models.encoder import EncoderConfig, SentenceEncoder
    from wenmai.models.extractor import ExtractorConfig, TripleExtractor
    from wenmai.models.titler import Titler, TitlerConfig, build_titler_vocab
    from wenmai.models.vocab import Vocab
    from wenmai.text import load_jieba, segment

    jieba = load_jieba()
    vocab = Vocab.build((t, segment(jieba, t)) for t in texts)
    torch.manual_seed(seed)
    config = EncoderConfig(char_vocab_size=vocab.n_chars, word_vocab_size=vocab.n_words,
                           char_dim=16, word_dim=8, hidden=16, dim=16, dropout=0.0)
    save_pretrained(SentenceEncoder(config), directory / "encoder", vocab=vocab,
                    card="tiny random encoder for tests", extra={"threshold": 0.5})
    title_vocab = build_titler_vocab(texts, min_count=1)
    titler = Titler(TitlerConfig(vocab_size=title_vocab.n_chars, emb_dim=16, enc_hidden=16,
                                 dec_hidden=32, dropout=0.0))
    save_pretrained(titler, directory / "titler", vocab=title_vocab,
                    card="tiny random titler for tests")
    extractor = TripleExtractor(ExtractorConfig(
        char_vocab_size=vocab.n_chars, word_vocab_size=vocab.n_words, predicates=("所在地", "总部"),
        d=16, word_dim=8, dilations=(1, 2), n_heads=2, dropout=0.0))
    save_pretrained(extractor, directory / "extractor", vocab=vocab,
                    card="tiny random extractor for tests")
    return directory


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("models"))


@pytest.fixture
def tiny_corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(TINY_CORPUS) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------
# `pytest -m "not slow"`: the fast loop (under a minute on a 2-core machine). Slow = runs the whole
# job, a benchmark, a training or a Beam pipeline over many elements; CI and the README's test
# command run everything.

SLOW_MODULES = {
    "test_reliability", "test_job", "test_job_portable", "test_daily", "test_bench_encoders",
    "test_bench_clusterers", "test_bench_daily", "test_benchmarks", "test_packaging",
    "test_report", "test_cli", "test_manifest", "test_topics", "test_carry", "test_previous",
    "test_bench_report", "test_train_encoder", "test_train_titler", "test_calibrate_extractor",
}
SLOW_TESTS = {
    "test_interrupted_and_resumed_run_ends_with_identical_weights", "test_sharded_recall_against_exact",
    "test_tiny_model_overfits_three_sentences", "test_train_encoder_main_writes_a_loadable_model",
    "test_decoded_titles_are_number_faithful", "test_layer_norm_blocks_keep_padding_out_and_train",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        if module in SLOW_MODULES or getattr(item, "originalname", item.name) in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
