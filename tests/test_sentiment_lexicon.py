"""The crisis lexicon, its negation handling and the documented adjustment rule."""

from __future__ import annotations

import math

import pytest

from streams.sentiment import load_scorer
from streams.sentiment.lexicon import (
    EMOTICON_CAP,
    MODEL_CAP_WITH_RISK,
    RISK_CAP,
    RISK_TERMS,
    adjust_negative,
    emoticon_shift,
    find_risk_terms,
    model_cap,
    risk_shift,
)


def test_risk_terms_are_found_in_order_once() -> None:
    hits = find_risk_terms("网友曝光某品牌奶粉过期，曝光后要求召回")
    assert hits.risk_terms == ("曝光", "过期", "召回")


def test_a_negation_before_a_negatable_term_cancels_it() -> None:
    hits = find_risk_terms("检测结果显示并非致癌，也没有过期")
    assert hits.risk_terms == ()
    assert set(hits.negated_terms) == {"致癌", "过期"}


def test_a_negation_in_another_clause_does_not_cancel() -> None:
    assert find_risk_terms("我不知道，这批货过期了").risk_terms == ("过期",)


def test_refund_is_not_negatable_because_refusing_it_is_worse() -> None:
    assert find_risk_terms("商家不给退款").risk_terms == ("退款",)


def test_longest_term_wins() -> None:
    assert find_risk_terms("多人食物中毒").risk_terms == ("食物中毒",)


def test_315_only_as_a_standalone_number() -> None:
    assert find_risk_terms("今年315晚会点名").risk_terms == ("315",)
    assert find_risk_terms("订单号13155").risk_terms == ()


def test_rule_is_a_log_odds_shift_with_caps() -> None:
    assert adjust_negative(0.7, 0.0) == pytest.approx(0.3)
    expected = 1 / (1 + math.exp(-(math.log(0.3 / 0.7) + 1.5)))
    assert adjust_negative(0.7, 1.5) == pytest.approx(expected)
    hits = find_risk_terms("致癌 爆炸 欺诈 翻车 塌房")
    assert risk_shift(hits) == RISK_CAP
    assert emoticon_shift(("怒", "抓狂", "泪", "衰", "鄙视")) == EMOTICON_CAP
    assert emoticon_shift(("怒", "怒")) == emoticon_shift(("怒",))
    assert emoticon_shift(("怒",), known_to_model=frozenset({"怒"})) == 0.0


def test_every_term_has_a_positive_weight() -> None:
    assert all(weight > 0 for weight, _ in RISK_TERMS.values())


def test_neutral_crisis_news_becomes_negative_with_the_lexicon() -> None:
    text = "某品牌奶粉被曝光过期，官方宣布召回"
    plain = load_scorer(lexicon=False).score(text)
    with_lexicon = load_scorer(lexicon=True).score(text)
    assert with_lexicon.risk_terms == ["曝光", "过期", "召回"]
    assert with_lexicon.negative > plain.negative
    assert with_lexicon.negative > 0.9
    assert with_lexicon.sentiment == plain.sentiment


def test_without_lexicon_negative_is_one_minus_sentiment() -> None:
    result = load_scorer(lexicon=False, weibo_preprocessing=False).score("召回过期产品")
    assert result.risk_terms == []
    assert result.negative == 1 - result.sentiment


def test_a_risk_term_caps_the_models_confidence() -> None:
    # 99.9 % positive from the model: the cap brings it to 95 % before the shift.
    capped = adjust_negative(0.999, 3.5, model_cap=MODEL_CAP_WITH_RISK)
    assert capped == pytest.approx(1 / (1 + math.exp(-(-MODEL_CAP_WITH_RISK + 3.5))))
    assert capped > 0.5 > adjust_negative(0.999, 3.5)
    assert model_cap(find_risk_terms("一切正常")) is None
    assert model_cap(find_risk_terms("被曝光")) == MODEL_CAP_WITH_RISK
    # No risk term: no cap, the model's own number (exact SnowNLP when no shift).
    assert adjust_negative(0.999, 0.0, model_cap=None) == pytest.approx(0.001)


def test_a_long_expose_that_reads_like_a_review_is_negative() -> None:
    # Found in the night-crisis scenario: the model alone says 99.9 % positive
    # (儿童奶, 家里还有两箱 look like a product review); two or more risk terms
    # now make it negative whatever the model says.
    scorer = load_scorer(lexicon=True)
    expose = scorer.score("#晨光召回#曝光！晨光儿童奶被检出致癌物黄曲霉毒素超标，家里还有两箱[怒] 再也不会买了[抓狂]")
    assert expose.sentiment > 0.99
    assert expose.negative > 0.8
    notice = scorer.score("市场监管局通报：某品牌一批次酸奶抽检不合格")
    assert notice.risk_terms == ["不合格"]
    assert find_risk_terms("一切平安，没出事").risk_terms == ()
    # One light risk term (退款, 1.0) does not overrule a confident model on its own.
    assert adjust_negative(0.99, risk_shift(find_risk_terms("退款到账了")), model_cap=MODEL_CAP_WITH_RISK) < 0.2
