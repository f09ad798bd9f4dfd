"""negative_tone: how negative a brand's own posts read, not only whether (streams/detection/signals/tone.py)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.detection import AdaptiveDetector, build_params
from streams.models import TONE_BINS, AlertEvent, Bucket, Mention, MentionCounts, tone_bin

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
T0 = 1772380800.0  # 2026-03-02 00:00 Beijing time
ONSET = 4 * DAY + 11 * HOUR
COUNT_SIGNALS = ("negative_share", "negative_volume", "negative_sequential")


def _mention(negative: float, text: str = "服务太差了", key: str = "w:1") -> Mention:
    return Mention(brand="acme", post_key=key, source="weibo", post_id=key, author_id="u", author_name="u",
                   followers=10, verified=False, text=text, url="", created_at=T0, negative=negative,
                   sentiment=1.0 - negative, is_negative=negative >= 0.52, reach=1.0)


def _run(detector: AdaptiveDetector, buckets: Iterator[Bucket]) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    for bucket in buckets:
        events.extend(detector.update(bucket))
    return events


def _opened(events: list[AlertEvent], signals: tuple[str, ...], after: float = 0.0) -> list[AlertEvent]:
    return [e for e in events if e.state == "firing" and e.sequence == 1 and e.signal in signals
            and e.event_time > T0 + after]


def _brand(days: float, seed: int, crisis: tuple[float, float, float, float] | None = None,
           news: tuple[float, float, float] | None = None) -> Iterator[Bucket]:
    """About two own posts a minute; calm posts read negative with the
    probabilities of an imperfect model (30 % of them between 0.55 and
    0.65, the rest low). ``crisis`` = (onset, minutes, share of the posts
    that read 0.9-1.0 instead of 0.55-0.65, extra posts a minute at that
    reading): the verdict (>= 0.52) counts the same posts negative, only
    how negative changes. ``news`` = (onset, minutes, extra posts a
    minute at the calm readings)."""
    rng = np.random.default_rng(seed)
    for i in range(int(days * DAY / MINUTE)):
        t = T0 + i * MINUTE
        local_hour = ((t + 8 * HOUR) % DAY) / HOUR
        rate = 2.0 * (1.0 + 0.6 * math.sin(2 * math.pi * (local_hour - 14.0) / 24.0))
        in_crisis = crisis is not None and crisis[0] <= t - T0 < crisis[0] + crisis[1] * MINUTE
        in_news = news is not None and news[0] <= t - T0 < news[0] + news[1] * MINUTE
        total = int(rng.poisson(rate + (news[2] if in_news and news else 0.0)))
        bucket = Bucket(brand="acme", start=t, size=MINUTE)
        readings = []
        for _ in range(total):
            if rng.random() < 0.3:
                strong = in_crisis and crisis is not None and rng.random() < crisis[2]
                readings.append(rng.uniform(0.9, 1.0) if strong else rng.uniform(0.55, 0.65))
            else:
                readings.append(rng.uniform(0.0, 0.4))
        if in_crisis and crisis is not None:
            readings += [rng.uniform(0.9, 1.0) for _ in range(int(rng.poisson(crisis[3])))]
        for k, reading in enumerate(readings):
            bucket.add(_mention(float(reading), key=f"w:{i}:{k}"))
        yield bucket


# -- the bucket's tones ------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_probability_has_a_bin(negative: float) -> None:
    assert 0 <= tone_bin(negative) < TONE_BINS


def test_own_posts_are_binned_and_reposts_are_not() -> None:
    bucket = Bucket(brand="acme", start=T0, size=MINUTE)
    bucket.add(_mention(0.97, key="w:1"))
    bucket.add(_mention(0.03, text="挺好的", key="w:2"))
    bucket.add(_mention(0.97, text="转发//@某人:服务太差了", key="w:3"))
    assert sum(bucket.tones) == 2 and bucket.tones[19] == 1 and bucket.tones[0] == 1
    other = Bucket(brand="acme", start=T0, size=MINUTE)
    other.add(_mention(0.5, key="w:4"))
    bucket.merge(other)
    assert bucket.tones[10] == 1 and sum(bucket.tones) == 3
    assert Bucket.from_dict(bucket.to_dict()).tones == bucket.tones
    # An older producer's part carries no tones: merging it changes nothing.
    old = Bucket(brand="acme", start=T0, size=MINUTE, total=4, negative=1)
    bucket.merge(old)
    assert sum(bucket.tones) == 3


@pytest.mark.parametrize("tones", [[1] * (TONE_BINS - 1), [-1] + [0] * (TONE_BINS - 1), [0] * (TONE_BINS - 1) + [9]])
def test_a_part_with_impossible_tones_is_refused(tones: list[int]) -> None:
    def record(tones: list[int]) -> dict[str, object]:
        return {"kind": "counts", "brand": "acme", "ranges": {"0": [0, 1]},
                "buckets": [{"start": T0, "total": 5, "negative": 1, "tones": tones}]}

    assert MentionCounts.from_dict(record([1] * 5 + [0] * (TONE_BINS - 5)), MINUTE).buckets[0].tones[0] == 1
    with pytest.raises(ValueError, match="tones"):
        MentionCounts.from_dict(record(tones), MINUTE)


# -- the signal ----------------------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_posts_reading_more_negative_alert_when_the_verdicts_do_not_change(seed: int) -> None:
    # Half of the posts the model already read negative now read 0.9-1.0,
    # plus one extra such post a minute: the count of negative verdicts
    # grows by a half, their share by about a sixth.
    events = _run(AdaptiveDetector("acme"), _brand(4.6, seed, crisis=(ONSET, 90, 0.5, 1.0)))
    tone = _opened(events, ("negative_tone",), after=ONSET)
    assert tone and tone[0].event_time <= T0 + ONSET + 20 * MINUTE, [e.signal for e in _opened(events, COUNT_SIGNALS,
                                                                                                  after=ONSET)]
    evidence = tone[0].evidence
    assert evidence["run_mean_negative"] > evidence["usual_mean_negative"]
    assert evidence["run_z"] >= evidence["run_z_threshold"]
    assert evidence["cusum_nats"] >= evidence["cusum_threshold_nats"]
    assert tone[0].value == pytest.approx(evidence["run_mean_negative"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_calm_days_and_a_news_hour_raise_no_tone_alert(seed: int) -> None:
    events = _run(AdaptiveDetector("acme"), _brand(6.0, seed, news=(ONSET, 120, 6.0)))
    assert not _opened(events, ("negative_tone",))


def test_a_bucket_without_tones_adds_no_evidence() -> None:
    detector = AdaptiveDetector("acme")
    _run(detector, _brand(3.0, 1))
    before = detector.signals["negative_tone"].state.cusum
    detector.update(Bucket(brand="acme", start=T0 + 3 * DAY, size=MINUTE, total=50, negative=50))
    assert detector.signals["negative_tone"].state.cusum == before


def test_the_calm_distribution_survives_a_restart_and_old_states_load() -> None:
    detector = AdaptiveDetector("acme")
    _run(detector, _brand(2.0, 4))
    state = detector.to_state()
    again = AdaptiveDetector("acme", state=state)
    assert again.signals["negative_tone"].calm() == pytest.approx(detector.signals["negative_tone"].calm())
    del state["signals"]["negative_tone"]
    old = AdaptiveDetector("acme", state=state)
    assert old.signals["negative_tone"].calm() == pytest.approx([1.0 / TONE_BINS] * TONE_BINS)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1e6), min_size=TONE_BINS, max_size=TONE_BINS),
       st.lists(st.floats(0.0, 1e6), min_size=TONE_BINS, max_size=TONE_BINS),
       st.floats(0.01, 0.99), st.floats(0.5, 8.0))
def test_the_ratios_are_finite_and_calm_drifts_down(base: list[float], local: list[float], mixture: float,
                                                    power: float) -> None:
    detector = AdaptiveDetector("acme", params=build_params(overrides={"tone_mixture": mixture, "tone_power": power}))
    signal = detector.signals["negative_tone"]
    signal.state.base, signal.state.local = base, local
    calm = signal.calm()
    assert sum(calm) == pytest.approx(1.0)
    ratios = signal.ratios(calm)
    assert all(math.isfinite(r) for r in ratios)
    # Under the calm distribution the expected log-likelihood ratio is never positive (Jensen).
    assert sum(c * r for c, r in zip(calm, ratios, strict=True)) <= 1e-9


def _wandering(days: float, seed: int, lift: float) -> Iterator[Bucket]:
    """Three posts a minute; in every third hour the share of posts read 0.55-0.65 is ``lift`` higher."""
    rng = np.random.default_rng(seed)
    for i in range(int(days * DAY / MINUTE)):
        share = 0.3 + (lift if (i // 60) % 3 == 0 else 0.0)
        bucket = Bucket(brand="acme", start=T0 + i * MINUTE, size=MINUTE)
        for k in range(int(rng.poisson(3.0))):
            reading = rng.uniform(0.55, 0.65) if rng.random() < share else rng.uniform(0.0, 0.4)
            bucket.add(_mention(float(reading), key=f"w:{i}:{k}"))
        yield bucket


def test_the_ratio_learns_how_much_a_brands_tone_wanders() -> None:
    # Independent posts: no correlation within a window. Hours of a more
    # negative tone: the run test must expect a window's sum to wander more.
    steady, wandering = AdaptiveDetector("acme"), AdaptiveDetector("acme")
    _run(steady, _wandering(4.0, 1, 0.0))
    _run(wandering, _wandering(4.0, 1, 0.2))
    hour = steady.baseline.windows.index(60)
    assert steady.signals["negative_tone"].state.rho[hour][1] >= 20
    assert abs(steady.signals["negative_tone"].state.rho[hour][0]) < 0.01
    assert wandering.signals["negative_tone"].state.rho[hour][0] > 0.02
    assert wandering.signals["negative_tone"]._rho(60) > steady.signals["negative_tone"]._rho(60)
    # Saved and restored with the rest of the state.
    again = AdaptiveDetector("acme", state=wandering.to_state())
    assert again.signals["negative_tone"].state.rho == wandering.signals["negative_tone"].state.rho
