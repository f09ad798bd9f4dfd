"""streams.table_writes: a stage's table writes are awaited before its batch is acknowledged."""

from __future__ import annotations

import asyncio
from typing import Any

from streams.table_writes import TableWrites


class ChangelogTable:
    """A table's two sides that TableWrites touches: its data and its changelog sends."""

    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}
        self.sent: list[tuple[int, Any, Any, asyncio.Future[None]]] = []

    def send_changelog(self, partition: int, key: Any, value: Any, value_serializer: str | None = None) -> Any:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sent.append((partition, key, value, future))
        return future


def test_wait_returns_only_once_every_changelog_record_is_acknowledged() -> None:
    async def scenario() -> None:
        table = ChangelogTable()
        writes = TableWrites()
        writes.set(table, "xinghe", {"buckets": [1]}, 1)
        writes.set(table, "gone", {"buckets": []}, 0)
        writes.delete(table, "gone", 0)
        assert table.data == {"xinghe": {"buckets": [1]}}
        assert [(p, k, v) for p, k, v, _ in table.sent] == [(1, "xinghe", {"buckets": [1]}), (0, "gone", {"buckets": []}),
                                                            (0, "gone", None)]
        waiting = asyncio.ensure_future(writes.wait())
        for _, _, _, future in table.sent[:-1]:
            future.set_result(None)
        await asyncio.sleep(0.01)
        assert not waiting.done(), "returned before the tombstone was acknowledged"
        table.sent[-1][3].set_result(None)
        await asyncio.wait_for(waiting, 1.0)
        assert len(writes) == 0

    asyncio.run(scenario())


def test_a_failed_changelog_send_fails_the_wait() -> None:
    async def scenario() -> None:
        table = ChangelogTable()
        writes = TableWrites()
        writes.set(table, "k", 1, 0)
        table.sent[0][3].set_exception(ConnectionError("broker gone"))
        try:
            await writes.wait()
        except ConnectionError:
            return
        raise AssertionError("a lost changelog record went unnoticed")

    asyncio.run(scenario())
