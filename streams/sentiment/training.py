"""Training: NB-weighted logistic regression (default) or SnowNLP's naive Bayes, with the fast segmenter.

The words are produced the way the scorer will produce them at scoring time
(the options are stored in the model file), so a model is always scored with
the preprocessing it was trained with.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path

from streams.corpus import open_text
from streams.sentiment._bayes import NaiveBayes
from streams.sentiment._linear import LinearModel, document_features
from streams.sentiment._scorer import MAX_TEXT_CHARS, SentimentModel, SentimentScorer
from streams.sentiment.preprocess import prepare

# "nblr" (NB-weighted logistic regression on words + character n-grams) is the default:
# 0.86 vs 0.82 cross-validated accuracy on weibo2018 (docs/benchmarks.md).
CLASSIFIERS = ("nblr", "nb")
DEFAULT_CLASSIFIER = "nblr"
# Texts segmented per step of the progress report.
_PROGRESS_CHUNK = 2_000

# (stage, done, total): "words" counts texts, "fit" counts optimisation steps.
Progress = Callable[[str, int, int], None]


def read_lines(path: Path) -> list[str]:
    """One document per non-empty line, as SnowNLP's ``sentiment.train`` reads them (UTF-8 or GBK: ``open_text``)."""
    with open_text(Path(path)) as handle:
        return [line.strip() for line in handle if line.strip()]


def train_model(
    positive: Sequence[str],
    negative: Sequence[str],
    weibo_preprocessing: bool = True,
    filter_stopwords: bool = True,
    emoticon_tokens: bool = True,
    calibrate: bool = True,
    classifier: str = DEFAULT_CLASSIFIER,
    min_df: int | None = None,
    lam: float | None = None,
    metadata: dict[str, object] | None = None,
    progress: Progress | None = None,
) -> SentimentModel:
    """Train on two lists of texts.

    ``classifier``: "nblr" (``_linear.LinearModel``; ``filter_stopwords`` and
    ``calibrate`` do not apply: it keeps every word, and logistic regression's
    intercept already puts the 0.5 cut where the classes split) or "nb"
    (SnowNLP's naive Bayes, SnowNLP's file format).
    ``filter_stopwords`` (nb) drops SnowNLP's stopwords as SnowNLP's own training
    does (on weibo2018 keeping them was measured slightly worse: 0.793 vs
    0.796 held-out accuracy).
    ``emoticon_tokens`` adds ``[name]`` words for each emoticon so the model
    learns their polarity from the data (only with preprocessing).
    ``calibrate`` learns a decision offset by cross-validation (see
    ``decision_offset``) and stores it in the model.
    ``min_df`` (nblr): drop features seen in fewer documents (default: see ``LinearModel.train``).
    ``lam`` (nblr): L2 regularisation (default: ``LinearModel.train``'s, chosen in-domain on weibo2018).
    ``metadata``: extra entries stored in the model file (provenance).
    ``progress`` is called as texts are segmented and as the optimiser steps.
    """
    if not positive or not negative:
        raise ValueError("training needs at least one positive and one negative text")
    if classifier not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {classifier!r}; expected one of {', '.join(CLASSIFIERS)}")
    linear = classifier == "nblr"
    if linear:
        filter_stopwords, calibrate = False, False
    metadata = {
        **(metadata or {}),
        "filter_stopwords": filter_stopwords,
        "emoticon_tokens": emoticon_tokens and weibo_preprocessing,
        "weibo_preprocessing": weibo_preprocessing,
        "positive_docs": len(positive),
        "negative_docs": len(negative),
    }
    # A scorer around an empty model only to reuse its exact word pipeline.
    words_of = SentimentScorer(
        NaiveBayes.train([(["_"], "pos"), (["_"], "neg")], metadata), lexicon=False, weibo_preprocessing=weibo_preprocessing
    )
    documents: list[tuple[list[str], str]] = []
    scored_texts: list[str] = []
    total = len(negative) + len(positive)
    for texts, label in ((negative, "neg"), (positive, "pos")):
        for begin in range(0, len(texts), _PROGRESS_CHUNK):
            clipped = [t[:MAX_TEXT_CHARS] for t in texts[begin : begin + _PROGRESS_CHUNK]]
            if weibo_preprocessing:
                prepared = [prepare(t) for t in clipped]
                scored = [p.scored_text for p in prepared]
                words = words_of.words(scored)
                if metadata["emoticon_tokens"]:
                    words = [ws + [f"[{e}]" for e in p.scored_emoticons] for ws, p in zip(words, prepared, strict=True)]
            else:
                scored = clipped
                words = words_of.words(clipped)
            documents.extend((ws, label) for ws in words)
            scored_texts.extend(scored)
            if progress is not None:
                progress("words", len(documents), total)
    if linear:
        features = [
            (document_features(ws, text), label == "neg") for (ws, label), text in zip(documents, scored_texts, strict=True)
        ]
        step_progress = None if progress is None else (lambda done, steps: progress("fit", done, steps))
        options = {} if lam is None else {"lam": lam}
        return LinearModel.train(features, metadata, min_df=min_df, progress=step_progress, **options)
    if calibrate:
        metadata["negative_logit_offset"] = decision_offset(documents)
    return NaiveBayes.train(documents, metadata)


def decision_offset(documents: Sequence[tuple[list[str], str]], folds: int = 5, seed: int = 7) -> float:
    """Log-odds to add to the model's negativity so that 0.5 is the most accurate cut.

    SnowNLP's Bayes takes its class prior from word totals, and long documents
    dominate them, so its 0.5 point is biased towards the class with longer
    texts. Each fold is scored by a model trained on the others; the offset
    that classifies those out-of-fold scores best is returned (the middle of
    the best interval, 0 if fewer than two documents per fold).
    """
    if len(documents) < 2 * folds:
        return 0.0
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    margins: list[tuple[float, bool]] = []  # (negativity log-odds, is negative)
    for fold in range(folds):
        held = set(order[fold::folds])
        model = NaiveBayes.train(documents[i] for i in range(len(documents)) if i not in held)
        for i in held:
            words, label = documents[i]
            p_negative = min(1 - 1e-9, max(1e-9, 1 - model.positive_probability(words)))
            margins.append((math.log(p_negative / (1 - p_negative)), label == "neg"))
    # Predict negative when margin + offset >= 0; scan the cut over the sorted margins.
    margins.sort()
    correct = sum(1 for _, is_negative in margins if is_negative)  # cut below everything: all negative
    best_correct, best_offset = correct, -(margins[0][0] - 1.0)
    for index, (margin, is_negative) in enumerate(margins):
        correct += -1 if is_negative else 1  # this document is now predicted non-negative
        upper = margins[index + 1][0] if index + 1 < len(margins) else margin + 2.0
        if correct > best_correct and upper > margin:
            best_correct, best_offset = correct, -(margin + upper) / 2
    return best_offset
