"""Which tracked brands does a post mention?

One Aho-Corasick automaton (``ahocorasick_rs``, the Rust ``aho-corasick``
crate) holds every alias and every exclusion phrase of every brand, so
matching costs one pass over the text whatever the number of brands. It
replaced pyahocorasick here because pyahocorasick scans a node's children
linearly, and with a thousand brands the root has a thousand children: it
ran at ~35,000 posts/s against ~250,000 for the Rust automaton
(docs/benchmarks.md).

Text and patterns are folded the same way (``fold``): full-width letters and
digits (``ＸＩＡＯＭＩ``) become ASCII, then lower case. That is the part of
NFKC that matters for brand names; full NFKC on every post would cost more
than the matching itself.

Exclusions: an alias occurrence that lies inside an occurrence of one of the
brand's exclusion phrases does not count (``小米粥`` is porridge, not Xiaomi),
but a post that also mentions ``小米`` elsewhere still matches. Latin-script
aliases (English names, pinyin) must stand as whole words, so ``mi`` does not
match inside ``mini``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

import ahocorasick_rs

from streams.config import Brand

_ALIAS = 0
_EXCLUDE = 1
_WIDE_ALNUM = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\u3000]")
_WIDE_TABLE = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def fold(text: str) -> str:
    """Width and case folding shared by patterns and posts (length-preserving)."""
    if _WIDE_ALNUM.search(text):
        text = text.translate(_WIDE_TABLE)
    return text.lower()


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


class _Pattern(NamedTuple):
    kind: int
    brand: int
    latin: bool


class BrandMatcher:
    """Matches posts against every configured brand in one pass."""

    def __init__(self, brands: Iterable[Brand]) -> None:
        self.brands: tuple[Brand, ...] = tuple(brands)
        patterns: dict[str, list[_Pattern]] = {}
        for index, brand in enumerate(self.brands):
            for kind, phrases in ((_ALIAS, brand.aliases), (_EXCLUDE, brand.exclude)):
                for phrase in phrases:
                    folded = fold(phrase).strip()
                    if not folded:
                        continue
                    latin = all(_is_word_char(c) or c in " -.&'" for c in folded)
                    patterns.setdefault(folded, []).append(_Pattern(kind, index, latin))
        self._words = list(patterns)
        self._entries = [tuple(patterns[w]) for w in self._words]
        self._automaton = (
            ahocorasick_rs.AhoCorasick(self._words, matchkind=ahocorasick_rs.MatchKind.Standard)
            if self._words else None
        )

    def match(self, text: str) -> list[str]:
        """Brand ids mentioned in ``text``, in configuration order."""
        if self._automaton is None or not text:
            return []
        folded = fold(text)
        # Overlapping matches: "小米粥" and the "小米" inside it must both be seen.
        found = self._automaton.find_matches_as_indexes(folded, overlapping=True)
        if not found:
            return []
        hits: dict[int, list[tuple[int, int]]] = {}
        excluded: dict[int, list[tuple[int, int]]] = {}
        for word, start, end in found:
            for pattern in self._entries[word]:
                if pattern.latin and not self._whole_word(folded, start, end):
                    continue
                target = hits if pattern.kind == _ALIAS else excluded
                target.setdefault(pattern.brand, []).append((start, end))
        if not hits:
            return []
        matched = []
        for brand_index, spans in hits.items():
            blocked = excluded.get(brand_index)
            if blocked is None or any(
                not any(bs <= s and e <= be for bs, be in blocked) for s, e in spans
            ):
                matched.append(brand_index)
        matched.sort()
        return [self.brands[i].id for i in matched]

    @staticmethod
    def _whole_word(text: str, start: int, end: int) -> bool:
        # ``end`` is exclusive.
        return not (start > 0 and _is_word_char(text[start - 1])) and not (
            end < len(text) and _is_word_char(text[end])
        )
