"""PLACEHOLDER interface (the sentiment work replaces the implementation, keeps the API).

    scorer = load_scorer(model="stock", lexicon=True, weibo_preprocessing=True)
    result = scorer.score(text)   # ScoreResult
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ScoreResult:
    negative: float  # final probability that the post is negative
    sentiment: float  # the model's raw positive probability
    risk_terms: list[str] = field(default_factory=list)


class _SnowNLPScorer:
    def score(self, text: str) -> ScoreResult:
        from snownlp import SnowNLP

        if not text.strip():
            return ScoreResult(0.5, 0.5, [])
        s = float(SnowNLP(text).sentiments)
        return ScoreResult(1.0 - s, s, [])

    def score_many(self, texts: list[str]) -> list[ScoreResult]:
        return [self.score(t) for t in texts]


def load_scorer(model: str = "stock", lexicon: bool = True, weibo_preprocessing: bool = True) -> _SnowNLPScorer:
    return _SnowNLPScorer()
