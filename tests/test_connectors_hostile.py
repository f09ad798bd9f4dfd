"""What the network hands the pull connectors (RSS/Atom feeds, Mastodon's
event stream, Weibo's API pages), any bytes at all: each item becomes a
post or a dead item with a reason, and a page that cannot be read is one
clear error; nothing raises out of the parsing.

The deep-nesting cases are the ones this file found: an RSS item with an
element nested 100,000 deep, or a JSON body nested thousands deep, stopped
the connector's poll with a RecursionError."""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import DeadItem, RecentIds
from connectors.mastodon import SseEvent, SseParser, event_to_item
from connectors.rss import FeedError, new_items, parse_feed
from connectors.weibo import response_json, select_new, status_to_post
from streams.models import Post, RecordError

json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)
STATUS_KEYS = ("id", "idstr", "mid", "text", "created_at", "user", "longText", "retweeted_status", "reposts_count",
               "content", "account", "reblog", "spoiler_text", "language", "url")
status_like = st.dictionaries(st.sampled_from(STATUS_KEYS), json_value, max_size=8)


def test_an_rss_item_nested_too_deeply_is_a_feed_error() -> None:
    deep = b"<x>" * 100_000 + b"</x>" * 100_000
    body = b"<rss><channel><title>t</title><item><title>a</title><link>http://a/b</link>" + deep + b"</item></channel></rss>"
    try:
        parse_feed(body)
    except FeedError as exc:
        assert "nested too deeply" in str(exc)
    else:
        raise AssertionError("a feed nested 100,000 deep was read")


xml_text = st.text(max_size=40).map(lambda t: escape("".join(c for c in t if c.isprintable())))
item_fields = st.tuples(xml_text, xml_text | st.sampled_from(["http://a.cn/x?utm_source=1#f", "javascript:x", ""]),
                        xml_text, xml_text | st.sampled_from(["Mon, 02 Mar 2026 13:08:00 +0800", "1e999", "0"]))


def feed_with(fields: list[tuple[str, str, str, str]]) -> bytes:
    items = "".join(f"<item><title>{t}</title><link>{link}</link><description>{d}</description>"
                    f"<pubDate>{date}</pubDate></item>" for t, link, d, date in fields)
    return f"<rss><channel><title>t</title>{items}</channel></rss>".encode()


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600)
       | st.text(max_size=300).map(lambda t: (
           "<rss><channel><title>t</title><item>" + t + "</item></channel></rss>").encode("utf-8", "surrogatepass"))
       | st.lists(item_fields, max_size=4).map(feed_with))
def test_any_feed_body_gives_items_or_a_feed_error(body: bytes) -> None:
    try:
        feed = parse_feed(body)
    except FeedError:
        return
    posts, dead, _duplicates = new_items(feed, RecentIds(1000), source="rss", lang="zh", feed_url="http://feed/x",
                                         fetched_at=1_790_000_000.0)
    assert len(posts) + len(dead) <= len(feed.items)
    assert all(isinstance(d, DeadItem) and d.reason for d in dead)


def test_a_mastodon_update_nested_too_deeply_is_a_dead_item() -> None:
    item = event_to_item(SseEvent("update", '{"a":' * 5000 + "1" + "}" * 5000, None), "mastodon")
    assert isinstance(item, DeadItem) and item.reason == "malformed_json" and "nested too deeply" in item.message


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=12) | st.lists(
    status_like.map(lambda s: "data: " + json.dumps(s)), max_size=4).map(lambda lines: ["event: update", *lines, ""]))
def test_any_event_stream_gives_posts_dead_items_or_nothing(lines: list[str]) -> None:
    parser = SseParser()
    for line in [*lines, ""]:
        event = parser.feed_line(line)
        if event is not None:
            item = event_to_item(event, "mastodon")
            assert item is None or isinstance(item, Post) or (isinstance(item, DeadItem) and item.reason)


def test_a_weibo_page_nested_too_deeply_reads_as_no_json() -> None:
    deep = b'{"statuses":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    assert response_json(httpx.Response(200, content=deep)) is None
    assert response_json(httpx.Response(200, content=b"<html>busy</html>")) is None
    assert response_json(httpx.Response(200, json={"statuses": []})) == {"statuses": []}


@settings(max_examples=200, deadline=None)
@given(st.lists(status_like | json_value, max_size=6), st.integers(0, 10**20))
def test_any_weibo_statuses_map_to_posts_or_reasons(statuses: list[Any], since: int) -> None:
    fresh, _reached_old = select_new(statuses, since)
    for _sid, status in fresh:
        if not isinstance(status, dict):
            continue
        try:
            post = status_to_post(status, source="weibo", query="q")
        except RecordError as exc:
            assert exc.reason
        else:
            assert isinstance(post, Post) and post.text
