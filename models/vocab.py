"""Character + jieba-word vocabulary for the sentence encoder: (text, words) -> (char ids, word ids).

Every character gets two ids: its own, and the id of the jieba word that contains it, so both
sequences have the same length and the encoder can concatenate their embeddings position by
position. Id 0 is padding and id 1 is unknown in both tables.

Lookups normalise one character at a time (NFKC when it maps one character to one character,
then lower case): full-width `？`/`Ａ` and half-width `?`/`a` share an id whether or not the text
was NFKC-cleaned upstream, and the character count never changes, so word alignment survives.

Example:
    >>> v = Vocab.build([("我爱北京", ["我", "爱", "北京"])])
    >>> v.encode("我爱北京", ["我", "爱", "北京"], max_len=8)
    ([2, 3, 4, 5], [2, 3, 4, 4])        # 北 and 京 share the word id of 北京
"""
from __future__ import annotations

import json
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["Vocab", "PAD_ID", "UNK_ID", "normalize_char", "normalize_word", "pad_ids"]

PAD_ID = 0
UNK_ID = 1
_SPECIALS = ["<pad>", "<unk>"]
VOCAB_FILE = "vocab.json"
WORD_CACHE_SIZE = 200_000  # raw words remembered with their ids (~40 MB at most)


def normalize_char(ch: str) -> str:
    """Lookup key of one character: NFKC (only when it stays one character), then lower case.

    Example: "Ａ" -> "a", "？" -> "?", "㈱" -> "㈱" (NFKC would make it three characters).
    """
    norm = unicodedata.normalize("NFKC", ch)
    if len(norm) != 1:
        norm = ch
    low = norm.lower()
    return low if len(low) == 1 else norm


def normalize_word(word: str) -> str:
    """Lookup key of one word: its characters normalised one by one (see `normalize_char`)."""
    return "".join(normalize_char(c) for c in word)


class Vocab:
    """Two id tables, characters and words; ids 0 = <pad>, 1 = <unk> in both."""

    def __init__(self, chars: Sequence[str], words: Sequence[str]):
        chars, words = list(chars), list(words)
        assert chars[:2] == _SPECIALS and words[:2] == _SPECIALS, "tables must start <pad>, <unk>"
        self.chars = chars
        self.words = words
        self._char_id = {c: i for i, c in enumerate(chars)}
        self._word_id = {w: i for i, w in enumerate(words)}
        # raw character / word -> id, filled as text is read: `normalize_char` per character was
        # an eighth of the extractor's time on news (cProfile); words are capped, characters are
        # bounded by Unicode
        self._char_cache: dict[str, int] = {}
        self._word_cache: dict[str, int] = {}

    # ----------------------------------------------------------------------------------------------

    @classmethod
    def build(cls, segmented: Iterable[tuple[str, Sequence[str]]], *, max_chars: int = 8000,
              max_words: int = 20000, min_count: int = 1) -> "Vocab":
        """Most frequent characters and words of `(text, words)` pairs, ties broken by first sight."""
        char_counts: Counter = Counter()
        word_counts: Counter = Counter()
        for text, words in segmented:
            char_counts.update(normalize_char(c) for c in text)
            word_counts.update(normalize_word(w) for w in words if w.strip())
        chars = [c for c, n in char_counts.most_common(max_chars) if n >= min_count and c.strip()]
        words = [w for w, n in word_counts.most_common(max_words) if n >= min_count]
        return cls(_SPECIALS + chars, _SPECIALS + words)

    @property
    def n_chars(self) -> int:
        return len(self.chars)

    @property
    def n_words(self) -> int:
        return len(self.words)

    def char_id(self, ch: str) -> int:
        found = self._char_cache.get(ch)
        if found is None:
            found = self._char_cache[ch] = self._char_id.get(normalize_char(ch), UNK_ID)
        return found

    def word_id(self, word: str) -> int:
        found = self._word_cache.get(word)
        if found is None:
            found = self._word_id.get(normalize_word(word), UNK_ID)
            if len(self._word_cache) < WORD_CACHE_SIZE:
                self._word_cache[word] = found
        return found

    def encode(self, text: str, words: Sequence[str], max_len: int) -> tuple[list[int], list[int]]:
        """Char ids and, aligned to every character, the id of the jieba word containing it.

        `words` must be a segmentation of `text`; if `"".join(words) != text` every character
        gets the unknown word id. Both lists are truncated to `max_len`; empty text -> ([], []).
        """
        if not text or max_len <= 0:
            return [], []
        chars = text[:max_len]
        cached = self._char_cache.get
        char_ids = [cached(c) or self.char_id(c) for c in chars]  # ids are >= 1
        if "".join(words) == text:
            word_ids: list[int] = []
            for w in words:
                word_ids.extend([self.word_id(w)] * len(w))
                if len(word_ids) >= len(chars):
                    break
            word_ids = word_ids[: len(chars)]
        else:
            word_ids = [UNK_ID] * len(chars)
        return char_ids, word_ids

    # ----------------------------------------------------------------------------------------------

    def save(self, directory) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        payload = {"chars": self.chars, "words": self.words}
        (path / VOCAB_FILE).write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory) -> "Vocab":
        path = Path(directory) / VOCAB_FILE
        if not path.is_file():
            raise FileNotFoundError(f"vocabulary not found: {path}")
        payload = json.loads(path.read_text(encoding="utf-8"))
        return cls(payload["chars"], payload["words"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.chars == other.chars and self.words == other.words

    def __repr__(self) -> str:
        return f"Vocab(n_chars={self.n_chars}, n_words={self.n_words})"


def pad_ids(rows: Sequence[Sequence[int]], device=None):
    """Id lists right-padded with PAD_ID (0) to this batch's longest row, at least one column:
    the one padding helper of every model (torch's `pad_sequence` does the work).

    Example: pad_ids([[5, 6, 7], [8]]) == tensor([[5, 6, 7], [8, 0, 0]]); pad_ids([[]]) -> [[0]]
    """
    import torch
    from torch.nn.utils.rnn import pad_sequence

    out = pad_sequence([torch.as_tensor(list(r), dtype=torch.long) for r in rows],
                       batch_first=True, padding_value=PAD_ID)  # (B, T)
    if out.shape[1] == 0:
        out = out.new_zeros(len(rows), 1)
    return out if device is None else out.to(device, non_blocking=True)
