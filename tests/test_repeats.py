"""Posts seen again: counted once; more engagement updates reach evidence only."""

from __future__ import annotations

import json

import pytest
from faust.utils import json as faust_json
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.aggregate import Aggregator, AggregatorState, DictBucketStore
from streams.gate import Gate, InputRules
from streams.ledger import LedgerBatch, PostsLedger
from streams.models import MentionCounts, Post, reach_weight
from streams.repeats import PackedSeen, Seen, counted_at, last_seen, remember, repeat
from streams.scoring import MentionCounter, mentions_for

GATE = Gate(InputRules(max_age=0))


def post(pid: str = "1", followers: int = 100, reposts: int = 2, comments: int = 1, likes: int = 5,
         text: str = "晨光牛奶喝出异物，太恶心了", verified: bool = False) -> Post:
    result = GATE.admit_mapping({"source": "weibo", "id": pid, "text": text, "created_at": "2026-03-02T10:00:30+08:00",
                                 "author": {"id": "u1", "name": "张三", "followers": followers, "verified": verified},
                                 "reposts": reposts, "comments": comments, "likes": likes, "url": "https://weibo.example/1"})
    assert isinstance(result, Post)
    return result


class Score:
    negative = 0.93
    sentiment = 0.07
    risk_terms = ["异物"]
    story = "abcd1234"


def test_a_post_that_was_not_negative_is_remembered_by_its_offset_only() -> None:
    entry = remember(post(), 17, ["chenguang"], 0.1, False, "s")
    assert entry == 17 and counted_at(entry) == 17 == last_seen(entry)
    change = repeat(entry, post(reposts=900), 40)
    assert change.entry is None and change.revisions == []


def test_more_reach_revises_the_bucket_once_with_the_difference() -> None:
    first = post()
    entry = remember(first, 17, ["chenguang", "xinghe"], 0.93, True, "abcd1234")
    again = post(followers=50_000, reposts=300)
    change = repeat(entry, again, 40)
    delta = reach_weight(50_000, 300, 1) - reach_weight(100, 2, 1)
    assert [brand for brand, _ in change.revisions] == ["chenguang", "xinghe"]
    revision = change.revisions[0][1]
    assert revision["reach_delta"] == pytest.approx(delta)
    assert revision["sample"]["reach"] == round(reach_weight(50_000, 300, 1), 4)
    assert revision["kol"] == {"id": "weibo:1", "author": "张三", "followers": 50_000, "verified": False,
                               "story": "abcd1234", "reposts": 300}
    assert change.event_time == first.event_time
    seen = Seen.from_list(change.entry)  # type: ignore[arg-type]
    assert (seen.offset, seen.seen_offset, seen.followers, seen.reposts, seen.revised_at) == (17, 40, 50_000, 300, 40)
    # Seen again with the same numbers: nothing changes.
    assert repeat(change.entry, again, 55).revisions == []  # type: ignore[arg-type]
    # A stale copy with fewer reposts changes nothing either.
    assert repeat(change.entry, post(reposts=1), 60).revisions == []  # type: ignore[arg-type]
    # The sighting that revised, processed again after a crash, sends the same revision.
    rerun = repeat(change.entry, again, 40)  # type: ignore[arg-type]
    assert rerun.entry is None and rerun.revisions[0][1]["reach_delta"] == pytest.approx(delta)


def test_more_likes_alone_are_remembered_without_a_revision() -> None:
    entry = remember(post(), 3, ["chenguang"], 0.93, True, "s")
    change = repeat(entry, post(likes=999), 9)
    assert change.revisions == [] and Seen.from_list(change.entry).likes == 999  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 10**5), st.integers(0, 10**5), st.integers(0, 10**5)),
                min_size=1, max_size=8))
def test_reach_only_grows_and_the_revisions_add_up_to_it(sightings: list[tuple[int, int, int, int]]) -> None:
    entry = remember(post(), 0, ["chenguang"], 0.93, True, "s")
    start = reach_weight(100, 2, 1)
    total = 0.0
    for offset, (followers, reposts, comments, likes) in enumerate(sightings, start=1):
        change = repeat(entry, post(followers=followers, reposts=reposts, comments=comments, likes=likes), offset)
        total += sum(r["reach_delta"] for _, r in change.revisions[:1])
        assert all(r["reach_delta"] > 0 for _, r in change.revisions)
        if change.entry is not None:
            entry = change.entry
    seen = Seen.from_list(entry)  # type: ignore[arg-type]
    assert seen.reach >= start
    assert start + total == pytest.approx(seen.reach)
    # Written as the list it packs (Faust's JSON codec), read back as the same entry.
    written = faust_json.loads(faust_json.dumps({"posts": {"w:1": entry}}))
    assert LedgerBatch.from_dict({"partition": 0, "first": 0, "last": 0, "at": 0.0, **written}).posts["w:1"] == entry


def counts(counter: MentionCounter, partition: int, first: int, last: int) -> list[MentionCounts]:
    return [MentionCounts.from_dict(json.loads(r.to_json()), 60)
            for r in counter.records({"g": [(partition, first, last)]}, sent=0.0)]


def test_a_revision_changes_the_buckets_reach_evidence_not_its_counts() -> None:
    original = post()
    agg = Aggregator(60, 0, 10**9, DictBucketStore(), AggregatorState())
    counter = MentionCounter(60)
    for mention in mentions_for(original, ["chenguang"], Score(), 0.5, (0, 17)):
        counter.add(mention, "g")
    agg.add_counts(counts(counter, 0, 0, 20)[0], wall_now=0.0)
    start = MentionCounter(60).bucket_start(original.event_time)
    before = agg.store.get("chenguang", start)
    assert (before.total, before.negative, before.top_negative[0]["reach"]) == (1, 1, round(reach_weight(100, 2, 1), 4))
    reach_before = before.reach_negative

    entry = remember(original, 17, ["chenguang"], 0.93, True, "abcd1234")
    change = repeat(entry, post(followers=2_000_000, reposts=5000, verified=True), 33)
    counter = MentionCounter(60)
    for brand, revision in change.revisions:
        counter.revise(brand, "g", change.event_time, revision)
    record = counts(counter, 0, 21, 40)[0]
    assert record.mentions == 0
    agg.add_counts(record, wall_now=0.0)
    after = agg.store.get("chenguang", start)
    assert (after.total, after.negative, after.risk_hits) == (1, 1, 1)
    assert after.reach_negative == pytest.approx(reach_before + change.revisions[0][1]["reach_delta"])
    assert after.top_negative[0]["reach"] == round(reach_weight(2_000_000, 5000, 1), 4)
    assert (after.kol["followers"], after.kol["verified"], after.kol["reposts"]) == (2_000_000, True, 5000)
    # The revision's record delivered again changes nothing.
    assert agg.add_counts(record, wall_now=1.0).duplicate == 0
    assert agg.store.get("chenguang", start).reach_negative == pytest.approx(after.reach_negative)


def test_the_ledger_remembers_posts_for_its_horizon_and_within_its_bound() -> None:
    ledger = PostsLedger(horizon=100, max_posts=3, min_age=10)
    ledger.add(LedgerBatch(0, 0, 9, at=0.0, posts={"w:1": 3, "w:2": 5}))
    ledger.add(LedgerBatch(0, 10, 19, at=5.0, posts={"w:3": 12}))
    ledger.add(LedgerBatch(1, 0, 4, at=6.0, posts={"w:4": 2}))
    assert ledger.seen(0, "w:1") == 3 and ledger.seen(1, "w:1") is None and ledger.remembered == 4
    assert ledger.evict(now=8.0) == []  # every record is younger than min_age: over the bound for now
    evicted = ledger.evict(now=20.0)
    assert [b.key for b in evicted] == ["0/00000000000000000009"]
    assert ledger.seen(0, "w:1") is None and ledger.remembered == 2
    assert ledger.ends(0) == [19]
    # A post seen again in a later batch stays when its first batch expires.
    ledger.add(LedgerBatch(0, 20, 29, at=50.0, posts={"w:3": Seen(12, 25, 1.0, ("a",), 0.9, 1, 1, 1, 1, False, "s").to_list()}))
    assert [b.last for b in ledger.expire(0, now=110.0)] == [19]
    assert counted_at(ledger.seen(0, "w:3")) == 12  # type: ignore[arg-type]
    assert [b.last for b in ledger.expire(0, now=200.0)] == [29]
    assert ledger.seen(0, "w:3") is None


def test_ledger_records_round_trip_with_their_posts() -> None:
    batch = LedgerBatch(2, 5, 9, at=1.5, posts={"w:1": 7, "w:2": remember(post(), 8, ["a"], 0.9, True, "s")})
    written = faust_json.dumps(batch.to_dict())  # the ledger table's value codec
    assert json.loads(written)["posts"]["w:2"] == Seen.from_list(batch.posts["w:2"]).to_list()  # type: ignore[arg-type]
    again = LedgerBatch.from_dict(json.loads(written))
    assert again == batch
    old = batch.to_dict()
    del old["posts"]  # written before posts were remembered
    assert LedgerBatch.from_dict(old).posts == {}


def test_a_negative_post_is_packed_in_memory_and_written_as_its_list() -> None:
    entry = remember(post(), 8, ["a", "b"], 0.91234, True, "s")
    assert isinstance(entry, PackedSeen)
    listed = Seen.from_list(entry).to_list()
    assert listed[:5] == [8, 8, post().event_time, ["a", "b"], 0.9123]
    assert json.loads(faust_json.dumps({"e": entry})) == {"e": listed}
    # An entry written by an earlier version (a list) reads the same.
    assert counted_at(listed) == counted_at(entry) == 8 and last_seen(listed) == last_seen(entry) == 8
    assert repeat(listed, post(reposts=50), 9).revisions == repeat(entry, post(reposts=50), 9).revisions
    # The packed bytes hold exactly the list's JSON.
    assert len(entry.raw) == len(json.dumps(listed, separators=(",", ":"), ensure_ascii=False).encode())
