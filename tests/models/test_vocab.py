"""Vocab: (text, jieba words) -> aligned (char ids, word ids); save/load round trip; edge inputs."""
import json

import pytest

from wenmai.models.vocab import PAD_ID, UNK_ID, Vocab, normalize_char

SEGMENTED = [
    ("我爱北京天安门", ["我", "爱", "北京", "天安门"]),
    ("北京的天气怎么样？", ["北京", "的", "天气", "怎么样", "？"]),
    ("我爱abc", ["我", "爱", "abc"]),
]


@pytest.fixture()
def vocab():
    return Vocab.build(SEGMENTED)


def test_worked_example():
    v = Vocab.build([("我爱北京", ["我", "爱", "北京"])])
    assert v.encode("我爱北京", ["我", "爱", "北京"], max_len=8) == ([2, 3, 4, 5], [2, 3, 4, 4])


def test_special_ids(vocab):
    assert vocab.chars[PAD_ID] == vocab.words[PAD_ID] == "<pad>"
    assert vocab.chars[UNK_ID] == vocab.words[UNK_ID] == "<unk>"


@pytest.mark.parametrize("text,words", SEGMENTED)
def test_encode_aligns_words_to_characters(vocab, text, words):
    chars, word_ids = vocab.encode(text, words, max_len=64)
    assert len(chars) == len(word_ids) == len(text)
    assert UNK_ID not in chars
    position = 0
    for w in words:  # every character of a word carries that word's id
        assert word_ids[position:position + len(w)] == [vocab.word_id(w)] * len(w)
        position += len(w)


def test_words_that_do_not_segment_the_text_fall_back_to_unknown(vocab):
    chars, word_ids = vocab.encode("我爱北京", ["我", "北京"], max_len=64)
    assert len(chars) == 4
    assert word_ids == [UNK_ID] * 4


def test_truncates_to_max_len(vocab):
    chars, word_ids = vocab.encode("我爱北京天安门", ["我", "爱", "北京", "天安门"], max_len=3)
    assert len(chars) == len(word_ids) == 3
    assert word_ids[2] == vocab.word_id("北京")


@pytest.mark.parametrize("max_len", [0, 5])
def test_empty_text(vocab, max_len):
    assert vocab.encode("", [], max_len=max_len) == ([], [])


def test_emoji_and_unknown_characters(vocab):
    text = "我爱😀𠀀"  # an emoji and an astral CJK character: one id each, both unknown
    chars, word_ids = vocab.encode(text, ["我", "爱", "😀", "𠀀"], max_len=16)
    assert len(chars) == len(word_ids) == 4
    assert chars[2:] == [UNK_ID, UNK_ID]


def test_full_width_and_case_share_ids(vocab):
    assert normalize_char("Ａ") == "a" and normalize_char("？") == "?"
    assert normalize_char("㈱") == "㈱"  # NFKC would make it three characters
    half, _ = vocab.encode("ABC?", ["ABC", "?"], max_len=8)
    full, _ = vocab.encode("ＡＢＣ？", ["ＡＢＣ", "？"], max_len=8)
    assert half == full
    assert UNK_ID not in full
    assert vocab.word_id("ＡＢＣ") == vocab.word_id("abc") != UNK_ID


def test_save_load_round_trip(vocab, tmp_path):
    vocab.save(tmp_path)
    loaded = Vocab.load(tmp_path)
    assert loaded == vocab
    for text, words in SEGMENTED:
        assert loaded.encode(text, words, 32) == vocab.encode(text, words, 32)
    payload = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    assert "北京" in payload["words"]  # readable, not escaped bytes


def test_load_missing_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="vocab.json"):
        Vocab.load(tmp_path / "nowhere")


def test_caps_keep_the_most_frequent():
    data = [("天气好", ["天气", "好"]), ("天气", ["天气"]), ("好天气", ["好", "天气"])]
    v = Vocab.build(data, max_chars=2, max_words=1)
    assert v.n_chars == 4 and v.n_words == 3
    assert v.words[2] == "天气"  # three times; 好 twice
    assert v.char_id("好") == UNK_ID


def test_cached_lookups_give_the_same_ids(vocab):
    """ids come from a cache after a character or word is first seen: the same as uncached."""
    text, words = "Ａ北京?北京", ["Ａ", "北京", "?", "北京"]
    first = vocab.encode(text, words, 16)
    fresh = Vocab(vocab.chars, vocab.words)
    assert vocab.encode(text, words, 16) == first == fresh.encode(text, words, 16)
    assert [vocab.char_id(c) for c in text] == [fresh._char_id.get(normalize_char(c), 1)
                                               for c in text]
