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
# Groups of at most this many runs are backtracked in Python, larger ones with NumPy.
_PYTHON_BACKTRACK_RUNS = 16
# A batch of runs with at most this many padded positions is decoded in one pass.
_ONE_PASS_POSITIONS = 1_500


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

    def _log_probs(self, ids: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """Log-probabilities (P, 5 t1, 5 t2, 4 t3) of every tag triple at each of P characters.

        ``ids`` are the characters of all runs, concatenated; ``offset`` is each one's position in its
        run (the n-gram context starts with BOS at every run's start). Only real characters are looked
        up: no padding reaches the tables.
        """
        t = self._t
        count = len(ids)
        bos = t.bos
        c2 = np.empty(count, dtype=np.int64)
        c2[1:] = ids[:-1]
        c2[offset == 0] = bos
        c1 = np.empty(count, dtype=np.int64)
        c1[2:] = ids[:-2]
        c1[offset < 2] = bos
        radix = t.radix
        # Unigram level, then overwrite with seen bigrams, then with seen trigrams.
        bigram_level = np.broadcast_to(t.uni_lp[ids][:, None, :], (count, 5, 4)).copy()
        _scatter(bigram_level.reshape(count, 20), c2 * radix + ids, t.bi_keys, t.bi_start, t.bi_code, t.bi_lp)
        lp = np.broadcast_to(bigram_level[:, None, :, :], (count, 5, 5, 4)).copy()
        _scatter(lp.reshape(count, 100), (c1 * radix + c2) * radix + ids, t.tri_keys, t.tri_start, t.tri_code, t.tri_lp)
        return lp

    def _decode(self, runs: list[str]) -> list[list[int]]:
        """Viterbi over K runs at once, shorter runs padded; returns each run's tags."""
        t = self._t
        k = len(runs)
        run_lengths = [len(r) for r in runs]
        lengths = np.asarray(run_lengths, dtype=np.int64)
        length = max(run_lengths)
        codepoints = np.frombuffer("".join(runs).encode("utf-32-le"), dtype=np.uint32)
        ids = t.cp_to_id[codepoints - CJK_FIRST].astype(np.int64)
        starts = np.cumsum(lengths) - lengths
        run_of = np.repeat(np.arange(k), lengths)
        offset = np.arange(len(ids)) - starts[run_of]
        unseen = ~t.known[ids]
        lp = self._log_probs(ids, offset)
        lp[unseen] = 0.0  # an unseen character adds nothing to the path score
        first = lp[starts, BOS_TAG, BOS_TAG, :]  # (K, 4 s): position 0 has one predecessor state (BOS, BOS)
        if length == 1:
            return [[tag] for tag in first.argmax(axis=1).tolist()]
        # best[i] (i >= 2): for each run and state (b, s) at i, the best previous tag a (state (a, b) at i - 1);
        # scores[i]: the best path score of each state (a, b) at i. Time-major so best[i] / scores[i] are
        # contiguous and the reductions write into them directly (no temporary, no copy per step).
        scores = np.empty((length, k, 4, 4))
        best = np.empty((length, k, 4, 4), dtype=np.intp)
        # Padding after a run's end is all zeros: like an unseen character it carries the state along,
        # and nothing on it reaches the run's result (its final state is read at its own last position).
        steps = np.zeros((length, k, 4, 4, 4))  # (L, K, a, b, s)
        steps[offset, run_of] = lp[:, :4, :4, :]
        # Position 1: states (t0, s), each with the single predecessor (BOS, t0).
        second = np.zeros((k, 4, 4))
        multi = lengths >= 2
        second[multi] = lp[starts[multi] + 1, BOS_TAG, :4, :]
        np.add(first[:, :, None], second, out=scores[1])
        # Only real characters need SnowNLP's unseen-character rule; most steps skip the fix-up below.
        unseen_steps = np.zeros((length, k), dtype=bool)
        unseen_steps[offset, run_of] = unseen
        unseen_at = unseen_steps.any(axis=1).tolist()
        candidates = np.empty((k, 4, 4, 4))
        for i in range(2, length):
            np.add(scores[i - 1][:, :, :, None], steps[i], out=candidates)  # (K, a, b, s)
            candidates.argmax(axis=1, out=best[i])  # first maximum over a, as SnowNLP's strict '>'
            candidates.max(axis=1, out=scores[i])
            if unseen_at[i]:
                # SnowNLP's dict overwrite keeps the last predecessor for a character it has never seen.
                column = unseen_steps[i]
                best[i][column] = _TAG_S
                scores[i][column] = candidates[column, _TAG_S]
        # Each run's final states are at its own last position. SnowNLP takes the first maximum in its
        # state order: current tag outer, previous tag inner.
        final = scores[np.maximum(lengths - 1, 1), np.arange(k)].transpose(0, 2, 1).reshape(k, 16)
        best_final = final.argmax(axis=1)
        first_tags = first.argmax(axis=1)
        if k > _PYTHON_BACKTRACK_RUNS:
            return _backtrack_vectorised(best, lengths, first_tags, best_final)
        # For a few runs, backtracking is a few list look-ups per character: cheaper in Python than
        # several NumPy calls per step. One flat list (small ints are shared objects) is much cheaper
        # to build than nested lists.
        back = best.reshape(-1).tolist()
        out: list[list[int]] = []
        for run, (n, first_tag, final_state) in enumerate(
            zip(run_lengths, first_tags.tolist(), best_final.tolist(), strict=True)
        ):
            if n == 1:
                out.append([first_tag])
                continue
            tags = [0] * n
            tags[n - 1], tags[n - 2] = divmod(final_state, 4)
            for i in range(n - 1, 1, -1):
                tags[i - 2] = back[((i * k + run) * 4 + tags[i - 1]) * 4 + tags[i]]
            out.append(tags)
        return out


def _backtrack_vectorised(best: np.ndarray, lengths: np.ndarray, first_tags: np.ndarray, best_final: np.ndarray) -> list[list[int]]:
    """All runs' tags at once, one NumPy step per position (for large groups); ``best`` as in ``_decode``."""
    k = len(lengths)
    rows = np.arange(k)
    tags = np.zeros((k, int(lengths.max())), dtype=np.intp)
    tags[:, 0] = first_tags  # final answer for runs of length 1
    multi = lengths >= 2
    last = lengths - 1
    tags[rows[multi], last[multi]] = best_final[multi] // 4
    tags[rows[multi], last[multi] - 1] = best_final[multi] % 4
    for i in range(tags.shape[1] - 1, 1, -1):
        active = rows[lengths > i]
        tags[active, i - 2] = best[i, active, tags[active, i - 1], tags[active, i]]
    return [row[:n] for row, n in zip(tags.tolist(), lengths.tolist(), strict=True)]


def _length_groups(runs_by_length: list[str]) -> Iterator[list[str]]:
    """Consecutive runs (sorted by length) whose padding to the longest wastes little.

    Each decoding step has a fixed NumPy cost worth about ``_PADDING_PER_STEP``
    padded positions, so a few runs of different lengths share one pass while
    a large batch is split into groups of (nearly) equal length. A small
    batch (one post: a handful of runs) is a single pass: each pass also has
    a fixed cost of some 70 NumPy calls, which dominates a one-post call, and
    one pass takes as many steps as its longest run, never more than several.
    """
    if runs_by_length and len(runs_by_length) * len(runs_by_length[-1]) <= _ONE_PASS_POSITIONS:
        yield runs_by_length
        return
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
    """Write each row's seen n-gram entries into ``target[row, code]`` (``target`` is C-contiguous)."""
    slot = table_keys.searchsorted(keys)
    np.minimum(slot, len(table_keys) - 1, out=slot)
    rows = np.flatnonzero(table_keys[slot] == keys)
    if rows.size == 0:
        return
    found = slot[rows]
    starts = table_start[found]
    counts = table_start[found + 1] - starts
    # Entry j of a found key is starts + j: one arange over all entries, shifted per key by one repeat.
    ends = np.cumsum(counts)
    entries = np.arange(int(ends[-1])) + np.repeat(starts - ends + counts, counts)
    # Flat positions instead of (row, code) pairs: one index array, no multi-index bookkeeping.
    flat = np.repeat(rows * target.shape[1], counts) + table_code[entries]
    target.reshape(-1)[flat] = table_lp[entries]


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
