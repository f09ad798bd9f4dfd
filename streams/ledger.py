"""The score stage's ledger: which posts ranges it has sent counts for.

The score stage sends per-brand counts per batch of posts
(``streams.models.MentionCounts``), each covering a range of posts offsets
of one posts partition; the aggregator tells counted from new by the range
(streams/aggregate.py). That is exact only if a batch processed again after
a crash never straddles the end of a range sent before: a re-run batch
``100..900`` after a first run that sent ``100..500`` would carry posts
both counted and not, and could not be split by the aggregator. So before
it sends counts for a range the stage records the range's end here
(durably: a table write it waits for), and a batch is always cut after
every recorded end it spans (``split``). The ends recorded after the last
commit are exactly the ranges that can be on the wire, so a re-run range
either ends at or before a bucket's mark or starts after it.

Plain logic: the worker keeps the records in a Faust table (one record per
batch and posts partition, written to that partition's changelog) and
loads them here when it takes a partition over.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LedgerBatch:
    """One batch the score stage sent counts for, on one posts partition."""

    partition: int
    first: int
    last: int
    at: float  # wall time it was recorded

    @property
    def key(self) -> str:
        # Zero-padded: keys of one partition sort by offset.
        return f"{self.partition}/{self.last:020d}"

    def to_dict(self) -> dict[str, Any]:
        return {"partition": self.partition, "first": self.first, "last": self.last, "at": self.at}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LedgerBatch:
        return cls(partition=int(data["partition"]), first=int(data["first"]), last=int(data["last"]),
                   at=float(data["at"]))


@dataclass
class _Partition:
    ends: list[int] = field(default_factory=list)  # sorted
    batches: deque[LedgerBatch] = field(default_factory=deque)  # in the order recorded


class PostsLedger:
    """Recorded batch ends per posts partition, kept for ``horizon`` seconds
    of wall time (far longer than any commit takes: only ends after the last
    commit matter)."""

    def __init__(self, horizon: float) -> None:
        self.horizon = float(horizon)
        self.partitions: dict[int, _Partition] = {}

    def loaded(self, partition: int) -> bool:
        return partition in self.partitions

    def load(self, partition: int, batches: Iterable[LedgerBatch]) -> None:
        """The records of ``partition`` as the table holds them (any order)."""
        state = self.partitions[partition] = _Partition()
        for batch in sorted(batches, key=lambda b: (b.at, b.last)):
            self._add(state, batch)

    def forget(self) -> None:
        """A rebalance: partitions may have moved; load again before use."""
        self.partitions.clear()

    def ends(self, partition: int) -> list[int]:
        return list(self.partitions.get(partition, _Partition()).ends)

    def split(self, partition: int, offsets: Sequence[int]) -> list[tuple[int, int]]:
        """Cut ``offsets`` (increasing, one batch of one partition) after every
        recorded end they span; returns the pieces as (first, last) offsets."""
        if not offsets:
            return []
        ends = self.partitions.get(partition, _Partition()).ends
        pieces: list[tuple[int, int]] = []
        start = offsets[0]
        for previous, offset in zip(offsets, offsets[1:], strict=False):
            # An end e with previous <= e < offset separates the two.
            i = bisect.bisect_left(ends, previous)
            if i < len(ends) and ends[i] < offset:
                pieces.append((start, previous))
                start = offset
        pieces.append((start, offsets[-1]))
        return pieces

    def is_end(self, partition: int, offset: int) -> bool:
        ends = self.partitions.get(partition, _Partition()).ends
        i = bisect.bisect_left(ends, offset)
        return i < len(ends) and ends[i] == offset

    def add(self, batch: LedgerBatch) -> None:
        self._add(self.partitions.setdefault(batch.partition, _Partition()), batch)

    def _add(self, state: _Partition, batch: LedgerBatch) -> None:
        i = bisect.bisect_left(state.ends, batch.last)
        if i == len(state.ends) or state.ends[i] != batch.last:
            state.ends.insert(i, batch.last)
        state.batches.append(batch)

    def expire(self, partition: int, now: float) -> list[LedgerBatch]:
        """Forget the records of ``partition`` older than the horizon; returns them (to delete)."""
        state = self.partitions.get(partition)
        if state is None:
            return []
        old: list[LedgerBatch] = []
        while state.batches and state.batches[0].at < now - self.horizon:
            batch = state.batches.popleft()
            old.append(batch)
            i = bisect.bisect_left(state.ends, batch.last)
            if i < len(state.ends) and state.ends[i] == batch.last:
                del state.ends[i]
        return old
