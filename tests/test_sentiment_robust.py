"""Degenerate input always gets a defined score, never an exception."""

from __future__ import annotations

import math

import pytest

from streams.sentiment import MAX_TEXT_CHARS, load_scorer

STOCK_PRIOR = 0.5262327818078083  # SnowNLP's model with no words: SnowNLP(" ").sentiments

DEGENERATE = {
    "empty": "",
    "whitespace": " \t\n\u3000 ",
    "emoji": "😀😡🔥",
    "emoticons only": "[怒][怒][哈哈]",
    "very long": "质量太差了，" * 2500,
    "very long single run": "差" * 12000,
    "non-Chinese": "This product is terrible!!!",
    "mixed script": "iPhone15真的很好用，5G网速 super fast 👍",
    "lone surrogate": "好\ud800评\udfff",
    "control characters": "\x00\x01好\x7f",
    "only markup": "{%%} ## //@: 回复@x: http://t.cn/abc",
}


@pytest.mark.parametrize("lexicon", [True, False])
@pytest.mark.parametrize("preprocessing", [True, False])
@pytest.mark.parametrize("name", sorted(DEGENERATE))
def test_degenerate_text_gets_a_probability(name: str, lexicon: bool, preprocessing: bool) -> None:
    scorer = load_scorer(model="stock", lexicon=lexicon, weibo_preprocessing=preprocessing)
    result = scorer.score(DEGENERATE[name])
    assert 0.0 <= result.negative <= 1.0 and not math.isnan(result.negative)
    assert 0.0 <= result.sentiment <= 1.0 and not math.isnan(result.sentiment)


@pytest.mark.parametrize("text", ["", "   ", "\u3000", "😀😀"])
def test_text_without_words_scores_the_model_prior(text: str) -> None:
    result = load_scorer(model="stock", lexicon=True, weibo_preprocessing=True).score(text)
    assert result.sentiment == pytest.approx(STOCK_PRIOR, abs=1e-12)
    assert result.negative == pytest.approx(1 - STOCK_PRIOR, abs=1e-12)
    assert result.risk_terms == []


def test_empty_text_without_preprocessing_scores_the_prior_where_snownlp_raises() -> None:
    result = load_scorer(model="stock", lexicon=False, weibo_preprocessing=False).score("")
    assert result.sentiment == pytest.approx(STOCK_PRIOR, abs=1e-12)


def test_text_beyond_the_limit_is_scored_on_its_head() -> None:
    scorer = load_scorer(model="stock", lexicon=False, weibo_preprocessing=False)
    head = "服务很好，" * (MAX_TEXT_CHARS // 5)
    assert scorer.score(head + "差" * 5000).sentiment == scorer.score(head).sentiment


def test_non_string_input_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="must be str"):
        load_scorer().score(None)  # type: ignore[arg-type]


def test_results_keep_input_order_and_duplicates() -> None:
    scorer = load_scorer()
    texts = ["太差了", "很好", "太差了", "", "很好"]
    results = scorer.score_many(texts)
    assert [r.sentiment for r in results] == [scorer.score(t).sentiment for t in texts]
    assert results[0] == results[2]
