"""Entity swaps for the extractor's training data: a copy of a training sentence whose typed
entities are replaced by other training entities of the same schema type.

Why: the extractor sees 9,001 labelled sentences, few enough that it learns names (周杰伦 is a
singer) as much as the sentence patterns that state a relation. A copy of "《七里香》是周杰伦演唱的
歌曲" with another song and another singer keeps the pattern and its labels and breaks the
memorised pairing. Only entity types are swapped (人物, 歌曲, 国家, ...); dates, numbers and free
text (Date, Number, Text) stay, and so does any string in a 简称 triple (an abbreviation is
spelled from its full name). A sentence whose labelled strings overlap is left alone: one
replacement could not keep both spans.
"""
from __future__ import annotations

import random
import re
from typing import Optional, Sequence

__all__ = ["EntitySwap"]

Triple = tuple[str, str, str]

KEPT_TYPES = frozenset({"Date", "Number", "Text"})
KEPT_PREDICATES = frozenset({"简称"})


class EntitySwap:
    """Pools of training entities by schema type (`types`: predicate -> (subject type, object
    type), as `wenmai.models.triple_rules.slot_types` reads them), and `swap(text, spo, rng)` that draws from them.

    Example: pools {"人物": ["周杰伦", "王菲"], "歌曲": ["七里香", "红豆"]};
    swap("《七里香》是周杰伦演唱的歌曲", [("七里香", "歌手", "周杰伦")], rng)
    -> ("《红豆》是王菲演唱的歌曲", [("红豆", "歌手", "王菲")]).
    """

    def __init__(self, types: dict[str, tuple[str, str]], rows: Sequence[tuple[str, list]]):
        self.types = types
        pools: dict[str, dict[str, None]] = {}
        for text, spo in rows:
            for name, kind in self._typed(text, spo).items():
                pools.setdefault(kind, {})[name] = None
        self.pools = {kind: list(names) for kind, names in pools.items()}

    def _typed(self, text: str, spo: Sequence[Triple]) -> dict[str, str]:
        """Swappable strings of one sentence -> their type (the first triple naming them)."""
        kept = {x for s, p, o in spo if p in KEPT_PREDICATES for x in (s, o)}
        typed: dict[str, str] = {}
        for s, p, o in spo:
            if p not in self.types:
                continue
            for name, kind in zip((s, o), self.types[p]):
                if name and name in text and name not in kept and kind not in KEPT_TYPES:
                    typed.setdefault(name, kind)
        return typed

    def swap(self, text: str, spo: Sequence[Triple],
             rng: random.Random) -> Optional[tuple[str, list[Triple]]]:
        """The sentence with each swappable entity replaced everywhere it occurs, and its triples
        renamed the same way; None when nothing can be swapped or labelled strings overlap."""
        names = {x for s, _, o in spo for x in (s, o) if x}
        if any(a != b and a in b for a in names for b in names):
            return None
        typed = self._typed(text, spo)
        new: dict[str, str] = {}
        for name, kind in typed.items():
            taken = names | set(new.values())
            choices = [c for c in rng.sample(self.pools[kind], min(8, len(self.pools[kind])))
                       if c not in text and not any(c in t or t in c for t in taken)]
            if choices:
                new[name] = choices[0]
        if not new:
            return None
        pattern = re.compile("|".join(map(re.escape, sorted(new, key=len, reverse=True))))
        renamed = pattern.sub(lambda m: new[m.group(0)], text)
        return renamed, [(new.get(s, s), p, new.get(o, o)) for s, p, o in spo]
