"""The seam between the stream and the spike rule.

A detector is a plain object: it is fed closed buckets for ONE brand, in
event-time order, and returns alert events. It has no clock, no I/O and no
Kafka; its whole state is ``to_state()`` (a JSON-able dict kept in a Faust
table), so the worker, ``koubei backtest`` and the tests run the same code.
"""

from __future__ import annotations

from typing import Any, Protocol

from streams.models import AlertEvent, Bucket


class Detector(Protocol):
    name: str

    def update(self, bucket: Bucket) -> list[AlertEvent]:
        """Feed the next closed bucket; returns firing/resolved events (often none)."""
        ...

    def to_state(self) -> dict[str, Any]:
        """The whole state, JSON-serialisable; ``create_detector(..., state=)`` restores it."""
        ...
