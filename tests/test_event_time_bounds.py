"""No single record can move event time years ahead, and closing buckets is bounded work."""

from __future__ import annotations

from streams.aggregate import MAX_CLOSE_PER_CALL, Aggregator, DictBucketStore
from streams.models import Mention

WALL = 1_772_000_000.0  # 2026-02-25


def mention(brand: str, t: float) -> Mention:
    return Mention(brand=brand, post_key=f"w:{t}", source="w", post_id=str(t), author_id="a", author_name="a",
                   followers=1, verified=False, text="t", url="", created_at=t, negative=0.1, sentiment=0.9,
                   is_negative=False, reach=1.0)


def test_a_clock_report_far_in_the_future_is_clamped_to_wall_clock_plus_max_future() -> None:
    agg = Aggregator(60.0, 60.0, 60.0, DictBucketStore(), max_future=600.0)
    agg.add(mention("a", WALL - 120), WALL)
    agg.observe_time(253402300799.0, WALL, clock="posts-0")  # year 9999
    assert agg.clamped == 1
    assert agg.event_clock(WALL) <= WALL + 600.0


def test_closing_is_bounded_per_call_and_loses_no_bucket() -> None:
    brands = [f"b{i}" for i in range(10)]
    agg = Aggregator(60.0, 0.0, 60.0, DictBucketStore())
    for brand in brands:
        agg.add(mention(brand, WALL), WALL)
    # Event time jumps two days: 2,880 steps x 10 brands are due.
    agg.observe_time(WALL + 2 * 86400, WALL, clock="local")
    calls = []
    starts: set[tuple[str, float]] = set()
    while True:
        closed = list(agg.close_ready(WALL))
        if not closed:
            break
        calls.append(len(closed))
        starts.update((b.brand, b.start) for b in closed)
    assert max(calls) <= MAX_CLOSE_PER_CALL + len(brands)
    assert len(calls) > 1
    steps = len({start for _, start in starts})
    assert len(starts) == steps * len(brands)  # every brand's bucket of every step, once
    assert steps >= 2 * 1440
