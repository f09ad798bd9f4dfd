"""The KOL signal's second path: a big, rare account's post whose reposts read negative.

A sentiment model misreads about one post in five; when the misread post is
the KOL's own, the reaction (reposts spreading it, in the reposters' own
words) still says what the post did. These tests drive the detector with
buckets shaped like the aggregator's (``Bucket.big``,
``Bucket.repost_stories``) and the bucket itself with mentions.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.detection import AdaptiveDetector, build_params
from streams.detection.signals.kol import AMPLIFY_Z, reaction_z
from streams.detection.stats import tail_z
from streams.models import AlertEvent, Bucket, Mention, _part_from_dict
from streams.sentiment.preprocess import story_key
from tests.bench_scripts import bench_module

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
T0 = 1772380800.0  # 2026-03-02 00:00 Beijing time
ONSET = 7 * DAY + 11 * HOUR
KOL_STORY = "k0000001"


def brand_with_a_big_post(followers: int, repost_rate: float, repost_share: float, seed: int = 3,
                          days: float = 7.6, share: float = 0.4, post_negative: bool = False) -> Iterator[Bucket]:
    """About one post a minute read ``share`` negative, with ordinary
    reposts (a few a day, read at the usual share). At ONSET a verified
    account of ``followers`` posts something the model reads as *not*
    negative (so ``kol`` stays empty; read negative with ``post_negative``); then ``repost_rate`` reposts a
    minute spread it, ``repost_share`` of them read negative."""
    rng = np.random.default_rng(seed)
    for i in range(int(days * DAY / MINUTE)):
        t = T0 + i * MINUTE
        local_hour = ((t + 8 * HOUR) % DAY) / HOUR
        rate = 1.0 + 0.6 * math.sin(2 * math.pi * (local_hour - 14.0) / 24.0)
        total = int(rng.poisson(rate))
        negative = int(rng.binomial(total, share))
        stories = [f"{i:06x}{k:02x}" for k in range(negative)]
        big: dict[str, object] = {}
        reposts: dict[str, list[int]] = {}
        if total and rng.random() < 0.01:  # an ordinary account with a following, any tone
            big = {"id": f"w:{i}", "author": "路人", "followers": int(10 ** rng.uniform(3.5, 5.5)),
                   "verified": False, "story": f"o{i:07x}"}
        if rng.random() < 0.02:  # an ordinary story passed on a little
            n = int(rng.integers(1, 4))
            reposts[f"r{i:07x}"] = [n, int(rng.binomial(n, share))]
        since = t - T0 - ONSET
        kol: dict[str, object] = {}
        if 0 <= since < MINUTE:
            total += 1
            big = {"id": "w:kol", "author": "热点速递V", "followers": followers, "verified": True, "story": KOL_STORY}
            if post_negative:
                negative += 1
                stories.append(KOL_STORY)
                kol = dict(big, reposts=900)
        if 0 < since < 2 * HOUR:
            n = int(rng.poisson(repost_rate))
            if n:
                bad = int(rng.binomial(n, repost_share))
                total += n
                negative += bad
                stories += [KOL_STORY] * bad
                reposts[KOL_STORY] = [n, bad]
        yield Bucket(brand="acme", start=t, size=MINUTE, total=total, negative=negative,
                     negative_stories=list(dict.fromkeys(stories)), big=big, repost_stories=reposts, kol=kol)


def run(detector: AdaptiveDetector, buckets: Iterator[Bucket]) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    for bucket in buckets:
        events.extend(detector.update(bucket))
    return events


def kol_openings(events: list[AlertEvent]) -> list[AlertEvent]:
    return [e for e in events if e.signal == "kol" and e.state == "firing" and e.sequence == 1]


def test_a_misread_kol_post_pages_once_its_reposts_read_negative() -> None:
    events = run(AdaptiveDetector("acme"), brand_with_a_big_post(50_000_000, 1.0, 0.9))
    kol = kol_openings(events)
    assert len(kol) == 1
    minutes = (kol[0].event_time - T0 - ONSET) / MINUTE
    assert 3 <= minutes <= 15  # five negative reposts at about one a minute
    evidence = kol[0].evidence
    assert evidence["path"] == "reposts" and evidence["account"] == "热点速递V"
    assert evidence["account_followers"] == 50_000_000 and evidence["account_verified"] is True
    assert evidence["negative_reposts"] >= build_params().kol_amplify_posts
    assert evidence["negative_reposts"] <= evidence["reposts_seen"]
    assert "reposts of a post by 热点速递V" in kol[0].summary


def test_reposts_read_negative_at_the_usual_share_do_not_page() -> None:
    # The model reads 40 % of everything negative; so it reads the reposts.
    events = run(AdaptiveDetector("acme"), brand_with_a_big_post(50_000_000, 1.5, 0.4))
    assert not kol_openings(events)


def test_an_account_of_usual_size_is_not_watched() -> None:
    # 20,000 followers: below kol_min_followers, whatever its reposts say.
    events = run(AdaptiveDetector("acme"), brand_with_a_big_post(20_000, 1.0, 0.95))
    assert not kol_openings(events)


def test_the_watch_survives_a_restart() -> None:
    buckets = list(brand_with_a_big_post(50_000_000, 1.0, 0.9))
    cut = next(i for i, b in enumerate(buckets) if b.start >= T0 + ONSET + 2 * MINUTE)
    first = AdaptiveDetector("acme")
    run(first, iter(buckets[:cut]))
    state = first.to_state()
    assert state["signals"]["kol"]["watched"][0]["story"] == KOL_STORY
    restored = AdaptiveDetector("acme", state=state)
    assert kol_openings(run(restored, iter(buckets[cut:])))
    # A state saved before the watch existed loads with nothing watched.
    del state["signals"]["kol"]["watched"]
    assert AdaptiveDetector("acme", state=state).signals["kol"].state.watched == []


def _mention(key: str, text: str, story: str, negative: bool, followers: int = 10,
             verified: bool = False) -> Mention:
    return Mention(brand="acme", post_key=key, source="w", post_id=key, author_id=key, author_name=key,
                   followers=followers, verified=verified, text=text, url="", created_at=1.0,
                   negative=0.9 if negative else 0.1, sentiment=0.1, is_negative=negative, reach=1.0, story=story)


def test_bucket_keeps_the_biggest_account_of_any_tone_and_reposts_per_story() -> None:
    bucket = Bucket("acme", 0.0, 60.0)
    bucket.add(_mention("w:k", "这家店怎么样", "s1", False, followers=3_000_000, verified=True))
    bucket.add(_mention("w:c", "太差了", "s2", True, followers=5_000_000))  # 5M < 3M x 3 (verified)
    bucket.add(_mention("w:small", "一般", "s3", False, followers=999))  # under 1,000: never kept
    for i in range(4):
        bucket.add(_mention(f"w:r{i}", "避雷//@w:k:这家店怎么样", "s1", negative=i < 3))
    bucket.add(_mention("w:o", "太差了", "s2", True))  # not a repost
    assert bucket.big == {"id": "w:k", "author": "w:k", "followers": 3_000_000, "verified": True, "story": "s1"}
    assert bucket.kol["id"] == "w:c"  # the KOL field stays negative-only
    assert bucket.repost_stories == {"s1": [4, 3]}
    part = Bucket("acme", 0.0, 60.0)
    part.add(_mention("w:r9", "扩散//@w:k:这家店怎么样", "s1", True))
    part.add(_mention("w:v", "看看", "s4", False, followers=4_000_000, verified=True))
    bucket.merge(part)
    assert bucket.repost_stories == {"s1": [5, 4]} and bucket.big["id"] == "w:v"
    again = Bucket.from_dict(bucket.to_dict())
    assert (again.big, again.repost_stories) == (bucket.big, bucket.repost_stories)
    old = bucket.to_dict()
    del old["big"], old["repost_stories"]
    assert (Bucket.from_dict(old).big, Bucket.from_dict(old).repost_stories) == ({}, {})
    for i in range(100):
        bucket.add(_mention(f"x:{i}", "转//@y:z", f"t{i}", False))
    assert len(bucket.repost_stories) == Bucket.MAX_REPOST_STORIES


@pytest.mark.parametrize("bad", [{"s1": [1, 2]}, {"s1": [-1, 0]}, {"s1": [2, -1]}, ["s1"], {"s1": "x"}])
def test_a_part_with_bad_repost_counts_is_refused_whole(bad: object) -> None:
    good = {"start": 0.0, "total": 3, "negative": 1, "repost_stories": {"s1": [2, 1]}}
    assert _part_from_dict(good, "acme", 60.0).repost_stories == {"s1": [2, 1]}
    with pytest.raises((TypeError, ValueError, IndexError)):
        _part_from_dict(dict(good, repost_stories=bad), "acme", 60.0)


def test_a_part_with_a_malformed_big_account_is_refused() -> None:
    with pytest.raises((TypeError, ValueError)):
        _part_from_dict({"start": 0.0, "big": {"id": 3, "followers": 1, "verified": True}}, "acme", 60.0)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("//@: 太差了好图片[]xa\n")), max_size=60))
def test_story_key_never_raises_and_is_short(text: str) -> None:
    key = story_key(text)
    assert key is None or len(key) == 8


def test_the_low_preset_still_opens_a_kol_alert_on_one_post() -> None:
    # fire_after 2 asks for two hot buckets in a row; one post is one bucket.
    from streams.detection.policy import AlertPolicy, AlertState

    low = build_params("low")
    assert low.fire_after == 2
    policy = AlertPolicy(fire_after=low.fire_after, z_critical=low.z_critical)
    st = AlertState()
    policy.mark(st, True, 0.0)
    assert not policy.may_open(st, True, 1.0, 60.0, False)
    assert policy.may_open(st, True, 1.0, 60.0, False, single_bucket=True)
    detector = AdaptiveDetector("acme", params=low)
    events = run(detector, brand_with_a_big_post(80_000_000, 0.0, 0.0, days=7.6, post_negative=True))
    kol = kol_openings(events)
    assert [round((e.event_time - T0 - ONSET) / MINUTE) for e in kol] == [1]
    assert kol[0].evidence["path"] == "post"


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**15), st.integers(0, 10**15), st.floats(0.0, 1.0))
def test_the_binomial_tail_is_a_probability_for_any_counts(successes: int, trials: int, p: float) -> None:
    # The reposts' test walks one term per trial up to EXACT_BINOMIAL_MAX_TRIALS, then is normal:
    # a repost count off the wire, however large, is answered at once.
    from streams.detection.stats import binomial_upper_tail

    value = binomial_upper_tail(successes, trials, p)
    assert 0.0 <= value <= 1.0


def test_the_binomial_tail_is_exact_for_small_counts_and_close_beyond() -> None:
    from streams.detection.stats import EXACT_BINOMIAL_MAX_TRIALS, binomial_upper_tail

    assert binomial_upper_tail(6, 6, 0.45) == pytest.approx(0.45 ** 6)
    n = EXACT_BINOMIAL_MAX_TRIALS
    exact = binomial_upper_tail(n // 2 + 200, n, 0.5)
    normal = binomial_upper_tail(n // 2 + 200 + 1, n + 2, 0.5)  # one step past the exact walk
    assert exact == pytest.approx(normal, rel=0.05)


def test_reaction_z_is_the_exact_binomial_tail_of_the_reposts() -> None:
    # Five of five at a 30 % usual share: p = 0.3**5 = 0.24 %, well past 1 %.
    assert reaction_z(5, 5, 0.3) == pytest.approx(tail_z(0.3 ** 5))
    assert reaction_z(5, 5, 0.3) >= AMPLIFY_Z
    # At a 55 % usual share (a Weibo brand read by the default model) five of
    # five is p = 5 %: not enough; eight of eight is p = 0.8 %.
    assert reaction_z(5, 5, 0.55) < AMPLIFY_Z <= reaction_z(8, 8, 0.55)
    assert reaction_z(0, 10, 0.4) == 0.0


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 200), st.integers(0, 200), st.floats(0.05, 0.95))
def test_reaction_z_grows_with_negative_reposts_and_falls_with_the_others(reposts: int, negative: int,
                                                                           share: float) -> None:
    negative = min(negative, reposts)
    z = reaction_z(negative, reposts, share)
    assert 0.0 <= z
    if negative < reposts:
        assert reaction_z(negative + 1, reposts, share) >= z  # one more read negative
        assert reaction_z(negative, reposts + 1, share) <= z  # one more read otherwise


REACTION = bench_module("kol_reaction_null")


def test_the_null_simulation_uses_the_signals_test() -> None:
    table = REACTION.passes_table(40, 0.55, 5)
    for n in range(1, 41):
        for k in range(n + 1):
            assert table[n, k] == (k >= 5 and reaction_z(k, n, 0.55) >= AMPLIFY_Z)
    reads = np.array([[1, 1, 1, 1, 1, 1, 1, 1, 0, 0],  # eight in a row: passes at the eighth
                      [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]])  # half negative at a 55 % share: never
    assert REACTION.first_pass(reads.astype(bool), table[:11, :11]).tolist() == [8, 0]


def test_the_null_simulation_prints_its_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert REACTION.main(["--trials", "200"]) == 0
    out = capsys.readouterr().out
    assert "| 55% |" in out and "false alerts / brand-week" in out and "read 90% negative" in out
    with pytest.raises(SystemExit):
        REACTION.main(["--trials", "0"])
