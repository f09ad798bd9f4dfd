"""The incident tally the detector attaches to its alerts (evidence["incident"]):
how many negative posts and stories a brand's incident had, how many posts
tell each of its top stories, the worst severity and the signals that fired."""

from __future__ import annotations

import json

from streams.detection import AdaptiveDetector
from streams.detection.incident import MAX_STORIES, IncidentTally
from streams.models import Bucket, Mention
from tests.test_detection_adaptive import DAY, HOUR, MINUTE, T0, Crisis, stream


def mention(key: str, story: str, negative: bool = True, reposts: int = 0, verified: bool = False,
            followers: int = 10, terms: tuple[str, ...] = ()) -> Mention:
    return Mention(brand="acme", post_key=key, source="w", post_id=key, author_id="a", author_name="作者",
                   followers=followers, verified=verified, text="过期奶换标签再卖", url="", created_at=1.0,
                   negative=0.9 if negative else 0.1, sentiment=0.1, is_negative=negative, reach=1.0,
                   risk_terms=list(terms), reposts=reposts, story=story)


def test_a_bucket_counts_negative_posts_and_reposts_per_story_up_to_its_cap() -> None:
    bucket = Bucket("acme", 0.0, 60.0)
    for i in range(5):
        bucket.add(mention(f"w:{i}", "s1", reposts=10))
    bucket.add(mention("w:p", "s1", negative=False, reposts=1000))  # not negative: not the crisis
    bucket.add(mention("w:old", ""))  # no story key: the post is its own story
    assert bucket.stories == {"s1": [5, 50], "w:old": [1, 0]}
    for i in range(100):
        bucket.add(mention(f"x:{i}", f"story{i}"))
    assert len(bucket.stories) == Bucket.MAX_STORIES and bucket.stories["s1"] == [5, 50]
    assert Bucket.from_dict(json.loads(json.dumps(bucket.to_dict()))).stories == bucket.stories
    old = bucket.to_dict()
    del old["stories"]
    assert Bucket.from_dict(old).stories == {}


def test_sample_posts_carry_story_reposts_badge_and_terms_and_old_ones_still_read() -> None:
    bucket = Bucket("acme", 0.0, 60.0)
    bucket.add(mention("w:1", "s1", reposts=3948, verified=True, followers=5_000_000, terms=("过期", "召回")))
    [post] = bucket.top_negative
    assert (post["story"], post["reposts"], post["verified"], post["terms"]) == ("s1", 3948, True, ["过期", "召回"])
    old = {k: v for k, v in post.items() if k not in ("story", "reposts", "verified", "terms")}
    assert Bucket.from_dict({"brand": "acme", "start": 0.0, "size": 60.0, "top_negative": [old]}).top_negative == [old]


def test_the_alerts_of_an_incident_carry_its_tally_until_it_closes() -> None:
    onset = 3 * DAY + 11 * HOUR
    crisis = Crisis(onset=onset, duration=40 * MINUTE, extra_per_bucket=60, negative_share=0.9)
    detector = AdaptiveDetector("acme")
    events = []
    buckets: dict[float, Bucket] = {}
    for bucket in stream(4.5, crises=(crisis,)):
        if T0 + onset - 5 * MINUTE <= bucket.start < T0 + onset + crisis.duration and bucket.top_negative:
            # The crisis posts tell one story, reposted; each bucket's first post starts it.
            bucket.top_negative[0]["story"] = "recall"
            bucket.stories = {"recall": [bucket.negative, 7 * bucket.negative], "other": [1, 0]}
        buckets[bucket.start] = bucket
        events.extend(detector.update(bucket))
    crisis_events = [e for e in events if e.event_time > T0 + onset]
    first = crisis_events[0]
    tally = first.evidence["incident"]
    opening = buckets[first.started_at]
    assert tally["opened_at"] == first.started_at
    assert (tally["negative"], tally["total"]) == (opening.negative, opening.total)
    # The story is counted from the two buckets before the incident opened, and in the one that opened it.
    seeded = [buckets[first.started_at - k * MINUTE] for k in (2, 1, 0)]
    assert tally["story_counts"]["recall"] == [sum(b.stories.get("recall", [0, 0])[0] for b in seeded),
                                               sum(b.stories.get("recall", [0, 0])[1] for b in seeded)]
    assert "other" not in tally["story_counts"]  # only the stories of the posts the alert carries
    assert tally["signals"][0] == first.signal
    ours = [e for e in crisis_events if e.evidence["incident"]["opened_at"] == first.started_at]
    last = ours[-1]
    assert last.state == "resolved"
    final = last.evidence["incident"]
    closing = [b for b in buckets.values() if first.started_at <= b.start < last.event_time]
    assert final["negative"] == sum(b.negative for b in closing)
    assert final["stories"] == 2 and not final["more_stories"]
    assert set(final["signals"]) == {e.signal for e in ours if e.state == "firing"}
    assert final["severity"] == ("critical" if any(e.severity == "critical" for e in ours) else "warning")
    assert crisis_events[: len(ours)] == ours  # closed with its last resolve: later alerts are another incident


def test_the_tally_survives_a_restart_and_bounds_its_stories() -> None:
    tally = IncidentTally()
    bucket = Bucket("acme", 60.0, 60.0, total=500, negative=400,
                    stories={f"s{i}": [2, 1] for i in range(Bucket.MAX_STORIES)})
    tally.remember(bucket)
    tally.open(bucket)
    for i in range(5):
        tally.collect(Bucket("acme", 120.0 + 60 * i, 60.0, total=10, negative=9,
                             stories={f"t{i}-{k}": [1, 0] for k in range(Bucket.MAX_STORIES)}))
    assert len(tally.stories) == MAX_STORIES and tally.more_stories
    assert tally.negative == 400 + 45 and tally.stories["s0"] == [4, 2]  # the bucket before, and the one that opened
    again = IncidentTally.from_dict(json.loads(json.dumps(tally.to_dict())))
    assert again == tally
    assert IncidentTally.from_dict(None) == IncidentTally()
