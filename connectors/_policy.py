"""Politeness and bookkeeping rules as plain objects: no clock, no I/O.

Every method takes ``now`` (seconds) from the caller, so the runtime uses the
monotonic clock while the tests step time by hand and the rules stay the
same in both.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Iterable
from datetime import timezone
from email.utils import parsedate_to_datetime

# A server asking us to come back in a day is treated as "come back in an
# hour": we still honour the request by not retrying earlier than the cap,
# and an operator sees the error metric long before that.
MAX_RETRY_AFTER = 3600.0


class TokenBucket:
    """Requests per second with a small burst, per source.

    ``rate`` 0 means unlimited. The bucket starts full so a connector's
    first poll is not delayed.
    """

    def __init__(self, rate: float, burst: int = 1) -> None:
        if rate < 0 or burst < 1:
            raise ValueError("rate must be >= 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated: float | None = None

    def _refill(self, now: float) -> None:
        if self.updated is not None and now > self.updated:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now if self.updated is None else max(self.updated, now)

    def wait_time(self, now: float) -> float:
        """Seconds until one request may be sent (0 when it may go now)."""
        if self.rate == 0:
            return 0.0
        self._refill(now)
        if self.tokens >= 1.0:
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        """Spend one token; call after ``wait_time`` reached 0."""
        if self.rate == 0:
            return
        self._refill(now)
        self.tokens -= 1.0


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an
    HTTP-date), or None when the header is absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return min(max(0.0, when.timestamp() - now_wall), MAX_RETRY_AFTER)


class Backoff:
    """Exponential backoff with "equal jitter": half the delay is fixed so a
    retry never comes back immediately, half is random so many connectors
    restarted together do not hammer the source in lockstep."""

    def __init__(self, base: float = 1.0, cap: float = 300.0, factor: float = 2.0,
                 rng: random.Random | None = None) -> None:
        if base <= 0 or cap < base or factor < 1:
            raise ValueError("need 0 < base <= cap and factor >= 1")
        self.base = base
        self.cap = cap
        self.factor = factor
        self.failures = 0
        self._rng = rng or random.Random()

    def failure(self, retry_after: float | None = None) -> float:
        """Record a failure; returns how long to wait before the next try."""
        exponent = min(self.failures, 62)
        self.failures += 1
        ceiling = min(self.cap, self.base * math.pow(self.factor, exponent))
        delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            # The server's own number wins when it asks for more patience.
            delay = max(delay, retry_after)
        return delay

    def success(self) -> None:
        self.failures = 0


class RecentIds:
    """The last ``capacity`` ids seen, oldest forgotten first.

    Used to drop posts already emitted (the same article in two feeds, the
    same Weibo status matched by two keywords) while keeping the checkpoint
    bounded.
    """

    def __init__(self, capacity: int, initial: Iterable[str] = ()) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()
        for item in initial:
            self.add(item)

    def __contains__(self, item: object) -> bool:
        return item in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, item: str) -> bool:
        """Remember ``item``; False when it was already known."""
        if item in self._ids:
            self._ids.move_to_end(item)
            return False
        self._ids[item] = None
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return True

    def to_list(self) -> list[str]:
        return list(self._ids)
