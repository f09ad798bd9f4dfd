"""Training SnowNLP's naive Bayes with the fast segmenter.

The words are produced the way the scorer will produce them at scoring time
(the options are stored in the model file), so a model is always scored with
the preprocessing it was trained with.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from streams.sentiment._bayes import NaiveBayes
from streams.sentiment._scorer import MAX_TEXT_CHARS, SentimentScorer
from streams.sentiment.preprocess import prepare


def read_lines(path: Path) -> list[str]:
    """One document per non-empty line, as SnowNLP's ``sentiment.train`` reads them."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        return [line.strip() for line in handle if line.strip()]


def train_model(
    positive: Sequence[str],
    negative: Sequence[str],
    weibo_preprocessing: bool = True,
    filter_stopwords: bool = False,
    emoticon_tokens: bool = True,
) -> NaiveBayes:
    """Train on two lists of texts.

    ``filter_stopwords=False`` keeps 不/没有/有 and friends, which SnowNLP drops
    but which carry most of the negation in short posts.
    ``emoticon_tokens`` adds ``[name]`` words for each emoticon so the model
    learns their polarity from the data (only with preprocessing).
    """
    if not positive or not negative:
        raise ValueError("training needs at least one positive and one negative text")
    metadata = {
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
    for texts, label in ((negative, "neg"), (positive, "pos")):
        clipped = [t[:MAX_TEXT_CHARS] for t in texts]
        if weibo_preprocessing:
            prepared = [prepare(t) for t in clipped]
            words = words_of.words([p.scored_text for p in prepared])
            if metadata["emoticon_tokens"]:
                words = [ws + [f"[{e}]" for e in p.scored_emoticons] for ws, p in zip(words, prepared, strict=True)]
        else:
            words = words_of.words(clipped)
        documents.extend((ws, label) for ws in words)
    return NaiveBayes.train(documents, metadata)
