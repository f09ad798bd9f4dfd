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
    assert agg.store.get("a", 120)["negative"] == 1


def test_late_mentions_are_dropped_with_the_drop_policy() -> None:
    agg = Aggregator(60, 0, 3600, DictBucketStore(), AggregatorState(), late_policy="drop")
    agg.add(mention("a", 10), wall_now=10)
    agg.add(mention("a", 130), wall_now=130)
    list(agg.close_ready(130))
    assert agg.add(mention("a", 30, negative=True), wall_now=131).status == "dropped"
    assert agg.state.late == 1
    assert agg.store.get("a", 120)["negative"] == 0


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
    assert agg.store.get("a", 0)["total"] == 2


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
    assert agg.store.get("a", 120)["negative"] == 1
    assert agg.store.get("a", 240)["negative"] == 0
