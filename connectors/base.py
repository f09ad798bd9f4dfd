"""What a connector is built from: the batches it hands over, the context it
runs in, and the way a source item becomes a post or a dead item.

A connector only fetches and maps; the runtime (``connectors.runtime``)
owns the queue to Kafka, confirmation, checkpoints and shutdown. Every
item goes through the pipeline's input gate (``streams.gate``): a
connector maps its source's fields to the post mapping shape and calls
``admit()``; a rejection becomes a dead item with the gate's reason.
This module imports no connector, so each connector module, the registry
and the runtime can all use it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from connectors._http import Classifier, PoliteClient, pause
from connectors._metrics import ConnectorMetrics
from connectors._policy import RecentIds
from connectors.spec import ConnectorSpec
from streams.gate import Gate, Rejection, internal_error
from streams.models import Post, RecordError

# Checkpoint state is what json.loads gives back.
State = dict[str, Any]
# Rows per batch for connectors that read a file once (csv, jsonl).
BATCH_ROWS = 500


@dataclass(frozen=True)
class DeadItem:
    """An item that is not a post: its reason (a metric label), a message
    naming the field, and the original bytes for the dead-letter topic."""

    reason: str
    message: str
    original: bytes


@dataclass
class Batch:
    posts: list[Post] = field(default_factory=list)
    dead: list[DeadItem] = field(default_factory=list)
    # The connector state to persist once this batch (and all before it) is
    # confirmed by Kafka; None leaves the checkpoint as it is.
    checkpoint: State | None = None
    # Resolved when the batch is confirmed (the ingest endpoint answers only then).
    done: asyncio.Future[None] | None = None

    def take(self, result: Post | DeadItem, seen: RecentIds) -> bool:
        """Add one mapped item: a dead item, or a post whose id ``seen`` has
        not had before. False for a repeat, which is not added."""
        if isinstance(result, DeadItem):
            self.dead.append(result)
        elif seen.add(result.id):
            self.posts.append(result)
        else:
            return False
        return True


def admit(gate: Gate, data: object, original: bytes) -> Post | DeadItem:
    """A post mapping through the input gate: the post, or a dead item with the gate's reason."""
    result = gate.admit_mapping(data)
    return DeadItem(result.reason, result.message, original) if isinstance(result, Rejection) else result


def map_item(build: Callable[[], Post], original: bytes) -> Post | DeadItem:
    """Run a source's mapping function (which ends in ``Gate.post``); its
    RecordError becomes a dead item with the reason, and any other exception
    (a bug met on one item) an ``internal_error`` dead item: one item never
    stops its batch."""
    try:
        return build()
    except RecordError as exc:
        return DeadItem(exc.reason, exc.message, original)
    except Exception as exc:  # noqa: BLE001 - per-item isolation; the digest finds it in the logs
        rejection = internal_error(exc)
        return DeadItem(rejection.reason, rejection.message, original)


def json_bytes(data: object) -> bytes:
    """The JSON of a source item, as the dead letter's original; never raises
    (lone surrogates are escaped, anything not JSON is shown by repr)."""
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=repr).encode("utf-8", "backslashreplace")
    except (ValueError, RecursionError):
        return repr(data)[:65536].encode("utf-8", "backslashreplace")


class Context:
    """What a running connector may use."""

    def __init__(self, spec: ConnectorSpec[object], state: State, queue: asyncio.Queue[Batch | None],
                 stop: asyncio.Event, metrics: ConnectorMetrics, environ: Mapping[str, str],
                 gate: Gate | None = None) -> None:
        self.spec = spec
        # Every post enters through the pipeline's input gate (streams.gate).
        self.gate = gate or Gate()
        self.state = state
        self.queue = queue
        self.stop = stop
        self.metrics = metrics
        self.environ = environ

    async def emit(self, batch: Batch) -> None:
        """Queue a batch for Kafka; waits while the queue is full (backpressure)."""
        await self.queue.put(batch)
        self.metrics.queue_depth.set(self.queue.qsize())

    async def sleep(self, seconds: float) -> bool:
        """Wait, unless shutdown comes first; True when stopping."""
        return await pause(self.stop, seconds)

    def success(self) -> None:
        self.metrics.last_success.set(time.time())

    def client(self, *, headers: Mapping[str, str] | None = None, classify: Classifier | None = None) -> PoliteClient:
        return PoliteClient(self.spec.politeness, self.metrics, self.stop, headers=headers, classify=classify)


async def emit_rows(ctx: Context, rows: Iterator[tuple[int, Post | DeadItem | None]]) -> None:
    """Emit numbered rows (None: a blank line, moves the cursor) in batches of
    ``BATCH_ROWS``; each batch's checkpoint is the last row number it covers."""
    posts: list[Post] = []
    dead: list[DeadItem] = []
    last_row = int(ctx.state.get("row", 0))
    for row_no, item in rows:
        last_row = row_no
        if isinstance(item, Post):
            posts.append(item)
        elif item is not None:
            dead.append(item)
        if len(posts) + len(dead) >= BATCH_ROWS:
            await ctx.emit(Batch(posts=posts, dead=dead, checkpoint={"row": last_row}))
            ctx.success()
            posts, dead = [], []
            if ctx.stop.is_set():
                return
    await ctx.emit(Batch(posts=posts, dead=dead, checkpoint={"row": last_row}))
    ctx.success()


class Connector(Protocol):
    async def run(self, ctx: Context) -> None: ...


class SourceError(ValueError):
    """The source cannot be read at all (a file in the wrong encoding, a
    header without the mapped columns): stop with this message."""
