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

Ranges that start after the newest recorded end of their partition were
never sent: the stage combines those of all partitions into one record per
brand. A range that may have been sent before goes in a record of its own,
so that a record is always either counted already or new in every bucket.

A record also holds the posts its range counted, so that a post seen
again is recognised and counted once (streams/repeats.py). Records are kept
for ``horizon`` seconds of wall time and at most ``max_posts`` posts: the
oldest go first, but never one younger than ``min_age`` (its end may still
be needed by a re-run: far longer than any commit takes).

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

from streams.repeats import Entry, PackedSeen, last_seen


@dataclass
class LedgerBatch:
    """One batch the score stage sent counts for, on one posts partition."""

    partition: int
    first: int
    last: int
    at: float  # wall time it was recorded
    posts: dict[str, Entry] = field(default_factory=dict)  # post key -> what is remembered of it (streams.repeats)

    @property
    def key(self) -> str:
        # Zero-padded: keys of one partition sort by offset.
        return f"{self.partition}/{self.last:020d}"

    def to_dict(self) -> dict[str, Any]:
        return {"partition": self.partition, "first": self.first, "last": self.last, "at": self.at,
                "posts": self.posts}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LedgerBatch:
        posts = data.get("posts") or {}
        if not isinstance(posts, dict):
            raise TypeError("posts must be an object")
        # Read back from the changelog a negative post's entry is a list: packed
        # again (streams.repeats), in place, so that the table's value and the
        # ledger keep sharing one dict of posts.
        for key, entry in posts.items():
            if isinstance(entry, list):
                posts[key] = PackedSeen.of(entry)
        return cls(partition=int(data["partition"]), first=int(data["first"]), last=int(data["last"]),
                   at=float(data["at"]), posts=posts)


@dataclass
class _Partition:
    ends: list[int] = field(default_factory=list)  # sorted
    batches: deque[LedgerBatch] = field(default_factory=deque)  # in the order recorded
    posts: dict[str, Entry] = field(default_factory=dict)  # the remembered posts of all its batches


class PostsLedger:
    """Recorded batch ends and remembered posts per posts partition."""

    def __init__(self, horizon: float, max_posts: int = 1 << 62, min_age: float = 0.0) -> None:
        self.horizon = float(horizon)
        self.max_posts = int(max_posts)
        self.min_age = float(min_age)
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

    def last_end(self, partition: int) -> int:
        """The newest recorded end of ``partition`` (-1: none). A range that
        starts after it was never sent; one that does not may have been."""
        ends = self.partitions.get(partition, _Partition()).ends
        return ends[-1] if ends else -1

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

    def seen(self, partition: int, key: str) -> Entry | None:
        """What is remembered of the post ``key`` on ``partition``, if anything."""
        state = self.partitions.get(partition)
        return None if state is None else state.posts.get(key)

    @property
    def remembered(self) -> int:
        return sum(len(state.posts) for state in self.partitions.values())

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
        state.posts.update(batch.posts)

    def _drop_oldest(self, state: _Partition) -> LedgerBatch:
        batch = state.batches.popleft()
        i = bisect.bisect_left(state.ends, batch.last)
        if i < len(state.ends) and state.ends[i] == batch.last:
            del state.ends[i]
        for key in batch.posts:
            entry = state.posts.get(key)
            # A later batch that saw the post again holds it now.
            if entry is not None and batch.first <= last_seen(entry) <= batch.last:
                del state.posts[key]
        return batch

    def expire(self, partition: int, now: float) -> list[LedgerBatch]:
        """Forget the records of ``partition`` older than the horizon; returns them (to delete)."""
        state = self.partitions.get(partition)
        if state is None:
            return []
        old: list[LedgerBatch] = []
        while state.batches and state.batches[0].at < now - self.horizon:
            old.append(self._drop_oldest(state))
        return old

    def evict(self, now: float) -> list[LedgerBatch]:
        """Forget the oldest records (of any partition) until at most
        ``max_posts`` posts are remembered; returns them (to delete)."""
        old: list[LedgerBatch] = []
        total = self.remembered
        while total > self.max_posts:
            candidates = [s for s in self.partitions.values() if s.batches and s.batches[0].at < now - self.min_age]
            if not candidates:
                break  # only young records left: over the bound until they age
            state = min(candidates, key=lambda s: s.batches[0].at)
            before = len(state.posts)
            old.append(self._drop_oldest(state))
            total -= before - len(state.posts)
        return old
