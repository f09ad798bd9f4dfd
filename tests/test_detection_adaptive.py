"""The adaptive detector on synthetic bucket streams with known crises."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from streams.detection import AdaptiveDetector, build_params, create_detector
from streams.detection.adaptive import TOP_POSTS
from streams.models import AlertEvent, Bucket

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
# 2026-03-02 00:00 Beijing time, a Monday: local days start at 16:00 UTC.
T0 = 1772380800.0


@dataclass
class Crisis:
    onset: float  # seconds after T0
    duration: float
    extra_per_bucket: float  # extra posts per bucket at full strength
    negative_share: float  # share of the extra posts that are negative
    ramp: float = 0.0  # seconds to reach full strength (a slow burn)


def stream(days: float, seed: int = 7, base: float = 20.0, share: float = 0.15,
           crises: tuple[Crisis, ...] = (), size: float = MINUTE, start: float = T0,
           positive_spikes: tuple[Crisis, ...] = ()) -> Iterator[Bucket]:
    """Calm traffic with a daily cycle (busy evenings, quiet nights) and a
    little extra-Poisson noise, plus the given crises."""
    rng = np.random.default_rng(seed)
    n = int(days * DAY / size)
    for i in range(n):
        t = start + i * size
        local_hour = ((t + 8 * HOUR) % DAY) / HOUR
        rate = base * size / MINUTE * (1.0 + 0.7 * math.sin(2 * math.pi * (local_hour - 14.0) / 24.0))
        rate *= rng.gamma(30.0, 1.0 / 30.0)
        total = int(rng.poisson(rate))
        negative = int(rng.binomial(total, share))
        offset = t - start
        for c in crises:
            if c.onset <= offset < c.onset + c.duration:
                strength = min(1.0, (offset - c.onset) / c.ramp) if c.ramp else 1.0
                extra = int(rng.poisson(c.extra_per_bucket * strength))
                total += extra
                negative += int(rng.binomial(extra, c.negative_share))
        for c in positive_spikes:
            if c.onset <= offset < c.onset + c.duration:
                extra = int(rng.poisson(c.extra_per_bucket))
                total += extra
                negative += int(rng.binomial(extra, c.negative_share))
        top = [
            {"id": f"weibo:{i}-{k}", "author": f"user{k}", "followers": 1000 * (k + 1) * (i % 7 + 1),
             "excerpt": "服务太差了，退款一直不到账", "url": f"https://weibo.example/{i}/{k}",
             "negative": 0.9, "reach": float(1 + (i % 13) + k), "created_at": t + 1}
            for k in range(min(negative, 5))
        ]
        top.sort(key=lambda s: (-s["reach"], s["id"]))
        terms = {"退款": negative // 3} if negative >= 3 else {}
        yield Bucket(brand="acme", start=t, size=size, total=total, negative=negative,
                     reach_negative=float(sum(s["reach"] for s in top)) + negative,
                     risk_hits=sum(terms.values()), risk_terms=terms, top_negative=top)


def run(detector: AdaptiveDetector, buckets: Iterator[Bucket]) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    for bucket in buckets:
        events.extend(detector.update(bucket))
    return events


def opened(events: list[AlertEvent], signals: tuple[str, ...] | None = None) -> list[AlertEvent]:
    return [e for e in events if e.state == "firing" and e.sequence == 1
            and (signals is None or e.signal in signals)]


NEGATIVE = ("negative_share", "negative_volume", "risk_terms")


def test_sudden_burst_fires_within_five_buckets() -> None:
    onset = 3 * DAY + 11 * HOUR
    crisis = Crisis(onset=onset, duration=40 * MINUTE, extra_per_bucket=25, negative_share=0.8)
    events = run(AdaptiveDetector("acme"), stream(3.8, crises=(crisis,)))
    negative = opened(events, NEGATIVE)
    assert negative, "the burst raised no negative alert"
    first = min(e.event_time for e in negative)
    assert T0 + onset < first <= T0 + onset + 5 * MINUTE
    assert len(opened([e for e in events if e.event_time < T0 + onset])) <= 1


def test_slow_burn_fires() -> None:
    onset = 3 * DAY + 9 * HOUR
    # Negative posts creep up over three hours without any single jump.
    burn = Crisis(onset=onset, duration=5 * HOUR, extra_per_bucket=12, negative_share=0.7, ramp=3 * HOUR)
    events = run(AdaptiveDetector("acme"), stream(3.7, crises=(burn,)))
    negative = [e for e in opened(events, NEGATIVE) if e.event_time > T0 + onset]
    assert negative, "the slow burn raised no negative alert"
    assert min(e.event_time for e in negative) <= T0 + onset + 4 * HOUR


def test_night_time_crisis_at_low_volume_fires() -> None:
    onset = 3 * DAY + 3 * HOUR  # 03:00 local (the generator is busiest at 20:00, quietest at 08:00)
    crisis = Crisis(onset=onset, duration=30 * MINUTE, extra_per_bucket=8, negative_share=0.9)
    events = run(AdaptiveDetector("acme"), stream(3.3, base=8.0, crises=(crisis,)))
    negative = [e for e in opened(events, NEGATIVE) if e.event_time > T0 + onset]
    assert negative
    assert min(e.event_time for e in negative) <= T0 + onset + 5 * MINUTE


def test_positive_volume_spike_raises_no_negative_alert() -> None:
    onset = 3 * DAY + 12 * HOUR
    viral = Crisis(onset=onset, duration=90 * MINUTE, extra_per_bucket=150, negative_share=0.03)
    detector = AdaptiveDetector("acme")
    events = run(detector, stream(3.7, positive_spikes=(viral,)))
    assert not [e for e in events if e.signal in NEGATIVE and e.event_time > T0 + onset]
    # ... while the volume signal does see it,
    assert [e for e in opened(events, ("volume",)) if e.event_time > T0 + onset]
    # and the wave of praise did not lower the usual share (which would make
    # the next ordinary hour look like a crisis).
    calm = AdaptiveDetector("acme")
    run(calm, stream(3.7))
    assert detector.gauges()["baseline_share"] == pytest.approx(calm.gauges()["baseline_share"], abs=0.005)


def test_news_day_with_normal_tone_raises_no_negative_alert() -> None:
    onset = 3 * DAY + 8 * HOUR
    news = Crisis(onset=onset, duration=10 * HOUR, extra_per_bucket=40, negative_share=0.15)
    events = run(AdaptiveDetector("acme"), stream(3.9, positive_spikes=(news,)))
    assert not [e for e in opened(events, NEGATIVE) if e.event_time > T0 + onset]


def test_negative_count_follows_hours_of_raised_attention_but_not_a_burst() -> None:
    # On ordinary traffic the attention level is 1: negatives are tested
    # against the seasonal expectation, as before.
    calm = AdaptiveDetector("acme")
    run(calm, stream(3.5))
    assert calm.frame.level == pytest.approx(1.0, abs=0.1)
    # A launch day at three times the usual volume and the usual tone: after
    # hours of it the negative count is tested against the raised level ...
    onset = 10 * DAY + 8 * HOUR
    news = Crisis(onset=onset, duration=12 * HOUR, extra_per_bucket=40, negative_share=0.15, ramp=HOUR)
    crisis = Crisis(onset=onset + 6 * HOUR, duration=40 * MINUTE, extra_per_bucket=25, negative_share=0.8)
    events = run(AdaptiveDetector("acme"), stream(10.9, crises=(news, crisis)))
    # ... and a crisis on top of that day is still caught within five minutes:
    # the level follows hours, not the crisis's own minutes.
    negative = [e for e in opened(events, NEGATIVE) if e.event_time > T0 + crisis.onset]
    assert negative and min(e.event_time for e in negative) <= T0 + crisis.onset + 5 * MINUTE
    assert negative[0].evidence["negative_level"] > 1.5


@pytest.mark.parametrize("seed", [11, 12])
def test_calm_week_at_most_one_false_alert(seed: int) -> None:
    events = run(AdaptiveDetector("acme"), stream(7.0, seed=seed))
    assert len(opened(events)) <= 1, [e.summary for e in opened(events)]


def test_restore_from_state_mid_stream_gives_identical_output() -> None:
    crisis = Crisis(onset=2 * DAY + 10 * HOUR, duration=30 * MINUTE, extra_per_bucket=30, negative_share=0.8)
    buckets = list(stream(2.6, crises=(crisis,)))
    straight = AdaptiveDetector("acme")
    expected = [e.to_dict() for e in run(straight, iter(buckets))]

    restored = AdaptiveDetector("acme")
    got: list[dict] = []
    for i, bucket in enumerate(buckets):
        got.extend(e.to_dict() for e in restored.update(bucket))
        if i % 97 == 0 or 2 * DAY + 10 * HOUR <= bucket.start - T0 <= 2 * DAY + 11 * HOUR:
            # Through JSON, as the Faust table stores it, and via the factory.
            restored = create_detector(None, "acme", state=json.loads(json.dumps(restored.to_state())))
    assert got == expected
    assert any(e["state"] == "firing" for e in expected)
    assert restored.to_state() == json.loads(json.dumps(straight.to_state()))


def test_past_crisis_does_not_raise_the_baseline_for_the_next() -> None:
    first = Crisis(onset=3 * DAY + 11 * HOUR, duration=3 * HOUR, extra_per_bucket=60, negative_share=0.8)
    second = Crisis(onset=5 * DAY + 11 * HOUR, duration=30 * MINUTE, extra_per_bucket=25, negative_share=0.8)
    calm = AdaptiveDetector("acme")
    run(calm, stream(5.0, seed=3))
    hit = AdaptiveDetector("acme")
    events = run(hit, stream(5.0, seed=3, crises=(first,)))
    assert opened(events, NEGATIVE)
    # The learned expectation for the hour after both is nearly the same.
    assert hit.baseline.volume.expected(11, 5) == pytest.approx(calm.baseline.volume.expected(11, 5), rel=0.15)
    assert hit.baseline.share_neg / hit.baseline.share_tot == pytest.approx(calm.baseline.share_neg / calm.baseline.share_tot, abs=0.02)
    # ... and the second, smaller crisis is still caught quickly.
    later = run(hit, stream(0.6, seed=4, start=T0 + 5 * DAY, crises=(
        Crisis(onset=11 * HOUR, duration=30 * MINUTE, extra_per_bucket=25, negative_share=0.8),)))
    caught = opened(later, NEGATIVE)
    assert caught and min(e.event_time for e in caught) <= T0 + second.onset + 5 * MINUTE


def test_redelivered_bucket_is_ignored() -> None:
    detector = AdaptiveDetector("acme")
    buckets = list(stream(0.3))
    run(detector, iter(buckets))
    before = json.dumps(detector.to_state())
    assert detector.update(buckets[-1]) == []
    assert detector.update(buckets[10]) == []
    assert json.dumps(detector.to_state()) == before


def test_alert_carries_its_evidence_and_lifecycle() -> None:
    onset = 3 * DAY + 11 * HOUR
    crisis = Crisis(onset=onset, duration=30 * MINUTE, extra_per_bucket=60, negative_share=0.9)
    events = run(AdaptiveDetector("acme", "Acme 公司"), stream(3.7, crises=(crisis,)))
    share_events = [e for e in events if e.key == "acme:negative_share" and e.event_time > T0 + onset]
    assert share_events[0].state == "firing"
    fired = share_events[0]
    assert fired.brand_name == "Acme 公司" and fired.detector == "adaptive"
    assert fired.value > fired.baseline and fired.statistic >= 4.0
    assert fired.negative > 0 and fired.total >= fired.negative
    assert fired.window_seconds in (300.0, 900.0, 3600.0)
    assert fired.evidence["test"].startswith("beta-binomial")
    assert fired.evidence["p_value"] < 1e-4
    assert len(fired.evidence["z_per_window"]) == 3
    assert fired.risk_terms and fired.risk_terms[0][0] == "退款"
    assert 1 <= len(fired.top_posts) <= TOP_POSTS
    assert {"id", "author", "followers", "excerpt", "url"} <= set(fired.top_posts[0])
    assert len(fired.sparkline) == 30 and fired.sparkline[-1] > 10
    assert fired.summary
    resolved = [e for e in share_events if e.state == "resolved"]
    assert resolved, "the alert never resolved"
    last = resolved[0]
    assert last.ended_at == last.event_time and last.peak_value >= fired.value
    assert [e.sequence for e in share_events[: share_events.index(last) + 1]] == list(
        range(1, share_events.index(last) + 2))
    # Top posts are the farthest-reaching over the whole alert, not the last bucket.
    reaches = [p["reach"] for p in last.top_posts]
    assert reaches == sorted(reaches, reverse=True)
    assert reaches[0] >= max(p["reach"] for p in fired.top_posts)


def test_severity_escalation_emits_a_firing_update() -> None:
    onset = 3 * DAY + 11 * HOUR
    # Mild at first, then a storm: the alert opens as a warning and escalates.
    mild = Crisis(onset=onset, duration=20 * MINUTE, extra_per_bucket=15, negative_share=0.6)
    storm = Crisis(onset=onset + 20 * MINUTE, duration=20 * MINUTE, extra_per_bucket=120, negative_share=0.95)
    events = run(AdaptiveDetector("acme"), stream(3.6, crises=(mild, storm)))
    share = [e for e in events if e.key == "acme:negative_share" and e.event_time > T0 + onset]
    severities = [(e.state, e.severity) for e in share]
    assert severities[0] == ("firing", "warning")
    assert ("firing", "critical") in severities
    escalation = share[severities.index(("firing", "critical"))]
    assert escalation.sequence == 2 and escalation.peak_severity == "critical"


def test_cold_start_brand_added_during_a_crisis_still_alerts() -> None:
    crisis = Crisis(onset=30 * MINUTE, duration=60 * MINUTE, extra_per_bucket=30, negative_share=0.9)
    events = run(AdaptiveDetector("acme"), stream(0.1, crises=(crisis,)))
    assert opened(events, ("negative_share",))
    assert not opened(events, ("volume", "negative_volume"))  # those wait for the warm-up


def test_state_stays_under_36_kb_in_the_worst_case() -> None:
    detector = AdaptiveDetector("acme", params=build_params("high", {}))
    long_text = "这家店的服务真的太差了" * 20
    crisis = Crisis(onset=2 * DAY, duration=2 * HOUR, extra_per_bucket=80, negative_share=0.95)
    largest = 0
    for bucket in stream(2.1, crises=(crisis,)):
        minute = int(bucket.start // 60)
        # Every sample post from a different story keyed by its post key (the longest key there is).
        bucket.top_negative = [dict(p, excerpt=long_text[:140], url="https://weibo.example/" + "x" * 200,
                                    story=f"weibo:{minute}{k:012d}", reposts=10**6, verified=True,
                                    terms=[f"风险词{j}" for j in range(5)])
                               for k, p in enumerate(bucket.top_negative)]
        bucket.stories = {f"weibo:{minute}{k:012d}": [99, 10**6] for k in range(Bucket.MAX_STORIES)}
        bucket.risk_terms = {f"风险词{k}": k + 1 for k in range(40)}
        # Every post a new story with a risk term: the story memory at its cap.
        bucket.risk_stories = [f"{int(bucket.start // 60) * 64 + k:08x}"[-8:] for k in range(Bucket.MAX_RISK_STORIES)]
        bucket.risk_hits = len(bucket.risk_stories)
        # ... and every negative post a new opinion with a long post key: that memory at its cap too.
        bucket.negative_stories = [f"weibo:{int(bucket.start // 60) * 128 + k}" for k in range(bucket.negative)]
        # ... and every bucket its cap of new copied texts: the copy memory at its cap.
        bucket.copies = {f"{minute * 64 + k:08x}"[-8:]: 1 for k in range(Bucket.MAX_COPIES)}
        # ... and every bucket a new, ever bigger account with a long name: the KOL watch at its cap.
        bucket.big = {"id": f"weibo:{minute:020d}", "author": long_text[:30], "followers": 10**8 + minute,
                      "verified": True, "story": f"weibo:{minute}{0:012d}"}
        bucket.repost_stories = {f"weibo:{minute - k}{0:012d}": [3, 3] for k in range(Bucket.MAX_REPOST_STORIES)}
        detector.update(bucket)
        if bucket.start - T0 > 2 * DAY:
            largest = max(largest, len(json.dumps(detector.to_state()).encode()))
    assert any(st.firing for st in detector.alerts.values())
    assert largest < 36_000, largest


def test_sensitivity_orders_how_much_fires() -> None:
    onset = 3 * DAY + 11 * HOUR
    weak = Crisis(onset=onset, duration=30 * MINUTE, extra_per_bucket=4, negative_share=0.6)
    counts = {}
    for level in ("low", "balanced", "high"):
        events = run(AdaptiveDetector("acme", params=build_params(level, {})), stream(3.6, crises=(weak,)))
        counts[level] = len([e for e in opened(events, NEGATIVE) if e.event_time > T0 + onset])
    assert counts["low"] <= counts["balanced"] <= counts["high"]
    assert counts["high"] >= 1


def test_bucket_size_change_restarts_windows_without_crashing() -> None:
    detector = AdaptiveDetector("acme")
    run(detector, stream(0.5))
    level = detector.baseline.volume.level
    run(detector, stream(0.1, size=300.0, start=T0 + 0.5 * DAY))
    assert detector.baseline.size == 300.0
    assert detector.baseline.volume.level > level * 2  # rates are per bucket: five times longer buckets


def test_gauges_report_baseline_score_and_open_alerts() -> None:
    onset = 3 * DAY + 11 * HOUR
    crisis = Crisis(onset=onset, duration=30 * MINUTE, extra_per_bucket=60, negative_share=0.9)
    detector = AdaptiveDetector("acme")
    calm_score = None
    for bucket in stream(3.6, crises=(crisis,)):
        detector.update(bucket)
        if bucket.start == T0 + onset - MINUTE:
            calm = detector.gauges()
            calm_score = calm["score"]
            assert calm["firing"] == 0.0
            assert calm["baseline_share"] == pytest.approx(0.15, abs=0.02)
        if bucket.start == T0 + onset + 10 * MINUTE:
            hot = detector.gauges()
            assert hot["firing"] >= 1.0
            assert calm_score is not None and hot["score"] > max(calm_score, 4.0)


def test_disabled_signal_never_alerts_but_still_protects_its_baseline() -> None:
    onset = 3 * DAY + 11 * HOUR
    crisis = Crisis(onset=onset, duration=3 * HOUR, extra_per_bucket=200, negative_share=0.9)
    only_volume = AdaptiveDetector("acme", params=build_params("balanced", {"signals": ("volume",)}))
    events = run(only_volume, stream(3.7, crises=(crisis,)))
    assert events and {e.signal for e in events} == {"volume"}
    calm = AdaptiveDetector("acme")
    run(calm, stream(3.7))
    # Hot buckets are still kept out of the share baseline.
    assert only_volume.baseline.share_neg / only_volume.baseline.share_tot == pytest.approx(calm.baseline.share_neg / calm.baseline.share_tot, abs=0.01)


def test_sustained_rise_is_caught_by_the_long_scale_only() -> None:
    # Thirty more posts a minute for hours from 01:00, when the brand has
    # about 24 (so about 2.3x), after ten days of history (a young brand's
    # hourly profile still follows such a rise within hours): no window is
    # five times its expectation, so only the long scale can see it.
    onset = 10 * DAY + 1 * HOUR
    rise = Crisis(onset=onset, duration=8 * HOUR, extra_per_bucket=30, negative_share=0.15, ramp=HOUR)
    events = run(AdaptiveDetector("acme"), stream(10.9, positive_spikes=(rise,)))
    volume = [e for e in opened(events, ("volume",)) if e.event_time > T0 + onset]
    assert volume, "the sustained rise raised no volume alert"
    first = volume[0]
    assert first.event_time < T0 + onset + 4 * HOUR
    assert first.evidence["long_scale_z"] >= 3.5 and first.evidence["long_scale_ratio"] >= 1.5
    assert first.volume_change < 5.0  # the windows alone would not have fired
    assert not [e for e in opened(events, NEGATIVE) if e.event_time > T0 + onset]
    # With the long scale switched off the same stream raises no volume alert.
    off = AdaptiveDetector("acme", params=build_params("balanced", {"volume_long_z": 0.0}))
    assert not [e for e in opened(run(off, stream(10.9, positive_spikes=(rise,))), ("volume",))
                if e.event_time > T0 + onset]


def test_volume_alert_pages_once_per_cooldown_counted_from_its_opening() -> None:
    first = Crisis(onset=3 * DAY + 10 * HOUR, duration=30 * MINUTE, extra_per_bucket=200, negative_share=0.03)
    second = Crisis(onset=3 * DAY + 16 * HOUR, duration=30 * MINUTE, extra_per_bucket=400, negative_share=0.03)

    def volume_openings(params: dict[str, float]) -> int:
        detector = AdaptiveDetector("acme", params=build_params("balanced", params))
        events = run(detector, stream(3.9, positive_spikes=(first, second)))
        return len([e for e in opened(events, ("volume",)) if e.event_time > T0 + first.onset])

    # Default (24 h): the second, bigger burst six hours later does not page again.
    assert volume_openings({}) == 1
    assert volume_openings({"volume_cooldown": 2 * HOUR}) == 2


def test_state_of_an_older_version_is_dropped() -> None:
    detector = AdaptiveDetector("acme")
    run(detector, stream(0.5))
    state = json.loads(json.dumps(detector.to_state()))
    assert state["version"] == 4 and len(state["baseline"]["volume_long"]) == 5
    state["version"] = 2
    assert AdaptiveDetector("acme", state=state).baseline.seen == 0
    restored = AdaptiveDetector("acme", state=json.loads(json.dumps(detector.to_state())))
    assert restored.baseline.seen == detector.baseline.seen


def test_cold_start_does_not_fire_on_a_brand_whose_normal_tone_is_half_negative() -> None:
    """Stock SnowNLP scores many neutral posts negative: a new brand at a steady
    50 % negative share is its normal, not a crisis."""
    import random

    from streams.detection import create_detector
    from streams.models import Bucket

    rng = random.Random(3)
    detector = create_detector(None, "newbrand")
    events = []
    for minute in range(240):
        total = rng.randint(12, 20)
        negative = sum(rng.random() < 0.5 for _ in range(total))
        events += detector.update(Bucket("newbrand", 1_700_000_040.0 + 60 * minute, 60.0, total=total, negative=negative))
    assert [e for e in events if e.signal != "volume"] == []


# -- risk_terms: stories naming a risk, tested with the exact tail ----------------

def night_stream(days: float, seed: int, story: str | None = None, onset: float = 0.0,
                 per_bucket: float = 0.0, negative_share: float = 1.0) -> Iterator[Bucket]:
    """A small brand (about 3 posts a minute by day, a few an hour at
    night) whose calm posts name a risk now and then (about 3 %, each its
    own story), plus from ``onset`` ``per_bucket`` extra posts naming a risk:
    each its own story, or all reposts of ``story``."""
    rng = np.random.default_rng(seed)
    for i in range(int(days * DAY / MINUTE)):
        t = T0 + i * MINUTE
        local_hour = ((t + 8 * HOUR) % DAY) / HOUR
        rate = 3.0 * (1.0 + 0.9 * math.sin(2 * math.pi * (local_hour - 10.0) / 24.0))  # trough at 04:00
        total = int(rng.poisson(rate))
        negative = int(rng.binomial(total, 0.2))
        stories = [f"calm-{i}-{k}" for k in range(int(rng.binomial(total, 0.03)))]
        if onset and onset <= t - T0 < onset + 40 * MINUTE:
            extra = int(rng.poisson(per_bucket))
            total += extra
            negative += int(rng.binomial(extra, negative_share))
            stories += [story if story else f"crisis-{i}-{k}" for k in range(extra)]
        unique = list(dict.fromkeys(stories))
        yield Bucket(brand="acme", start=t, size=MINUTE, total=total, negative=negative,
                     risk_hits=len(stories), risk_terms={"召回": len(stories)} if stories else {},
                     risk_stories=unique)


NIGHT_ONSET = 3 * DAY + 2 * HOUR  # 02:00 local


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_risk_stories_catch_a_small_night_crisis_within_five_minutes(seed: int) -> None:
    events = run(AdaptiveDetector("acme"), night_stream(3.5, seed, onset=NIGHT_ONSET, per_bucket=1.5))
    risk = [e for e in opened(events, ("risk_terms",)) if e.event_time > T0 + NIGHT_ONSET]
    assert risk, "the night crisis raised no risk_terms alert"
    first = risk[0]
    assert first.event_time <= T0 + NIGHT_ONSET + 5 * MINUTE
    evidence = first.evidence
    assert evidence["test"].startswith("exact negative-binomial tail on new stories with risk terms")
    assert evidence["risk_stories"] >= 4 and evidence["expected_risk_stories"] < 0.5
    assert 0.0 < evidence["baseline_risk_share"] < 0.06
    assert "new stories with risk terms" in first.summary


def test_a_repost_cascade_of_one_risky_post_is_one_story() -> None:
    # The same posts, but every one of them reposts one post: one story.
    events = run(AdaptiveDetector("acme"), night_stream(3.5, 1, story="one-post", onset=NIGHT_ONSET, per_bucket=1.5))
    assert not [e for e in opened(events, ("risk_terms",)) if e.event_time > T0 + NIGHT_ONSET]


def test_risk_stories_need_the_negative_share_up() -> None:
    # News naming a recall in a neutral tone (a competitor's recall, a
    # regulator's routine notice) is not this brand's crisis.
    events = run(AdaptiveDetector("acme"),
                 night_stream(3.5, 1, onset=NIGHT_ONSET, per_bucket=1.5, negative_share=0.05))
    assert not [e for e in opened(events, ("risk_terms",)) if e.event_time > T0 + NIGHT_ONSET]


def test_calm_risk_stories_raise_no_alert() -> None:
    events = run(AdaptiveDetector("acme"), night_stream(7.0, 4))
    assert not opened(events, ("risk_terms",)), [e.summary for e in opened(events)]


def test_a_story_counts_once_per_longest_window() -> None:
    detector = AdaptiveDetector("acme")
    for i in range(200):
        again = i in (0, 30, 59, 120)
        bucket = Bucket(brand="acme", start=T0 + i * MINUTE, size=MINUTE, total=1, risk_hits=int(again),
                        risk_stories=["same"] if again else [])
        detector.update(bucket)
        if i == 59:
            assert sum(entry[3] for entry in detector.baseline.ring) == 1  # seen at 0, 30 and 59: one story
        if i == 120:
            # Not seen for 61 buckets (the longest window is 60): it counts again.
            assert sum(entry[3] for entry in detector.baseline.ring) == 1
            # Saved as {buckets since last seen: 8-character keys}: one story, seen now.
            seen = detector.to_state()["baseline"]["risk_seen"]
            assert list(seen) == ["0"] and len(seen["0"]) == 8
    # An hour later it is forgotten: the saved state keeps only the last hour's stories.
    assert detector.to_state()["baseline"]["risk_seen"] == {}


def test_buckets_without_story_keys_count_every_risk_post() -> None:
    # From a producer that predates story keys: the posts themselves count.
    detector = AdaptiveDetector("acme")
    detector.update(Bucket(brand="acme", start=T0, size=MINUTE, total=5, risk_hits=3))
    assert detector.baseline.ring[-1][3] == 3


V3_STATE = Path(__file__).resolve().parent / "data" / "adaptive_state_v3.json"


def test_a_state_saved_by_the_single_class_detector_migrates_with_what_it_learned() -> None:
    """tests/data/adaptive_state_v3.json was saved by the version-3 detector
    (before the signals were split) nine minutes into a crisis, with three
    negative alerts firing; the stream it saw is ``stream(2.6, crises=...)``
    below, stopped at onset + 9 minutes."""
    old = json.loads(V3_STATE.read_text(encoding="utf-8"))
    assert old["version"] == 3
    restored = create_detector(None, "acme", state=json.loads(json.dumps(old)))
    b = restored.baseline
    assert b.seen == old["seen"] and b.last_start == old["last_start"]
    assert b.volume.level == old["volume"]["level"] and [b.share_neg, b.share_tot] == old["share"]
    # Ring entries gain the bucket's negative stories; a state saved before
    # stories were counted has none, so each negative post is its own story.
    assert [e[:5] for e in b.ring] == old["ring"] and b.pos == old["pos"]
    assert all(e[5] == e[1] for e in b.ring)
    assert restored.signals["risk_terms"].state.stories == old["risk"][0]
    assert restored.signals["volume"].state.typical == old["volume_tail"][1]
    firing = set(restored.firing_keys)
    assert firing == {k for k, st in old["alerts"].items() if st["firing"]}
    # The open alerts carry on (no second opening) and resolve when the crisis ends.
    onset = 2 * DAY + 11 * HOUR
    crisis = Crisis(onset=onset, duration=40 * MINUTE, extra_per_bucket=40, negative_share=0.9)
    rest = [bk for bk in stream(2.9, crises=(crisis,)) if bk.start > old["last_start"]]
    events = run(restored, iter(rest))
    assert not [e for e in events if e.state == "firing" and e.sequence == 1 and e.signal in firing
                | {"negative_share", "negative_volume", "risk_terms"} and e.event_time < T0 + onset + HOUR]
    resolved = {e.signal for e in events if e.state == "resolved"}
    assert {"negative_share", "negative_volume"} <= resolved
    assert restored.to_state()["version"] == 4
