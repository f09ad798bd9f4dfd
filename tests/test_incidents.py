"""alerting.incidents: signal episodes of a brand folded into incidents."""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent / "alerting"))
from alert_samples import T0, alert  # noqa: E402

from alerting.incidents import (  # noqa: E402
    Ack,
    IncidentBook,
    ack_record,
    incident_id,
    parse_incident_id,
)
from alerting.labels import Labeler  # noqa: E402
from alerting.matchers import parse_matchers  # noqa: E402
from alerting.message import alert_fields  # noqa: E402
from alerting.policy.silences import new_silence  # noqa: E402
from streams.models import AlertEvent  # noqa: E402

START = T0 - 3600


def lifecycle(brand: str, signal: str, start: float, end: float | None, *, critical_at: float | None = None,
              **extra: Any) -> list[AlertEvent]:
    """The events a detector emits for one episode: fired, maybe escalated, maybe resolved."""
    events = [alert(brand, "firing", "warning", 1, start, signal, event_time=start + 60, **extra)]
    seq = 1
    if critical_at is not None:
        seq += 1
        events.append(alert(brand, "firing", "critical", seq, start, signal, event_time=critical_at,
                            peak_severity="critical", **extra))
    if end is not None:
        seq += 1
        events.append(alert(brand, "resolved", "critical" if critical_at else "warning", seq, start, signal,
                            event_time=end, ended_at=end, **extra))
    return events


def test_overlapping_signals_of_a_brand_are_one_incident() -> None:
    book = IncidentBook(gap=1800)
    events = (lifecycle("acme", "negative_share", START, START + 2400, critical_at=START + 600)
              + lifecycle("acme", "volume", START + 300, START + 1200)
              + lifecycle("bolt", "negative_share", START + 100, None))
    for event in events:
        assert book.add_alert(event) is None
    [bolt, acme] = book.incidents()  # open first
    assert bolt.id == f"bolt:{int(START + 100)}" and bolt.state == "open" and bolt.resolved_at is None
    assert acme.id == f"acme:{int(START)}" and acme.state == "resolved"
    assert acme.opened_at == START and acme.resolved_at == START + 2400 and acme.duration == 2400
    assert acme.escalated_at == START + 600 and acme.severity == "critical" and acme.peak_severity == "critical"
    assert [t.latest.signal for t in acme.signals] == ["negative_share", "volume"]
    assert acme.aliases == {f"acme:{int(START)}", f"acme:{int(START + 300)}"}
    assert book.get(f"acme:{int(START + 300)}") is acme  # an alias names the same incident


def test_a_signal_within_the_cooldown_after_the_end_joins_later_ones_do_not() -> None:
    book = IncidentBook(gap=1800)
    for event in (lifecycle("acme", "negative_share", START, START + 600)
                  + lifecycle("acme", "volume", START + 600 + 1799, START + 3000)
                  + lifecycle("acme", "negative_volume", START + 3000 + 1801, START + 6000)):
        book.add_alert(event)
    incidents = book.incidents("acme")
    assert [len(i.tracks) for i in sorted(incidents, key=lambda i: i.opened_at)] == [2, 1]


def test_a_later_signal_that_bridges_two_incidents_merges_them_and_old_ids_still_resolve() -> None:
    book = IncidentBook(gap=600)
    for event in lifecycle("acme", "negative_share", START, START + 600) + lifecycle("acme", "volume", START + 3000, None):
        book.add_alert(event)
    assert len(book.incidents("acme")) == 2
    later_id = f"acme:{int(START + 3000)}"
    for event in lifecycle("acme", "risk_terms", START + 1000, START + 2800):
        book.add_alert(event)
    [merged] = book.incidents("acme")
    assert merged.id == f"acme:{int(START)}" and book.get(later_id) is merged and merged.state == "open"


def test_evidence_gathered_over_updates_posts_once_terms_kols() -> None:
    book = IncidentBook()
    first = alert("acme", "firing", "warning", 1, START, "negative_share", posts=3,
                  risk_terms=[["异物", 5], ["退款", 2]])
    later = alert("acme", "firing", "critical", 2, START, "negative_share", posts=2,
                  risk_terms=[["异物", 31]], top_posts=[{"id": "weibo:9", "author": "消费维权观察", "followers": 2_095_603,
                                                        "excerpt": "问题奶茶已被多地下架", "url": "https://weibo.example/9",
                                                        "negative": 0.97, "reach": 9.9, "created_at": START}])
    kol = alert("acme", "firing", "warning", 1, START + 120, "kol",
                evidence={"account": "大V甲", "account_followers": 3_000_000, "account_verified": True,
                          "post_id": "weibo:77", "post_reposts": 4000})
    volume = alert("acme", "firing", "warning", 1, START + 60, "volume", posts=3)  # the same posts again
    for event in (first, later, kol, volume):
        assert book.add_alert(event) is None
    [incident] = book.incidents()
    ids = [p["id"] for p in incident.top_posts()]
    assert ids[0] == "weibo:9" and len(ids) == len(set(ids)) == 4  # weibo:0..2 once each, weibo:9 first
    assert incident.risk_terms()[:3] == [("异物", 31), ("退款", 12), ("客服", 9)]  # the largest count of each
    assert [k["author"] for k in incident.kols()] == ["大V甲", "消费维权观察"]
    assert incident.kols()[0]["verified"] is True


def test_deliveries_and_acks_attach_to_their_incident() -> None:
    book = IncidentBook()
    events = lifecycle("acme", "negative_share", START, START + 1200)
    delivery = {"channel": "pr-ding", "key": "acme:negative_share", "started_at": START, "state": "firing",
                "sequence": 1, "severity": "warning", "notification": "n1", "kind": "new",
                "delivered_at": START + 90, "alert": alert_fields(events[0])}
    # The delivery log may be read before the alerts: the record waits for its episode.
    assert book.add_delivery_record(json.dumps(delivery).encode())
    assert not book.add_delivery_record(json.dumps({"type": "owed", "channel": "x", "key": "acme:negative_share",
                                                    "started_at": START, "at": START}).encode())
    assert not book.add_delivery_record(b"\xff not json")
    for event in events:
        book.add_alert(event)
    key, value = ack_record(Ack(incident_id("acme", START), "王经理", START + 300, "公关跟进中"))
    assert book.add_ack_record(key, value)
    [incident] = book.incidents()
    assert [(d.channel, d.state) for d in incident.deliveries()] == [("pr-ding", "firing")]
    assert [a.by for a in incident.acks()] == ["王经理"] and incident.acknowledged
    assert book.add_ack_record(key, None)  # a tombstone withdraws it
    assert not book.incidents()[0].acknowledged
    assert not book.add_ack_record(b"k", b'{"incident": "no id", "at": 1}')


def test_silences_in_effect_are_those_matching_a_signal_of_the_incident() -> None:
    book = IncidentBook()
    for event in lifecycle("acme", "negative_share", START, None):
        book.add_alert(event)
    [incident] = book.incidents()
    labeler = Labeler({"acme": {"team": "east"}})
    mine = new_silence(parse_matchers(['team="east"']), START, 3600, "已知", "pr")
    other = new_silence(parse_matchers(['brand="bolt"']), START, 3600, "", "pr")
    volume_only = new_silence(parse_matchers(['signal="volume"']), START, 3600, "", "pr")
    assert incident.silences([mine, other, volume_only], labeler, START + 10) == [mine]
    assert incident.silences([mine], labeler, START + 3601) == []


def test_unreadable_records_get_a_reason_and_change_nothing() -> None:
    book = IncidentBook()
    assert book.add_alert_record(b"not json").startswith("invalid_alert")
    assert book.add_alert_record(None).startswith("invalid_alert")
    assert book.add_alert_record(b'{"key": "a:b", "brand": "a", "signal": "b", "sequence": "x"}').startswith(
        "invalid_alert")
    assert book.add_alert(alert(started_at=math.nan)) == "bad_time"
    assert book.add_alert(alert(started_at=1e300)) == "bad_time"
    assert book.add_alert(alert(brand="")) == "no_brand"
    weird = alert()
    weird.sequence = "three"  # type: ignore[assignment]  # a hand-made record
    assert book.add_alert(weird) is not None
    assert book.incidents() == [] and sum(book.rejected.values()) == 7


def test_to_dict_is_strict_json_whatever_the_evidence() -> None:
    book = IncidentBook()
    book.add_alert(alert(value=math.nan, evidence={"z": math.inf, "deep": [[[[["\ud800"]]]]]},
                         brand_name="\u202e艾克美"))
    [incident] = book.incidents()
    text = json.dumps(incident.to_dict(), allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")
    assert incident.brand_name == "艾克美"


def test_retention_forgets_old_resolved_incidents_by_the_data_clock() -> None:
    book = IncidentBook(retention=86400)
    for event in lifecycle("acme", "negative_share", START, START + 600):
        book.add_alert(event)
    for event in lifecycle("acme", "volume", START + 3 * 86400, None):
        book.add_alert(event)
    assert book.expire() == 1
    [left] = book.incidents()
    assert left.opened_at == START + 3 * 86400 and book.get(incident_id("acme", START)) is None


def test_incident_ids_parse() -> None:
    assert parse_incident_id("acme:1763699100") == ("acme", 1763699100)
    assert parse_incident_id("a:b:12") == ("a:b", 12)
    assert parse_incident_id("acme") is None and parse_incident_id(":12") is None
    assert parse_incident_id("acme:-1") is None and parse_incident_id("acme:1e5") is None


# -- any sequence of alert events ---------------------------------------------

BRAND_IDS = ("acme", "bolt")
SIGNALS = ("negative_share", "negative_volume", "volume", "kol")


@st.composite
def alert_events(draw: st.DrawFn) -> AlertEvent:
    start = START + draw(st.integers(0, 40)) * 300.0 + draw(st.sampled_from([0.0, 0.5]))
    state = draw(st.sampled_from(["firing", "resolved"]))
    event_time = start + draw(st.integers(0, 30)) * 120.0
    ended = draw(st.one_of(st.none(), st.just(event_time), st.floats(allow_nan=True, allow_infinity=True)))
    return alert(draw(st.sampled_from(BRAND_IDS)), state, draw(st.sampled_from(["warning", "critical"])),
                 draw(st.integers(0, 4)), start, draw(st.sampled_from(SIGNALS)), posts=draw(st.integers(0, 4)),
                 event_time=event_time, ended_at=ended if state == "resolved" else None,
                 negative_share=draw(st.floats(allow_nan=True, allow_infinity=True)))


def _shape(book: IncidentBook) -> list[tuple[str, str, tuple[tuple[str, float], ...]]]:
    return sorted((i.id, i.state, tuple(sorted((t.key, t.start) for t in i.tracks))) for i in book.incidents())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(alert_events(), max_size=30), gap=st.sampled_from([0.0, 600.0, 1800.0]),
       seed=st.integers(0, 2**16))
def test_any_sequence_of_alert_events(events: list[AlertEvent], gap: float, seed: int) -> None:
    book = IncidentBook(gap=gap)
    for event in events:
        assert book.add_alert(event) is None  # every generated event is readable
        book.incidents()  # views in between never fail
    incidents = book.incidents()
    # Each event is in exactly one incident: the one holding its episode.
    for event in events:
        holders = [i for i in incidents if any((t.key, t.start) == (event.key, event.started_at) for t in i.tracks)]
        assert len(holders) == 1 and book.of_event(event) is holders[0]
    # Incidents of a brand do not overlap, and are further apart than the gap.
    for brand in BRAND_IDS:
        mine = sorted((i for i in incidents if i.brand == brand), key=lambda i: i.opened_at)
        for earlier, later in zip(mine, mine[1:], strict=False):
            assert earlier.end + max(gap, 1.0) < later.opened_at
    assert len({i.id for i in incidents}) == len(incidents)
    for incident in incidents:
        json.dumps(incident.to_dict(), allow_nan=False)
    # The order records are read in does not matter (the console reads partitions one after another).
    shuffled = list(events)
    random.Random(seed).shuffle(shuffled)
    again = IncidentBook(gap=gap)
    for event in shuffled:
        again.add_alert(event)
    assert _shape(again) == _shape(book)


def test_any_moment_of_an_incident_names_it() -> None:
    """A message may name an incident by when the detector counted it open
    (a bucket after the first signal's start): the link still finds it."""
    book = IncidentBook(gap=600)
    for event in lifecycle("acme", "negative_share", START, START + 1200) + lifecycle("acme", "volume", START + 5000,
                                                                                       START + 5600):
        book.add_alert(event)
    first, second = sorted(book.incidents(), key=lambda i: i.opened_at)
    assert book.get(f"acme:{int(START + 120)}") is first
    assert book.get(f"acme:{int(START + 1200 + 500)}") is first  # within the gap after its end
    assert book.get(f"acme:{int(START + 5000 - 300)}") is second  # just before the second one opened
    assert book.get(f"acme:{int(START + 3000)}") is None  # between them, far from both
    assert book.get(f"bolt:{int(START + 120)}") is None and book.get("acme:soon") is None
