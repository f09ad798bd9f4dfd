"""streams.offsets: a jump in a posts partition's offsets is reported, a re-read or a rebalance is not."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.offsets import OffsetWatch


def test_a_jump_inside_a_batch_and_between_batches_is_reported() -> None:
    watch = OffsetWatch()
    assert watch.skipped(0, 1, [157, 158, 159]) == []
    # The restart test's batch: 442 then 544.
    assert watch.skipped(0, 1, [*range(160, 443), *range(544, 600)]) == [(443, 543)]
    assert watch.skipped(0, 1, [602, 603]) == [(600, 601)]
    assert watch.skipped(1, 1, [9000]) == []  # another partition starts where it starts


def test_a_re_read_and_a_new_generation_are_not_jumps() -> None:
    watch = OffsetWatch()
    watch.skipped(0, 1, [10, 11, 12])
    assert watch.skipped(0, 1, [5, 6, 7, 8]) == []  # read again after a seek: goes on from there
    assert watch.skipped(0, 1, [9, 10]) == []
    # Revoked, read by another worker, assigned back: the first offset is anything.
    assert watch.skipped(0, 2, [500, 501]) == []
    assert watch.skipped(0, 2, [503]) == [(502, 502)]


@given(st.lists(st.integers(0, 50), min_size=1, max_size=40), st.integers(1, 8))
def test_the_skipped_runs_are_exactly_the_offsets_never_seen_after_the_first(offsets: list[int], cut: int) -> None:
    """Fed in any batches, increasing offsets: what is reported plus what was seen is every offset from the first to the last."""
    ordered = sorted(set(offsets))
    watch = OffsetWatch()
    gaps = []
    for start in range(0, len(ordered), cut):
        gaps += watch.skipped(3, 1, ordered[start:start + cut])
    missing = {o for first, last in gaps for o in range(first, last + 1)}
    assert missing | set(ordered) == set(range(ordered[0], ordered[-1] + 1))
    assert not missing & set(ordered)
