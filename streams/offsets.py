"""Offsets a consumer skipped on a posts partition.

The posts topic is never compacted and the project's producers do not use
transactions, so its offsets are contiguous: within one consumer generation,
the score stage must see offset ``n + 1`` after ``n``. A jump means records
were never handed over (the SIGKILL restart test saw a batch go from offset
442 to 544 on the embedded broker under CPU load), and Faust counts such a
jump as acknowledged, so nothing would ever say they were lost. The score
stage reports each jump (log warning, ``koubei_posts_skipped_offsets_total``).

Not a jump: an offset at or before the last one (records read again after a
seek or a crash) and the first offset after a rebalance (another worker may
have read the partition in between). A topic written by transactional
producers (commit markers take an offset) or compacted by hand would show
jumps that lose nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class OffsetWatch:
    """The last offset seen per partition, and the consumer generation it was seen in."""

    last: dict[int, tuple[int, int]] = field(default_factory=dict)  # partition -> (generation, offset)

    def skipped(self, partition: int, generation: int, offsets: Sequence[int]) -> list[tuple[int, int]]:
        """The (first, last) runs of offsets missing before and between ``offsets``
        (one batch of one partition, in the order the consumer gave them)."""
        gaps: list[tuple[int, int]] = []
        seen = self.last.get(partition)
        previous = seen[1] if seen is not None and seen[0] == generation else None
        for offset in offsets:
            if previous is not None and offset > previous + 1:
                gaps.append((previous + 1, offset - 1))
            previous = offset  # after a re-read (offset <= previous) the reading goes on from there
        if previous is not None:
            self.last[partition] = (generation, previous)
        return gaps
