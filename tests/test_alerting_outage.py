"""No alert lost to a chat outage (issue 12 item 5), against the real broker.

One notifier, five channels, each down in its own way while a crisis fires,
escalates and resolves: connections refused, HTTP 503, HTTP 429 with and
without Retry-After, requests that time out. When they come back, each gets
one message with the whole story ("fired 13:08, critical 13:12, resolved
13:40"); none gets a bare "resolved" for a crisis it never heard of.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "alerting"))
from alert_samples import BRANDS, T0, alert  # noqa: E402
from fake_platforms import Answer, FakePlatform  # noqa: E402

from alerting.episode import episode_id  # noqa: E402
from alerting.notifier import Notifier, topic_names  # noqa: E402
from streams.cli.config import parse_koubei_config  # noqa: E402
from streams.kafka import BrokerQuirks, read_topic  # noqa: E402
from tests.test_alerting_notifier import committed_total, produce, with_notifier  # noqa: E402

pytestmark = pytest.mark.integration

FIRED = T0 + 28 * 60  # 13:08 Shanghai
OUTAGES: dict[str, Answer | None] = {
    "refused": None,  # the platform's port is closed
    "http503": Answer(503, {"error": "maintenance"}),
    "http429_retry_after": Answer(429, {"error": "slow down"}, {"Retry-After": "1"}),
    "http429": Answer(429, {"error": "slow down"}),
    "timeout": Answer(delay=1.0),  # answers after that channel's 300 ms timeout
}


def test_every_kind_of_outage_ends_in_one_message_with_the_whole_story(
        kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str) -> None:
    fakes = {name: FakePlatform("webhook") for name in OUTAGES}
    for fake in fakes.values():
        fake.__enter__()
    try:
        cfg = parse_koubei_config({
            "brands": BRANDS,
            "kafka": {"url": kafka_url, "topic_prefix": topic_prefix, "partitions": 2,
                      "broker_quirks": "tansu" if broker_quirks.embedded else "none"},
            "worker": {"app_id": f"outage-{uuid.uuid4().hex[:8]}"},
            "alerting": {
                # Only the channel whose platform stalls needs a short timeout.
                "channels": [{"name": name, "type": "webhook", "url": fake.url,
                              "timeout": "300ms" if name == "timeout" else "10s"} for name, fake in fakes.items()],
                "routes": {"group_wait": "100ms", "group_interval": "200ms", "repeat_interval": "1h",
                           "routes": [{"receiver": name, "continue": True} for name in OUTAGES]},
                "delivery": {"initial_backoff": "50ms", "max_backoff": "300ms", "retry_deadline": "1m",
                             "inline_attempts": 2},
            },
        }, environ={})
        events = [
            alert(started_at=FIRED, event_time=FIRED, sequence=1),
            alert(started_at=FIRED, event_time=FIRED + 240, sequence=2, severity="critical"),
            alert(started_at=FIRED, event_time=FIRED + 1920, sequence=3, severity="critical", state="resolved",
                  ended_at=FIRED + 1920),
        ]

        async def scenario(notifier: Notifier) -> None:
            fakes["refused"].go_down()
            for name, answer in OUTAGES.items():
                fakes[name].outage = answer
            for event in events:
                before = {n: f.arrivals for n, f in fakes.items()}
                await asyncio.to_thread(produce, kafka_bootstrap, broker_quirks, cfg.topic("alerts"), [event])
                deadline = time.monotonic() + 10
                # Every reachable platform is tried with this update before the next one comes.
                while time.monotonic() < deadline and any(
                        f.arrivals <= before[n] for n, f in fakes.items() if n != "refused"):
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)
            fakes["refused"].come_back()
            for fake in fakes.values():
                fake.outage = None
            for fake in fakes.values():
                await asyncio.to_thread(fake.wait_for, 1, 20.0)
            await asyncio.sleep(1.5)  # a second message, if any, would come now
            for _ in range(100):
                if not notifier._holds and not notifier.tracker.committable():
                    break
                await asyncio.sleep(0.05)

        asyncio.run(with_notifier(cfg, kafka_bootstrap, broker_quirks, scenario))
        for name, fake in fakes.items():
            # One message; on a loaded machine a request can outlive the 300 ms
            # timeout after the platform accepted it, and at-least-once then
            # re-sends the same notification (same X-Koubei-Delivery), never another.
            assert fake.accepted and len({r.headers["x-koubei-delivery"] for r in fake.accepted}) == 1, (
                name, [r.json()["alerts"] for r in fake.accepted])
            body = fake.accepted[0].json()
            [event] = body["alerts"]
            assert (event["state"], event["severity"], event["sequence"]) == ("resolved", "critical", 3), name
            assert [m["kind"] for m in event["timeline"]] == ["fired", "escalated", "resolved"], name
            assert body["title"].startswith("【已恢复·补发】"), name
            assert "经过：13:08 触发（警告） → 13:12 升级为严重 → 13:40 恢复" in body["text"], name
        assert fakes["http503"].arrivals > 3 and fakes["timeout"].arrivals > 3  # they were tried meanwhile
    finally:
        for fake in fakes.values():
            fake.__exit__(None, None, None)
    assert read_topic(kafka_bootstrap, topic_names(cfg)["dead"]) == []
    assert committed_total(kafka_bootstrap, cfg, "alerts") == 3
    log = [json.loads(r.value) for r in read_topic(kafka_bootstrap, topic_names(cfg)["deliveries"])]
    told = sorted({(d["channel"], d["state"], d["sequence"]) for d in log if d.get("type") != "owed"})
    assert told == sorted((name, "resolved", 3) for name in OUTAGES)
    key = episode_id(events[0])
    assert all(key.startswith(d["key"]) for d in log)
