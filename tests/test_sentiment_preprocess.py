"""Weibo preprocessing: what is kept, what is separated, what is removed."""

from __future__ import annotations

from streams.sentiment.preprocess import normalise, prepare, strip_emoticons, to_simplified


def test_repost_chain_separates_own_words_from_reposted_text() -> None:
    prepared = prepare("太坑了[怒] //@小李:某品牌奶粉被曝光过期[吃惊] //@老王: 转")
    assert prepared.own_text == "太坑了"
    assert prepared.reposted_text == "某品牌奶粉被曝光过期 转"
    assert prepared.emoticons == ("怒",)
    assert prepared.reposted_emoticons == ("吃惊",)
    assert prepared.scored_text == "太坑了"


def test_pure_repost_is_scored_on_the_reposted_text() -> None:
    prepared = prepare("转发微博//@某人:这个产品质量真差")
    assert prepared.own_text == ""
    assert prepared.scored_text == "这个产品质量真差"


def test_reply_prefix_mentions_urls_and_markup_are_removed() -> None:
    prepared = prepare("回复@小王:说得对 @客服小美 http://t.cn/A6abc 看看{%#质量问题#%}和#品牌翻车#")
    assert prepared.own_text == "说得对 看看 质量问题 和 品牌翻车"


def test_emoticons_are_signals_not_text() -> None:
    prepared = prepare("[哈哈][哈哈]好开心[爱你]")
    assert prepared.own_text == "好开心"
    assert prepared.emoticons == ("哈哈", "哈哈", "爱你")


def test_full_width_forms_and_traditional_characters_are_normalised() -> None:
    assert normalise("ＡＢＣ１２３！　這個產品質量") == "ABC123! 这个产品质量"
    # Phrases first: 乾坤 is a word of its own, 乾 alone is 干.
    assert to_simplified("乾坤乾淨") == "乾坤干净"


def test_strip_emoticons_for_emoticon_labeled_corpora() -> None:
    assert strip_emoticons("好[哈哈]开心[心]") == "好开心"
    assert strip_emoticons("[ 不是表情") == "[ 不是表情"


def test_reposts_and_replies_spread_the_story_at_the_end_of_their_chain() -> None:
    from streams.sentiment.preprocess import story_key

    original = story_key("曝光！晨光面包被检出致癌物[怒] http://t.cn/A6abc")
    assert original is not None and len(original) == 8
    assert story_key("转发微博//@张三:曝光！晨光面包被检出致癌物[怒]") == original
    assert story_key("太可怕了//@李四: 同意//@张三:曝光！晨光面包被检出致癌物") == original
    assert story_key("回复@李四:真的假的//@张三:曝光！晨光面包被检出致癌物") == original
    assert story_key("曝光！晨光面包被检出致癌物 ") == original  # the same words, spaces aside
    assert story_key("晨光面包又被检出致癌物") != original
    assert story_key("[怒][怒]") is None  # nothing but emoticons: the post is its own story
