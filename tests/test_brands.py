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
