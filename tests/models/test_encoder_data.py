"""Encoder training data: paraphrase groups, the held-out slice kept apart from training, graded
labels, labelled negatives, the InfoMax corpus and the vocabulary."""
import random

import pytest

from wenmai.models.encoder_data import build_groups, build_vocab, corpus_texts, load_pair_data
from wenmai.models.train_encoder import EncoderTrainConfig


def _components(pairs, n):
    """Reference: merge sets until no pair crosses two of them (slow, obviously right)."""
    sets = [{i} for i in range(n)]
    for a, b in pairs:
        sa = next(s for s in sets if a in s)
        sb = next(s for s in sets if b in s)
        if sa is not sb:
            sets.remove(sb)
            sa |= sb
    return sets


def test_build_groups_worked_example_and_edges():
    assert build_groups([(0, 1), (1, 2), (3, 4)], 6) == [0, 0, 0, 1, 1, 2]
    assert build_groups([(4, 2), (2, 0)], 5) == [0, 1, 0, 2, 0]  # numbered by first member
    assert build_groups([], 3) == [0, 1, 2]
    assert build_groups([], 0) == []
    assert all(type(g) is int for g in build_groups([(0, 1)], 3))


@pytest.mark.parametrize("seed", range(5))
def test_build_groups_are_the_connected_components_numbered_by_first_member(seed):
    rng = random.Random(seed)
    n = 30
    pairs = [(rng.randrange(n), rng.randrange(n)) for _ in range(18)]
    group = build_groups(pairs, n)
    assert sorted(map(sorted, _components(pairs, n))) == sorted(
        sorted(i for i in range(n) if group[i] == g) for g in set(group))
    first_seen = list(dict.fromkeys(group))
    assert first_seen == list(range(len(first_seen)))


# --------------------------------------------------------------------------------------------------


@pytest.fixture()
def data_dir(tmp_path):
    binary = [("花呗怎么还款", "花呗如何还钱", 1), ("花呗如何还钱", "花呗还款方法", 1),
              ("花呗怎么还款", "花呗还款方法", 0),  # a negative made a paraphrase by transitivity
              ("借呗能提前还吗", "借呗可以提前还款吗", 1), ("借呗能提前还吗", "今天天气很好", 0),
              ("手机信号很差", "手机没有信号", 1), ("火车几点出发", "飞机几点起飞", 0),
              ("同一句话", "同一句话", 1), ("  ", "空白的一侧", 1)]
    graded = [("一只猫在睡觉", "猫正在睡觉", 4.6), ("一个人在跑步", "有人在跑", 3.2),
              ("一只狗在叫", "一辆车在开", 0.4)]
    for name, rows in (("binary.tsv", binary), ("graded.tsv", graded)):
        (tmp_path / name).write_text("".join(f"{a}\t{b}\t{y}\n" for a, b, y in rows),
                                     encoding="utf-8")
    (tmp_path / "questions.txt").write_text("1\t一个没有配对的问题\n手机信号很差\n\n",
                                            encoding="utf-8")
    return tmp_path


def _config(data_dir, **kw):
    base = dict(data_dir=str(data_dir), train_files=("binary.tsv", "graded.tsv"), dev_files=(),
                dev_sizes=())
    return EncoderTrainConfig(**{**base, **kw})


def test_pairs_groups_negatives_and_graded_cuts(data_dir):
    data = load_pair_data(_config(data_dir, unlabeled_files=("questions.txt",)))
    text = {t: i for i, t in enumerate(data.texts)}
    pair_texts = {(data.texts[a], data.texts[b]) for a, b in data.positives}
    assert ("一只猫在睡觉", "猫正在睡觉") in pair_texts  # graded 4.6 >= 4
    assert not any("跑" in a for a, _ in pair_texts)  # graded 3.2: neither side of the cut
    assert ("同一句话", "同一句话") not in pair_texts  # a sentence is no paraphrase of itself
    g = data.group
    assert g[text["花呗怎么还款"]] == g[text["花呗如何还钱"]] == g[text["花呗还款方法"]]
    assert text["花呗还款方法"] not in data.negatives.get(text["花呗怎么还款"], [])
    assert data.negatives[text["借呗能提前还吗"]] == [text["今天天气很好"]]
    assert text["一只狗在叫"] in data.negatives[text["一辆车在开"]]  # graded 0.4 <= 1
    from_graded = [(data.texts[a], data.texts[b])
                   for (a, b), src in zip(data.positives, data.source) if src == 1]
    assert from_graded == [("一只猫在睡觉", "猫正在睡觉")]
    assert text["一个没有配对的问题"] in data.singles and text["手机信号很差"] not in data.singles
    assert (data.counts["binary.tsv"]["positives"], data.counts["binary.tsv"]["negatives"]) == (4, 3)
    assert data.counts["questions.txt"]["rows"] == 3


def test_held_out_slice_shares_no_sentence_with_training(data_dir):
    cfg = _config(data_dir, dev_files=("binary.tsv",), dev_sizes=(3,), seed=7)
    data = load_pair_data(cfg)
    a, b, y = data.dev["binary.tsv"]
    assert len(a) == len(b) == len(y) == 3
    held = set(a) | set(b)
    used = {data.texts[i] for pair in data.positives for i in pair}
    used |= {data.texts[i] for i in data.negatives}
    assert not held & used
    c = data.counts["binary.tsv"]
    assert c["held_out"] == 3 and c["rows"] == 9
    assert load_pair_data(cfg).dev["binary.tsv"][0] == a  # the same seed, the same slice


def test_one_dev_size_per_dev_file(data_dir):
    with pytest.raises(AssertionError, match="one dev size"):
        load_pair_data(_config(data_dir, dev_files=("binary.tsv",), dev_sizes=()))


def test_corpus_texts_normalised_deduplicated_capped_and_never_held_out(data_dir, tmp_path):
    cfg = _config(data_dir, dev_files=("binary.tsv",), dev_sizes=(9,))
    data = load_pair_data(cfg)
    assert corpus_texts(cfg, data) == data.texts  # no --corpus: the train files' sentences
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("ＡＩ芯片\n今天天气很好\nAI芯片\n第二句\n第三句\n", encoding="utf-8")
    capped = _config(data_dir, dev_files=("binary.tsv",), dev_sizes=(9,), corpus=(str(corpus),),
                     corpus_max_texts=2)
    assert corpus_texts(capped, data) == ["AI芯片", "第二句"]


def test_build_vocab_keeps_rare_characters_but_not_rare_words():
    segmented = [("花呗还款", ["花呗", "还款"]), ("花呗还钱", ["花呗", "还钱"])]
    vocab = build_vocab(segmented, EncoderTrainConfig(min_word_count=2))
    assert vocab.word_id("花呗") > 1 and vocab.word_id("还款") == 1  # seen once: <unk>
    assert vocab.char_id("款") > 1
    assert build_vocab(segmented, EncoderTrainConfig(min_word_count=1)).word_id("还款") > 1
