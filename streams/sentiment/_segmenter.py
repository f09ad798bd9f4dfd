"""SnowNLP's word segmenter, same output, decoded from precomputed tables.

SnowNLP tags each character of a run of Chinese characters with b/m/e/s
(begin/middle/end of a word, single) using a trigram model and a Viterbi
search whose states are (previous tag, current tag). Its implementation
spends most of its time hashing nested tuples and copying path lists; here
the log-probabilities are table lookups (see ``_snowdata.convert_seg_model``)
and the runs of a batch are decoded together with NumPy (runs of similar
length share one pass; shorter ones are padded with a character that changes
nothing).

Tie-breaking matters for exactness and follows SnowNLP's iteration order:
for a state (b, s) the first predecessor tag a in b, m, e, s order with the
highest score wins; a character SnowNLP has never seen adds nothing to the
score and keeps the *last* predecessor (its dict overwrite); the final state
is the first maximum in the order (a, t) for t outer, a inner.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from streams.sentiment._snowdata import BOS_TAG, CJK_FIRST, SegTable

# SnowNLP's definition of a Chinese run.
CJK_RUN = re.compile("([\u4e00-\u9fa5]+)")
_TAG_B, _TAG_M, _TAG_E, _TAG_S = 0, 1, 2, 3
# Positions (runs x padded length) decoded in one NumPy pass; bounds memory at ~800 bytes each.
_GROUP_POSITIONS = 20_000
_PADDING_PER_STEP = 40


class FastSegmenter:
    """Segments text exactly like ``snownlp.seg.seg``."""

    def __init__(self, table: SegTable, run_cache_size: int = 50_000) -> None:
        self._t = table
        self._run_cache: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._run_cache_size = run_cache_size

    @property
    def table(self) -> SegTable:
        return self._t

    def clear_cache(self) -> None:
        self._run_cache.clear()

    def seg(self, text: str) -> list[str]:
        return self.seg_many([text])[0]

    def seg_many(self, texts: Sequence[str]) -> list[list[str]]:
        pieces_per_text = [self._pieces(text) for text in texts]
        missing = {
            piece
            for pieces in pieces_per_text
            for piece, is_run in pieces
            if is_run and piece not in self._run_cache
        }
        fresh = dict(self._segment_runs(missing)) if missing else {}
        cache = self._run_cache
        out: list[list[str]] = []
        for pieces in pieces_per_text:
            words: list[str] = []
            for piece, is_run in pieces:
                if is_run:
                    words.extend(fresh[piece] if piece in fresh else cache[piece])
                else:
                    words.append(piece)
            out.append(words)
        self._remember(fresh.items())
        return out

    @staticmethod
    def _pieces(text: str) -> list[tuple[str, bool]]:
        # Mirrors snownlp.seg.seg: Chinese runs are tagged, everything else is split on whitespace.
        pieces: list[tuple[str, bool]] = []
        for part in CJK_RUN.split(text):
            part = part.strip()
            if not part:
                continue
            if CJK_RUN.match(part):
                pieces.append((part, True))
            else:
                pieces.extend((word, False) for word in part.split() if word)
        return pieces

    def _remember(self, segmented: Iterable[tuple[str, tuple[str, ...]]]) -> None:
        cache = self._run_cache
        for run, words in segmented:
            cache[run] = words
        while len(cache) > self._run_cache_size:
            cache.popitem(last=False)

    def _segment_runs(self, runs: Iterable[str]) -> list[tuple[str, tuple[str, ...]]]:
        result: list[tuple[str, tuple[str, ...]]] = []
        for group in _length_groups(sorted(runs, key=len)):
            for run, run_tags in zip(group, self._decode(group), strict=True):
                result.append((run, _words_from_tags(run, run_tags)))
        return result

    def _log_probs(self, ids: np.ndarray) -> np.ndarray:
        """Log-probabilities (K, L, 5 t1, 5 t2, 4 t3) of every tag triple at every position."""
        t = self._t
        k, length = ids.shape
        bos = np.full((k, 1), t.bos, dtype=np.int64)
        c3 = ids
        c2 = np.concatenate([bos, ids[:, :-1]], axis=1)
        c1 = np.concatenate([bos, bos, ids[:, :-2]], axis=1)[:, :length]
        radix = t.radix

        # Unigram level, then overwrite with seen bigrams, then with seen trigrams.
        bigram_level = np.broadcast_to(t.uni_lp[c3][:, :, None, :], (k, length, 5, 4)).copy()
        _scatter(bigram_level.reshape(k * length, 20), c2 * radix + c3, t.bi_keys, t.bi_start, t.bi_code, t.bi_lp)
        lp = np.broadcast_to(bigram_level[:, :, None, :, :], (k, length, 5, 5, 4)).copy()
        _scatter(lp.reshape(k * length, 100), (c1 * radix + c2) * radix + c3, t.tri_keys, t.tri_start, t.tri_code, t.tri_lp)
        return lp

    def _decode(self, runs: list[str]) -> list[list[int]]:
        """Viterbi over K runs at once, shorter runs padded; returns each run's tags."""
        t = self._t
        k = len(runs)
        lengths = np.fromiter((len(r) for r in runs), dtype=np.int64, count=k)
        length = int(lengths.max())
        inside = np.arange(length)[None, :] < lengths[:, None]
        codepoints = np.frombuffer("".join(runs).encode("utf-32-le"), dtype=np.uint32)
        # Padding is an unseen character: it carries the state along unchanged.
        ids = np.full((k, length), t.unk, dtype=np.int64)
        ids[inside] = t.cp_to_id[codepoints - CJK_FIRST]
        unseen = ~t.known[ids]  # (K, L)
        unseen_at = unseen.any(axis=0).tolist()
        lp = self._log_probs(ids)
        lp[unseen] = 0.0  # an unseen character adds nothing to the path score
        rows = np.arange(k)
        tags = np.zeros((k, length), dtype=np.int64)

        # Position 0: one predecessor state (BOS, BOS).
        first = lp[:, 0, BOS_TAG, BOS_TAG, :]  # (K, 4 s)
        tags[:, 0] = np.argmax(first, axis=1)  # final answer for runs of length 1
        if length == 1:
            return [row[:1] for row in tags.tolist()]
        # Position 1: states (t0, s), each with the single predecessor (BOS, t0).
        scores = first[:, :, None] + lp[:, 1, BOS_TAG, :4, :]  # (K, a=t0, b=s)
        final = np.zeros((k, 4, 4))
        ending: dict[int, np.ndarray] = {n: np.nonzero(lengths == n)[0] for n in set(lengths.tolist())}
        if 2 in ending:
            final[ending[2]] = scores[ending[2]]
        back = np.zeros((k, length, 4, 4), dtype=np.int64)
        transitions = lp[:, :, :4, :4, :]  # (K, L, a, b, s)
        for i in range(2, length):
            candidates = scores[:, :, :, None] + transitions[:, i]  # (K, a, b, s)
            best = candidates.argmax(axis=1)  # first maximum over a, as SnowNLP's strict '>'
            scores = candidates.max(axis=1)
            if unseen_at[i]:
                # SnowNLP's dict overwrite keeps the last predecessor for a character it has never seen.
                column = unseen[:, i]
                best[column] = _TAG_S
                scores[column] = candidates[column, _TAG_S]
            back[:, i] = best
            if i + 1 in ending:
                final[ending[i + 1]] = scores[ending[i + 1]]
        # SnowNLP takes the first maximum in its state order: current tag outer, previous tag inner.
        multi = lengths >= 2
        best_final = np.argmax(final.transpose(0, 2, 1).reshape(k, 16), axis=1)
        last = lengths - 1
        tags[rows[multi], last[multi]] = best_final[multi] // 4
        tags[rows[multi], last[multi] - 1] = best_final[multi] % 4
        for i in range(length - 1, 1, -1):
            active = rows[lengths > i]
            tags[active, i - 2] = back[active, i, tags[active, i - 1], tags[active, i]]
        return [row[:n] for row, n in zip(tags.tolist(), lengths.tolist(), strict=True)]


def _length_groups(runs_by_length: list[str]) -> Iterator[list[str]]:
    """Consecutive runs (sorted by length) whose padding to the longest wastes little.

    Each decoding step has a fixed NumPy cost worth about ``_PADDING_PER_STEP``
    padded positions, so a few runs of different lengths share one pass while
    a large batch is split into groups of (nearly) equal length.
    """
    group: list[str] = []
    for run in runs_by_length:
        extra_padding = (len(run) - len(group[-1])) * len(group) if group else 0
        if group and (extra_padding > _PADDING_PER_STEP or len(run) * (len(group) + 1) > _GROUP_POSITIONS):
            yield group
            group = []
        group.append(run)
    if group:
        yield group


def _scatter(
    target: np.ndarray,
    keys: np.ndarray,
    table_keys: np.ndarray,
    table_start: np.ndarray,
    table_code: np.ndarray,
    table_lp: np.ndarray,
) -> None:
    """Write each row's seen n-gram entries into ``target[row, code]``."""
    flat_keys = keys.reshape(-1)
    slot = np.searchsorted(table_keys, flat_keys)
    slot_clipped = np.minimum(slot, len(table_keys) - 1)
    found = table_keys[slot_clipped] == flat_keys
    rows = np.nonzero(found)[0]
    if rows.size == 0:
        return
    starts = table_start[slot_clipped[rows]]
    counts = table_start[slot_clipped[rows] + 1] - starts
    entry_rows = np.repeat(rows, counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    entries = np.repeat(starts, counts) + offsets
    target[entry_rows, table_code[entries]] = table_lp[entries]


def _words_from_tags(run: str, tags: list[int]) -> tuple[str, ...]:
    # Same assembly as snownlp.seg.seg.Seg.seg.
    words: list[str] = []
    pending = ""
    for char, tag in zip(run, tags, strict=True):
        if tag == _TAG_E:
            words.append(pending + char)
            pending = ""
        elif tag == _TAG_B or tag == _TAG_S:
            if pending:
                words.append(pending)
            pending = char
        else:
            pending += char
    if pending:
        words.append(pending)
    return tuple(words)
