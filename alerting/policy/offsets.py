"""Which offsets may be committed: only those before the oldest message whose
notification is not yet delivered, parked in the retry topic or dead-lettered."""

from __future__ import annotations

from collections.abc import Hashable


class OffsetTracker:
    def __init__(self) -> None:
        self._pending: dict[Hashable, set[int]] = {}
        self._seen: dict[Hashable, int] = {}
        self._committed: dict[Hashable, int] = {}

    def track(self, partition: Hashable, offset: int) -> None:
        self._pending.setdefault(partition, set()).add(offset)
        self._seen[partition] = max(self._seen.get(partition, -1), offset)

    def release(self, partition: Hashable, offset: int) -> None:
        self._pending.get(partition, set()).discard(offset)

    def pending(self, partition: Hashable) -> int:
        return len(self._pending.get(partition, ()))

    def forget(self, partition: Hashable) -> None:
        """The partition was revoked: its messages will be re-read elsewhere."""
        self._pending.pop(partition, None)
        self._seen.pop(partition, None)
        self._committed.pop(partition, None)

    def committable(self) -> dict[Hashable, int]:
        """Next offset to commit per partition, only where it moved forward."""
        out: dict[Hashable, int] = {}
        for partition, seen in self._seen.items():
            pending = self._pending.get(partition)
            offset = min(pending) if pending else seen + 1
            if offset > self._committed.get(partition, -1):
                out[partition] = offset
        return out

    def mark_committed(self, offsets: dict[Hashable, int]) -> None:
        for partition, offset in offsets.items():
            self._committed[partition] = max(self._committed.get(partition, -1), offset)
