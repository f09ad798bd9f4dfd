"""Mastodon streaming connector against an SSE server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from connectors.mastodon import status_to_post
from streams.kafka import BrokerQuirks
from tests.test_connectors_support import (
    connectors_config,
    dead_in,
    kafka_target,
    local_server,
    metric,
    posts_in,
    run_until,
)

pytestmark = pytest.mark.integration


def status(sid: int, html: str, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": str(sid), "created_at": f"2026-11-03T02:00:{sid % 60:02d}.000Z", "content": html,
        "url": f"https://social.example/@li/{sid}", "uri": f"https://social.example/users/li/statuses/{sid}",
        "language": "zh", "reblogs_count": 2, "replies_count": 1, "favourites_count": 4, "spoiler_text": "",
        "reblog": None,
        "account": {"id": "77", "acct": "li@social.example", "username": "li", "display_name": "小李",
                    "followers_count": 300},
    }
    record.update(extra)
    return record


class StreamingServer:
    """/api/v1/streaming/hashtag: scripted connections, resumes after Last-Event-ID."""

    def __init__(self, events: list[tuple[str, str]]) -> None:
        self.events = events  # (event type, data); the event id is its index + 1
        self.connections: list[dict[str, str]] = []
        self.plan: list[str] = []  # per connection: "503", "drop-after-3", "resume-with-overlap", "open"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/streaming/hashtag", self.stream)
        return app

    async def stream(self, request: web.Request) -> web.StreamResponse:
        self.connections.append({**request.query, **{k: v for k, v in request.headers.items()}})
        mode = self.plan.pop(0) if self.plan else "open"
        if mode == "503":
            return web.Response(status=503, text="overloaded")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        last = int(request.headers.get("Last-Event-ID", "0"))
        # A server may replay a little history on resume; the client must not duplicate it.
        start = max(0, last - 2) if mode == "resume-with-overlap" else last
        await response.write(b"retry: 50\n\n:thump\n\n")
        for index in range(start, len(self.events)):
            kind, data = self.events[index]
            lines = "".join(f"data: {line}\n" for line in data.split("\n"))
            await response.write(f"event: {kind}\nid: {index + 1}\n{lines}\n".encode())
            if mode == "drop-after-3" and index + 1 - start == 3:
                # Half an event, then the connection breaks.
                await response.write(b"event: update\nid: 999\ndata: {\"id\":")
                assert request.transport is not None
                request.transport.close()
                return response
        sent_upto = len(self.events)
        try:
            while len(self.events) == sent_upto:
                await asyncio.sleep(0.05)
                await response.write(b":thump\n\n")
        except ConnectionResetError:
            return response  # the client went away (it is shutting down)
        return response  # new events arrived: end the stream so the client reconnects


def spec_raw(base: str) -> dict[str, Any]:
    return {"type": "mastodon", "base_url": base, "stream": "hashtag", "tag": "某品牌", "rate_limit": 0,
            "backoff_base": 0.05, "backoff_max": 0.2, "timeout": 5}


def test_status_mapping_reduces_html_and_unwraps_boosts() -> None:
    boosted = status(9, "<p>原帖<br/>第二行</p>")
    post = status_to_post(status(10, "", reblog=boosted), source="mastodon")
    assert (post.key, post.text, post.reposts, post.likes, post.lang) == ("mastodon:9", "原帖\n第二行", 2, 4, "zh")
    assert post.author.name == "小李" and post.author.followers == 300


def test_stream_reconnects_with_last_event_id_and_dead_letters_malformed_events(
        kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str, tmp_path: Path) -> None:
    events = [
        ("update", json.dumps(status(1, "<p>#某品牌 客服<b>太慢</b></p>"))),
        ("update", json.dumps(status(2, "<p>第二条</p>"))),
        ("delete", "1"),
        ("update", json.dumps(status(3, "<p>第三条</p>"))),
        ("update", "{not json"),
        ("update", json.dumps(status(4, "<p>没有账号</p>", account=None))),
        ("update", json.dumps(status(5, "<p>第五条</p>"))),
    ]
    server = StreamingServer(events)
    server.plan = ["503", "drop-after-3", "resume-with-overlap"]
    name = f"md{topic_prefix}"

    async def scenario() -> None:
        async with local_server(server.app()) as base:
            config = connectors_config({name: spec_raw(base)}, tmp_path)
            await run_until(config.get(name), config, kafka_target(kafka_bootstrap, broker_quirks, topic_prefix),
                            lambda: metric("koubei_connector_posts_fetched_total", connector=name) >= 4
                            and metric("koubei_connector_dead_letters_total", connector=name,
                                       reason="missing_field") >= 1)

    asyncio.run(scenario())
    posts = posts_in(kafka_bootstrap, f"{topic_prefix}.posts")
    assert sorted(key for key, _, _ in posts) == ["mastodon:1", "mastodon:2", "mastodon:3", "mastodon:5"]
    first = next(post for key, post, _ in posts if key == "mastodon:1")
    assert first["text"] == "#某品牌 客服太慢" and first["reposts"] == 2 and first["comments"] == 1
    assert "Last-Event-ID" not in server.connections[1]
    assert server.connections[2]["Last-Event-ID"] == "3"  # the last complete event before the drop
    assert all(c["tag"] == "某品牌" and c["Accept"] == "text/event-stream" for c in server.connections)
    dead = dead_in(kafka_bootstrap, f"{topic_prefix}.posts.dead")
    assert sorted(d["reason"] for d in dead) == ["malformed_json", "missing_field"]
    assert metric("koubei_connector_errors_total", connector=name, kind="http_5xx") == 1
    assert metric("koubei_connector_errors_total", connector=name, kind="disconnect") >= 1
    assert metric("koubei_connector_duplicates_skipped_total", connector=name) == 1  # the overlap


def test_restart_sends_the_checkpointed_event_id_and_loses_nothing(
        kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str, tmp_path: Path) -> None:
    server = StreamingServer([("update", json.dumps(status(i, f"<p>帖子{i}</p>"))) for i in (1, 2)])
    name = f"md{topic_prefix}"
    target = kafka_target(kafka_bootstrap, broker_quirks, topic_prefix)

    def fetched() -> float:
        return metric("koubei_connector_posts_fetched_total", connector=name)

    async def scenario() -> None:
        async with local_server(server.app()) as base:
            config = connectors_config({name: spec_raw(base)}, tmp_path)
            await run_until(config.get(name), config, target, lambda: fetched() >= 2)
            server.events += [("update", json.dumps(status(i, f"<p>帖子{i}</p>"))) for i in (3, 4)]
            before = len(server.connections)
            await run_until(config.get(name), config, target, lambda: fetched() >= 4)
            assert server.connections[before]["Last-Event-ID"] == "2"

    asyncio.run(scenario())
    keys = [key for key, _, _ in posts_in(kafka_bootstrap, f"{topic_prefix}.posts")]
    assert sorted(keys) == [f"mastodon:{i}" for i in (1, 2, 3, 4)]
