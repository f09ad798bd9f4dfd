"""Labeled data readers, the hold-out split and the evaluation metrics."""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from streams.corpus import NEUTRAL, POSITIVE, TEXT_FORMATS, TextCorpusError, open_text, read_labelled_texts
from streams.readers.text import clip
from streams.sentiment._scorer import SentimentScorer
from streams.sentiment.preprocess import strip_emoticons

# Every format of streams/corpus.py is read (TEXT_FORMATS). These two strictly (a bad row is
# an error naming its line); the others as the corpus reader reads them (a row
# without a usable label is skipped and counted, neutral texts are left out:
# the model is positive/negative).
STRICT_FORMATS = ("weibo2018", "label_review_csv")
HOLDOUT_SEED = 20180421
HOLDOUT_FRACTION = 0.1
# Models built without weibo2018 (the shipped default, emoticon-labelled ones) choose
# their settings on one half of it and are reported on the other (tune_report_split).
TUNE_REPORT_SEED = 14


class DatasetError(ValueError):
    """A labeled data file does not have the expected format."""


@dataclass(frozen=True)
class Example:
    text: str
    positive: bool


def read_dataset(path: Path, fmt: str, strip_emoticon_tokens: bool = False,
                 report: Callable[[str], None] | None = None) -> list[Example]:
    """``weibo2018``: ``mid,label,text`` lines (1 = positive); ``label_review_csv``: CSV ``label,review`` with a
    header; any other format of streams/corpus.py (``auto``, ``csv``, ``tsv``, ``jsonl``, ``json``, the
    online_shopping zip) as the corpus reader reads it, its skipped rows and left-out neutral texts told to
    ``report``."""
    if fmt not in TEXT_FORMATS:
        raise DatasetError(f"unknown format {fmt!r}; expected one of {', '.join(TEXT_FORMATS)}")
    if fmt not in STRICT_FORMATS:
        return _read_corpus(path, fmt, strip_emoticon_tokens, report)
    try:
        examples = _read_strict(path, fmt)
    except csv.Error as exc:
        raise DatasetError(f"{path}: not a 'label,review' CSV: {exc}") from None
    if strip_emoticon_tokens:
        examples = [Example(strip_emoticons(e.text), e.positive) for e in examples]
    return examples


def _read_strict(path: Path, fmt: str) -> list[Example]:
    examples: list[Example] = []
    with open_text(Path(path), newline="") as handle:
        if fmt == "weibo2018":
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                parts = line.rstrip("\r\n").split(",", 2)
                if len(parts) != 3 or parts[1] not in ("0", "1"):
                    raise DatasetError(f"{path}:{number}: expected 'mid,label,text' with label 0 or 1")
                examples.append(Example(parts[2], parts[1] == "1"))
        else:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or [h.strip() for h in header[:2]] != ["label", "review"]:
                raise DatasetError(f"{path}: expected a CSV header 'label,review', got {clip(repr(header))}")
            for number, row in enumerate(reader, 2):
                if not row:
                    continue
                if len(row) < 2 or row[0].strip() not in ("0", "1"):
                    raise DatasetError(f"{path}:{number}: expected 'label,review' with label 0 or 1")
                examples.append(Example(",".join(row[1:]), row[0].strip() == "1"))
    return examples


def _read_corpus(path: Path, fmt: str, strip: bool, report: Callable[[str], None] | None) -> list[Example]:
    try:
        texts = read_labelled_texts(path, fmt, strip_emoticons=strip, max_chars=None, keep_order=True)
    except TextCorpusError as exc:
        raise DatasetError(str(exc)) from None
    if not texts.positive or not texts.negative:
        raise DatasetError(f"{path}: needs positive and negative texts, found {len(texts.positive):,} positive and "
                           f"{len(texts.negative):,} negative")
    if report is not None and (texts.skipped or texts.neutral):
        unknown = texts.unknown_label_names()
        report(f"{path}: {texts.skipped:,} rows skipped" + (f" (labels not known: {unknown})" if unknown else "")
               + f", {len(texts.neutral):,} neutral texts left out (the model is positive/negative)")
    return [Example(text, name == POSITIVE) for name, text in texts.in_order if name != NEUTRAL]


def holdout_split(
    examples: Sequence[Example], fraction: float = HOLDOUT_FRACTION, seed: int = HOLDOUT_SEED
) -> tuple[list[Example], list[Example]]:
    """A fixed, seeded (train, held-out) split."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    cut = int(round(len(examples) * fraction))
    held = set(order[:cut])
    train = [e for i, e in enumerate(examples) if i not in held]
    test = [e for i, e in enumerate(examples) if i in held]
    return train, test


def tune_report_split(examples: Sequence[Example], seed: int = TUNE_REPORT_SEED) -> tuple[list[Example], list[Example]]:
    """A fixed, seeded split into two halves: (tune, report)."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    return [examples[i] for i in order[:half]], [examples[i] for i in order[half:]]


@dataclass(frozen=True)
class EvalReport:
    posts: int
    accuracy: float
    negative_precision: float
    negative_recall: float
    negative_f1: float
    roc_auc: float
    posts_per_second: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def roc_auc(scores: Sequence[float], is_positive_class: Sequence[bool]) -> float:
    """Probability that a random member of the class outranks a random non-member (ties count half)."""
    values = np.asarray(scores, dtype=float)
    labels = np.asarray(is_positive_class, dtype=bool)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values))
    # Average ranks over ties.
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def metrics(negative_scores: Sequence[float], examples: Sequence[Example], threshold: float = 0.5, seconds: float = 0.0) -> EvalReport:
    is_negative = [not e.positive for e in examples]
    predicted = [score >= threshold for score in negative_scores]
    tp = sum(1 for p, a in zip(predicted, is_negative, strict=True) if p and a)
    fp = sum(1 for p, a in zip(predicted, is_negative, strict=True) if p and not a)
    fn = sum(1 for p, a in zip(predicted, is_negative, strict=True) if not p and a)
    correct = sum(1 for p, a in zip(predicted, is_negative, strict=True) if p == a)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n = len(examples)
    return EvalReport(
        posts=n,
        accuracy=correct / n if n else 0.0,
        negative_precision=precision,
        negative_recall=recall,
        negative_f1=f1,
        roc_auc=roc_auc(negative_scores, is_negative),
        posts_per_second=n / seconds if seconds > 0 else float("nan"),
    )


# Posts scored per progress report.
_EVAL_CHUNK = 2_000


def evaluate(
    scorer: SentimentScorer,
    examples: Sequence[Example],
    threshold: float = 0.5,
    progress: Callable[[str, int, int], None] | None = None,
    mask: Callable[[str], str] | None = None,
) -> EvalReport:
    """Score ``examples`` (through ``mask`` first, as the pipeline masks brand names) and compare."""
    started = time.perf_counter()
    negative: list[float] = []
    for begin in range(0, len(examples), _EVAL_CHUNK):
        texts = [e.text for e in examples[begin : begin + _EVAL_CHUNK]]
        if mask is not None:
            texts = [mask(t) for t in texts]
        negative.extend(r.negative for r in scorer.score_many(texts))
        if progress is not None:
            progress("score", len(negative), len(examples))
    seconds = time.perf_counter() - started
    return metrics(negative, examples, threshold, seconds)
