"""Post schema validation: every rejection carries a reason and names the field."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.gate import Gate, InputRules, Rejection
from streams.models import Bucket, Mention, Post, dead_letter, opinion_key


def good_post(**overrides: object) -> dict:
    post = {
        "source": "weibo",
        "id": "4890000001",
        "author": {"id": "u1", "name": "小王", "followers": 1200, "verified": False},
        "text": "星河手机的电池又鼓包了[怒]",
        "created_at": "2026-11-20T12:00:00+08:00",
        "url": "https://weibo.example/4890000001",
        "reposts": 3,
        "comments": 1,
        "likes": 9,
        "lang": "zh",
        "raw": {"mid": "4890000001"},
    }
    post.update(overrides)
    return post


def admit(payload: bytes | str | dict) -> Post:
    # The clock is a day after the posts, so the gate's time limits hold for them.
    result = (GATE.admit_mapping(payload) if isinstance(payload, dict) else GATE.admit(payload))
    assert isinstance(result, Post), result
    return result


def reject(payload: bytes | str) -> Rejection:
    result = GATE.admit(payload)
    assert isinstance(result, Rejection), result
    return result


GATE = Gate(InputRules(), clock=lambda: 1795147200.0 + 86400)


def test_valid_post_round_trips_and_is_keyed_by_source_and_id() -> None:
    post = admit(json.dumps(good_post(), ensure_ascii=False).encode())
    assert post.key == "weibo:4890000001"
    assert post.created_at.utcoffset() is not None
    assert post.event_time == pytest.approx(1795147200.0)
    again = admit(post.to_json())
    assert again == post


def test_epoch_seconds_are_accepted_as_utc() -> None:
    post = admit(good_post(created_at=1795147200))
    assert post.created_at.isoformat() == "2026-11-20T04:00:00+00:00"


@pytest.mark.parametrize(
    ("payload", "reason", "field"),
    [
        (b"{not json", "malformed_json", "malformed JSON"),
        (b"", "empty_record", "empty"),
        (b"[1, 2]", "not_an_object", "post"),
        (b"\xff\xfe\x00garbage", "invalid_utf8", "UTF-8"),
        (json.dumps({k: v for k, v in good_post().items() if k != "text"}).encode(), "missing_field", "text"),
        (json.dumps({k: v for k, v in good_post().items() if k != "created_at"}).encode(), "missing_field", "created_at"),
        (json.dumps(good_post(text=42)).encode(), "wrong_type", "text"),
        (json.dumps(good_post(author={"name": "x"})).encode(), "missing_field", "author.id"),
        (json.dumps(good_post(created_at="yesterday")).encode(), "bad_time", "created_at"),
        (json.dumps(good_post(source="a:b")).encode(), "bad_value", "source"),
    ],
)
def test_invalid_records_are_rejected_with_reason_and_field(payload: bytes, reason: str, field: str) -> None:
    error = reject(payload)
    assert error.reason == reason
    assert field in error.message


def test_what_crawlers_write_is_read_not_rejected() -> None:
    # Issue 12: counts in crawler forms, naive Beijing time; never a reason to lose the post.
    assert admit(good_post(reposts="many")).reposts == 0
    assert admit(good_post(reposts=-1)).reposts == 0
    assert admit(good_post(author={"id": "u", "followers": "1.5万"})).author.followers == 15000
    naive = admit(good_post(created_at="2026-11-20 12:00:00"))
    assert naive.event_time == pytest.approx(1795147200.0)


def test_text_over_the_limit_is_rejected_not_truncated() -> None:
    error = reject(json.dumps(good_post(text="差" * (InputRules().max_text_chars + 1)), ensure_ascii=False).encode())
    assert error.reason == "text_too_long"


def test_one_megabyte_record_is_rejected_before_parsing() -> None:
    payload = json.dumps(good_post(text="a" * 1_100_000)).encode()
    assert reject(payload).reason == "record_too_large"


def test_lone_surrogates_are_replaced_not_a_reason_to_lose_the_post() -> None:
    post = admit('{"source":"w","id":"1","author":{"id":"u"},"text":"\\ud800x","created_at":1795147200}')
    assert post.text == "\ufffdx"


def test_dead_letter_keeps_original_bytes_and_reason() -> None:
    original = b"\xff{broken"
    record = json.loads(dead_letter("invalid_utf8", "record is not valid UTF-8", original, topic="koubei.posts"))
    import base64

    assert base64.b64decode(record["original_b64"]) == original
    assert record["reason"] == "invalid_utf8"
    assert record["topic"] == "koubei.posts"


def test_bucket_keeps_the_most_far_reaching_negative_posts() -> None:
    bucket = Bucket("xinghe", 0.0, 60.0)
    for i in range(8):
        bucket.add(Mention(brand="xinghe", post_key=f"w:{i}", source="w", post_id=str(i), author_id="a",
                           author_name="a", followers=10**i, verified=False, text="差评", url="",
                           created_at=1.0, negative=0.9, sentiment=0.1, is_negative=True, reach=float(i),
                           risk_terms=["投诉"]))
    bucket.add(Mention(brand="xinghe", post_key="w:p", source="w", post_id="p", author_id="a", author_name="a",
                       followers=0, verified=False, text="好", url="", created_at=2.0, negative=0.1,
                       sentiment=0.9, is_negative=False, reach=1.0))
    assert (bucket.total, bucket.negative) == (9, 8)
    assert [s["id"] for s in bucket.top_negative] == ["w:7", "w:6", "w:5", "w:4", "w:3"]
    assert bucket.risk_terms == {"投诉": 8}
    assert Bucket.from_dict(bucket.to_dict()).to_dict() == bucket.to_dict()


def test_bucket_lists_each_risk_story_once_up_to_its_cap() -> None:
    def mention(key: str, story: str, risky: bool = True) -> Mention:
        return Mention(brand="xinghe", post_key=key, source="w", post_id=key, author_id="a", author_name="a",
                       followers=1, verified=False, text="召回", url="", created_at=1.0, negative=0.9,
                       sentiment=0.1, is_negative=True, reach=1.0, risk_terms=["召回"] if risky else [],
                       story=story)

    bucket = Bucket("xinghe", 0.0, 60.0)
    for i in range(5):
        bucket.add(mention(f"w:{i}", "s1"))  # five reposts of one post
    bucket.add(mention("w:9", "s2"))
    bucket.add(mention("w:10", "s3", risky=False))  # no risk term: not a risk story
    bucket.add(mention("w:old", ""))  # from a producer without story keys: its own story
    assert bucket.risk_hits == 7
    assert bucket.risk_stories == ["s1", "s2", "w:old"]
    assert Bucket.from_dict(bucket.to_dict()).risk_stories == ["s1", "s2", "w:old"]
    for i in range(200):
        bucket.add(mention(f"x:{i}", f"story{i}"))
    assert len(bucket.risk_stories) == Bucket.MAX_RISK_STORIES
    # A bucket written before risk stories existed reads back with none.
    old = bucket.to_dict()
    del old["risk_stories"]
    assert Bucket.from_dict(old).risk_stories == []


def _story_mention(key: str, text: str, story: str, negative: bool = True) -> Mention:
    return Mention(brand="xinghe", post_key=key, source="w", post_id=key, author_id=key, author_name=key,
                   followers=1, verified=False, text=text, url="", created_at=1.0,
                   negative=0.9 if negative else 0.1, sentiment=0.1, is_negative=negative, reach=1.0,
                   story=story)


def test_bucket_counts_negative_opinions_reposts_as_the_story_they_spread() -> None:
    mention = _story_mention
    bucket = Bucket("xinghe", 0.0, 60.0)
    for i in range(6):  # a cascade: six reposts of one complaint are one opinion
        bucket.add(mention(f"w:r{i}", "转发微博//@张三:太差了", "s1"))
    bucket.add(mention("w:r9", "同感 // @张三:太差了", "s1"))  # the same mark with spaces
    for i in range(3):  # the same words from three accounts (a bot flood): three opinions
        bucket.add(mention(f"w:b{i}", "太差了", "s1"))
    bucket.add(mention("w:p", "很好", "s5", negative=False))  # not negative: not counted
    assert bucket.negative == 10
    assert bucket.negative_stories == [opinion_key("s1"), opinion_key("w:b0"), opinion_key("w:b1"), opinion_key("w:b2")]
    assert all(len(key) == 8 for key in bucket.negative_stories)  # post keys hashed: the list stays small
    assert Bucket.from_dict(bucket.to_dict()).negative_stories == bucket.negative_stories
    for i in range(300):
        bucket.add(mention(f"x:{i}", "差", f"t{i}"))
    assert len(bucket.negative_stories) == Bucket.MAX_NEGATIVE_STORIES
    old = bucket.to_dict()
    del old["negative_stories"]
    assert Bucket.from_dict(old).negative_stories == []


def test_bucket_counts_copies_of_the_same_words_not_reposts() -> None:
    mention = _story_mention
    bucket = Bucket("xinghe", 0.0, 60.0)
    for i in range(4):  # reposts spread a story: not copies
        bucket.add(mention(f"w:r{i}", "转发微博//@张三:太差了", "s1"))
    for i in range(3):  # the same words from three posts: three posts of one copied text
        bucket.add(mention(f"w:b{i}", "太差了", "s1"))
    bucket.add(mention("w:c", "别的话", "s2"))
    bucket.add(mention("w:p", "太差了", "s1", negative=False))  # not negative: not counted
    bucket.add(mention("w:n", "太差了", ""))  # no story key (an older producer): not counted
    assert bucket.copies == {"s1": 3, "s2": 1}
    part = Bucket("xinghe", 0.0, 60.0)
    part.add(mention("w:b9", "太差了", "s1"))
    bucket.merge(part)
    assert bucket.copies == {"s1": 4, "s2": 1}
    assert Bucket.from_dict(bucket.to_dict()).copies == bucket.copies
    for i in range(100):
        bucket.add(mention(f"x:{i}", f"差{i}", f"t{i}"))
    assert len(bucket.copies) == Bucket.MAX_COPIES
    old = bucket.to_dict()
    del old["copies"]
    assert Bucket.from_dict(old).copies == {}


def test_a_part_with_bad_copy_counts_is_refused_whole() -> None:
    from streams.models import _part_from_dict

    good = {"start": 0.0, "total": 1, "negative": 1, "copies": {"s1": 2}}
    assert _part_from_dict(good, "xinghe", 60.0).copies == {"s1": 2}
    for bad in ({"s1": -1}, ["s1"], {"s1": "x"}):
        with pytest.raises((TypeError, ValueError)):
            _part_from_dict(dict(good, copies=bad), "xinghe", 60.0)


def test_mentions_carry_the_story_their_post_spreads() -> None:
    from types import SimpleNamespace

    from streams.scoring import mentions_for

    def post(pid: str, text: str) -> Post:
        return GATE.post({"source": "weibo", "id": pid, "text": text, "created_at": "2026-03-02T02:00:00+08:00",
                               "author": {"id": "u1", "name": "张三", "followers": 10}})

    score = SimpleNamespace(negative=0.9, sentiment=0.1, risk_terms=["致癌"])
    original = mentions_for(post("1", "曝光！晨光面包被检出致癌物"), ["chenguang"], score, 0.5)[0]
    repost = mentions_for(post("2", "天哪//@张三:曝光！晨光面包被检出致癌物"), ["chenguang"], score, 0.5)[0]
    other = mentions_for(post("3", "晨光面包致癌？"), ["chenguang"], score, 0.5)[0]
    assert original.story == repost.story != other.story
    assert Mention.from_dict(repost.to_dict()).story == repost.story
    emoticons_only = mentions_for(post("4", "[怒]"), ["chenguang"], score, 0.5)[0]
    assert emoticons_only.story == emoticons_only.post_key


def test_a_flood_s_variations_are_one_copied_text() -> None:
    from types import SimpleNamespace

    from streams.scoring import mentions_for

    def post(pid: str, text: str) -> Post:
        return GATE.post({"source": "weibo", "id": pid, "text": text, "created_at": "2026-03-02T02:00:00+08:00",
                          "author": {"id": f"b{pid}", "name": "水军", "followers": 3}})

    negative = SimpleNamespace(negative=0.9, sentiment=0.1, risk_terms=[])
    script = "晨光面包吃出异物，大家别买了"
    texts = [script, script + "！", script + "!!", script + "。", f"{script} 37", f"{script} @小王 [怒] 😡",
             f"{script} http://t.cn/A6x"]
    bucket = Bucket("chenguang", 0.0, 60.0)
    for i, text in enumerate(texts):
        bucket.add(mentions_for(post(str(i), text), ["chenguang"], negative, 0.5)[0])
    assert list(bucket.copies.values()) == [len(texts)]  # one text, seven copies
    assert len({m for m in bucket.negative_stories}) == len(texts)  # seven posts, seven opinions
    # Reposts spread, they do not copy; posts read not negative are not counted; different words differ.
    repost = mentions_for(post("r", "转发//@x:" + script), ["chenguang"], negative, 0.5)[0]
    calm = mentions_for(post("c", script), ["chenguang"], SimpleNamespace(negative=0.1, sentiment=0.9,
                                                                          risk_terms=[]), 0.5)[0]
    other = mentions_for(post("o", "晨光面包很好吃，推荐"), ["chenguang"], negative, 0.5)[0]
    assert repost.copy_key == "" and calm.copy_key == "" and other.copy_key not in ("", bucket.copies)
    # Too few words to call a copy: the story counts, as from a producer before copy keys.
    short = mentions_for(post("s", "差！！"), ["chenguang"], negative, 0.5)[0]
    assert short.copy_key == ""
    assert Mention.from_dict({k: v for k, v in short.to_dict().items() if k != "copy_key"}).copy_key == ""


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_copy_key_never_raises_and_ignores_what_floods_vary(text: str) -> None:
    from streams.sentiment.preprocess import copy_key

    key = copy_key(text)
    assert key is None or len(key) == 8
    assert copy_key(text + "！！ 123 😡") == key


def test_the_scorer_hands_over_the_story_its_preprocessing_found() -> None:
    from types import SimpleNamespace

    from streams.scoring import mentions_for
    from streams.sentiment import load_scorer
    from streams.sentiment.preprocess import story_key

    texts = ["天哪//@张三:#晨光召回# 曝光！晨光面包被检出致癌物 http://t.cn/A6x", "[怒]"]
    post = [GATE.post({"source": "weibo", "id": str(i), "text": t, "created_at": "2026-03-02T02:00:00+08:00",
                            "author": {"id": "u1", "name": "张三", "followers": 10}}) for i, t in enumerate(texts)]
    scores = load_scorer().score_many(texts)
    assert [s.story for s in scores] == [story_key(texts[0]), ""]
    bare = SimpleNamespace(negative=0.9, sentiment=0.1, risk_terms=[])  # a scorer without preprocessing
    for p, s in zip(post, scores, strict=True):
        assert mentions_for(p, ["chenguang"], s, 0.5)[0].story == mentions_for(p, ["chenguang"], bare, 0.5)[0].story
