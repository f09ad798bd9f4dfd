"""Brand matching: aliases in any script, exclusions, width and case folding."""

from __future__ import annotations

from streams.brands import BrandMatcher
from streams.config import Brand

BRANDS = (
    Brand(id="xiaomi", name="小米", aliases=("小米", "Xiaomi", "mi"), exclude=("小米粥", "小米椒")),
    Brand(id="chenguang", name="晨光乳业", aliases=("晨光乳业", "晨光牛奶", "chenguang")),
    Brand(id="apple", name="Apple", aliases=("Apple", "苹果手机")),
)


def match(text: str) -> list[str]:
    return BrandMatcher(BRANDS).match(text)


def test_chinese_alias_matches() -> None:
    assert match("今天买的小米手机屏幕坏了") == ["xiaomi"]


def test_exclusion_phrase_is_not_the_brand() -> None:
    assert match("早上喝了一碗小米粥，放了点小米椒") == []


def test_brand_still_matches_when_also_mentioned_outside_the_exclusion() -> None:
    assert match("喝着小米粥刷小米手机") == ["xiaomi"]


def test_full_width_and_case_are_folded() -> None:
    assert match("ＸＩＡＯＭＩ 14 发布") == ["xiaomi"]
    assert match("CHENGUANG milk recall") == ["chenguang"]


def test_latin_aliases_need_whole_words() -> None:
    assert match("the mini cooper and the admin panel") == []
    assert match("my Mi band broke") == ["xiaomi"]


def test_several_brands_in_one_post_in_config_order() -> None:
    assert match("苹果手机和小米谁更好？晨光牛奶配早餐") == ["xiaomi", "chenguang", "apple"]


def test_no_brand_and_empty_text() -> None:
    assert match("今天天气不错") == []
    assert match("") == []
    assert BrandMatcher(()).match("小米") == []


def test_latin_alias_next_to_chinese_text_is_a_whole_word() -> None:
    # Offsets are in characters, not UTF-8 bytes: the CJK prefix must not shift them.
    assert match("今天买了Mi手环，小米粥也不错") == ["xiaomi"]
    assert match("今天买了Mini手环") == []


def test_full_width_alias_in_config_matches_half_width_text() -> None:
    matcher = BrandMatcher([Brand(id="abc", name="ABC", aliases=("ＡＢＣ乳业",))])
    assert matcher.match("abc乳业出新品") == ["abc"]


# ---------------------------------------------------------------- spans and masking

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from streams.brands import ACCOUNT_PLACEHOLDER  # noqa: E402

MATCHER = BrandMatcher(BRANDS)


def test_find_gives_the_counted_alias_spans() -> None:
    text = "喝着小米粥刷小米手机"
    hits = MATCHER.find(text)
    assert hits.brands == ["xiaomi"]
    # The 小米 inside 小米粥 is porridge: only the second one counts.
    assert hits.spans == [(6, 8)]
    assert [text[s:e] for s, e in hits.spans] == ["小米"]


def test_overlapping_aliases_merge_into_one_span() -> None:
    matcher = BrandMatcher([Brand(id="m", name="M", aliases=("晨光", "晨光牛奶", "光牛"))])
    assert matcher.find("买了晨光牛奶").spans == [(2, 6)]


def test_mask_blanks_aliases_and_keeps_the_rest() -> None:
    assert MATCHER.mask("今天买的小米手机屏幕坏了") == "今天买的 手机屏幕坏了"
    assert MATCHER.mask("ＸＩＡＯＭＩ 14 发布") == "  14 发布"
    assert MATCHER.mask("早上喝了一碗小米粥") == "早上喝了一碗小米粥"  # excluded phrase: not the brand, kept
    assert MATCHER.mask("the mini cooper") == "the mini cooper"


def test_mask_renames_brand_accounts_and_keeps_repost_and_reply_shape() -> None:
    assert MATCHER.mask("太差了//@小米官方客服:我们会处理") == "太差了//@" + ACCOUNT_PLACEHOLDER + ":我们会处理"
    assert MATCHER.mask("回复@晨光乳业官博:退钱") == "回复@" + ACCOUNT_PLACEHOLDER + ":退钱"
    assert MATCHER.mask("@某人 小米不错") == "@某人  不错"


def test_mask_of_text_without_brand_is_the_same_object() -> None:
    text = "今天天气不错"
    assert MATCHER.mask(text) is text
    assert MATCHER.mask("") == ""


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("小米粥椒晨光乳业牛奶苹果手机Xiaomimi@/:： 回复abc"), max_size=40) | st.text(max_size=40))
def test_mask_never_raises_and_leaves_no_brand(text: str) -> None:
    masked = MATCHER.mask(text)
    assert isinstance(masked, str)
    assert MATCHER.match(masked) == []
    if not MATCHER.match(text):
        assert masked == text
