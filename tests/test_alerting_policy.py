"""The pure policy stages with a fake clock: routing, grouping, repeats,
silences, quiet hours, the delivery log, rate limits, backoff, offsets."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "alerting"))
from alert_samples import T0, alert, config  # noqa: E402

from alerting.labels import Labeler  # noqa: E402
from alerting.message import Notification  # noqa: E402
from alerting.pipeline import Dispatcher  # noqa: E402
from alerting.policy.backoff import backoff_delay, next_retry_at  # noqa: E402
from alerting.policy.dedup import DeliveryLog, delivery_records  # noqa: E402
from alerting.policy.offsets import OffsetTracker  # noqa: E402
from alerting.policy.ratelimit import TokenBucket  # noqa: E402
from alerting.policy.routing import match_routes  # noqa: E402
from alerting.policy.silences import SilenceError, SilenceStore, expired, new_silence, parse_matchers  # noqa: E402
from streams.models import AlertEvent  # noqa: E402

CHANNELS = [{"name": n, "type": "webhook", "url": f"http://127.0.0.1:9/{n}"} for n in ("pr", "acme-pr", "oncall")]


def routed(routes: dict[str, Any], **alerting: Any) -> Any:
    return config({"channels": CHANNELS, "routes": routes, **alerting}).alerting


def labels(event: AlertEvent) -> dict[str, str]:
    return Labeler().labels(event)


def deliver_due(dispatcher: Dispatcher, now: float, released: list[Any] | None = None,
                accepted: bool = True) -> list[Notification]:
    """What the notifier does at a tick, with every platform answering ``accepted``."""
    out: list[Notification] = []
    jobs, free = dispatcher.due(now)
    for job in jobs:
        note, more = dispatcher.materialize(job, now)
        free += more
        if note is None:
            free += dispatcher.nothing_to_send(job, now)
        elif accepted:
            free += dispatcher.delivered(job, note, now)
            out.append(note)
    if released is not None:
        released += free
    return out


class Pipeline:
    """The pure pipeline (routing, grouping, notify stages) driven by a fake
    clock, as the notifier drives it; every platform accepts every message."""

    def __init__(self, acfg: Any) -> None:
        self.acfg = acfg
        self.silences = SilenceStore()
        self.ledger = DeliveryLog()
        self.dispatcher = Dispatcher(acfg, Labeler(), self.ledger, self.silences)
        self.grouper = self.dispatcher.grouper
        self.now = T0
        self.sent: list[Notification] = []
        self.released: list[Any] = []

    def push(self, event: AlertEvent, token: Any = None) -> None:
        self.released += self.dispatcher.accept(event, token, self.now).released

    def advance(self, seconds: float, step: float = 1.0) -> list[Notification]:
        out: list[Notification] = []
        end = self.now + seconds
        while self.now < end:
            self.now = min(end, self.now + step)
            out += deliver_due(self.dispatcher, self.now, self.released)
        self.sent += out
        return out


# ---- routing --------------------------------------------------------------

def test_routes_by_brand_and_severity_with_continue() -> None:
    acfg = routed({"receiver": "pr", "routes": [
        {"match": {"severity": "critical"}, "receiver": "oncall", "continue": True},
        {"match": {"brand": "acme"}, "receiver": "acme-pr"},
    ]})
    def receivers(event: AlertEvent) -> list[str | None]:
        return [r.receiver for r in match_routes(acfg.route, labels(event))]

    assert receivers(alert("acme", severity="critical")) == ["oncall", "acme-pr"]
    assert receivers(alert("acme")) == ["acme-pr"]
    assert receivers(alert("bolt")) == ["pr"]
    assert receivers(alert("bolt", severity="critical")) == ["oncall"]


def test_without_a_root_receiver_unmatched_alerts_have_no_route() -> None:
    acfg = routed({"routes": [{"match": {"brand": "acme"}, "receiver": "acme-pr"}]})
    assert match_routes(acfg.route, labels(alert("bolt"))) == []


def test_absent_alerting_section_routes_nothing() -> None:
    acfg = config(None).alerting
    assert acfg.channels == () and match_routes(acfg.route, labels(alert())) == []


# ---- grouping -------------------------------------------------------------

def test_group_wait_collects_a_scandal_into_one_message_per_channel() -> None:
    p = Pipeline(routed({"receiver": "pr", "group_by": []}))
    for i in range(20):
        p.push(alert(f"brand{i:02d}"), token=i)
        p.now += 0.5  # they trickle in over ten seconds
    assert p.advance(19) == []  # group_wait is 30 s from the first one
    notes = p.advance(2)
    assert len(notes) == 1 and len(notes[0].alerts) == 20 and notes[0].kind == "new"
    assert sorted(notes[0].tokens) == list(range(20))


def test_group_by_brand_splits_groups() -> None:
    p = Pipeline(routed({"receiver": "pr", "group_by": ["brand"]}))
    p.push(alert("acme"))
    p.push(alert("bolt"))
    p.push(alert("acme", signal="volume"))
    notes = p.advance(31)
    assert sorted(len(n.alerts) for n in notes) == [1, 2]
    assert sorted(n.group_labels["brand"] for n in notes) == ["acme", "bolt"]


def test_updates_wait_for_group_interval_and_repeat_follows_repeat_interval() -> None:
    p = Pipeline(routed({"receiver": "pr", "group_wait": "30s", "group_interval": "5m", "repeat_interval": "1h"}))
    p.push(alert())
    assert len(p.advance(30)) == 1
    p.push(alert(severity="critical", sequence=2))  # escalation
    assert p.advance(290) == []  # not before group_interval
    escalated = p.advance(10)
    assert [n.alerts[0].severity for n in escalated] == ["critical"] and escalated[0].kind == "new"
    assert p.advance(3600 - 310) == []
    reminder = p.advance(310)
    assert len(reminder) == 1 and reminder[0].kind == "repeat"
    assert p.advance(600) == []


def test_resolved_is_sent_once_and_ends_the_group() -> None:
    p = Pipeline(routed({"receiver": "pr"}))
    p.push(alert())
    p.advance(31)
    p.push(alert(state="resolved", sequence=2))
    notes = p.advance(300)
    assert [[a.state for a in n.alerts] for n in notes] == [["resolved"]]
    assert p.grouper.groups == {}
    assert p.advance(5 * 3600, step=60) == []


def test_an_alert_that_resolves_before_anyone_was_told_is_not_sent() -> None:
    p = Pipeline(routed({"receiver": "pr"}))
    p.push(alert(), token="a")
    p.push(alert(state="resolved", sequence=2), token="b")
    assert p.advance(60) == []
    assert sorted(p.released) == ["a", "b"]


def test_send_resolved_false_keeps_quiet_on_resolve() -> None:
    acfg = config({"channels": [{**CHANNELS[0], "send_resolved": False}], "routes": {"receiver": "pr"}}).alerting
    p = Pipeline(acfg)
    p.push(alert())
    p.advance(31)
    p.push(alert(state="resolved", sequence=2))
    assert p.advance(600) == []


def test_a_stale_replay_does_not_undo_a_newer_update() -> None:
    p = Pipeline(routed({"receiver": "pr"}))
    p.push(alert(severity="critical", sequence=2))
    p.push(alert(sequence=1), token="old")
    assert p.released == ["old"]
    assert p.advance(31)[0].alerts[0].severity == "critical"


def test_a_new_lifecycle_of_the_same_key_is_a_new_alert() -> None:
    p = Pipeline(routed({"receiver": "pr"}))
    p.push(alert())
    p.advance(31)
    p.push(alert(state="resolved", sequence=2))
    p.advance(300)
    p.push(alert(started_at=T0 + 3000, sequence=1))  # it fires again later: sequence restarts
    notes = p.advance(31)
    assert len(notes) == 1 and notes[0].alerts[0].state == "firing"


def test_alertmanager_channels_get_active_alerts_re_sent_before_they_time_out() -> None:
    acfg = config({"channels": [{"name": "am", "type": "alertmanager", "url": "http://127.0.0.1:9093",
                                 "resend_interval": "1m"}], "routes": {"receiver": "am"}}).alerting
    p = Pipeline(acfg)
    p.push(alert())
    p.advance(31)
    resent = p.advance(600)
    assert len(resent) >= 9 and all(n.kind == "repeat" for n in resent)


def test_already_delivered_replays_are_remembered_but_not_resent() -> None:
    p = Pipeline(routed({"receiver": "pr", "repeat_interval": "1h"}))
    p.ledger.record_notification(Notification("pr", "g", {}, [alert()], "new", p.now), p.now)  # delivered before a restart
    p.push(alert(), "t1")
    released = p.released
    assert released == ["t1"]
    assert p.advance(3500, step=30) == []
    assert [n.kind for n in p.advance(200, step=30)] == ["repeat"]  # reminders continue after a restart


# ---- silences and quiet hours --------------------------------------------

def test_silence_mutes_matching_alerts_and_they_are_sent_when_it_expires() -> None:
    p = Pipeline(routed({"receiver": "pr", "group_by": [], "group_interval": "1m"}))
    silence = new_silence({"brand": ("acme",)}, p.now, 600, "known issue", "pr-team")
    p.silences.apply(silence)
    p.push(alert("acme"), token="a")
    p.push(alert("bolt"), token="b")
    first = p.advance(31)
    assert [[a.brand for a in n.alerts] for n in first] == [["bolt"]]
    assert "a" in p.released  # a muted alert does not hold its offset for the silence's whole length
    p.silences.apply(expired(silence, p.now + 120))
    later = p.advance(200)
    assert [sorted(a.brand for a in n.alerts) for n in later] == [["acme", "bolt"]]


def test_silence_matchers_need_all_labels() -> None:
    store = SilenceStore()
    store.apply(new_silence({"brand": ("acme",), "severity": ("warning",)}, T0, 60, "", ""))
    assert store.is_silenced(labels(alert("acme")), T0 + 1)
    assert not store.is_silenced(labels(alert("acme", severity="critical")), T0 + 1)
    assert not store.is_silenced(labels(alert("acme")), T0 + 61)
    assert len(store.active(T0 + 1)) == 1 and store.active(T0 + 61) == []


def test_silence_records_survive_a_round_trip_and_the_latest_wins() -> None:
    store = SilenceStore()
    s = new_silence({"brand": ("acme",)}, T0, 3600, "评论", "me")
    assert store.apply_record(s.to_json())
    assert store.apply_record(expired(s, T0 + 10).to_json())
    assert store.apply_record(s.to_json())  # an older copy re-read later does not revive it
    assert not store.is_silenced(labels(alert()), T0 + 20)
    assert not store.apply_record(b"{broken")


@pytest.mark.parametrize(("items", "message"), [
    ([], "at least one"), (["brand=nope"], "not a configured brand"), (["severity=high"], "must be one of"),
    (["colour=red"], "bad matcher"),
])
def test_bad_silence_matchers_are_explained(items: list[str], message: str) -> None:
    with pytest.raises(SilenceError, match=message):
        parse_matchers(items, ("acme", "bolt"))


def test_quiet_hours_hold_warnings_until_morning_but_not_criticals() -> None:
    # 22:00-08:00 Shanghai; T0 is 12:40 Shanghai, so start at 23:00 local.
    acfg = routed({"receiver": "pr", "group_interval": "5m",
                   "quiet_hours": {"start": "22:00", "end": "08:00", "timezone": "Asia/Shanghai"}})
    p = Pipeline(acfg)
    p.now = T0 + 10 * 3600 + 20 * 60  # 23:00 Shanghai
    p.push(alert("acme"), token="w")
    p.push(alert("bolt", severity="critical"), token="c")
    night = p.advance(31)
    assert [[a.brand for a in n.alerts] for n in night] == [["bolt"]]
    assert "w" not in p.released and "w" not in night[0].tokens  # held, not committed
    overnight = p.advance(8 * 3600, step=60)  # until 07:00: bolt's reminders only
    assert all(a.brand == "bolt" for n in overnight for a in n.alerts)
    morning = p.advance(3600, step=60)
    assert "acme" in [a.brand for n in morning for a in n.alerts]


# ---- delivery log ---------------------------------------------------------

def test_delivery_log_knows_what_each_channel_got_per_lifecycle() -> None:
    log = DeliveryLog()
    note = Notification("pr", "g", {}, [alert(sequence=2, severity="critical")], "new", T0)
    for _, value in delivery_records(note, T0):
        assert log.apply_record(value)
    assert log.delivered("pr", alert(sequence=1))  # an older update of the same lifecycle
    assert log.delivered("pr", alert(sequence=2, severity="critical"))
    assert not log.delivered("oncall", alert(sequence=2))
    assert not log.delivered("pr", alert(state="resolved", sequence=3))
    assert not log.delivered("pr", alert(started_at=T0 + 5000, sequence=1))  # a new lifecycle


# ---- rate limits, backoff, offsets ----------------------------------------

def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(20 / 60, 20, now=0.0)
    assert all(bucket.take(0.0) for _ in range(20))
    assert not bucket.take(0.0)
    assert bucket.wait_time(0.0) == pytest.approx(3.0)
    assert bucket.take(3.0) and not bucket.take(3.1)
    sent = sum(bucket.take(t / 10) for t in range(31, 6031))  # the next ten minutes
    assert 199 <= sent <= 200  # 20/min, never more (float rounding may cost one)


def test_platform_throttling_blocks_the_destination() -> None:
    bucket = TokenBucket(5, 5, now=0.0)
    bucket.block(0.0, 600)
    assert not bucket.take(599.0)
    assert bucket.take(600.0)


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, 1.0, 60.0, rng) for n in range(1, 12)]
    for n, d in enumerate(delays, start=1):
        cap = min(60.0, 2 ** (n - 1))
        assert cap / 2 <= d <= cap
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered


def test_retry_after_wins_and_the_deadline_ends_retries() -> None:
    rng = random.Random(1)
    assert next_retry_at(100.0, 1, 100.0, 3600.0, 1.0, 60.0, rng, retry_after=30.0) == pytest.approx(130.0)
    assert next_retry_at(3590.0, 9, 0.0, 3600.0, 1.0, 60.0, rng) is None


def test_offsets_commit_only_up_to_the_oldest_unfinished_message() -> None:
    t = OffsetTracker()
    for offset in range(5):
        t.track("p0", offset)
    t.release("p0", 0)
    t.release("p0", 2)
    assert t.committable() == {"p0": 1}
    t.mark_committed({"p0": 1})
    t.release("p0", 1)
    t.release("p0", 3)
    assert t.committable() == {"p0": 4}
    t.release("p0", 4)
    assert t.committable() == {"p0": 5}
    t.mark_committed({"p0": 5})
    assert t.committable() == {}


# ---- the door: records that would fail later are refused at once ----------

@pytest.mark.parametrize(("patch", "message"), [
    ({"started_at": "yesterday"}, "started_at: expected a number"),
    ({"top_posts": "none"}, "top_posts: expected a list"),
    ({"top_posts": ["x"]}, "list of objects"),
    ({"risk_terms": [["only-term"]]}, "pairs"),
    ({"key": ""}, "key: expected a non-empty string"),
    ({"state": "exploding"}, "state must be one of"),
    ({"negative": 1.5}, "whole number"),
])
def test_parse_alert_refuses_records_that_would_break_rendering(patch: dict[str, Any], message: str) -> None:
    import json

    from alerting.message import parse_alert

    data = {**alert().to_dict(), **patch}
    with pytest.raises(ValueError, match=message):
        parse_alert(json.dumps(data).encode())


def test_parse_alert_round_trips_and_rejects_non_objects() -> None:
    from alerting.message import parse_alert

    event = alert()
    assert parse_alert(event.to_json()) == event
    for bad in (b"", b"[1, 2]", b"{not json"):
        with pytest.raises(ValueError):
            parse_alert(bad)
    missing = {k: v for k, v in alert().to_dict().items() if k != "total"}
    with pytest.raises(ValueError, match="total"):
        parse_alert(__import__("json").dumps(missing).encode())


def test_channels_posting_to_the_same_robot_share_its_rate_limit() -> None:
    from alerting.notifier import Notifier
    from streams.kafka import BrokerQuirks

    same = "https://oapi.dingtalk.com/robot/send?access_token=T"
    cfg = config({"channels": [
        {"name": "a", "type": "dingtalk", "url": same, "mention_mobiles": ["1"]},
        {"name": "b", "type": "dingtalk", "url": same, "rate_per_minute": 10},
        {"name": "c", "type": "dingtalk", "url": same + "2"}]})
    notifier = Notifier(cfg, cfg.alerting, "127.0.0.1:9", BrokerQuirks.for_kafka())
    assert len(notifier.buckets) == 2
    shared = [b for b in notifier.buckets.values() if b.rate == pytest.approx(10 / 60)]
    assert len(shared) == 1  # the stricter of the two settings wins


def test_delivery_log_knows_which_alerts_are_still_active_per_channel() -> None:
    log = DeliveryLog()

    def deliver(channel: str, event: AlertEvent, at: float) -> None:
        for _, value in delivery_records(Notification(channel, "g", {}, [event], "new", at), at):
            assert log.apply_record(value)

    deliver("pr", alert("acme"), T0)
    deliver("pr", alert("bolt"), T0)
    deliver("oncall", alert("acme"), T0)
    deliver("pr", alert("acme", state="resolved", sequence=2), T0 + 60)
    deliver("pr", alert("acme", sequence=1), T0 + 120)  # an old update read late does not revive it
    assert sorted((c, e.brand) for c, e in log.still_active()) == [("oncall", "acme"), ("pr", "bolt")]


def test_a_restarted_notifier_keeps_reminding_about_alerts_still_firing() -> None:
    from alerting.notifier import Notifier
    from streams.kafka import BrokerQuirks

    cfg = config({"channels": CHANNELS, "routes": {"receiver": "pr", "repeat_interval": "1h"}})
    before = Notifier(cfg, cfg.alerting, "127.0.0.1:9", BrokerQuirks.for_kafka(), clock=lambda: T0)
    for _, value in delivery_records(Notification("pr", "g", {}, [alert("acme"), alert("bolt")], "new", T0), T0):
        before.delivery_log.apply_record(value)
    for _, value in delivery_records(Notification("pr", "g", {}, [alert("bolt", state="resolved", sequence=2)],
                                                  "new", T0 + 60), T0 + 60):
        before.delivery_log.apply_record(value)
    before._restore_active(T0 + 600)  # restarted ten minutes later
    assert before.grouper.next_due() is not None
    notes = deliver_due(before.dispatcher, T0 + 600 + 31)
    assert notes == []  # nothing new to say
    notes = deliver_due(before.dispatcher, T0 + 3600 + 31)
    assert [(n.kind, [a.brand for a in n.alerts]) for n in notes] == [("repeat", ["acme"])]


def test_a_restart_long_after_the_last_reminder_does_not_resurrect_an_alert() -> None:
    from alerting.notifier import Notifier
    from streams.kafka import BrokerQuirks

    cfg = config({"channels": CHANNELS, "routes": {"receiver": "pr", "repeat_interval": "1h"}})
    notifier = Notifier(cfg, cfg.alerting, "127.0.0.1:9", BrokerQuirks.for_kafka())
    for _, value in delivery_records(Notification("pr", "g", {}, [alert("acme")], "new", T0), T0):
        notifier.delivery_log.apply_record(value)
    notifier._restore_active(T0 + 3 * 3600)  # no reminder for three hours: it ended unrecorded
    assert notifier.grouper.groups == {}


def test_each_worker_restores_only_the_alerts_of_the_partitions_it_owns() -> None:
    from alerting.notifier import Notifier, partition_of
    from streams.kafka import BrokerQuirks

    cfg = config({"channels": CHANNELS, "routes": {"receiver": "pr", "group_by": ["brand"]}})
    events = [alert(b) for b in ("acme", "bolt", "cola")]
    # With three partitions these keys land in three different ones.
    assert sorted(partition_of(e.key, 3) for e in events) == [0, 1, 2]
    notifier = Notifier(cfg, cfg.alerting, "127.0.0.1:9", BrokerQuirks.for_kafka(), clock=lambda: T0 + 60)
    for _, value in delivery_records(Notification("pr", "g", {}, events, "new", T0), T0):
        notifier.delivery_log.apply_record(value)
    mine = {partition_of(events[0].key, 3), partition_of(events[1].key, 3)}
    notifier.assign(mine, 3)
    restored = sorted(e.latest.brand for g in notifier.grouper.groups.values() for e in g.episodes.values())
    assert restored == ["acme", "bolt"]
    notifier.revoke({(notifier.topics["alerts"], partition_of(events[0].key, 3))}, 3)
    remaining = sorted(e.latest.brand for g in notifier.grouper.groups.values() for e in g.episodes.values())
    assert remaining == ["bolt"]
