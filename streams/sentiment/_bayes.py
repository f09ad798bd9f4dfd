"""SnowNLP's naive Bayes sentiment classifier: same numbers, same file format.

A model file is SnowNLP's own format (gzip'd marshal of
``{"total": float, "d": {label: {"d": {word: count}, "total": float, "none": 1}}}``)
so ``snownlp.sentiment.load`` can read models trained here and vice versa.
Koubei adds a ``"koubei"`` key with training metadata, which SnowNLP ignores.
"""

from __future__ import annotations

import gzip
import marshal
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.sentiment._snowdata import read_marshal_gz


class ModelFileError(ValueError):
    """A sentiment model file cannot be read."""


@dataclass
class _AddOneCounts:
    """SnowNLP's AddOneProb: every seen word starts at 1, unseen words count ``none`` (1)."""

    counts: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    none: float = 1

    def add(self, word: str, value: int = 1) -> None:
        self.total += value
        if word not in self.counts:
            self.counts[word] = 1
            self.total += 1
        self.counts[word] += value


class NaiveBayes:
    """Binary (or n-ary) classifier with SnowNLP's arithmetic, log-frequencies precomputed."""

    def __init__(self, classes: dict[str, _AddOneCounts], total: float, metadata: dict[str, Any] | None = None) -> None:
        self._classes = classes
        self.total = total
        self.metadata = dict(metadata or {})
        self._labels = list(classes)
        # log(P(word | label)) exactly as SnowNLP computes it: log(float(count) / class_total).
        self._log_freq = {
            label: {word: math.log(float(count) / c.total) for word, count in c.counts.items()}
            for label, c in classes.items()
        }
        self._log_unseen = {label: math.log(float(c.none) / c.total) for label, c in classes.items()}
        self._log_prior = {label: math.log(c.total) - math.log(total) for label, c in classes.items()}

    @classmethod
    def train(cls, documents: Iterable[tuple[Sequence[str], str]], metadata: dict[str, Any] | None = None) -> NaiveBayes:
        classes: dict[str, _AddOneCounts] = {}
        for words, label in documents:
            counts = classes.setdefault(label, _AddOneCounts())
            for word in words:
                counts.add(word, 1)
        if len(classes) < 2:
            raise ValueError(f"training needs documents of at least two labels, got {sorted(classes)}")
        total = sum(c.total for c in classes.values())
        return cls(classes, total, metadata)

    @classmethod
    def load(cls, path: Path) -> NaiveBayes:
        """Read a SnowNLP-format model (``path`` with or without SnowNLP's ``.3`` suffix)."""
        # SnowNLP itself reads ``<name>.3`` under Python 3, so that one wins when both exist.
        candidates = [Path(str(path) + ".3"), path]
        existing = next((p for p in candidates if p.is_file()), None)
        if existing is None:
            raise ModelFileError(f"sentiment model not found: {path}")
        try:
            raw = read_marshal_gz(existing)
        except (EOFError, ValueError, TypeError) as exc:
            raise ModelFileError(f"{existing} is not a SnowNLP sentiment model: {exc!r}") from exc
        return cls.from_raw(raw, existing)

    @classmethod
    def from_raw(cls, raw: Any, source: Path) -> NaiveBayes:
        """A model from the decoded contents of ``source`` (read once by the caller)."""
        try:
            classes = {
                label: _AddOneCounts(dict(v["d"]), float(v["total"]), v.get("none", 1)) for label, v in raw["d"].items()
            }
            total = float(raw["total"])
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ModelFileError(f"{source} is not a SnowNLP sentiment model: {exc!r}") from exc
        if "pos" not in classes or "neg" not in classes:
            raise ModelFileError(f"{source} must have the labels 'pos' and 'neg', has {sorted(classes)}")
        return cls(classes, total, raw.get("koubei"))

    def save(self, path: Path) -> None:
        data = {
            "total": self.total,
            "d": {label: {"d": c.counts, "total": c.total, "none": c.none} for label, c in self._classes.items()},
            "koubei": self.metadata,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wb") as handle:
            handle.write(marshal.dumps(data))

    def knows(self, word: str) -> bool:
        return any(word in freq for freq in self._log_freq.values())

    @property
    def labels(self) -> list[str]:
        return list(self._labels)

    def positive_probability(self, words: Sequence[str]) -> float:
        """``snownlp.sentiment.Sentiment.classify`` given the already-filtered words."""
        scores: dict[str, float] = {}
        for label in self._labels:
            score = self._log_prior[label]
            log_freq = self._log_freq[label]
            unseen = self._log_unseen[label]
            for word in words:
                score += log_freq.get(word, unseen)
            scores[label] = score
        best_label, best_prob = "", 0.0
        for label in self._labels:
            try:
                inverse = 0.0
                for other in self._labels:
                    inverse += math.exp(scores[other] - scores[label])
                prob = 1 / inverse
            except OverflowError:
                prob = 0.0
            if prob > best_prob:
                best_label, best_prob = label, prob
        return best_prob if best_label == "pos" else 1 - best_prob
