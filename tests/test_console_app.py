"""The console's handlers over a real broker: the follower reads what the
pipeline wrote, actions need a login and the session's CSRF token, and what
they write (silences, acks, sentiment corrections) is read back from Kafka."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).parent))
from console_support import (  # noqa: E402
    LINK_SECRET,
    PASSWORD,
    TOKEN,
    console_config,
    csrf_of,
    now_start,
    page,
    publish,
    publish_crisis,
    resolves,
)

from alerting.console import app as console_app  # noqa: E402
from alerting.console.app import ConsoleSettings, create_app  # noqa: E402
from alerting.console.follower import Follower, KafkaWriter  # noqa: E402
from alerting.console.links import signed_action_url  # noqa: E402
from alerting.console.state import ConsoleState  # noqa: E402
from alerting.incidents import incident_id  # noqa: E402
from alerting.labels import Labeler  # noqa: E402
from alerting.matchers import any_of  # noqa: E402
from alerting.policy.silences import new_silence  # noqa: E402
from streams import topics  # noqa: E402
from streams.cli.config import KoubeiConfig  # noqa: E402
from streams.kafka import BrokerQuirks, read_topic  # noqa: E402
from streams.sentiment.corrections import read_corrections  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _no_login_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_app, "FAILED_LOGIN_PAUSE", 0.0)


def state_for(config: KoubeiConfig) -> ConsoleState:
    return ConsoleState({b.id: b.name for b in config.brands}, Labeler.of(config.brands), history=config.console.history)


@asynccontextmanager
async def running_console(config: KoubeiConfig, bootstrap: str, quirks: BrokerQuirks,
                          clock: Callable[[], float] = time.time) -> AsyncIterator[tuple[TestClient, ConsoleState]]:
    state = state_for(config)
    writer = KafkaWriter(config, bootstrap, quirks)
    follower = Follower(config, bootstrap, state, writer, clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(follower.run(stop))
    await asyncio.wait_for(follower.ready.wait(), 30)
    client = TestClient(TestServer(create_app(ConsoleSettings(config, config.alerting, config.console), state,
                                              writer, clock)))
    await client.start_server()
    try:
        yield client, state
    finally:
        await client.close()
        stop.set()
        await task
        writer.close()


async def login(client: TestClient) -> None:
    _, html = await page(client, "/login")
    response = await client.post("/login", data={"csrf": csrf_of(html), "token": TOKEN, "name": "王经理"})
    assert response.status == 200 and "王经理" in await response.text()


def topic_values(config: KoubeiConfig, bootstrap: str, spec: topics.TopicSpec) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in read_topic(bootstrap, config.topic(spec)) if r.value]


async def eventually(check: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.2)


def test_pages_show_what_the_pipeline_wrote(kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks,
                                            topic_prefix: str) -> None:
    config = console_config(kafka_url, topic_prefix, broker_quirks, anonymous_read=True)
    start = now_start()
    ref = publish_crisis(config, kafka_bootstrap, broker_quirks, start)

    async def scenario() -> None:
        async with running_console(config, kafka_bootstrap, broker_quirks) as (client, state):
            assert state.loaded and state.unreadable == {}
            response, html = await page(client, "/")
            assert response.status == 200 and 'id="brands"' in html and "艾克美" in html and "1 个进行中" in html
            _, listing = await page(client, "/incidents?state=open")
            assert f'data-id="{ref}"' in listing and "严重" in listing
            _, html = await page(client, f"/incidents/{quote(ref)}")
            assert 'id="why"' in html and html.count('class="signal-row"') == 2
            assert "<svg" in html and 'class="mark mark-fired"' in html and 'class="mark mark-escalated"' in html
            assert html.count('class="post-row"') == 3 and "pr-ding" in html and "异物(31)" in html
            assert "登录后可静默或确认" in html  # reading without a login is allowed here, acting is not
            # A later signal's own id leads to the same incident.
            response = await client.get(f"/incidents/{quote(incident_id('acme', start + 300))}",
                                        allow_redirects=False)
            assert response.status == 303 and response.headers["Location"] == f"/incidents/{quote(ref, safe='')}"
            _, english = await page(client, f"/incidents/{quote(ref)}?lang=en")
            assert "Why it alerted" in english
            _, still = await page(client, "/")
            assert "Brands" in still  # the language cookie stays
            async with TestClient(TestServer(client.app)) as tool:  # a tool without cookies gets JSON at once
                fresh = await tool.get(f"/api/incidents/{quote(ref)}")
                assert fresh.status == 200 and (await fresh.json())["id"] == ref and "Set-Cookie" not in fresh.headers
            api = await client.get("/api/incidents?open=1")
            [data] = await api.json()
            assert data["id"] == ref and data["state"] == "open" and len(data["deliveries"]) == 1
            health = await client.get("/readyz")
            assert health.status == 200

    asyncio.run(scenario())


def test_actions_need_a_login_and_the_csrf_token(kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks,
                                                 topic_prefix: str) -> None:
    config = console_config(kafka_url, topic_prefix, broker_quirks)
    ref = publish_crisis(config, kafka_bootstrap, broker_quirks, now_start())
    do = f"/incidents/{quote(ref)}/do/silence-1h"

    async def scenario() -> None:
        async with running_console(config, kafka_bootstrap, broker_quirks) as (client, _):
            response, html = await page(client, "/")
            assert "/login" in str(response.url)  # reading needs a login too (anonymous_read is off)
            token = csrf_of(html)
            refused = await client.post(do, data={"csrf": token}, allow_redirects=False)
            assert refused.status == 303 and refused.headers["Location"].startswith("/login")
            wrong = await client.post("/login", data={"csrf": token, "token": "guess"})
            assert wrong.status == 401
            await login(client)
            assert (await client.post(do, data={})).status == 403
            assert (await client.post(do, data={"csrf": token})).status == 403  # the pre-login token is void
            other = TestClient(TestServer(client.app))  # another browser's session and token
            await other.start_server()
            _, other_html = await page(other, "/login")
            assert (await client.post(do, data={"csrf": csrf_of(other_html)})).status == 403
            await other.close()
            assert (await client.get(do)).status == 405  # actions are POST only
        assert topic_values(config, kafka_bootstrap, topics.SILENCES) == []

    asyncio.run(scenario())


def test_silence_ack_and_correction_are_written_and_read_back(kafka_url: str, kafka_bootstrap: str,
                                                              broker_quirks: BrokerQuirks, topic_prefix: str) -> None:
    config = console_config(kafka_url, topic_prefix, broker_quirks)
    ref = publish_crisis(config, kafka_bootstrap, broker_quirks, now_start())
    base = f"/incidents/{quote(ref)}"

    async def scenario() -> None:
        async with running_console(config, kafka_bootstrap, broker_quirks) as (client, _):
            await login(client)
            _, confirm = await page(client, f"{base}/confirm/silence-1h")
            assert "1 小时" in confirm and "brand=acme" in confirm
            response = await client.post(f"{base}/do/silence-1h", data={"csrf": csrf_of(confirm), "comment": "已知"})
            html = await response.text()
            assert response.status == 200 and 'class="silence"' in html and "已静默「艾克美」" in html
            _, confirm = await page(client, f"{base}/confirm/ack")
            html = await (await client.post(f"{base}/do/ack", data={"csrf": csrf_of(confirm)})).text()
            assert "王经理 于" in html and 'id="action-ack"' not in html
            response = await client.post(f"{base}/correct", data={"csrf": csrf_of(html), "post": "weibo:0",
                                                                   "label": "neutral"})
            assert "已标记为中性" in await response.text()
        [silence] = topic_values(config, kafka_bootstrap, topics.SILENCES)
        assert silence["matchers"] == {"brand": ["acme"]} and silence["ends_at"] - silence["starts_at"] == 3600
        assert silence["created_by"] == "王经理" and silence["comment"] == "已知"
        [ack] = topic_values(config, kafka_bootstrap, topics.ACKS)
        assert ack["incident"] == ref and ack["by"] == "王经理"
        corrections, bad = read_corrections(config, kafka_bootstrap)
        assert bad == 0 and corrections["weibo:0"].label == "neutral" and "异物" in corrections["weibo:0"].text

        # A console started afresh reads it all back from Kafka.
        async with running_console(config, kafka_bootstrap, broker_quirks) as (client, state):
            incident = state.book.get(ref)
            assert incident is not None and incident.acknowledged
            now = time.time()
            assert [s.id for s in incident.silences(state.active_silences(now), state.labeler, now)] == [silence["id"]]
            assert state.corrections["weibo:0"].by == "王经理"

    asyncio.run(scenario())


def test_silence_until_resolved_ends_when_the_incident_resolves(kafka_url: str, kafka_bootstrap: str,
                                                                broker_quirks: BrokerQuirks,
                                                                topic_prefix: str) -> None:
    config = console_config(kafka_url, topic_prefix, broker_quirks)
    start = now_start()
    ref = publish_crisis(config, kafka_bootstrap, broker_quirks, start)
    base = f"/incidents/{quote(ref)}"

    async def scenario() -> None:
        async with running_console(config, kafka_bootstrap, broker_quirks) as (client, state):
            await login(client)
            _, confirm = await page(client, f"{base}/confirm/silence-resolved")
            html = await (await client.post(f"{base}/do/silence-resolved", data={"csrf": csrf_of(confirm)})).text()
            assert "至事件恢复" in html
            [silence_id] = list(state.until_resolved)
            assert state.silences.silences[silence_id].active(time.time())
            publish(config, kafka_bootstrap, broker_quirks, resolves(start, start + 900))
            await eventually(lambda: not state.silences.silences[silence_id].active(time.time()))
            _, html = await page(client, base)
            assert "已恢复" in html and 'class="silence"' not in html
        records = [r for r in topic_values(config, kafka_bootstrap, topics.SILENCES) if r["id"] == silence_id]
        assert records[0]["until_resolved"] == ref and records[-1]["ends_at"] <= time.time()
        assert records[0]["ends_at"] - records[0]["starts_at"] == config.alerting.silences.max_duration

        # The incident resolved while no console ran: the next console to start ends the silence.
        writer = KafkaWriter(config, kafka_bootstrap, broker_quirks)
        left = new_silence((any_of("brand", ["acme"]),), time.time(), 86400, "", "pr")
        await writer.silence(left, ref)
        writer.close()
        async with running_console(config, kafka_bootstrap, broker_quirks) as (_, state):
            await eventually(lambda: not state.silences.silences[left.id].active(time.time()))

    asyncio.run(scenario())


def test_signed_chat_links(kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks,
                           topic_prefix: str) -> None:
    config = console_config(kafka_url, topic_prefix, broker_quirks)
    ref = publish_crisis(config, kafka_bootstrap, broker_quirks, now_start())

    def link(action: str, expires: float) -> str:
        return signed_action_url("", LINK_SECRET, action, ref, expires)

    async def scenario() -> None:
        async with running_console(config, kafka_bootstrap, broker_quirks) as (client, _):
            # No login: the link is the credential. GET only shows what will happen.
            response, confirm = await page(client, link("silence-1h", time.time() + 600))
            assert response.status == 200 and "静默品牌「艾克美」" in confirm and 'id="confirm"' in confirm
            assert topic_values(config, kafka_bootstrap, topics.SILENCES) == []
            path = link("silence-1h", time.time() + 600)
            fields = dict(re.findall(r'name="(exp|sig)" value="([^"]+)"', confirm))
            assert (await client.post(path.split("?")[0], data=fields)).status == 403  # no CSRF token
            done = await client.post(path.split("?")[0], data={**fields, "csrf": csrf_of(confirm)})
            assert done.status == 200 and "已静默「艾克美」" in await done.text()
            [silence] = topic_values(config, kafka_bootstrap, topics.SILENCES)
            assert silence["created_by"] == "聊天消息链接" and silence["ends_at"] - silence["starts_at"] == 3600
            # Expired, tampered, incomplete: a clear page, nothing done.
            expired, text = await page(client, link("ack", time.time() - 1))
            assert expired.status == 410 and "链接已过期" in text
            tampered, text = await page(client, link("silence-1h", time.time() + 600).replace("silence-1h", "silence-4h"))
            assert tampered.status == 400 and "签名不匹配" in text
            forged = link("ack", time.time() + 600)
            action_path = forged.split("?")[0]
            exp = re.search(r"exp=(\d+)", forged).group(1)
            posted = await client.post(action_path, data={"csrf": csrf_of(confirm), "exp": exp, "sig": "0" * 64})
            assert posted.status == 400
            incomplete, text = await page(client, action_path)
            assert incomplete.status == 400 and "链接不完整" in text
        assert len(topic_values(config, kafka_bootstrap, topics.SILENCES)) == 1
        assert topic_values(config, kafka_bootstrap, topics.ACKS) == []

    asyncio.run(scenario())


def test_http_basic_with_a_password_hash(kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks,
                                         topic_prefix: str) -> None:
    config = console_config(kafka_url, topic_prefix, broker_quirks)
    ref = publish_crisis(config, kafka_bootstrap, broker_quirks, now_start())
    good = {"Authorization": "Basic " + base64.b64encode(f"pr-lead:{PASSWORD}".encode()).decode()}
    bad = {"Authorization": "Basic " + base64.b64encode(b"pr-lead:wrong").decode()}

    async def scenario() -> None:
        async with running_console(config, kafka_bootstrap, broker_quirks) as (client, _):
            response, _ = await page(client, f"/incidents/{quote(ref)}", headers=bad)
            assert "/login" in str(response.url)
            _, confirm = await page(client, f"/incidents/{quote(ref)}/confirm/ack", headers=good)
            done = await client.post(f"/incidents/{quote(ref)}/do/ack", data={"csrf": csrf_of(confirm)}, headers=good)
            assert done.status == 200 and "pr-lead 于" in await done.text()
        [ack] = topic_values(config, kafka_bootstrap, topics.ACKS)
        assert ack["by"] == "pr-lead"

    asyncio.run(scenario())
