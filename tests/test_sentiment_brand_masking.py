"""A brand's own name never counts as sentiment: the same post scores the same whatever brand it names."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cache

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from streams.brands import BrandMatcher
from streams.config import Brand
from streams.models import Author, Post
from streams.scoring import PostScorer
from streams.sentiment import SentimentScorer, load_scorer

# Calm posts and angry ones, each naming the brand in a different place and form.
TEMPLATES = (
    "今天在{b}买了一杯，排队十分钟，味道和以前差不多。",
    "{b}的客服电话一直打不通，退款也没人管，太气人了[怒]",
    "转发微博//@{b}官方:感谢大家的支持，新品周五上市",
    "回复@{b}官方客服:你们到底什么时候给说法？",
    "#{b}#新店开业 人不多",
)
CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)


@cache
def scorer(model: str) -> SentimentScorer:
    return load_scorer(model=model)


def post(text: str) -> Post:
    return Post(source="test", id="1", author=Author(id="u", name="u"), text=text,
                created_at=datetime(2026, 3, 2, tzinfo=timezone.utc))


def negatives(model: str, brand_name: str) -> list[float]:
    brand = Brand(id="b", name=brand_name, aliases=(brand_name,))
    post_scorer = PostScorer(BrandMatcher([brand]), scorer(model), 0.5)
    posts = [post(t.format(b=brand_name)) for t in TEMPLATES]
    matched = post_scorer.match(posts)
    assert len(matched) == len(TEMPLATES)
    return [m.negative for m in post_scorer.score_posts(posts)]


def test_two_real_looking_brands_score_the_same() -> None:
    # Without masking these two names alone moved the stock model from 1 % to 80 % negative.
    for model in ("stock", "default"):
        assert negatives(model, "驰远快递") == negatives(model, "鹿鸣奶茶")


def test_brand_name_alone_scores_as_empty_text() -> None:
    brand = Brand(id="b", name="驰远快递", aliases=("驰远快递",))
    post_scorer = PostScorer(BrandMatcher([brand]), scorer("default"), 0.5)
    assert post_scorer.score_posts([post("驰远快递")])[0].negative == scorer("default").score("").negative


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=CJK, min_size=2, max_size=6) | st.from_regex(r"[A-Za-z]{3,10}", fullmatch=True))
def test_any_brand_name_gives_the_same_scores(name: str) -> None:
    # A name that also occurs in the template's own words would mask those words too.
    assume(not any(name.lower() in t.format(b="").lower() for t in TEMPLATES))
    assert negatives("default", name) == negatives("default", "鹿鸣奶茶")
