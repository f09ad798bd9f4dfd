"""Weibo connector against an open-API-shaped server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from connectors.weibo import status_to_post
from streams.kafka import BrokerQuirks
from streams.settings import ConfigError
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
TOKEN = "2.00weibo-test-token"


def status(sid: int, text: str, uid: int = 1001, second: int = 0, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "created_at": f"Tue Nov 03 10:{sid % 60:02d}:{second:02d} +0800 2026",
        "id": sid, "idstr": str(sid), "mid": str(sid), "text": text,
        "reposts_count": 5, "comments_count": 3, "attitudes_count": 9,
        "user": {"id": uid, "idstr": str(uid), "screen_name": f"用户{uid}", "followers_count": 12000,
                 "verified": True},
    }
    record.update(extra)
    return record


class WeiboApi:
    """/2/search/topics.json and /2/statuses/user_timeline.json, newest first, paged."""

    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []
        self.scripted: list[tuple[int, dict[str, Any]]] = []
        self.requests: list[dict[str, str]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/2/search/topics.json", self.search)
        app.router.add_get("/2/statuses/user_timeline.json", self.timeline)
        return app

    def _check(self, request: web.Request) -> web.Response | None:
        self.requests.append({"path": request.path, **request.query})
        if request.headers.get("Authorization") != f"OAuth2 {TOKEN}":
            return web.json_response({"error": "invalid_access_token", "error_code": 21332,
                                      "request": request.path}, status=401)
        if self.scripted:
            status_code, body = self.scripted.pop(0)
            if status_code == 0:
                # The connection breaks before any answer.
                assert request.transport is not None
                request.transport.abort()
                raise ConnectionResetError("dropped by the test server")
            return web.json_response(body, status=status_code)
        return None

    def _page(self, request: web.Request, matching: list[dict[str, Any]]) -> web.Response:
        since = int(request.query.get("since_id", "0"))
        count, page = int(request.query["count"]), int(request.query["page"])
        fresh = [s for s in matching if s.get("id", 10**18) > since]
        fresh.sort(key=lambda s: -s.get("id", 10**18))
        return web.json_response({"statuses": fresh[(page - 1) * count: page * count],
                                  "total_number": len(fresh)})

    async def search(self, request: web.Request) -> web.Response:
        return self._check(request) or self._page(
            request, [s for s in self.statuses if request.query["q"] in str(s.get("text", ""))])

    async def timeline(self, request: web.Request) -> web.Response:
        uid = int(request.query["uid"])
        return self._check(request) or self._page(
            request, [s for s in self.statuses if isinstance(s.get("user"), dict) and s["user"]["id"] == uid])


def spec_raw(base: str, **extra: Any) -> dict[str, Any]:
    raw = {"type": "weibo", "base_url": base, "token_env": "WEIBO_TOKEN", "keywords": ["某品牌"],
           "users": ["2002"], "interval": 0.05, "count": 2, "max_pages": 10, "rate_limit": 0,
           "backoff_base": 0.05, "backoff_max": 0.2}
    raw.update(extra)
    return raw


def test_status_mapping_follows_the_open_api_fields() -> None:
    post = status_to_post(status(5, "某品牌太差了", uid=77), source="weibo", query="q:某品牌")
    assert (post.key, post.reposts, post.comments, post.likes) == ("weibo:5", 5, 3, 9)
    assert (post.author.id, post.author.followers, post.author.verified) == ("77", 12000, True)
    assert post.url == "https://weibo.com/77/5"
    assert post.created_at.isoformat() == "2026-11-03T10:05:00+08:00"


def test_a_repost_carries_the_post_it_spreads() -> None:
    from streams.sentiment.preprocess import prepare, story_key

    original = status(6, "曝光！某品牌奶粉被检出致癌物", uid=88)
    repost = status(7, "转发微博", uid=99, retweeted_status=original)
    post = status_to_post(repost, source="weibo", query="q:某品牌")
    assert post.text == "转发微博//@用户88:曝光！某品牌奶粉被检出致癌物"
    assert post.raw["reposted_id"] == "6"
    # Scored on the original's words, and one story with the original.
    assert prepare(post.text).scored_text == "曝光!某品牌奶粉被检出致癌物"  # width-folded
    assert story_key(post.text) == story_key(status_to_post(original, source="weibo", query="q").text)
    # A status without a reposted post is unchanged.
    assert status_to_post(original, source="weibo", query="q").text == "曝光！某品牌奶粉被检出致癌物"


def test_missing_token_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    from connectors.registry import build_connector

    config = connectors_config({"weibo": spec_raw("http://127.0.0.1:9")}, tmp_path)
    with pytest.raises(ConfigError, match=r"connectors\.weibo\.token_env: environment variable WEIBO_TOKEN"):
        build_connector(config.get("weibo"), {})


def test_keyword_and_timeline_paging_rate_limits_disconnects_and_malformed_statuses(
        kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str, tmp_path: Path) -> None:
    api = WeiboApi()
    api.statuses = [status(i, f"某品牌 第{i}条 吐槽") for i in range(101, 106)]
    api.statuses.append(status(106, "某品牌 被同时搜到", uid=2002))  # matched by keyword and by user
    api.statuses.append(status(107, "某品牌 账号已注销", user=None))  # malformed: no user
    api.statuses.append(status(108, "用户 2002 的日常", uid=2002, created_at="下午三点"))  # malformed time
    api.scripted = [(403, {"error": "User requests out of rate limit!", "error_code": 10023}),
                    (429, {"error": "too many"}), (0, {})]
    name = f"wb{topic_prefix}"
    env = {"WEIBO_TOKEN": TOKEN}

    async def scenario() -> None:
        async with local_server(api.app()) as base:
            config = connectors_config({name: spec_raw(base)}, tmp_path)
            await run_until(config.get(name), config, kafka_target(kafka_bootstrap, broker_quirks, topic_prefix),
                            lambda: checkpoints(name) >= 2 and len(api.requests) >= 12, environ=env)

    asyncio.run(scenario())
    posts = posts_in(kafka_bootstrap, f"{topic_prefix}.posts")
    assert sorted(key for key, _, _ in posts) == [f"weibo:{i}" for i in range(101, 107)]
    one = next(post for key, post, _ in posts if key == "weibo:103")
    assert one["author"]["followers"] == 12000 and one["likes"] == 9 and one["author"]["verified"] is True
    dead = dead_in(kafka_bootstrap, f"{topic_prefix}.posts.dead")
    # The gate reads the time; "下午三点" is not one (bad_time).
    assert sorted(d["reason"] for d in dead) == ["bad_time", "missing_field"]
    assert all(d["source"] == "weibo" and d["connector"] == name for d in dead)
    # Paging with count=2 needed several pages; later polls asked only for newer statuses.
    pages = {r["page"] for r in api.requests if r.get("q") == "某品牌"}
    assert {"1", "2", "3", "4"} <= pages
    assert any(r.get("since_id") == "107" for r in api.requests if r.get("q") == "某品牌")
    assert metric("koubei_connector_errors_total", connector=name, kind="rate_limited") == 1
    assert metric("koubei_connector_errors_total", connector=name, kind="http_429") == 1
    assert metric("koubei_connector_errors_total", connector=name, kind="connect") == 1
    assert metric("koubei_connector_duplicates_skipped_total", connector=name) == 1


def test_restart_resumes_from_since_id_without_loss_or_duplicates(
        kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str, tmp_path: Path) -> None:
    api = WeiboApi()
    api.statuses = [status(i, f"某品牌 {i}") for i in range(201, 204)]
    name = f"wb{topic_prefix}"
    env = {"WEIBO_TOKEN": TOKEN}
    target = kafka_target(kafka_bootstrap, broker_quirks, topic_prefix)

    async def scenario() -> None:
        async with local_server(api.app()) as base:
            config = connectors_config({name: spec_raw(base, users=[])}, tmp_path)
            await run_until(config.get(name), config, target, lambda: checkpoints(name) >= 1, environ=env)
            api.statuses += [status(i, f"某品牌 {i}") for i in range(204, 208)]
            first_new_request = len(api.requests)
            await run_until(config.get(name), config, target, lambda: checkpoints(name) >= 2, environ=env)
            assert api.requests[first_new_request]["since_id"] == "203"

    asyncio.run(scenario())
    keys = [key for key, _, _ in posts_in(kafka_bootstrap, f"{topic_prefix}.posts")]
    assert sorted(keys) == [f"weibo:{i}" for i in range(201, 208)]
