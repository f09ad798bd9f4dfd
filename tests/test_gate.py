"""The input gate: a valid post or a reason, for any input."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.gate import (
    MAX_COUNT,
    REASONS,
    Gate,
    InputRules,
    Rejection,
    clean_text,
    parse_count,
    parse_verified,
)
from streams.models import Post

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc).timestamp()


def gate(**rules: object) -> Gate:
    return Gate(InputRules(**rules), clock=lambda: NOW)  # type: ignore[arg-type]


def post(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {"source": "weibo", "id": "1", "text": "晨光牛奶不错", "created_at": "2026-03-02T19:00:00+08:00",
                               "author": {"id": "u1", "name": "小明", "followers": 10}}
    base.update(overrides)
    return base


def admitted(result: Post | Rejection) -> Post:
    assert isinstance(result, Post), result
    return result


def rejected(result: Post | Rejection, reason: str) -> Rejection:
    assert isinstance(result, Rejection), result
    assert result.reason == reason, result
    return result


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-03-02T19:00:00+08:00", "2026-03-02T11:00:00+00:00"),
    ("2026-03-02T11:00:00Z", "2026-03-02T11:00:00+00:00"),
    ("2026-03-02 19:00:00", "2026-03-02T11:00:00+00:00"),  # naive: Beijing by default
    ("2026-03-02 19:00", "2026-03-02T11:00:00+00:00"),  # weibo-search's 发布时间
    ("2026/03/02 19:00", "2026-03-02T11:00:00+00:00"),
    ("2026年03月02日 19:00", "2026-03-02T11:00:00+00:00"),
    ("Mon Mar 02 19:00:00 +0800 2026", "2026-03-02T11:00:00+00:00"),  # Weibo API
    ("Mon, 02 Mar 2026 11:00:00 GMT", "2026-03-02T11:00:00+00:00"),  # RSS
    (1772449200, "2026-03-02T11:00:00+00:00"),  # epoch seconds
    (1772449200000, "2026-03-02T11:00:00+00:00"),  # epoch milliseconds (Xiaohongshu, JavaScript)
    ("1772449200000", "2026-03-02T11:00:00+00:00"),
    (1772449200000000, "2026-03-02T11:00:00+00:00"),  # microseconds
    (1772449200000000000, "2026-03-02T11:00:00+00:00"),  # nanoseconds
    (1772449200.5, "2026-03-02T11:00:00.500000+00:00"),
])
def test_times_in_every_form_crawlers_write(value: object, expected: str) -> None:
    result = admitted(gate().admit_mapping(post(created_at=value)))
    assert result.created_at.astimezone(timezone.utc).isoformat() == expected
    assert result.created_at.utcoffset() is not None


def test_the_offset_a_time_was_written_with_is_kept() -> None:
    assert admitted(gate().admit_mapping(post())).created_at.isoformat() == "2026-03-02T19:00:00+08:00"
    naive = admitted(gate().admit_mapping(post(created_at="2026-03-02 19:00")))
    assert naive.created_at.isoformat() == "2026-03-02T19:00:00+08:00"


def test_naive_times_take_the_configured_zone() -> None:
    result = admitted(gate(default_timezone="UTC").admit_mapping(post(created_at="2026-03-02 11:00")))
    assert result.created_at.isoformat() == "2026-03-02T11:00:00+00:00"


@pytest.mark.parametrize(("value", "reason"), [
    ("9999-12-31T00:00:00+00:00", "future_time"),
    (1e20, "bad_time"),
    (float("nan"), "bad_time"),
    (float("inf"), "bad_time"),
    (-5, "bad_time"),
    (0, "too_old"),
    ("1970-01-01T00:00:00Z", "too_old"),
    ("0001-01-01T00:00:00+00:00", "too_old"),
    ("2024-01-01T00:00:00+08:00", "too_old"),  # beyond max_age (400 days)
    ("yesterday", "bad_time"),
    ("", "missing_field"),
    (None, "missing_field"),
    (True, "wrong_type"),
    ([2026], "wrong_type"),
])
def test_impossible_times_are_rejected_each_with_its_reason(value: object, reason: str) -> None:
    rejected(gate().admit_mapping(post(created_at=value)), reason)


def test_a_little_ahead_is_clock_skew_but_more_is_the_future() -> None:
    admitted(gate().admit_mapping(post(created_at=NOW + 300)))
    rejected(gate().admit_mapping(post(created_at=NOW + 3600)), "future_time")
    admitted(gate(max_future=7200).admit_mapping(post(created_at=NOW + 3600)))


def test_max_age_zero_accepts_any_history_after_not_before() -> None:
    admitted(gate(max_age=0).admit_mapping(post(created_at="2009-08-14T00:00:00+08:00")))
    rejected(gate(max_age=0).admit_mapping(post(created_at="1999-12-31T00:00:00+08:00")), "too_old")


@pytest.mark.parametrize(("value", "count"), [
    (12, 12), ("1,234", 1234), ("1.5万", 15000), ("2w", 20000), ("3.2k", 3200), ("10+", 10), ("1亿", 100_000_000),
    ("None", 0), ("", 0), (None, 0), ("很多", 0), (-3, 0), (True, 0), (float("nan"), 0), (1e30, MAX_COUNT),
    (10**40, MAX_COUNT), (7.9, 7),
])
def test_counts_in_crawler_forms(value: object, count: int) -> None:
    assert parse_count(value) == count


@pytest.mark.parametrize(("value", "verified"), [
    (True, True), ("蓝V", True), ("黄V", True), ("金V", True), ("普通用户", False), ("true", True), (1, True),
    (0, False), ("", False), (None, False), ("whatever", False),
])
def test_verification_labels(value: object, verified: bool) -> None:
    assert parse_verified(value) is verified


def test_text_loses_invisible_characters_and_lone_surrogates() -> None:
    dirty = "晨\u200b光\x00牛\u202e奶\ufeff\ud800好"
    result = admitted(gate().admit_mapping(post(text=dirty, author={"id": "u", "name": "a\ud800b\x07"})))
    assert result.text == "晨光牛奶\ufffd好"
    assert result.author.name == "a\ufffdb"
    assert clean_text("第一行\n第二行\t") == "第一行\n第二行\t"
    result.to_json()  # encodable


def test_oversized_and_hostile_records() -> None:
    rejected(gate().admit(b"x" * 1_000_001), "record_too_large")
    rejected(gate().admit(b"\xff\xfe"), "invalid_utf8")
    rejected(gate().admit(b"  "), "empty_record")
    rejected(gate().admit(None), "empty_record")
    rejected(gate().admit(b"{\"source\": "), "malformed_json")
    rejected(gate().admit(b"[" * 100_000 + b"]" * 100_000), "too_deep")
    rejected(gate().admit(b"[1, 2]"), "not_an_object")
    rejected(gate().admit_mapping(post(text="x" * 100_001)), "text_too_long")
    rejected(gate().admit_mapping(post(source="we:ibo")), "bad_value")
    rejected(gate().admit_mapping(post(id="")), "bad_value")
    rejected(gate().admit_mapping(post(id=["1"])), "wrong_type")
    rejected(gate().admit_mapping(post(author="someone")), "wrong_type")
    rejected(gate().admit_mapping(post(text=5)), "wrong_type")


def test_a_deep_or_huge_raw_is_replaced_by_a_marker_not_a_reason_to_lose_the_post() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(500):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    result = admitted(gate().admit_mapping(post(raw=deep)))
    assert "_dropped" in result.raw
    result = admitted(gate().admit_mapping(post(raw={"blob": "x" * 100_000})))
    assert "_dropped" in result.raw
    result = admitted(gate().admit_mapping(post(raw={"note_id": "abc", "tags": ["a", "b"], "score": float("nan")})))
    assert result.raw == {"note_id": "abc", "tags": ["a", "b"], "score": None}


def test_urls_that_are_not_http_are_dropped() -> None:
    assert admitted(gate().admit_mapping(post(url="javascript:alert(1)"))).url == ""
    assert admitted(gate().admit_mapping(post(url="https://weibo.com/1/2"))).url == "https://weibo.com/1/2"


def test_bom_before_a_record_is_ignored() -> None:
    admitted(gate().admit(("\ufeff" + json.dumps(post(), ensure_ascii=False)).encode()))


def test_an_admitted_post_round_trips_through_the_gate_unchanged() -> None:
    first = admitted(gate().admit_mapping(post(raw={"k": [1, 2]}, likes="1.2万")))
    second = admitted(gate().admit(first.to_json()))
    assert second == first


# ---- property-based: any input, never an exception ------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_post_or_a_known_reason(payload: bytes) -> None:
    result = gate().admit(payload)
    assert isinstance(result, (Post, Rejection))
    if isinstance(result, Rejection):
        assert result.reason in REASONS and result.reason != "internal_error", result


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(st.sampled_from(["source", "id", "text", "created_at", "author", "url", "lang", "raw",
                                        "reposts", "comments", "likes", "extra"]), json_values, max_size=12))
def test_any_json_object_gives_a_post_or_a_known_reason(data: dict[str, object]) -> None:
    result = gate(max_age=0).admit_mapping(data)
    assert isinstance(result, (Post, Rejection))
    if isinstance(result, Rejection):
        assert result.reason in REASONS and result.reason != "internal_error", result
    else:
        result.to_json()


field_values = {
    "source": st.sampled_from(["weibo", "xhs", "rss"]) | st.text(max_size=8),
    "id": st.integers() | st.text(max_size=20),
    "text": st.text(max_size=200),
    "created_at": st.integers(min_value=-10, max_value=10**21) | st.floats() | st.text(max_size=30)
    | st.datetimes(timezones=st.just(timezone.utc)).map(lambda d: d.isoformat()),
    "author": st.fixed_dictionaries({"id": st.integers() | st.text(max_size=10)},
                                    optional={"name": st.text(max_size=20), "followers": json_values,
                                              "verified": json_values}) | json_values,
    "likes": json_values,
    "raw": json_values,
}


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.fixed_dictionaries({k: v for k, v in field_values.items() if k in ("source", "id", "text", "created_at",
                                                                                "author")},
                             optional={k: v for k, v in field_values.items() if k in ("likes", "raw")}))
def test_near_valid_posts_give_a_post_or_a_known_reason(data: dict[str, object]) -> None:
    result = gate().admit(json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    assert isinstance(result, (Post, Rejection))
    if isinstance(result, Rejection):
        assert result.reason in REASONS and result.reason != "internal_error", result
    else:
        assert NOW - 400 * 86400 <= result.event_time <= NOW + 600
        assert 0 <= result.author.followers <= MAX_COUNT
        result.to_json()


# ---- the hostile corpus the integration test replays ----------------------

def test_every_hostile_record_gets_its_reason() -> None:
    from tests.hostile_records import bad_records

    records = bad_records()
    assert len(records) >= 60
    g = Gate(InputRules(), clock=lambda: datetime(2026, 3, 15, tzinfo=timezone.utc).timestamp())
    wrong = [(payload[:60], reason, g.admit(payload)) for payload, reason in records
             if not isinstance(g.admit(payload), Rejection) or g.admit(payload).reason != reason]
    assert not wrong


@pytest.mark.parametrize("variant", range(10))
def test_every_sloppy_form_is_read_as_the_same_post(variant: int) -> None:
    from tests.hostile_records import sloppy

    clean = post(created_at="2026-03-02T19:00:00+08:00", reposts=3, likes=4, comments=1)
    expected = admitted(gate().admit_mapping(clean))
    got = admitted(gate().admit(sloppy(clean, variant)))
    assert got.key == expected.key
    assert got.event_time == expected.event_time
    assert "晨光牛奶" in got.text
    got.to_json()
