"""Buckets and the watermark: closing, empty buckets, late and re-delivered records."""

from __future__ import annotations

from streams.aggregate import Aggregator, AggregatorState, DictBucketStore
from streams.models import Mention


def mention(brand: str, t: float, negative: bool = False) -> Mention:
    return Mention(brand=brand, post_key=f"w:{brand}{t}", source="w", post_id=str(t), author_id="a",
                   author_name="a", followers=10, verified=False, text="t", url="", created_at=t,
                   negative=0.9 if negative else 0.1, sentiment=0.1 if negative else 0.9,
                   is_negative=negative, reach=2.0)


def make(lateness: float = 0.0, idle: float = 3600.0) -> Aggregator:
    return Aggregator(60, lateness, idle, DictBucketStore(), AggregatorState())


def test_buckets_close_when_the_watermark_passes_and_include_empty_ones() -> None:
    agg = make()
    agg.add(mention("a", 10), wall_now=10)
    agg.add(mention("b", 20, negative=True), wall_now=20)
    agg.add(mention("a", 200), wall_now=200)  # event time moves to the 4th bucket
    closed = list(agg.close_ready(wall_now=200))
    assert [(b.brand, b.start, b.total, b.negative) for b in closed] == [
        ("a", 0, 1, 0), ("b", 0, 1, 1),
        ("a", 60, 0, 0), ("b", 60, 0, 0),
        ("a", 120, 0, 0), ("b", 120, 0, 0),
    ]
    assert list(agg.close_ready(wall_now=200)) == []


def test_late_mentions_go_to_the_oldest_open_bucket_by_default() -> None:
    agg = make()
    agg.add(mention("a", 10), wall_now=10)
    agg.add(mention("a", 130), wall_now=130)
    assert [b.start for b in agg.close_ready(130)] == [0, 60]
    result = agg.add(mention("a", 30, negative=True), wall_now=131)
    assert (result.status, result.bucket_start) == ("late", 120)
    assert agg.state.late == 1
    assert agg.store.get("a", 120).negative == 1


def test_late_mentions_are_dropped_with_the_drop_policy() -> None:
    agg = Aggregator(60, 0, 3600, DictBucketStore(), AggregatorState(), late_policy="drop")
    agg.add(mention("a", 10), wall_now=10)
    agg.add(mention("a", 130), wall_now=130)
    list(agg.close_ready(130))
    assert agg.add(mention("a", 30, negative=True), wall_now=131).status == "dropped"
    assert agg.state.late == 1
    assert agg.store.get("a", 120).negative == 0


def test_allowed_lateness_keeps_buckets_open() -> None:
    agg = make(lateness=120)
    agg.add(mention("a", 10), wall_now=10)
    agg.add(mention("a", 150), wall_now=150)
    assert list(agg.close_ready(150)) == []  # watermark 30: nothing has ended
    assert agg.add(mention("a", 50, negative=True), wall_now=151).status == "added"
    agg.add(mention("a", 300), wall_now=300)
    closed = list(agg.close_ready(300))
    assert [(b.start, b.total, b.negative) for b in closed] == [(0, 2, 1), (60, 0, 0), (120, 1, 0)]


def test_redelivered_offsets_are_skipped() -> None:
    agg = make()
    assert agg.add(mention("a", 10), 10, offset=5).status == "added"
    assert agg.add(mention("a", 11), 11, offset=5).status == "duplicate"
    assert agg.add(mention("a", 12), 12, offset=4).status == "duplicate"
    assert agg.add(mention("a", 13), 13, offset=6).status == "added"
    assert agg.store.get("a", 0).total == 2


def test_idle_partition_closes_buckets_by_wall_clock() -> None:
    agg = make(lateness=0, idle=30)
    agg.add(mention("a", 1000), wall_now=5000)
    assert list(agg.close_ready(wall_now=5010)) == []
    # 150 s of silence: event time assumed to have moved on by 150 - 30 = 120 s.
    closed = list(agg.close_ready(wall_now=5150))
    assert [b.start for b in closed] == [960, 1020]


def test_slowest_active_clock_holds_the_watermark() -> None:
    agg = make(lateness=0, idle=30)
    agg.add(mention("a", 10), wall_now=100, clock=None)
    agg.observe_time(600, wall_now=100, clock="worker-1")
    agg.observe_time(70, wall_now=100, clock="worker-2")
    assert agg.watermark(100) == 70
    assert [b.start for b in agg.close_ready(100)] == [0]
    # worker-2 goes silent: after `idle` seconds it no longer holds the watermark back.
    agg.observe_time(610, wall_now=140, clock="worker-1")
    assert agg.watermark(140) == 610


def partitioned(lateness: float = 0.0, idle: float = 30.0, partitions: int = 2,
                resumed_at: float = 0.0, state: AggregatorState | None = None) -> Aggregator:
    return Aggregator(60, lateness, idle, DictBucketStore(), state or AggregatorState(),
                      expected_clocks=[f"posts-{p}" for p in range(partitions)], resumed_at=resumed_at)


def test_nothing_closes_until_every_posts_partition_has_reported() -> None:
    # Two workers starting on a backlog: the one owning posts-0 reports
    # first, far ahead of posts-1's backlog. Its report alone must not close
    # the buckets posts-1's mentions are about to fill.
    agg = partitioned(idle=30)
    agg.add(mention("a", 10), wall_now=100, clock=None)
    agg.observe_time(6000, wall_now=100, clock="posts-0")
    assert agg.watermark(110) is None and list(agg.close_ready(110)) == []
    # posts-1 reports: its mention at t=50 is on time.
    assert agg.add(mention("a", 50), wall_now=112, clock=None).status == "added"
    agg.observe_time(70, wall_now=112, clock="posts-1")
    assert agg.watermark(112) == 70
    assert [(b.start, b.total) for b in agg.close_ready(112)] == [(0, 2)]


def test_a_partition_that_never_reports_is_ignored_after_idle_close() -> None:
    agg = partitioned(idle=30)
    agg.add(mention("a", 10), wall_now=100, clock=None)
    agg.observe_time(600, wall_now=100, clock="posts-0")
    assert agg.watermark(129) is None
    agg.observe_time(610, wall_now=131, clock="posts-0")
    assert agg.watermark(131) == 610


def test_downtime_is_not_idleness_after_a_restart() -> None:
    # Both clocks last reported at wall 100; the worker comes back at 1000.
    agg = partitioned(idle=30)
    agg.observe_time(600, wall_now=100, clock="posts-0")
    agg.observe_time(300, wall_now=100, clock="posts-1")
    restarted = partitioned(idle=30, resumed_at=1000,
                            state=AggregatorState.from_dict(agg.state.to_dict()))
    # Without the restart rule both clocks would be idle and event time would
    # have jumped 870 s ahead, making the whole backlog late.
    assert restarted.watermark(1010) == 300
    restarted.observe_time(650, wall_now=1020, clock="posts-0")
    assert restarted.watermark(1020) == 300  # posts-1 still fresh: resuming
    assert restarted.watermark(1040) == 650  # posts-1 silent for 40 s > idle: ignored


def test_state_round_trips_through_json() -> None:
    import json

    agg = make()
    agg.add(mention("a", 10), 10, offset=1)
    list(agg.close_ready(200))
    state = AggregatorState.from_dict(json.loads(json.dumps(agg.state.to_dict())))
    assert state == agg.state


def test_buckets_before_the_first_clock_report_are_not_lost() -> None:
    agg = make(lateness=0, idle=30)
    agg.add(mention("a", 10), wall_now=100, clock=None)
    agg.observe_time(500, wall_now=100, clock="w")
    starts = [b.start for b in agg.close_ready(100)]
    assert starts[0] == 0 and starts[-1] == 420


def test_mentions_re_emitted_by_the_score_stage_are_skipped() -> None:
    agg = make()
    first = mention("a", 10)
    first.src_partition, first.src_offset, first.src_index = 2, 100, 0
    second = mention("b", 10)
    second.src_partition, second.src_offset, second.src_index = 2, 100, 1  # same post, second brand
    assert agg.add(first, 10).status == "added"
    assert agg.add(second, 10).status == "added"
    replayed = mention("a", 10)
    replayed.src_partition, replayed.src_offset, replayed.src_index = 2, 100, 0
    assert agg.add(replayed, 11).status == "duplicate"
    other_partition = mention("a", 12)
    other_partition.src_partition, other_partition.src_offset = 3, 5
    assert agg.add(other_partition, 12).status == "added"


def test_state_from_dict_shares_nothing_with_its_source() -> None:
    saved = {"clocks": {"w": [10.0, 10.0]}, "brands": {"a": 0.0}, "next_close": 0.0}
    state = AggregatorState.from_dict(saved)
    state.clocks["w"][0] = 99.0
    state.brands["b"] = 60.0
    assert saved == {"clocks": {"w": [10.0, 10.0]}, "brands": {"a": 0.0}, "next_close": 0.0}
    assert state.to_dict() != saved


def test_a_late_mention_read_again_after_a_crash_is_not_counted_twice() -> None:
    agg = make()
    on_time = mention("a", 10)
    on_time.src_partition, on_time.src_offset = 0, 1
    agg.add(on_time, wall_now=10, offset=1)
    agg.add(mention("a", 130), wall_now=130, offset=2)
    list(agg.close_ready(130))
    late = mention("a", 20, negative=True)
    late.src_partition, late.src_offset = 1, 7
    assert agg.add(late, wall_now=131, offset=3).status == "late"
    agg.add(mention("a", 250), wall_now=250, offset=4)
    list(agg.close_ready(250))  # the bucket that took the late mention is closed too
    # The score stage re-emits the same post (new mentions offset, same post offset).
    again = mention("a", 20, negative=True)
    again.src_partition, again.src_offset = 1, 7
    assert agg.add(again, wall_now=251, offset=9).status == "duplicate"
    assert agg.store.get("a", 120).negative == 1
    assert agg.store.get("a", 240).negative == 0


# ---- counts records: the score stage's per-batch parts (streams.models.MentionCounts)

import copy  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from streams.aggregate import CountsResult  # noqa: E402
from streams.detection import AdaptiveDetector  # noqa: E402
from streams.ledger import LedgerBatch, PostsLedger  # noqa: E402
from streams.models import Bucket, MentionCounts  # noqa: E402
from streams.scoring import MentionCounter, in_offset_order  # noqa: E402


def rich(brand: str, key: str, t: float, negative: bool, followers: int, risk: bool, story: str) -> Mention:
    return Mention(brand=brand, post_key=key, source="w", post_id=key, author_id="a", author_name=f"n{key}",
                   followers=followers, verified=followers % 7 == 0,
                   text=f"转发//@x:text {story}" if followers % 3 == 0 else f"text {key}", url="", created_at=t,
                   negative=0.9 if negative else 0.1, sentiment=0.1 if negative else 0.9, is_negative=negative,
                   reach=1.0 + followers / 1000, risk_terms=["召回"] if risk else [], story=story, reposts=followers % 5)


def wire(record: MentionCounts, size: float = 60.0) -> MentionCounts:
    """Through JSON and back, as the aggregate stage reads it."""
    return MentionCounts.from_dict(json.loads(record.to_json()), size)


def counts_of(mentions: list[tuple[Mention, int]], partition: int, first: int, last: int,
              *more: tuple[int, int, int]) -> list[MentionCounts]:
    """The records of one batch whose mentions come from posts ``first..last``
    of ``partition`` (and the ranges in ``more``)."""
    counter = MentionCounter(60)
    for mention, wait in mentions:
        counter.add(mention, "batch", wait)
    return [wire(r) for r in counter.records({"batch": [(partition, first, last), *more]}, sent=1000.0)]


def summary(bucket: Bucket | None) -> tuple[object, ...]:
    if bucket is None:
        return (0, 0, 0, {}, (), (), 0.0, 0, 0, {}, ())
    return (bucket.total, bucket.negative, bucket.risk_hits, dict(bucket.risk_terms), tuple(sorted(bucket.risk_stories)),
            tuple(s["id"] for s in bucket.top_negative), round(bucket.reach_negative, 4),
            bucket.kol.get("followers", 0) * (3 if bucket.kol.get("verified") else 1),
            bucket.big.get("followers", 0) * (3 if bucket.big.get("verified") else 1),
            {k: tuple(v) for k, v in bucket.repost_stories.items()}, tuple(bucket.tones))


mention_strategy = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 299), st.booleans(),
                                      st.integers(0, 10_000), st.booleans(), st.sampled_from(["s1", "s2", "s3", ""])),
                            min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(mention_strategy, st.lists(st.integers(1, 59), max_size=5))
def test_counts_records_give_the_buckets_adding_each_mention_gives(spec: list[tuple], cuts: list[int]) -> None:
    """Combining before the shuffle changes nothing in the buckets: counts,
    risk terms and stories, the top negative posts, the reach and the KOL."""
    mentions = [rich(brand, f"w:{i}", float(t), neg, fol, risk, story)
                for i, (brand, t, neg, fol, risk, story) in enumerate(spec)]
    one_by_one = make(idle=10**9)
    for mention in mentions:
        one_by_one.add(mention, wall_now=0.0, clock=None)
    combined = make(idle=10**9)
    edges = sorted({0, len(mentions), *(c for c in cuts if c < len(mentions))})
    for first, last in zip(edges, edges[1:], strict=False):  # batches of consecutive posts
        for record in counts_of([(m, 0) for m in mentions[first:last]], 0, first, last - 1):
            combined.add_counts(record, wall_now=0.0)
    for brand in ("a", "b"):
        for start in (0.0, 60.0, 120.0, 180.0, 240.0):
            assert summary(combined.store.get(brand, start)) == summary(one_by_one.store.get(brand, start)), (brand, start)


def test_a_counts_record_read_again_is_not_counted_again() -> None:
    agg = make()
    records = counts_of([(rich("a", "w:1", 10, True, 5, True, "s"), 0), (rich("a", "w:2", 70, False, 5, False, ""), 0)],
                        partition=1, first=100, last=199)
    first = agg.add_counts(records[0], wall_now=0.0, offset=7)
    again = agg.add_counts(records[0], wall_now=1.0, offset=7)
    assert (first.added, first.duplicate) == (2, 0)
    assert (again.added, again.duplicate) == (0, 2)
    assert agg.store.get("a", 0).total == 1 and agg.store.get("a", 60).total == 1


def test_a_batch_scored_again_after_a_crash_counts_each_post_once() -> None:
    """The first run sent counts for posts 0..9 and 10..19 of partition 0; the
    re-run reads 0..29 at once. Cut at the ledger's ends, its ranges are either
    counted already or new: every post is counted exactly once."""
    posts = [rich("a", f"w:{i}", 10.0 + i, i % 3 == 0, i, i % 2 == 0, f"s{i % 4}") for i in range(30)]
    ledger = PostsLedger(horizon=3600)
    agg = make()
    for first, last in ((0, 9), (10, 19)):
        ledger.add(LedgerBatch(0, first, last, at=0.0))
        for record in counts_of([(p, 0) for p in posts[first:last + 1]], 0, first, last):
            agg.add_counts(record, wall_now=0.0)
    rerun = ledger.split(0, list(range(30)))
    assert rerun == [(0, 9), (10, 19), (20, 29)]
    duplicates = 0
    for first, last in rerun:
        for record in counts_of([(p, 0) for p in posts[first:last + 1]], 0, first, last):
            duplicates += agg.add_counts(record, wall_now=0.0).duplicate
    assert duplicates == 20
    reference = make()
    for post in posts:
        reference.add(post, wall_now=0.0, clock=None)
    assert summary(agg.store.get("a", 0)) == summary(reference.store.get("a", 0))


def test_a_rerun_range_sent_after_the_fresh_ranges_of_another_partition_is_still_counted() -> None:
    """Seen in the SIGKILL restart test: the first run wrote the ledger's end of
    posts 10..14 of partition 1 and died before their counts left. The restarted
    batch reads partition 0's posts 10..19 (never sent) before partition 1's
    10..19: one record for the fresh ranges (partition 0's 10..19 and partition
    1's 15..19) and one for partition 1's 10..14. Sent in that order, the fresh
    record marked the bucket "counted up to 19" on partition 1 and 10..14 then
    looked counted: lost. The records go out in offset order per partition."""
    posts = {(p, i): rich("a", f"w:{p}:{i}", 10.0, i % 2 == 0, i, False, "") for p in (0, 1) for i in range(20)}
    ledger = PostsLedger(horizon=3600)
    agg = make()
    for partition in (0, 1):
        ledger.add(LedgerBatch(partition, 0, 9, at=0.0))
        for record in counts_of([(posts[partition, i], 0) for i in range(10)], partition, 0, 9):
            agg.add_counts(record, wall_now=0.0)
    ledger.add(LedgerBatch(1, 10, 14, at=0.0))  # ledgered; its counts never left
    counter = MentionCounter(60)
    groups: dict[object, list[tuple[int, int, int]]] = {}
    for partition in (0, 1):  # the batch's partitions in the order the consumer gave them
        last_end = ledger.last_end(partition)
        for first, last in ledger.split(partition, list(range(10, 20))):
            group = "fresh" if first > last_end else (partition, first, last)
            groups.setdefault(group, []).append((partition, first, last))
            for i in range(first, last + 1):
                counter.add(posts[partition, i], group, 0)
    assert list(groups) == ["fresh", (1, 10, 14)]
    for record in counter.records(groups, sent=1.0):
        agg.add_counts(wire(record), wall_now=1.0)
    assert agg.store.get("a", 0).total == 40


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(1, 5), min_size=1, max_size=4), min_size=1, max_size=4), st.randoms())
def test_records_go_out_in_offset_order_on_every_partition(pieces_per_partition: list[list[int]], rng: Any) -> None:
    """Ranges that may have been sent before are groups of their own, each
    partition's last piece joins the shared fresh group; whatever order the
    groups were made in, each partition's ranges go out in offset order."""
    groups: dict[object, list[tuple[int, int, int]]] = {}
    made: list[tuple[object, tuple[int, int, int]]] = []
    for partition, sizes in enumerate(pieces_per_partition):
        first = 0
        for n, size in enumerate(sizes):
            piece = (partition, first, first + size - 1)
            made.append(("fresh" if n == len(sizes) - 1 else piece, piece))
            first += size
    rng.shuffle(made)
    for group, piece in made:
        groups.setdefault(group, []).append(piece)
    order = in_offset_order(groups)
    assert sorted(order, key=str) == sorted(groups, key=str)
    for partition in range(len(pieces_per_partition)):
        firsts = [first for group in order for p, first, _ in groups[group] if p == partition]
        assert firsts == sorted(firsts)


def test_the_ledger_cuts_a_batch_after_every_end_it_spans() -> None:
    ledger = PostsLedger(horizon=100)
    for first, last, at in ((0, 4, 1.0), (5, 11, 2.0), (12, 20, 3.0)):
        ledger.add(LedgerBatch(3, first, last, at))
    assert ledger.split(3, [2, 3, 4, 5, 9, 11, 12, 15, 30]) == [(2, 4), (5, 11), (12, 15), (30, 30)]
    assert ledger.split(3, [30, 31]) == [(30, 31)]
    assert ledger.split(1, [0, 1, 2]) == [(0, 2)]  # another partition's ends do not cut
    assert ledger.split(3, [13, 25]) == [(13, 13), (25, 25)]  # an end between two offsets with a gap
    expired = ledger.expire(3, now=102.5)
    assert [b.last for b in expired] == [4, 11]
    assert ledger.ends(3) == [20]
    reloaded = PostsLedger(horizon=100)
    reloaded.load(3, [LedgerBatch.from_dict(b.to_dict()) for b in expired] + [LedgerBatch(3, 12, 20, 3.0)])
    assert reloaded.ends(3) == [4, 11, 20] and reloaded.is_end(3, 11) and not reloaded.is_end(3, 12)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=40, unique=True).map(sorted),
       st.lists(st.integers(0, 50), max_size=8))
def test_ledger_pieces_cover_the_batch_in_order_and_never_straddle_an_end(offsets: list[int], ends: list[int]) -> None:
    ledger = PostsLedger(horizon=10)
    for i, end in enumerate(sorted(set(ends))):
        ledger.add(LedgerBatch(0, end, end, float(i)))
    pieces = ledger.split(0, offsets)
    assert pieces[0][0] == offsets[0] and pieces[-1][1] == offsets[-1]
    for (_, last), (first, _) in zip(pieces, pieces[1:], strict=False):
        assert last < first
        assert any(last <= e < first for e in ends)
    for first, last in pieces:
        assert first <= last
        assert not any(first <= e < last for e in ends)


def test_a_record_over_several_partitions_is_counted_once_and_recognised_range_by_range() -> None:
    """A batch's fresh ranges of two partitions share a record; after a crash
    the re-run sends the ranges that may have gone out on their own (the
    ledger knows them), and each is recognised as counted."""
    agg = make()
    a = [(rich("a", f"w:{i}", 10.0 + i, i % 2 == 0, i, False, ""), 0) for i in range(6)]
    combined = counts_of(a, 0, 100, 102, (1, 50, 52))[0]
    assert combined.ranges == {0: (100, 102), 1: (50, 52)}
    assert agg.add_counts(combined, wall_now=0.0).added == 6
    assert agg.add_counts(counts_of(a[:3], 0, 100, 102)[0], wall_now=0.0).duplicate == 3
    assert agg.add_counts(counts_of(a[3:], 1, 50, 52)[0], wall_now=0.0).duplicate == 3
    newer = counts_of([(rich("a", "w:9", 12.0, False, 1, False, ""), 0)], 0, 103, 110, (1, 53, 60))[0]
    assert agg.add_counts(newer, wall_now=0.0).added == 1
    assert agg.store.get("a", 0).total == 7


def test_a_range_that_overlaps_one_already_counted_is_counted_and_reported() -> None:
    agg = make()
    agg.add_counts(counts_of([(rich("a", "w:1", 10, False, 1, False, ""), 0)], 0, 0, 9)[0], wall_now=0.0)
    result = agg.add_counts(counts_of([(rich("a", "w:2", 11, False, 1, False, ""), 0)], 0, 5, 14)[0], wall_now=0.0)
    assert (result.added, result.overlaps) == (1, 1)


def test_late_parts_go_to_the_oldest_open_bucket_once() -> None:
    agg = make()
    agg.add(mention("a", 10), wall_now=10)
    agg.add(mention("a", 130), wall_now=130)
    assert [b.start for b in agg.close_ready(130)] == [0, 60]
    record = counts_of([(rich("a", "w:late", 30, True, 50, True, "x"), 0),
                        (rich("a", "w:now", 125, True, 10, False, ""), 0)], 2, 40, 49)[0]
    assert record.ranges == {2: (40, 49)}
    result = agg.add_counts(record, wall_now=131, offset=3)
    assert (result.added, result.late) == (1, 1)
    assert agg.state.late == 1
    target = agg.store.get("a", 120)
    assert (target.total, target.negative, target.risk_hits) == (3, 2, 1)
    assert agg.store.get("a", 0).sources["2"][0] == 49  # marked in its own (closed) bucket
    again = agg.add_counts(record, wall_now=132, offset=3)
    assert again.duplicate == 2 and agg.store.get("a", 120).total == 3


def test_late_parts_are_dropped_with_the_drop_policy() -> None:
    agg = Aggregator(60, 0, 3600, DictBucketStore(), AggregatorState(), late_policy="drop")
    agg.add(mention("a", 10), wall_now=10)
    agg.add(mention("a", 130), wall_now=130)
    list(agg.close_ready(130))
    result = agg.add_counts(counts_of([(rich("a", "w:l", 30, True, 1, False, ""), 0)], 0, 0, 0)[0], wall_now=131)
    assert (result.dropped, result.late, result.added) == (1, 0, 0)
    assert agg.store.get("a", 120).negative == 0


def test_counts_records_measure_post_to_bucket_latency() -> None:
    agg = make()
    record = counts_of([(rich("a", "w:1", 10, False, 1, False, ""), 250), (rich("a", "w:2", 11, False, 1, False, ""), 1000)],
                       0, 0, 1)[0]
    assert record.sent == 1000.0
    result = agg.add_counts(record, wall_now=1000.5)
    assert result.latencies == pytest.approx([0.75, 1.5])
    assert agg.add_counts(record, wall_now=1001.0).latencies == []  # a repeat measures nothing


def test_records_of_the_previous_version_still_count() -> None:
    """A per-mention record from a worker not yet upgraded shares the marks
    with counts records: a post counted by either is counted once."""
    agg = make()
    old = rich("a", "w:1", 10, True, 5, False, "")
    old.src_partition, old.src_offset, old.src_index = 0, 4, 0
    assert agg.add(Mention.from_dict(json.loads(json.dumps(old.to_dict()))), wall_now=0, offset=1,
                   clock=None).status == "added"
    assert agg.add_counts(counts_of([(old, 0)], 0, 0, 4)[0], wall_now=0).duplicate == 1
    assert agg.add_counts(counts_of([(rich("a", "w:2", 11, False, 5, False, ""), 0)], 0, 5, 9)[0],
                          wall_now=0).added == 1
    assert agg.store.get("a", 0).total == 2


BAD_PARTS = [
    {"start": "x"}, {"start": 0, "total": "many"}, {"start": 0, "top_negative": [{"id": 1}]},
    {"start": 0, "top_negative": [{"id": "w:1", "reach": "far"}]}, {"start": 0, "kol": {"id": "w:1"}},
    {"start": 0, "risk_terms": {"召回": "2"}}, {"start": 0, "revisions": [{"reach_delta": 1}]}, "not an object",
    {"start": 0, "risk_terms": ["召回"]},
]


@pytest.mark.parametrize("part", BAD_PARTS)
def test_a_malformed_counts_record_is_refused_whole(part: object) -> None:
    good = counts_of([(rich("a", "w:1", 10, True, 5, True, "s"), 0)], 0, 0, 0)[0].to_dict()
    record = {**good, "buckets": [good["buckets"][0], part]}
    with pytest.raises((ValueError, TypeError, KeyError)):
        MentionCounts.from_dict(json.loads(json.dumps(record)), 60)


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=6),
                    max_leaves=30))
def test_any_json_is_a_counts_record_or_a_clear_error(data: object) -> None:
    agg = make()
    try:
        record = MentionCounts.from_dict(data, 60)  # type: ignore[arg-type]
    except (ValueError, TypeError, KeyError):  # what the aggregate stage dead-letters with its reason
        return
    result = agg.add_counts(record, wall_now=0.0)
    assert isinstance(result, CountsResult)


def test_counts_of_random_batches_survive_any_redelivery_order() -> None:
    """Records re-delivered after a crash (any of them, again and again)
    leave the buckets as one delivery of each does."""
    rng = random.Random(5)
    posts = [rich(rng.choice("ab"), f"w:{i}", rng.uniform(0, 240), rng.random() < 0.3, rng.randint(0, 999),
                  rng.random() < 0.2, f"s{rng.randint(0, 5)}") for i in range(200)]
    records = []
    for first in range(0, 200, 25):
        records.extend(counts_of([(p, 0) for p in posts[first:first + 25]], 1, first, first + 24))
    once = make(idle=10**9)
    for record in records:
        once.add_counts(record, wall_now=0.0)
    replayed = make(idle=10**9)
    delivered: list[MentionCounts] = []
    for record in records:
        delivered.append(record)
        for again in rng.sample(delivered, k=min(2, len(delivered))):
            replayed.add_counts(again, wall_now=0.0)
        replayed.add_counts(record, wall_now=0.0)
    for brand in "ab":
        for start in (0.0, 60.0, 120.0, 180.0):
            assert summary(replayed.store.get(brand, start)) == summary(once.store.get(brand, start))


# ---- the worker's bucket store (streams.app.BrandBucketStore), on a plain dict as its table

from streams.app import BrandBucketStore  # noqa: E402


def test_brand_store_keeps_open_buckets_whole_and_closed_ones_as_marks() -> None:
    table: dict[str, dict] = {}
    decoded: dict = {}
    store = BrandBucketStore(table, None, decoded)
    agg = Aggregator(60, 0, 10**9, store, AggregatorState())
    record = counts_of([(rich("a", "w:1", 10, True, 50, True, "s"), 0), (rich("a", "w:2", 70, True, 5, False, ""), 0)],
                       0, 0, 9)[0]
    agg.add_counts(record, wall_now=0.0)
    store.flush(agg.state.next_close)
    assert [b["start"] for b in table["a"]["buckets"]] == [0.0, 60.0] and "a#closed" not in table
    # Next batch: event time moves on, bucket 0 closes.
    store = BrandBucketStore(table, None, decoded)
    agg.store = store
    assert store.get("a", 0.0) is decoded[("a", 0.0)][1]  # not decoded again
    agg.observe_time(125.0, wall_now=0.0, clock="x")
    closed = list(agg.close_ready(0.0))
    assert [(b.start, b.total) for b in closed] == [(0.0, 1), (60.0, 1)]
    store.flush(agg.state.next_close)
    assert [b["start"] for b in table["a"]["buckets"]] == []
    marks = table["a#closed"]["buckets"]
    assert [(b["start"], b["sources"]) for b in marks] == [(0.0, {"0": [9, 1 << 30]}), (60.0, {"0": [9, 1 << 30]})]
    assert "total" not in marks[0]
    # A late part of a range already counted is still recognised after the close.
    store = BrandBucketStore(table, None, decoded)
    agg.store = store
    assert agg.add_counts(record, wall_now=1.0).duplicate == 2
    store.flush(agg.state.next_close)


def test_state_older_than_the_buckets_does_not_send_closed_buckets_again_as_zeros() -> None:
    """A crash between the bucket table's write and the aggregator state's
    (two changelogs): the restored state has not closed buckets the store
    already holds as marks only. They went out with their counts before;
    closing them again must not send them again, empty."""
    table: dict[str, dict] = {}
    decoded: dict = {}
    store = BrandBucketStore(table, None, decoded)
    agg = Aggregator(60, 0, 10**9, store, AggregatorState())
    record = counts_of([(rich("a", "w:1", 10, True, 50, True, "s"), 0), (rich("a", "w:2", 70, True, 5, False, ""), 0),
                        (rich("a", "w:3", 130, False, 5, False, ""), 0)], 0, 0, 9)[0]
    agg.add_counts(record, wall_now=0.0)
    store.flush(agg.state.next_close)
    older_state = AggregatorState.from_dict(agg.state.to_dict())  # what the crash left in its changelog
    store = BrandBucketStore(table, None, decoded)
    agg.store = store
    agg.observe_time(125.0, wall_now=0.0, clock="x")
    assert [(b.start, b.total) for b in agg.close_ready(0.0)] == [(0.0, 1), (60.0, 1)]
    store.flush(agg.state.next_close)  # the bucket table's write made it; the state's did not
    restarted = Aggregator(60, 0, 10**9, BrandBucketStore(table, None, {}),
                           AggregatorState.from_dict(older_state.to_dict()))
    restarted.observe_time(185.0, wall_now=1.0, clock="x")
    assert [(b.start, b.total) for b in restarted.close_ready(1.0)] == [(120.0, 1)]


def test_a_new_part_for_a_bucket_closed_before_a_crash_is_late_and_the_bucket_is_not_sent_again() -> None:
    """The same crash (bucket table written, state not), then a part never
    counted before arrives for a bucket the store holds as marks only. It was
    closed and sent, so the part is late: it goes to the oldest open bucket,
    and the closed bucket is not sent a second time holding only that part
    (which a consumer keeping the last record per bucket would take for its
    count: seen once in the SIGKILL restart test)."""
    table: dict[str, dict] = {}
    decoded: dict = {}
    store = BrandBucketStore(table, None, decoded)
    agg = Aggregator(60, 0, 10**9, store, AggregatorState())
    first = counts_of([(rich("a", "w:1", 10, True, 50, True, "s"), 0), (rich("a", "w:2", 20, True, 5, False, ""), 0),
                       (rich("a", "w:3", 70, True, 5, False, ""), 0), (rich("a", "w:4", 130, False, 5, False, ""), 0)],
                      0, 0, 9)[0]
    agg.add_counts(first, wall_now=0.0)
    store.flush(agg.state.next_close)
    older_state = AggregatorState.from_dict(agg.state.to_dict())
    store = BrandBucketStore(table, None, decoded)
    agg.store = store
    agg.observe_time(125.0, wall_now=0.0, clock="x")
    assert [(b.start, b.total) for b in agg.close_ready(0.0)] == [(0.0, 2), (60.0, 1)]
    store.flush(agg.state.next_close)  # the bucket table's write made it; the state's did not
    store = BrandBucketStore(table, None, {})
    restarted = Aggregator(60, 0, 10**9, store, AggregatorState.from_dict(older_state.to_dict()))
    fresh = counts_of([(rich("a", "w:5", 40, True, 5, False, ""), 0)], 1, 0, 0)[0]  # another posts partition
    result = restarted.add_counts(fresh, wall_now=1.0)
    assert (result.added, result.late) == (0, 1)
    assert restarted.state.next_close == 120.0  # caught up with the buckets: 0 and 60 were sent
    restarted.observe_time(185.0, wall_now=1.0, clock="x")
    assert [(b.start, b.total) for b in restarted.close_ready(1.0)] == [(120.0, 2)]
    store.flush(restarted.state.next_close)
    # Read again (another crash), the part is recognised by the marks of its own bucket.
    again = Aggregator(60, 0, 10**9, BrandBucketStore(table, None, {}),
                       AggregatorState.from_dict(restarted.state.to_dict()))
    assert again.add_counts(fresh, wall_now=2.0).duplicate == 1


def test_brand_store_writes_only_what_changed() -> None:
    class Table(dict):
        writes = 0

        def __setitem__(self, key: str, value: dict) -> None:
            Table.writes += 1
            super().__setitem__(key, value)

    table = Table()
    store = BrandBucketStore(table)
    agg = Aggregator(60, 0, 10**9, store, AggregatorState())
    agg.add_counts(counts_of([(rich("a", "w:1", 10, False, 5, False, ""), 0)], 0, 0, 0)[0], wall_now=0.0)
    store.flush(agg.state.next_close)
    assert Table.writes == 1
    store = BrandBucketStore(table)
    store.get("a", 0.0)
    store.flush(None)
    assert Table.writes == 1


def test_brand_store_takes_over_the_buckets_of_the_windowed_table() -> None:
    from streams.app import WindowedBucketStore

    old = Bucket("a", 0.0, 60.0, total=3, negative=1, sources={"1": [40, 0]})

    class Windowed:
        class table:  # noqa: N801 - the shape of Faust's WindowWrapper.table
            data = {("a", (0.0, 59.9)): old.to_dict(), ("b", (0.0, 59.9)): Bucket("b", 0.0, 60.0, total=9).to_dict()}

    table: dict[str, dict] = {}
    store = BrandBucketStore(table, WindowedBucketStore(Windowed()))
    agg = Aggregator(60, 0, 10**9, store, AggregatorState())
    assert agg.add_counts(counts_of([(rich("a", "w:9", 10, False, 5, False, ""), 0)], 1, 30, 40)[0],
                          wall_now=0.0).duplicate == 1
    assert agg.add_counts(counts_of([(rich("a", "w:9", 10, False, 5, False, ""), 0)], 1, 41, 41)[0],
                          wall_now=0.0).added == 1
    store.flush(None)
    assert table["a"]["buckets"][0]["total"] == 4


def test_bucket_records_carry_one_brands_buckets_and_old_single_buckets_still_read() -> None:
    from streams.models import bucket_record, read_bucket_record

    buckets = [Bucket("a", 0.0, 60.0, total=3, negative=1), Bucket("a", 60.0, 60.0, total=0)]
    again = read_bucket_record(json.loads(bucket_record(buckets)))
    assert [b.to_dict() for b in again] == [b.to_dict() for b in buckets]
    assert [b.total for b in read_bucket_record(json.loads(json.dumps(buckets[0].to_dict())))] == [3]
    for bad in ([1, 2], {"kind": "buckets", "buckets": "x"}, {"kind": "buckets", "buckets": [3]}, {"brand": "a"}):
        with pytest.raises((ValueError, TypeError, KeyError)):
            read_bucket_record(bad)


@functools.cache
def _warm_detector_state() -> tuple[dict[str, Any], float]:
    """A detector past its warm-up, with a big account's story watched: (state, next bucket start)."""
    detector = AdaptiveDetector("a")
    start = 1772380800.0
    for i in range(8 * 60):
        big = {"id": "w:k", "author": "k", "followers": 90_000_000, "verified": True, "story": "s"} if i == 8 * 60 - 1 \
            else {}
        detector.update(Bucket("a", start + 60.0 * i, 60.0, total=3, negative=1, negative_stories=[f"n{i}"], big=big))
    assert detector.signals["kol"].state.watched
    return detector.to_state(), start + 60.0 * 8 * 60


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
                     max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(Bucket("a", 0.0, 60.0).to_dict())), _JSON, st.booleans())
def test_any_value_in_any_bucket_field_is_a_bucket_or_a_clear_error(name: str, value: object, wrapped: bool) -> None:
    """A stored bucket (koubei.buckets) or a counts record's part with one
    field replaced by any JSON value: read, or refused with the error the
    detect and aggregate stages dead-letter, never another exception."""
    from streams.models import read_bucket_record

    good = Bucket("a", 0.0, 60.0, total=3, negative=1, stories={"s": [1, 0]}, repost_stories={"s": [2, 1]},
                  tones=[1] + [0] * 18 + [1],
                  big={"id": "w:1", "author": "x", "followers": 5, "verified": False, "story": "s"})
    data = dict(good.to_dict(), **{name: value})
    try:
        buckets = read_bucket_record({"kind": "buckets", "brand": "a", "buckets": [data]} if wrapped else data)
    except (ValueError, TypeError, KeyError):
        buckets = []
    for bucket in buckets:  # what is read, a warmed detector takes
        bucket.start = _warm_detector_state()[1]
        bucket.size = 60.0
        AdaptiveDetector("a", state=copy.deepcopy(_warm_detector_state()[0])).update(bucket)
    record = json.loads(counts_of([(rich("a", "w:1", 10, True, 5, True, "s"), 0)], 0, 0, 0)[0].to_json())
    part = dict(record["buckets"][0], **{name: value})
    try:
        buckets = MentionCounts.from_dict(dict(record, buckets=[part]), 60).buckets
    except (ValueError, TypeError, KeyError):
        buckets = []
    for bucket in buckets:
        bucket.start = _warm_detector_state()[1]
        AdaptiveDetector("a", state=copy.deepcopy(_warm_detector_state()[0])).update(bucket)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(rich("a", "w:1", 10, True, 5, True, "s").to_dict())), _JSON)
def test_any_value_in_any_mention_field_is_counted_whole_or_refused(name: str, value: object) -> None:
    """A per-mention record (the previous versions') with one field replaced
    by any JSON value: refused before anything counts it, or counted whole;
    the bucket is never left half-way through a mention."""
    agg = Aggregator(60, 0, 10**9, DictBucketStore(), AggregatorState())
    agg.add(rich("a", "w:0", 5, False, 5, False, "s0"), 1000.0)
    try:
        mention = Mention.from_dict(dict(rich("a", "w:1", 10, True, 5, True, "s").to_dict(), **{name: value}))
    except ValueError:
        return  # the aggregate stage parks it with this reason
    agg.add(mention, 1000.0)
