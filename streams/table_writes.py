"""Table writes a stage waits for before it acknowledges its input.

A Faust table write (``table[key] = value``) only queues its changelog
record in the producer's buffer (``send_soon``). Faust flushes that buffer
before it commits offsets, but the flush gives up after 0.1 s without a
record leaving the buffer (``ProducerBuffer.flush_atmost``), and with one
record per batch on the embedded broker (streams/kafka.py,
``BrokerQuirks``) a few large bucket entries take longer than that. The
commit then goes ahead with table updates still unsent, and a worker
killed at that moment comes back with the input counted as done and the
counts it added missing (tests/test_pipeline_integration.py, the
SIGKILL restart test, lost mentions whenever bucket entries grew).

So a stage writes its tables through ``TableWrites`` and awaits ``wait``
before its batch is acknowledged: the offsets Faust commits never run
ahead of the state they produced, whatever the broker's round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


class TableWrites:
    """The changelog records of one batch's table writes."""

    def __init__(self) -> None:
        self.pending: list[Awaitable[Any]] = []

    def __len__(self) -> int:
        return len(self.pending)

    def set(self, table: Any, key: Any, value: Any, partition: int) -> None:
        """``table[key] = value`` with its changelog record in ``partition``."""
        table.data[key] = value
        self.pending.append(table.send_changelog(partition, key, value))

    def delete(self, table: Any, key: Any, partition: int) -> None:
        """``del table[key]``, the tombstone in ``partition``."""
        table.data.pop(key, None)
        self.pending.append(table.send_changelog(partition, key, None, value_serializer="raw"))

    async def wait(self) -> None:
        """Returns once the broker has acknowledged every record."""
        pending, self.pending = self.pending, []
        if pending:
            await asyncio.gather(*pending)
