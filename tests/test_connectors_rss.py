"""RSS/Atom poller against feeds served on 127.0.0.1, posts read back from the broker."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from aiohttp import web

from connectors.rss import canonical_link, item_id, parse_feed
from streams.kafka import BrokerQuirks
from tests.test_connectors_support import (
    checkpoints,
    connectors_config,
    dead_in,
    kafka_target,
    local_server,
    metric,
    posts_in,
    run_until,
)

pytestmark = pytest.mark.integration


def rss(items: list[str]) -> bytes:
    return ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0' "
            "xmlns:dc='http://purl.org/dc/elements/1.1/'><channel><title>财经快讯</title>"
            + "".join(items) + "</channel></rss>").encode()


def rss_item(link: str, title: str, day: int, body: str = "") -> str:
    return (f"<item><title>{title}</title><link>{escape(link)}</link><dc:creator>记者甲</dc:creator>"
            f"<description><![CDATA[<p>{body}</p>]]></description>"
            f"<pubDate>Tue, {day:02d} Nov 2026 08:00:00 +0800</pubDate></item>")


def atom(entries: list[str]) -> bytes:
    return ("<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
            "<title>某论坛</title>" + "".join(entries) + "</feed>").encode()


def atom_entry(link: str, title: str, day: int) -> str:
    return (f"<entry><id>tag:forum,2026:{link}</id><title>{title}</title><link rel='alternate' href='{link}'/>"
            f"<updated>2026-11-{day:02d}T01:00:00Z</updated><author><name>网友乙</name></author>"
            f"<content type='html'>&lt;p&gt;{title}，大家怎么看&lt;/p&gt;</content></entry>")


class FeedSite:
    """A site serving feeds with ETag/Last-Modified, scripted failures first."""

    def __init__(self) -> None:
        self.feeds: dict[str, tuple[bytes, str, str]] = {}  # path -> (body, content type, etag)
        self.failures: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.log: list[tuple[str, int, dict[str, str], float]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{name}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        pending = self.failures.get(path) or []
        if pending:
            status, headers = pending.pop(0)
            self.log.append((path, status, dict(request.headers), time.monotonic()))
            return web.Response(status=status, headers=headers, text="slow down")
        body, ctype, etag = self.feeds[path]
        last_modified = "Tue, 03 Nov 2026 00:00:00 GMT"
        if request.headers.get("If-None-Match") == etag:
            self.log.append((path, 304, dict(request.headers), time.monotonic()))
            return web.Response(status=304, headers={"ETag": etag})
        self.log.append((path, 200, dict(request.headers), time.monotonic()))
        return web.Response(body=body, content_type=ctype, headers={"ETag": etag, "Last-Modified": last_modified})

    def statuses(self, path: str) -> list[int]:
        return [status for p, status, _, _ in self.log if p == path]


def spec_raw(base: str, feeds: list[str]) -> dict[str, Any]:
    return {"type": "rss", "feeds": [base + f for f in feeds], "interval": 0.05, "rate_limit": 0,
            "backoff_base": 0.05, "backoff_max": 0.2, "timeout": 5}


def test_feed_parsing_and_canonical_ids() -> None:
    feed = parse_feed(rss([rss_item("https://News.example/a?utm_source=x&id=1#top", "标题", 3)]))
    assert feed.title == "财经快讯" and len(feed.items) == 1
    assert canonical_link(feed.items[0].link) == "https://news.example/a?id=1"
    same = parse_feed(atom([atom_entry("https://news.example/a?id=1", "标题", 3)]))
    assert item_id(feed.items[0]) == item_id(same.items[0])


def test_feeds_flow_with_backoff_conditional_requests_dedup_and_dead_letters(
        kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str, tmp_path: Path) -> None:
    site = FeedSite()
    site.feeds["/a.xml"] = (rss([
        rss_item("https://news.example/1", "某品牌奶粉被曝质量问题", 3, "消费者投诉<b>不断</b>"),
        rss_item("https://news.example/2?utm_source=rss", "某品牌回应", 4),
        "<item><title>没有链接也没有 guid</title></item>",
    ]), "application/rss+xml", '"a-v1"')
    site.feeds["/b.atom"] = (atom([
        atom_entry("https://news.example/2", "某品牌回应", 4),  # same article as in /a.xml
        atom_entry("https://forum.example/t/9", "有人遇到同样的问题吗", 5),
    ]), "application/atom+xml", '"b-v1"')
    site.failures["/a.xml"] = [(429, {"Retry-After": "1"})]
    site.failures["/b.atom"] = [(503, {}), (500, {})]
    name = f"news{topic_prefix}"

    async def scenario() -> None:
        async with local_server(site.app()) as base:
            config = connectors_config({name: spec_raw(base, ["/a.xml", "/b.atom"])}, tmp_path)
            await run_until(config.get(name), config, kafka_target(kafka_bootstrap, broker_quirks, topic_prefix),
                            lambda: 304 in site.statuses("/a.xml") and 304 in site.statuses("/b.atom"))

    asyncio.run(scenario())
    posts = posts_in(kafka_bootstrap, f"{topic_prefix}.posts")
    urls = sorted(post["url"] for _, post, _ in posts)
    assert urls == ["https://forum.example/t/9", "https://news.example/1", "https://news.example/2?utm_source=rss"]
    assert len({key for key, _, _ in posts}) == 3
    first = next(post for _, post, _ in posts if post["url"] == "https://news.example/1")
    assert first["text"] == "某品牌奶粉被曝质量问题\n消费者投诉不断"
    assert first["source"] == "rss" and first["author"]["name"] == "记者甲"
    for key, post, timestamp in posts:
        assert key == f"rss:{post['id']}"
        assert timestamp == int(__import__("datetime").datetime.fromisoformat(post["created_at"]).timestamp() * 1000)
    dead = dead_in(kafka_bootstrap, f"{topic_prefix}.posts.dead")
    assert [(d["reason"], d["connector"]) for d in dead] == [("missing_field", name)]
    assert "没有链接也没有 guid" in dead[0]["original_text"]
    # The 429 asked for one second; the retry did not come sooner.
    a_log = [entry for entry in site.log if entry[0] == "/a.xml"]
    assert a_log[0][1] == 429 and a_log[1][3] - a_log[0][3] >= 0.95
    assert site.statuses("/b.atom")[:3] == [503, 500, 200]
    # The repeat poll was conditional.
    conditional = next(h for p, s, h, _ in site.log if p == "/a.xml" and s == 304)
    assert conditional["If-None-Match"] == '"a-v1"' and "If-Modified-Since" in conditional
    assert metric("koubei_connector_errors_total", connector=name, kind="http_429") == 1
    assert metric("koubei_connector_errors_total", connector=name, kind="http_5xx") == 2
    assert metric("koubei_connector_posts_fetched_total", connector=name) == 3
    assert metric("koubei_connector_dead_letters_total", connector=name, reason="missing_field") == 1
    assert metric("koubei_connector_duplicates_skipped_total", connector=name) >= 1
    assert metric("koubei_connector_last_success_timestamp_seconds", connector=name) > 0
    assert metric("koubei_connector_lag_seconds", connector=name) > 0


def test_restart_resumes_without_loss_or_duplicates(
        kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str, tmp_path: Path) -> None:
    site = FeedSite()
    first_items = [rss_item(f"https://news.example/{i}", f"第{i}条", i) for i in (1, 2)]
    site.feeds["/a.xml"] = (rss(first_items), "application/rss+xml", '"v1"')
    name = f"news{topic_prefix}"
    target = kafka_target(kafka_bootstrap, broker_quirks, topic_prefix)

    async def scenario() -> None:
        async with local_server(site.app()) as base:
            config = connectors_config({name: spec_raw(base, ["/a.xml"])}, tmp_path)
            await run_until(config.get(name), config, target, lambda: checkpoints(name) >= 1)
            # While the connector is down the feed gains two articles.
            site.feeds["/a.xml"] = (rss(first_items + [rss_item(f"https://news.example/{i}", f"第{i}条", i)
                                                       for i in (3, 4)]), "application/rss+xml", '"v2"')
            requests_before = len(site.log)
            await run_until(config.get(name), config, target, lambda: checkpoints(name) >= 2)
            # The restarted connector still sent the validators of its checkpoint.
            assert site.log[requests_before][2]["If-None-Match"] == '"v1"'

    asyncio.run(scenario())
    posts = posts_in(kafka_bootstrap, f"{topic_prefix}.posts")
    assert sorted(post["text"] for _, post, _ in posts) == ["第1条", "第2条", "第3条", "第4条"]
    assert len(posts) == 4
