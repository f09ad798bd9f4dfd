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

Masking (``mask``): a brand's own name must never count as sentiment (a
bag-of-words model reads 驰远快递 as 80 % negative and 鹿鸣奶茶 as 1 %, so the
same calm post scored 30 % or 52 % negative depending on the brand it
named). Before scoring, every alias occurrence that counts is replaced by
a space, and an ``@account`` that contains one (``@鹿鸣奶茶官方``) keeps its
``@`` but its name becomes ``_`` (so a repost chain ``//@...:`` and a reply
``回复@...:`` keep their shape and Weibo preprocessing still removes the
mention). Two texts that differ only in the brand they name become the same
text, so they get the same score.
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
# What replaces an alias in running text, and the name an @account containing one gets.
ALIAS_PLACEHOLDER = " "
ACCOUNT_PLACEHOLDER = "_"
# An @account name as Weibo preprocessing reads it (streams/sentiment/preprocess.py, _MENTION).
_ACCOUNT_NAME_MAX = 30
_ACCOUNT_CHAR = re.compile(r"[\w\u4e00-\u9fa5-]")


def fold(text: str) -> str:
    """Width and case folding shared by patterns and posts (length-preserving)."""
    if _WIDE_ALNUM.search(text):
        text = text.translate(_WIDE_TABLE)
    return text.lower()


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


class BrandHits(NamedTuple):
    brands: list[str]  # brand ids, in configuration order
    spans: list[tuple[int, int]]  # [start, end) of the alias occurrences that count, merged, sorted


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans.sort()
    merged = [spans[0]]
    for start, end in spans[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def _with_accounts(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` where one inside an @account name grows to the whole name (the ``@`` stays), merged again."""
    grown: list[tuple[int, int]] = []
    for start, end in spans:
        name_start = start
        while name_start > 0 and start - name_start < _ACCOUNT_NAME_MAX and _ACCOUNT_CHAR.match(text[name_start - 1]):
            name_start -= 1
        if name_start > 0 and text[name_start - 1] == "@":
            name_end = end
            while name_end < len(text) and name_end - name_start < _ACCOUNT_NAME_MAX and _ACCOUNT_CHAR.match(text[name_end]):
                name_end += 1
            start, end = name_start, name_end
        grown.append((start, end))
    return _merge(grown)


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
        # Most posts mention no brand: this early return is the hot path.
        return self._resolve(folded, found).brands if found else []

    def find(self, text: str) -> BrandHits:
        """The brands ``text`` mentions and where: the alias occurrences that count, merged, in order.

        Offsets are in characters of ``text`` (``fold`` keeps the length, except for
        the rare characters whose lower case is longer; then they refer to ``fold(text)``).
        """
        if self._automaton is None or not text:
            return BrandHits([], [])
        folded = fold(text)
        found = self._automaton.find_matches_as_indexes(folded, overlapping=True)
        return self._resolve(folded, found) if found else BrandHits([], [])

    def _resolve(self, folded: str, found: list[tuple[int, int, int]]) -> BrandHits:
        hits: dict[int, list[tuple[int, int]]] = {}
        excluded: dict[int, list[tuple[int, int]]] = {}
        for word, start, end in found:
            for pattern in self._entries[word]:
                if pattern.latin and not self._whole_word(folded, start, end):
                    continue
                target = hits if pattern.kind == _ALIAS else excluded
                target.setdefault(pattern.brand, []).append((start, end))
        if not hits:
            return BrandHits([], [])
        matched = []
        counted: list[tuple[int, int]] = []
        for brand_index, spans in hits.items():
            blocked = excluded.get(brand_index)
            if blocked is not None:
                spans = [(s, e) for s, e in spans if not any(bs <= s and e <= be for bs, be in blocked)]
            if spans:
                matched.append(brand_index)
                counted.extend(spans)
        if not matched:
            return BrandHits([], [])
        matched.sort()
        return BrandHits([self.brands[i].id for i in matched], _merge(counted))

    def mask(self, text: str) -> str:
        """``text`` with every counted alias blanked and every @account naming a brand renamed ``_``.

        Text without a tracked brand is returned unchanged (the same object)."""
        spans = self.find(text)[1]
        if not spans:
            return text
        if len(fold(text)) != len(text):
            text = fold(text)  # offsets refer to the folded text (see ``find``)
        out: list[str] = []
        position = 0
        for start, end in _with_accounts(text, spans):
            out.append(text[position:start])
            out.append(ACCOUNT_PLACEHOLDER if start > 0 and text[start - 1] == "@" else ALIAS_PLACEHOLDER)
            position = end
        out.append(text[position:])
        return "".join(out)

    @staticmethod
    def _whole_word(text: str, start: int, end: int) -> bool:
        # ``end`` is exclusive.
        return not (start > 0 and _is_word_char(text[start - 1])) and not (
            end < len(text) and _is_word_char(text[end])
        )
