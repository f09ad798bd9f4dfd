"""NB-weighted logistic regression (NBSVM, Wang & Manning 2012), trained from scratch with NumPy.

Why: SnowNLP's naive Bayes over words tops out at about 0.82 accuracy and
0.89 ROC AUC on weibo2018 whatever is done to its features (docs/benchmarks.md).
NBSVM keeps naive Bayes' strength on short texts (its per-feature log-count
ratio ``r``) but learns the weights discriminatively, and character n-grams
catch what SnowNLP's segmenter splits badly in Weibo slang.

The model, for a document whose set of distinct features is ``F``::

    x_j = r_j for j in F (binarised NB-scaled features), x = x / |x|_2
    negativity logit z = w . x + b,   positive probability = 1 / (1 + exp(z))

Features: the segmenter's words (stopwords kept), ``[emoticon]`` tokens, and
character 1-3-grams of the scored text (whitespace collapsed; prefixed with
``\\x00`` so a character never collides with a one-character word).

Training is deterministic: binarised counts, ``r`` with add-``alpha``
smoothing, then L2-regularised logistic loss minimised by full-batch
Nesterov-accelerated gradient descent for a fixed number of steps (rows have
unit norm, so a fixed step of ``1 / L`` with ``L = 0.25 * 2 + lam`` is safe:
no line search and no random order). The hyper-parameters were chosen by
5-fold cross-validation on weibo2018's 90 % training part
(docs/benchmarks.md).

The file is a gzip'd marshal dict ``{"nblr": {...}, "koubei": metadata}``,
marshal format 2 (see ``save``; SnowNLP cannot read it; the naive-Bayes files stay in SnowNLP's format).
"""

from __future__ import annotations

import gzip
import marshal
import math
import re
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

CLASSIFIER = "nblr"
CHAR_NGRAMS = (1, 2, 3)
_CHAR_PREFIX = "\x00"
_SPACES = re.compile(r"\s+")
_PRUNE_FROM_DOCS = 1_000


class LinearModelError(ValueError):
    """A linear model file has the wrong content."""


def document_features(words: Sequence[str], text: str, char_ngrams: Sequence[int] = CHAR_NGRAMS) -> list[str]:
    """Distinct features of one document, in first-seen order (binarised: each counts once)."""
    features = dict.fromkeys(words)
    collapsed = _SPACES.sub(" ", text).strip()
    for n in char_ngrams:
        for i in range(len(collapsed) - n + 1):
            features[_CHAR_PREFIX + collapsed[i : i + n]] = None
    return list(features)


class _Rows:
    """A binary-pattern sparse matrix (CSR) with per-entry values; only what training needs.

    ``X @ v`` and ``X.T @ g`` are ``np.add.reduceat`` over row-sorted and
    column-sorted copies of the entries: much faster than per-row Python and
    without scipy (not a dependency).
    """

    def __init__(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_rows: int, n_cols: int) -> None:
        self.n_rows, self.n_cols = n_rows, n_cols
        by_row = np.lexsort((cols, rows))
        self._r_rows, self._r_cols, self._r_values = rows[by_row], cols[by_row], values[by_row]
        by_col = np.lexsort((rows, cols))
        self._c_rows, self._c_cols, self._c_values = rows[by_col], cols[by_col], values[by_col]
        self._row_starts, self._row_nonempty = _segments(self._r_rows, n_rows)
        self._col_starts, self._col_nonempty = _segments(self._c_cols, n_cols)

    def dot(self, v: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n_rows)
        if self._r_values.size:
            sums = np.add.reduceat(self._r_values * v[self._r_cols], self._row_starts)
            out[self._row_nonempty] = sums
        return out

    def tdot(self, g: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n_cols)
        if self._c_values.size:
            sums = np.add.reduceat(self._c_values * g[self._c_rows], self._col_starts)
            out[self._col_nonempty] = sums
        return out


def _segments(sorted_keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets of each non-empty key's run in ``sorted_keys`` and which keys they are."""
    counts = np.bincount(sorted_keys, minlength=size)
    nonempty = np.nonzero(counts)[0]
    starts = (np.cumsum(counts) - counts)[nonempty]
    return starts, nonempty


def _logistic_regression(
    x: _Rows, y: np.ndarray, lam: float, steps: int, progress: Callable[[int, int], None] | None = None
) -> tuple[np.ndarray, float]:
    """Minimise mean log-loss + lam/2 |w|^2 (intercept not penalised); rows must have norm <= 1."""
    n = x.n_rows
    w = np.zeros(x.n_cols)
    b = 0.0
    look_w, look_b = w.copy(), b
    # Gradient Lipschitz constant: 0.25 * max |row|^2 with the intercept's 1 added, plus lam.
    step = 1.0 / (0.25 * 2.0 + lam)
    t = 1.0
    for done in range(steps):
        if progress is not None and done % 25 == 0:
            progress(done, steps)
        z = x.dot(look_w) + look_b
        residual = (1.0 / (1.0 + np.exp(-z)) - y) / n
        new_w = look_w - step * (x.tdot(residual) + lam * look_w)
        new_b = look_b - step * float(residual.sum())
        t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        momentum = (t - 1.0) / t_next
        look_w = new_w + momentum * (new_w - w)
        look_b = new_b + momentum * (new_b - b)
        w, b, t = new_w, new_b, t_next
    if progress is not None:
        progress(steps, steps)
    return w, b


class _Vocabulary:
    """Feature -> column, without a Python string per feature.

    The shipped model has ~160,000 features. As a dict of strings they took
    ~24 MB of a worker's memory (the strings 15 MB, the dict and its ints
    8 MB; tracemalloc, issue 16), a tenth of its budget. Here each feature is
    a 64-bit key in an open-addressing table held in two NumPy arrays (~3 MB,
    load factor at most ``_LOAD``), and the features themselves one marshal
    blob for ``save``. A batch's features are looked up together, one
    vectorised probe round at a time: as fast as the dict was.

    The key is the feature's ``hash`` with its length mixed in: ``str``
    hashes the string's bytes, so a one-character CJK feature and a
    two-character ASCII token with the same two bytes ("朱" and "1g") hash
    alike. Two different strings then share a key with odds of about 1 in
    2**64 per lookup: at 10**12 lookups a year (30,000 posts a second, 1,000
    features each), one wrong feature every ~20 years. Features that collide
    among themselves (or a repeated feature, or a key of 0, the empty slot)
    are not guessed between: the vocabulary then keeps the plain dict.
    ``hash`` is per interpreter (``PYTHONHASHSEED``), so the table is never
    pickled, only rebuilt.
    """

    def __init__(self, features: Sequence[str]) -> None:
        self._blob = marshal.dumps(list(features))
        self._build(features)

    def _build(self, features: Sequence[str]) -> None:
        self.size = len(features)
        keys = _feature_keys(features)
        self._dict: dict[str, int] | None = None
        if len(np.unique(keys)) != self.size or bool((keys == 0).any()):
            self._dict = {feature: i for i, feature in enumerate(features)}
            return
        self._bits = max(4, math.ceil(math.log2(max(1, self.size) / _LOAD)))
        size = 1 << self._bits
        self._keys = np.zeros(size, dtype=np.int64)  # 0: an empty slot
        self._columns = np.full(size, -1, dtype=np.int32)
        start = self._slots(keys)
        pending = np.arange(self.size)
        probe = 0
        while len(pending):
            slots = (start[pending] + probe) & (size - 1)
            free = self._keys[slots] == 0
            # Of the features wanting the same free slot this round, the first takes it.
            taken, first = np.unique(slots[free], return_index=True)
            winners = pending[free][first]
            self._keys[taken] = keys[winners]
            self._columns[taken] = winners
            placed = np.zeros(len(pending), dtype=bool)
            placed[np.flatnonzero(free)[first]] = True
            pending = pending[~placed]
            probe += 1

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        """Home slot of each key: its top bits after a multiplicative scramble."""
        return ((keys.view(np.uint64) * _SCRAMBLE) >> np.uint64(64 - self._bits)).astype(np.int64)

    def features(self) -> list[str]:
        return marshal.loads(self._blob)  # type: ignore[no-any-return]

    def __getstate__(self) -> dict[str, Any]:
        return {"blob": self._blob}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._blob = state["blob"]
        self._build(marshal.loads(self._blob))

    def __contains__(self, feature: str) -> bool:
        known, _ = self.lookup([feature])
        return bool(known[0])

    def lookup(self, features: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Which ``features`` are known (a mask) and, in their order, the columns of those."""
        if self._dict is not None:
            found = [self._dict.get(f) for f in features]
            known = np.fromiter((i is not None for i in found), dtype=bool, count=len(found))
            return known, np.array([i for i in found if i is not None], dtype=np.int64)
        keys = _feature_keys(features)
        columns = np.full(len(keys), -1, dtype=np.int64)
        start = self._slots(keys)
        pending = np.arange(len(keys))
        mask = len(self._keys) - 1
        probe = 0
        while len(pending):
            slots = (start[pending] + probe) & mask
            stored = self._keys[slots]
            hit = stored == keys[pending]
            columns[pending[hit]] = self._columns[slots[hit]]  # -1 where a key of 0 met an empty slot
            pending = pending[~hit & (stored != 0)]  # an empty slot ends a search: not known
            probe += 1
        known = columns >= 0
        return known, columns[known]


_LOAD = 0.7  # most features per slot of the vocabulary's table
_SCRAMBLE = np.uint64(0x9E3779B97F4A7C15)  # odd: a multiplication that spreads keys over the top bits
_LENGTH_MIX = np.uint64(0xC2B2AE3D27D4EB4F)  # odd: lengths spread over every bit


def _feature_keys(features: Sequence[str]) -> np.ndarray:
    """Each feature's ``hash`` with its length mixed in (``_Vocabulary`` says why), as int64."""
    n = len(features)
    hashes = np.fromiter(map(hash, features), dtype=np.int64, count=n).view(np.uint64)
    lengths = np.fromiter(map(len, features), dtype=np.uint64, count=n)
    return (hashes ^ (lengths * _LENGTH_MIX)).view(np.int64)


class LinearModel:
    """Scores documents with stored per-feature ``r * w`` and ``r ** 2`` (see the module docstring)."""

    def __init__(
        self, features: Sequence[str], rw: np.ndarray, r2: np.ndarray, bias: float, metadata: dict[str, Any] | None = None
    ) -> None:
        if not (len(features) == len(rw) == len(r2)):
            raise LinearModelError("features, rw and r2 must have the same length")
        self._vocabulary = _Vocabulary(features)
        self._rw = np.asarray(rw, dtype=np.float64)
        self._r2 = np.asarray(r2, dtype=np.float64)
        self.bias = float(bias)
        self.metadata = dict(metadata or {})
        self.metadata["classifier"] = CLASSIFIER
        self._char_ngrams = tuple(int(n) for n in self.metadata.get("char_ngrams", CHAR_NGRAMS))

    @classmethod
    def train(
        cls,
        documents: Sequence[tuple[Sequence[str], bool]],
        metadata: dict[str, Any] | None = None,
        alpha: float = 1.0,
        lam: float = 3e-5,
        steps: int = 300,
        min_df: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> LinearModel:
        """``documents``: (distinct features, is negative). Deterministic for the same input.

        ``min_df`` (default: 2 from ``_PRUNE_FROM_DOCS`` documents on, else 1): features seen in fewer
        documents are dropped. On weibo2018 it shrinks the model about 3x at no cost in CV accuracy;
        on a small corpus a feature seen once is a large part of what it says, so nothing is dropped.
        """
        if min_df is None:
            min_df = 2 if len(documents) >= _PRUNE_FROM_DOCS else 1
        labels = np.fromiter((neg for _, neg in documents), dtype=bool, count=len(documents))
        if labels.all() or not labels.any():
            raise ValueError("training needs documents of both labels")
        df: dict[str, int] = {}
        for features, _ in documents:
            for f in features:
                df[f] = df.get(f, 0) + 1
        # Sorted so that the same documents give the same file byte for byte.
        vocabulary = sorted(f for f, count in df.items() if count >= min_df)
        index = {f: i for i, f in enumerate(vocabulary)}
        # Compact int64 arrays rather than lists: weibo2018 has ~4 million (post, feature) pairs.
        rows = array("q")
        cols = array("q")
        for row, (features, _) in enumerate(documents):
            present = [col for col in map(index.get, features) if col is not None]
            cols.extend(present)
            rows.extend([row] * len(present))
        row_ids = np.frombuffer(rows, dtype=np.int64) if rows else np.zeros(0, dtype=np.int64)
        col_ids = np.frombuffer(cols, dtype=np.int64) if cols else np.zeros(0, dtype=np.int64)
        d = len(vocabulary)
        # Naive Bayes log-count ratio on binarised counts (negative over positive).
        neg_counts = np.bincount(col_ids[labels[row_ids]], minlength=d) + alpha
        pos_counts = np.bincount(col_ids[~labels[row_ids]], minlength=d) + alpha
        r = np.log(neg_counts / neg_counts.sum()) - np.log(pos_counts / pos_counts.sum())
        values = r[col_ids]
        norms = np.sqrt(np.bincount(row_ids, weights=values * values, minlength=len(documents)))
        norms[norms == 0] = 1.0
        x = _Rows(row_ids, col_ids, values / norms[row_ids], len(documents), d)
        w, b = _logistic_regression(x, labels.astype(np.float64), lam, steps, progress)
        meta = dict(metadata or {})
        meta.update(alpha=alpha, lam=lam, steps=steps, min_df=min_df, char_ngrams=list(CHAR_NGRAMS))
        return cls(vocabulary, r * w, r * r, b, meta)

    @classmethod
    def from_raw(cls, raw: dict[str, Any], source: Path) -> LinearModel:
        try:
            body = raw[CLASSIFIER]
            features = list(body["features"])
            rw = np.frombuffer(body["rw"], dtype="<f8")
            r2 = np.frombuffer(body["r2"], dtype="<f8")
            return cls(features, rw, r2, float(body["bias"]), raw.get("koubei"))
        except (KeyError, TypeError, ValueError) as exc:
            raise LinearModelError(f"{source} is not a koubei {CLASSIFIER} model: {exc!r}") from exc

    def save(self, path: Path) -> None:
        data = {
            CLASSIFIER: {
                "features": self._vocabulary.features(),
                "rw": self._rw.astype("<f8").tobytes(),
                "r2": self._r2.astype("<f8").tobytes(),
                "bias": self.bias,
            },
            "koubei": self.metadata,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        # The same model gives the same bytes: no file name or time in the gzip header, and
        # marshal format 2, which has no back-references (format 3 marks an object for
        # reuse when its reference count is above one, so the bytes would depend on who
        # else still holds, say, the metadata dict's strings).
        path.write_bytes(gzip.compress(marshal.dumps(data, 2), mtime=0))

    def knows(self, word: str) -> bool:
        return word in self._vocabulary

    def features(self, words: Sequence[str], text: str) -> list[str]:
        return document_features(words, text, self._char_ngrams)

    def negative_logits(self, documents: Sequence[tuple[Sequence[str], str]]) -> np.ndarray:
        """Negativity log-odds of each (words, text); unknown features are ignored, no feature gives the bias."""
        features: list[str] = []
        lengths: list[int] = []
        for words, text in documents:
            found = self.features(words, text)
            features.extend(found)
            lengths.append(len(found))
        known, idx = self._vocabulary.lookup(features)
        out = np.full(len(documents), self.bias)
        if not len(idx):
            return out
        # Known features per document, in the order they came: the same sums, bit for bit, as a dict lookup.
        counts = np.bincount(np.repeat(np.arange(len(documents)), lengths)[known], minlength=len(documents))
        nonempty = np.nonzero(counts)[0]
        starts = (np.cumsum(counts) - counts)[nonempty]
        dot = np.add.reduceat(self._rw[idx], starts)
        norm = np.sqrt(np.add.reduceat(self._r2[idx], starts))
        # A feature whose r is exactly 0 leaves the norm 0; then only the bias speaks.
        safe = np.where(norm > 0, norm, 1.0)
        out[nonempty] += np.where(norm > 0, dot / safe, 0.0)
        return out

    def positive_probabilities(self, documents: Sequence[tuple[Sequence[str], str]]) -> list[float]:
        z = np.clip(self.negative_logits(documents), -700.0, 700.0)
        return (1.0 / (1.0 + np.exp(z))).tolist()

    def positive_probability(self, words: Sequence[str], text: str = "") -> float:
        return self.positive_probabilities([(words, text)])[0]
