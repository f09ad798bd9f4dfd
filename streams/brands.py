"""Which tracked brands does a post mention?

One Aho-Corasick automaton (pyahocorasick, C) holds every alias and every
exclusion phrase of every brand, so matching costs one pass over the text
whatever the number of brands. Text and patterns are folded the same way
(NFKC turns full-width ``ＸＩＡＯＭＩ`` into ``XIAOMI``; casefold makes it
``xiaomi``) so a user writes an alias once.

Exclusions: an alias occurrence that lies inside an occurrence of one of
the brand's exclusion phrases does not count (``小米粥`` is porridge, not
Xiaomi), but a post that also mentions ``小米`` elsewhere still matches.
Latin-script aliases (English names, pinyin) must stand as whole words, so
``mi`` does not match inside ``mini``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick

from streams.config import Brand

_ALIAS = 0
_EXCLUDE = 1


def fold(text: str) -> str:
    """Width and case folding shared by patterns and posts.

    NFKC keeps the string length for the characters that matter here
    (full-width ASCII, half-width katakana are 1:1), but a few compatibility
    characters expand; positions are therefore only ever compared within
    the folded text.
    """
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


@dataclass(frozen=True)
class _Pattern:
    kind: int
    brand: int
    length: int
    latin: bool


class BrandMatcher:
    """Matches posts against every configured brand in one pass."""

    def __init__(self, brands: Iterable[Brand]) -> None:
        self.brands: tuple[Brand, ...] = tuple(brands)
        self._automaton = ahocorasick.Automaton()
        patterns: dict[str, list[_Pattern]] = {}
        for index, brand in enumerate(self.brands):
            for kind, phrases in ((_ALIAS, brand.aliases), (_EXCLUDE, brand.exclude)):
                for phrase in phrases:
                    folded = fold(phrase).strip()
                    if not folded:
                        continue
                    latin = all(_is_word_char(c) or c in " -.&'" for c in folded)
                    patterns.setdefault(folded, []).append(_Pattern(kind, index, len(folded), latin))
        for folded, entries in patterns.items():
            self._automaton.add_word(folded, tuple(entries))
        self._empty = not patterns
        if not self._empty:
            self._automaton.make_automaton()

    def match(self, text: str) -> list[str]:
        """Brand ids mentioned in ``text``, in configuration order."""
        if self._empty or not text:
            return []
        folded = fold(text)
        hits: dict[int, list[tuple[int, int]]] = {}
        excluded: dict[int, list[tuple[int, int]]] = {}
        for end, entries in self._automaton.iter(folded):
            for pattern in entries:
                start = end - pattern.length + 1
                if pattern.latin and not self._whole_word(folded, start, end):
                    continue
                target = hits if pattern.kind == _ALIAS else excluded
                target.setdefault(pattern.brand, []).append((start, end))
        if not hits:
            return []
        found: list[int] = []
        for brand_index, spans in hits.items():
            blocked = excluded.get(brand_index)
            if blocked is None or any(
                not any(bs <= s and e <= be for bs, be in blocked) for s, e in spans
            ):
                found.append(brand_index)
        found.sort()
        return [self.brands[i].id for i in found]

    @staticmethod
    def _whole_word(text: str, start: int, end: int) -> bool:
        before = text[start - 1] if start > 0 else ""
        after = text[end + 1] if end + 1 < len(text) else ""
        return not (before and _is_word_char(before)) and not (after and _is_word_char(after))
