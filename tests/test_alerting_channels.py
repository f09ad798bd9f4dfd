"""Each channel against a local stand-in of its platform (127.0.0.1)."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent / "alerting"))
from alert_samples import T0, alert, config  # noqa: E402
from fake_platforms import Answer, FakePlatform  # noqa: E402

from alerting.channels import Outcome, SendResult, make_channel  # noqa: E402
from alerting.message import Notification  # noqa: E402
from alerting.notifier import make_renderer  # noqa: E402

KINDS = ("dingtalk", "wecom", "feishu", "slack", "pagerduty", "alertmanager", "webhook")
SIGNED = ("dingtalk", "feishu", "webhook")


def channel_for(fake: FakePlatform, secret: str | None = None, **extra: Any) -> Any:
    spec: dict[str, Any] = {"name": f"{fake.kind}-1", "type": fake.kind, "url": fake.url, **extra}
    env = {}
    if secret is not None:
        spec["secret_env"] = "CH_SECRET"
        env["CH_SECRET"] = secret
    if fake.kind == "pagerduty":
        spec["routing_key_env"] = "PD_KEY"
        env["PD_KEY"] = fake.token
    cfg = config({"channels": [spec]}, environ=env, grafana_url="https://grafana.example/d/koubei")
    return make_channel(cfg.alerting.channels[0], make_renderer(cfg, cfg.alerting))


def send(channel: Any, note: Notification) -> SendResult:
    async def go() -> SendResult:
        async with httpx.AsyncClient() as client:
            return await channel.send(client, note, time.time())
    return asyncio.run(go())


def note_of(*alerts: Any, channel: str = "c") -> Notification:
    return Notification(channel, "g", {}, list(alerts), "new", T0)


@pytest.mark.parametrize("kind", KINDS)
def test_platform_accepts_firing_and_resolved(kind: str) -> None:
    secret = "s3cr3t-key" if kind in SIGNED else None
    with FakePlatform(kind, secret=secret) as fake:
        ch = channel_for(fake, secret)
        assert send(ch, note_of(alert(), alert("bolt", severity="critical"))).outcome is Outcome.DELIVERED
        assert send(ch, note_of(alert(state="resolved", sequence=2))).outcome is Outcome.DELIVERED
        assert [r.problem for r in fake.received] == [""] * len(fake.received)
        assert all(r.accepted for r in fake.received)
    if kind == "pagerduty":
        actions = [r.json()["event_action"] for r in fake.received]
        keys = [r.json()["dedup_key"] for r in fake.received]
        assert actions == ["trigger", "trigger", "resolve"]
        assert keys[0] == keys[2] != keys[1]  # the resolve closes the same incident
    if kind == "alertmanager":
        fired, resolved = fake.received[0].json()[0], fake.received[1].json()[0]
        assert fired["labels"]["brand"] == "acme" and fired["endsAt"] > fired["startsAt"]
        assert resolved["endsAt"].startswith("2025-11-21T04:40")


@pytest.mark.parametrize("kind", SIGNED)
def test_wrong_secret_is_rejected_and_never_retried(kind: str) -> None:
    with FakePlatform(kind, secret="the-real-one") as fake:
        result = send(channel_for(fake, "a-stale-one"), note_of(alert()))
    assert fake.received[0].problem == "bad sign"
    assert result.outcome is Outcome.PERMANENT


def test_unsigned_webhook_is_rejected_by_a_receiver_that_requires_signatures() -> None:
    with FakePlatform("webhook", secret="required") as fake:
        assert send(channel_for(fake, None), note_of(alert())).outcome is Outcome.PERMANENT


@pytest.mark.parametrize(("kind", "body", "pause"), [
    ("dingtalk", {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}, 600.0),
    ("wecom", {"errcode": 45009, "errmsg": "api freq out of limit"}, 60.0),
    ("feishu", {"code": 11232, "msg": "frequency limited"}, 60.0),
    ("feishu", {"code": 9499, "msg": "Too Many Request"}, 1.0),
])
def test_throttling_error_codes_mean_retry_later_and_pause_the_robot(kind: str, body: Any, pause: float) -> None:
    with FakePlatform(kind) as fake:
        fake.script.append(Answer(200 if kind != "feishu" else 400, body))
        result = send(channel_for(fake), note_of(alert()))
    assert result.outcome is Outcome.RETRY and result.throttled and result.retry_after == pause


@pytest.mark.parametrize("kind", KINDS)
def test_429_with_retry_after_is_honoured(kind: str) -> None:
    with FakePlatform(kind) as fake:
        fake.script.append(Answer(429, {"message": "slow down"}, {"Retry-After": "7"}))
        result = send(channel_for(fake), note_of(alert()))
    assert (result.outcome, result.retry_after, result.throttled) == (Outcome.RETRY, 7.0, True)


@pytest.mark.parametrize("kind", KINDS)
def test_server_error_is_transient(kind: str) -> None:
    with FakePlatform(kind) as fake:
        fake.script.append(Answer(500, {"error": "oops"}))
        assert send(channel_for(fake), note_of(alert())).outcome is Outcome.RETRY


@pytest.mark.parametrize("kind", ("dingtalk", "slack", "webhook"))
def test_a_platform_slower_than_the_timeout_is_retried_later(kind: str) -> None:
    release = threading.Event()
    with FakePlatform(kind) as fake:
        fake.script.append(Answer(hold=release))
        result = send(channel_for(fake, timeout="200ms"), note_of(alert()))
        release.set()
    assert result.outcome is Outcome.RETRY and "timed out" in result.detail


def test_unreachable_platform_is_transient() -> None:
    with FakePlatform("webhook") as fake:
        url = fake.url
    cfg = config({"channels": [{"name": "gone", "type": "webhook", "url": url}]})
    ch = make_channel(cfg.alerting.channels[0], make_renderer(cfg, cfg.alerting))
    assert send(ch, note_of(alert())).outcome is Outcome.RETRY


def test_bad_robot_token_is_permanent() -> None:
    with FakePlatform("dingtalk") as fake:
        cfg = config({"channels": [{"name": "d", "type": "dingtalk", "url": fake.base + "/robot/send?access_token=x"}]})
        ch = make_channel(cfg.alerting.channels[0], make_renderer(cfg, cfg.alerting))
        result = send(ch, note_of(alert()))
    assert result.outcome is Outcome.PERMANENT and "300001" in result.detail


def test_dingtalk_mentions_appear_in_text_so_people_are_notified() -> None:
    with FakePlatform("dingtalk") as fake:
        ch = channel_for(fake, mention_mobiles=["13800000000"], mention_all=False)
        assert send(ch, note_of(alert())).outcome is Outcome.DELIVERED
    body = fake.received[0].json()
    assert body["at"]["atMobiles"] == ["13800000000"] and "@13800000000" in body["markdown"]["text"]


def test_wecom_text_mode_mentions_by_mobile() -> None:
    with FakePlatform("wecom") as fake:
        ch = channel_for(fake, msgtype="text", mention_mobiles=["13800000000"], mention_users=["zhangsan"])
        assert send(ch, note_of(alert())).outcome is Outcome.DELIVERED
    text = fake.received[0].json()["text"]
    assert text["mentioned_mobile_list"] == ["13800000000"] and text["mentioned_list"] == ["zhangsan"]
    assert "**" not in text["content"]


@pytest.mark.parametrize("kind", ("dingtalk", "wecom", "feishu", "slack"))
def test_sixty_brands_at_once_fit_the_platform_limit_with_a_visible_note(kind: str) -> None:
    many = [alert(f"brand{i:02d}", brand_name=f"品牌{i:02d}" * 3, posts=3) for i in range(60)]
    with FakePlatform(kind) as fake:
        assert send(channel_for(fake), note_of(*many)).outcome is Outcome.DELIVERED
    raw = fake.received[0].body.decode()
    assert fake.received[0].problem == ""
    assert "还有" in raw and "个事件未显示" in raw  # a message tells incidents (one per brand)


def test_robot_tokens_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from alerting.notifier import Notifier
    from streams.kafka import BrokerQuirks

    caplog.set_level(logging.DEBUG)
    with FakePlatform("dingtalk", secret="sign-secret", token="TOKEN-abc123") as fake:
        cfg = config({"channels": [{"name": "d", "type": "dingtalk", "url_env": "DING_URL", "secret_env": "DING_SEC"}]},
                     environ={"DING_URL": fake.url, "DING_SEC": "sign-secret"})
        notifier = Notifier(cfg, cfg.alerting, "127.0.0.1:9", BrokerQuirks.for_kafka())
        logging.getLogger("alerting").info("channels: %r", cfg.alerting.channels)
        assert send(notifier.channels["d"], note_of(alert())).outcome is Outcome.DELIVERED
    assert fake.accepted
    assert "TOKEN-abc123" not in caplog.text and "sign-secret" not in caplog.text


@pytest.mark.parametrize("kind", KINDS)
def test_a_crisis_missed_during_an_outage_is_told_whole_and_never_as_a_bare_resolve(kind: str) -> None:
    from alerting.episode import episode_id

    fired = T0 - 1920
    event = alert(state="resolved", severity="critical", sequence=3, started_at=fired, ended_at=T0)
    story = [{"kind": "fired", "at": fired, "severity": "warning", "sequence": 1},
             {"kind": "escalated", "at": fired + 240, "severity": "critical", "sequence": 2},
             {"kind": "resolved", "at": T0, "severity": "critical", "sequence": 3}]
    note = Notification("c", "g", {}, [event], "new", T0, timelines={episode_id(event): story})
    with FakePlatform(kind) as fake:
        assert send(channel_for(fake), note).outcome is Outcome.DELIVERED
    bodies = [r.json() for r in fake.accepted]
    raw = "".join(r.body.decode() for r in fake.accepted)
    if kind == "pagerduty":
        # PagerDuty never saw the incident open: open it with the story, then resolve it.
        assert [b["event_action"] for b in bodies] == ["trigger", "resolve"]
        assert bodies[0]["dedup_key"] == bodies[1]["dedup_key"]
        assert "升级为严重" in bodies[0]["payload"]["custom_details"]["timeline"]
    elif kind == "webhook":
        assert [m["kind"] for m in bodies[0]["alerts"][0]["timeline"]] == ["fired", "escalated", "resolved"]
    else:
        assert "12:08 触发（警告） → 12:12 升级为严重 → 12:40 恢复" in raw
    if kind != "wecom":  # a single alert's WeCom markdown has no title line
        assert "已恢复·补发" in raw  # "resolved, delivered late"


def test_brand_labels_go_to_alertmanager_labels_and_pagerduty_details() -> None:
    labels = {"acme:negative_share": {"brand": "acme", "severity": "warning", "signal": "negative_share",
                                      "team": "east", "region": "华东"}}
    note = Notification("c", "g", {}, [alert()], "new", T0, labels=labels)
    with FakePlatform("alertmanager") as am:
        assert send(channel_for(am), note).outcome is Outcome.DELIVERED
    sent = am.accepted[0].json()[0]["labels"]
    assert (sent["team"], sent["region"], sent["brand"], sent["alertname"]) == ("east", "华东", "acme",
                                                                                 "KoubeiReputation")
    with FakePlatform("pagerduty") as pd:
        assert send(channel_for(pd, group_label="team"), note).outcome is Outcome.DELIVERED
    payload = pd.accepted[0].json()["payload"]
    assert payload["group"] == "east" and payload["custom_details"]["labels"] == {"team": "east", "region": "华东"}


@pytest.mark.parametrize("kind", KINDS)
def test_any_answer_of_a_platform_is_read_as_a_result(kind: str) -> None:
    """What a robot answers is outside input: a body nested thousands deep
    used to raise RecursionError out of the delivery instead of a result."""
    spec: dict[str, Any] = {"name": f"{kind}-1", "type": kind, "url": "http://127.0.0.1:9/hook"}
    env = {"PD_KEY": "k"} if kind == "pagerduty" else {}
    if kind == "pagerduty":
        spec["routing_key_env"] = "PD_KEY"
    cfg = config({"channels": [spec]}, environ=env)
    channel = make_channel(cfg.alerting.channels[0], make_renderer(cfg, cfg.alerting))
    deep = b'{"errcode":' * 5000 + b"0" + b"}" * 5000
    for status in (200, 400, 429, 500):
        for body in (deep, b"[" * 50_000, b"\xff\xfe{", b"", b'{"errcode": 1e999}', b'{"code": "0"}'):
            result = channel.interpret(status, {"Retry-After": "x"}, body)
            assert isinstance(result, SendResult) and isinstance(result.outcome, Outcome)
