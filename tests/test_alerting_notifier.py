"""The notifier against a real broker and a local receiver: at-least-once
delivery, the delivery log, retries, the retry topic and dead letters."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

sys.path.insert(0, str(Path(__file__).parent / "alerting"))
from alert_samples import BRANDS, alert  # noqa: E402
from fake_platforms import Answer, FakePlatform  # noqa: E402

from alerting.notifier import Notifier, topic_names  # noqa: E402
from alerting.policy.silences import new_silence  # noqa: E402
from streams.cli.config import KoubeiConfig, parse_koubei_config  # noqa: E402
from streams.kafka import BrokerQuirks, make_producer, read_topic  # noqa: E402
from streams.models import AlertEvent  # noqa: E402

pytestmark = pytest.mark.integration

FAST_ROUTE = {"receiver": "hook", "group_wait": "100ms", "group_interval": "200ms", "repeat_interval": "1h"}
FAST_RETRY = {"initial_backoff": "50ms", "max_backoff": "200ms", "retry_deadline": "3s", "inline_attempts": 2}


def notifier_config(kafka_url: str, prefix: str, receiver_url: str, *, route: dict[str, Any] | None = None,
                    delivery: dict[str, Any] | None = None, app_id: str | None = None,
                    quirks: BrokerQuirks | None = None, channel: dict[str, Any] | None = None) -> KoubeiConfig:
    raw = {
        "brands": BRANDS,
        "kafka": {"url": kafka_url, "topic_prefix": prefix, "partitions": 2,
                  "broker_quirks": "tansu" if quirks is not None and quirks.embedded else "none"},
        "worker": {"app_id": app_id or f"app-{uuid.uuid4().hex[:8]}"},
        "alerting": {
            "channels": [channel or {"name": "hook", "type": "webhook", "url": receiver_url,
                                     "secret_env": "HOOK_SECRET"}],
            "routes": route or FAST_ROUTE,
            "delivery": delivery or FAST_RETRY,
        },
    }
    return parse_koubei_config(raw, environ={"HOOK_SECRET": "hook-secret"})


def produce(bootstrap: str, quirks: BrokerQuirks, topic: str, events: list[AlertEvent]) -> None:
    producer = make_producer(bootstrap, quirks)
    try:
        for event in events:
            producer.send(topic, key=event.key.encode(), value=event.to_json()).get(timeout=20)
    finally:
        producer.close()


def fast_join(quirks: BrokerQuirks) -> BrokerQuirks:
    """The first group join takes about half the session timeout on the
    embedded broker (streams.kafka.BrokerQuirks): keep it short in tests."""
    if quirks.session_timeout is None:
        return quirks
    return dataclasses.replace(quirks, session_timeout=3.0)


async def with_notifier(cfg: KoubeiConfig, bootstrap: str, quirks: BrokerQuirks,
                        body: Callable[[Notifier], Awaitable[Any]]) -> Any:
    stop = asyncio.Event()
    notifier = Notifier(cfg, cfg.alerting, bootstrap, fast_join(quirks))
    task = asyncio.create_task(notifier.run(stop))
    ready = asyncio.create_task(notifier.ready.wait())
    done, _ = await asyncio.wait({task, ready}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # start-up failed: raise its error
    assert ready in done, "notifier did not start within 60 s"
    try:
        return await body(notifier)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def deliveries(bootstrap: str, cfg: KoubeiConfig) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in read_topic(bootstrap, topic_names(cfg)["deliveries"])]


def test_firing_and_resolved_arrive_once_each_and_offsets_are_committed(
        kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str) -> None:
    with FakePlatform("webhook", secret="hook-secret") as fake:
        cfg = notifier_config(kafka_url, topic_prefix, fake.url, quirks=broker_quirks)
        sent_before = sample("koubei_notifications_total", channel="hook", outcome="sent")
        end_to_end_before = sample("koubei_alert_end_to_end_seconds_count", channel="hook")

        async def scenario(notifier: Notifier) -> None:
            await asyncio.to_thread(produce, kafka_bootstrap, broker_quirks, cfg.topic("alerts"), [alert()])
            assert len(await asyncio.to_thread(fake.wait_for, 1)) == 1
            await asyncio.to_thread(produce, kafka_bootstrap, broker_quirks, cfg.topic("alerts"),
                                    [alert(state="resolved", sequence=2)])
            assert len(await asyncio.to_thread(fake.wait_for, 2)) == 2
            for _ in range(100):  # the commit follows the delivery-log write
                if not notifier.tracker.committable() and not notifier._holds:
                    break
                await asyncio.sleep(0.05)

        asyncio.run(with_notifier(cfg, kafka_bootstrap, broker_quirks, scenario))
        statuses = [r.json()["alerts"][0]["state"] for r in fake.accepted]
        assert statuses == ["firing", "resolved"]
        assert [r.problem for r in fake.received] == ["", ""]
    assert sample("koubei_notifications_total", channel="hook", outcome="sent") - sent_before == 2
    # End to end is measured once per alert, at its first announcement.
    assert sample("koubei_alert_end_to_end_seconds_count", channel="hook") - end_to_end_before == 1
    log = deliveries(kafka_bootstrap, cfg)
    assert [(d["key"], d["state"]) for d in log] == [("acme:negative_share", "firing"),
                                                     ("acme:negative_share", "resolved")]
    assert committed_total(kafka_bootstrap, cfg, "alerts") == 2


def committed_total(bootstrap: str, cfg: KoubeiConfig, topic: str) -> int:
    from kafka import KafkaAdminClient

    group = f"{cfg.worker.app_id}-notifier"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        committed = admin.list_group_offsets({group: None})[group]
    finally:
        admin.close()
    return sum(o.offset for tp, o in committed.items() if tp.topic == cfg.topic(topic) and o.offset > 0)


def run_scenario(kafka_url: str, bootstrap: str, quirks: BrokerQuirks, prefix: str, fake: FakePlatform,
                 events: list[AlertEvent], wait_for: int, *, settle: float = 0.0, wait_idle: bool = True,
                 **cfg_args: Any) -> KoubeiConfig:
    cfg = notifier_config(kafka_url, prefix, fake.url, quirks=quirks, **cfg_args)

    async def scenario(notifier: Notifier) -> None:
        await asyncio.to_thread(produce, bootstrap, quirks, cfg.topic("alerts"), events)
        await asyncio.to_thread(fake.wait_for, wait_for, 20.0, False)
        for _ in range(200 if wait_idle else 0):  # until every consumed message is accounted for
            if not notifier._holds and not notifier.tracker.committable():
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(settle)

    asyncio.run(with_notifier(cfg, bootstrap, quirks, scenario))
    return cfg


def test_transient_failures_are_retried_inline_with_backoff(
        kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str) -> None:
    failed = sample("koubei_notifications_total", channel="hook", outcome="failed")
    with FakePlatform("webhook", secret="hook-secret") as fake:
        fake.script.append(Answer(500, {"error": "busy"}))
        cfg = run_scenario(kafka_url, kafka_bootstrap, broker_quirks, topic_prefix, fake, [alert()], 2)
        assert [r.accepted for r in fake.received] == [False, True]
        assert fake.received[0].headers["x-koubei-delivery"] == fake.received[1].headers["x-koubei-delivery"]
    assert sample("koubei_notifications_total", channel="hook", outcome="failed") - failed == 1
    assert read_topic(kafka_bootstrap, topic_names(cfg)["retry"]) == []
    assert committed_total(kafka_bootstrap, cfg, "alerts") == 1


def test_a_failing_channel_parks_the_message_in_the_retry_topic_then_delivers(
        kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str) -> None:
    retried = sample("koubei_notifications_total", channel="hook", outcome="retried")
    with FakePlatform("webhook", secret="hook-secret") as fake:
        fake.script.append(Answer(503, {"error": "maintenance"}))
        cfg = run_scenario(kafka_url, kafka_bootstrap, broker_quirks, topic_prefix, fake, [alert()], 2,
                           delivery={**FAST_RETRY, "inline_attempts": 1})
        assert [r.accepted for r in fake.received] == [False, True]
    parked = [json.loads(r.value) for r in read_topic(kafka_bootstrap, topic_names(cfg)["retry"])]
    assert len(parked) == 1 and parked[0]["attempt"] == 1 and "503" in parked[0]["last_error"]
    assert sample("koubei_notifications_total", channel="hook", outcome="retried") - retried == 1
    assert committed_total(kafka_bootstrap, cfg, "alerts") == 1
    assert committed_total(kafka_bootstrap, cfg, "alerts.retry") == 1


def test_after_the_retry_deadline_the_notification_is_dead_lettered(
        kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str) -> None:
    dead = sample("koubei_notifications_total", channel="hook", outcome="dead")
    with FakePlatform("webhook", secret="hook-secret") as fake:
        fake.script.extend(Answer(500, {"error": "down"}) for _ in range(1000))
        cfg = notifier_config(kafka_url, topic_prefix, fake.url, quirks=broker_quirks,
                              delivery={**FAST_RETRY, "retry_deadline": "1s", "inline_attempts": 1})

        async def scenario(notifier: Notifier) -> None:
            await asyncio.to_thread(produce, kafka_bootstrap, broker_quirks, cfg.topic("alerts"), [alert()])
            for _ in range(400):
                if sample("koubei_notifications_total", channel="hook", outcome="dead") > dead:
                    break
                await asyncio.sleep(0.05)
            # Delivery goes on past the deadline (a parked record is always
            # held): wait only for the alert's own offset to be committed.
            alerts = cfg.topic("alerts")
            for _ in range(100):
                if (not any(s.topic == alerts for s in notifier._holds)
                        and not any(t == alerts for t, _ in notifier.tracker.committable())):
                    break
                await asyncio.sleep(0.05)

        asyncio.run(with_notifier(cfg, kafka_bootstrap, broker_quirks, scenario))
        assert len(fake.received) >= 2 and not fake.accepted
    letters = [json.loads(r.value) for r in read_topic(kafka_bootstrap, topic_names(cfg)["dead"])]
    assert [d["reason"] for d in letters] == ["retry_deadline"]
    original = json.loads(letters[0]["original_text"])
    assert original["alerts"][0]["key"] == "acme:negative_share"  # nothing lost: the whole notification is kept
    assert sample("koubei_notifications_total", channel="hook", outcome="dead") - dead == 1
    assert committed_total(kafka_bootstrap, cfg, "alerts") == 1


def test_a_permanent_rejection_goes_straight_to_the_dead_letter_topic(
        kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str) -> None:
    with FakePlatform("webhook", secret="a-different-secret") as fake:
        cfg = run_scenario(kafka_url, kafka_bootstrap, broker_quirks, topic_prefix, fake, [alert()], 1, settle=0.3)
        assert len(fake.received) == 1 and fake.received[0].problem == "bad sign"
    letters = [json.loads(r.value) for r in read_topic(kafka_bootstrap, topic_names(cfg)["dead"])]
    assert [d["reason"] for d in letters] == ["rejected"] and "401" in letters[0]["error"]


@pytest.mark.slow
def test_a_replay_of_delivered_alerts_sends_nothing_twice(
        kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str) -> None:
    with FakePlatform("webhook", secret="hook-secret") as fake:
        # One group for all brands (group_by: []): the second message carries bolt with acme's resolve.
        cfg = notifier_config(kafka_url, topic_prefix, fake.url, quirks=broker_quirks,
                              route={**FAST_ROUTE, "group_by": []})

        async def first_run(notifier: Notifier) -> None:
            await asyncio.to_thread(produce, kafka_bootstrap, broker_quirks, cfg.topic("alerts"),
                                    [alert(), alert("bolt")])
            await asyncio.to_thread(fake.wait_for, 1)
            await asyncio.to_thread(produce, kafka_bootstrap, broker_quirks, cfg.topic("alerts"),
                                    [alert(state="resolved", sequence=2)])
            await asyncio.to_thread(fake.wait_for, 2)

        asyncio.run(with_notifier(cfg, kafka_bootstrap, broker_quirks, first_run))
        assert len(fake.accepted) == 2
        # A new consumer group re-reads the whole topic, as after lost offsets;
        # the delivery log (read at start) must keep every alert from going out again.
        replay = notifier_config(kafka_url, topic_prefix, fake.url, quirks=broker_quirks,
                                 route={**FAST_ROUTE, "group_by": []})
        replayed = sample("koubei_alert_events_received_total", brand="acme", outcome="replayed")

        async def second_run(notifier: Notifier) -> None:
            for _ in range(200):
                if sample("koubei_alert_events_received_total", brand="acme", outcome="replayed") - replayed >= 2:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # longer than group_wait: a wrong re-send would have happened by now

        asyncio.run(with_notifier(replay, kafka_bootstrap, broker_quirks, second_run))
        assert sample("koubei_alert_events_received_total", brand="acme", outcome="replayed") - replayed == 2
        assert len(fake.accepted) == 2
    # The second message carries the whole group (bolt still firing), like Alertmanager.
    delivered = {(d["key"], d["state"]) for d in deliveries(kafka_bootstrap, cfg)}
    assert delivered == {("acme:negative_share", "firing"), ("acme:negative_share", "resolved"),
                         ("bolt:negative_share", "firing")}


def test_twenty_brands_spiking_together_make_one_message(
        kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str) -> None:
    events = [alert(f"brand{i:02d}") for i in range(20)]
    with FakePlatform("webhook", secret="hook-secret") as fake:
        run_scenario(kafka_url, kafka_bootstrap, broker_quirks, topic_prefix, fake, events, 1, settle=0.3,
                     route={**FAST_ROUTE, "group_wait": "2s", "group_by": []})
        assert len(fake.accepted) == 1
        assert len(fake.accepted[0].json()["alerts"]) == 20


def test_silences_from_the_topic_mute_matching_alerts_only(
        kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str) -> None:
    import time

    with FakePlatform("webhook", secret="hook-secret") as fake:
        cfg = notifier_config(kafka_url, topic_prefix, fake.url, quirks=broker_quirks)
        silence = new_silence({"brand": ("acme",)}, time.time(), 3600, "known issue, PR is on it", "test")
        from alerting.notifier import ensure_notifier_topics

        ensure_notifier_topics(cfg, kafka_bootstrap)
        producer = make_producer(kafka_bootstrap, broker_quirks)
        producer.send(topic_names(cfg)["silences"], key=silence.id.encode(), value=silence.to_json()).get(timeout=20)
        producer.close()
        run_scenario(kafka_url, kafka_bootstrap, broker_quirks, topic_prefix, fake,
                     [alert("acme"), alert("bolt")], 1, settle=0.3)
        assert [[a["brand"] for a in r.json()["alerts"]] for r in fake.accepted] == [["bolt"]]
    assert sample("koubei_silences_active") >= 1


def test_invalid_alert_records_are_dead_lettered_not_fatal(
        kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str) -> None:
    with FakePlatform("webhook", secret="hook-secret") as fake:
        cfg = notifier_config(kafka_url, topic_prefix, fake.url, quirks=broker_quirks)

        async def scenario(notifier: Notifier) -> None:
            def send_raw() -> None:
                producer = make_producer(kafka_bootstrap, broker_quirks)
                producer.send(cfg.topic("alerts"), key=b"x", value=b"{not json").get(timeout=20)
                producer.close()
                produce(kafka_bootstrap, broker_quirks, cfg.topic("alerts"), [alert()])

            await asyncio.to_thread(send_raw)
            await asyncio.to_thread(fake.wait_for, 1)

        asyncio.run(with_notifier(cfg, kafka_bootstrap, broker_quirks, scenario))
        assert len(fake.accepted) == 1
    letters = [json.loads(r.value) for r in read_topic(kafka_bootstrap, topic_names(cfg)["dead"])]
    assert [d["reason"] for d in letters] == ["invalid_alert"] and letters[0]["original_text"] == "{not json"


def test_429_with_retry_after_pauses_the_channel_then_delivers(
        kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str) -> None:
    with FakePlatform("webhook", secret="hook-secret") as fake:
        fake.script.append(Answer(429, {"error": "slow down"}, {"Retry-After": "1"}))
        cfg = run_scenario(kafka_url, kafka_bootstrap, broker_quirks, topic_prefix, fake, [alert()], 2)
        assert [r.accepted for r in fake.received] == [False, True]
    assert read_topic(kafka_bootstrap, topic_names(cfg)["retry"]) == []  # a short pause is waited out inline
    assert read_topic(kafka_bootstrap, topic_names(cfg)["dead"]) == []


def test_without_channels_alerts_are_committed_as_no_route(
        kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str) -> None:
    cfg = parse_koubei_config({"brands": BRANDS, "kafka": {"url": kafka_url, "topic_prefix": topic_prefix,
                                                    "broker_quirks": "tansu" if broker_quirks.embedded else "none"},
                        "worker": {"app_id": f"none-{topic_prefix}"}}, environ={})
    before = sample("koubei_alert_events_received_total", brand="acme", outcome="no_route")

    async def scenario(notifier: Notifier) -> None:
        await asyncio.to_thread(produce, kafka_bootstrap, broker_quirks, cfg.topic("alerts"), [alert(), alert()])
        for _ in range(200):
            if sample("koubei_alert_events_received_total", brand="acme", outcome="no_route") - before >= 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)

    asyncio.run(with_notifier(cfg, kafka_bootstrap, broker_quirks, scenario))
    assert sample("koubei_alert_events_received_total", brand="acme", outcome="no_route") - before == 2
    assert committed_total(kafka_bootstrap, cfg, "alerts") == 2


def test_a_throttled_robot_parks_the_message_for_the_platforms_penalty_not_dead(
        kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str) -> None:
    import time

    with FakePlatform("dingtalk") as fake:
        fake.script.append(Answer(200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}))
        started = time.time()
        # Parked for ten minutes, its retry-topic record stays held: do not wait for idle.
        cfg = run_scenario(kafka_url, kafka_bootstrap, broker_quirks, topic_prefix, fake, [alert()], 1, settle=1.0,
                           wait_idle=False, channel={"name": "hook", "type": "dingtalk", "url": fake.url},
                           delivery={**FAST_RETRY, "retry_deadline": "2h"})
        assert len(fake.received) == 1  # no hammering a muted robot
    [parked] = [json.loads(r.value) for r in read_topic(kafka_bootstrap, topic_names(cfg)["retry"])]
    assert parked["due_at"] >= started + 600  # DingTalk mutes an over-eager robot for ten minutes
    assert "130101" in parked["last_error"]
    assert read_topic(kafka_bootstrap, topic_names(cfg)["dead"]) == []
    assert committed_total(kafka_bootstrap, cfg, "alerts") == 1


@pytest.mark.slow
def test_alertmanager_keeps_getting_active_alerts_after_a_notifier_restart(
        kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str) -> None:
    with FakePlatform("alertmanager") as fake:
        channel = {"name": "am", "type": "alertmanager", "url": fake.url, "resend_interval": "1s"}
        route = {"receiver": "am", "group_wait": "100ms", "group_interval": "200ms"}
        cfg = notifier_config(kafka_url, topic_prefix, fake.url, quirks=broker_quirks, channel=channel, route=route,
                              app_id=f"am-{topic_prefix}")

        async def first_run(notifier: Notifier) -> None:
            await asyncio.to_thread(produce, kafka_bootstrap, broker_quirks, cfg.topic("alerts"), [alert()])
            await asyncio.to_thread(fake.wait_for, 1)
            for _ in range(100):
                if not notifier._holds and not notifier.tracker.committable():
                    break
                await asyncio.sleep(0.05)

        asyncio.run(with_notifier(cfg, kafka_bootstrap, broker_quirks, first_run))
        assert committed_total(kafka_bootstrap, cfg, "alerts") == 1  # nothing will be re-read
        before = len(fake.accepted)

        async def second_run(notifier: Notifier) -> None:
            await asyncio.to_thread(fake.wait_for, before + 1, 20.0)

        asyncio.run(with_notifier(cfg, kafka_bootstrap, broker_quirks, second_run))
        resent = fake.accepted[before:]
        assert resent, "the restarted notifier did not re-send the active alert"
        assert resent[0].json()[0]["labels"]["brand"] == "acme"
