"""A polite HTTP client: per-source rate limit, retries with backoff that
honour ``Retry-After``, and error accounting by kind.

Only what a poller needs: one request at a time per connector, retried on
429, 5xx, timeouts and broken connections; any other 4xx is final (asking
again will not help) and is returned to the caller as ``FetchError``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from connectors._metrics import ConnectorMetrics
from connectors._policy import Backoff, TokenBucket, parse_retry_after
from connectors.spec import Politeness

log = logging.getLogger(__name__)

USER_AGENT = "KoubeiSentinel/0.1 (+https://github.com/koubei-sentinel; brand-reputation monitor)"


class Stopping(Exception):
    """Raised inside a connector when shutdown was requested mid-wait."""


class FetchError(Exception):
    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep unless shutdown is requested first; True when stopping."""
    if stop.is_set():
        return True
    if seconds <= 0:
        return False
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


# A source may signal "slow down" inside a normal-looking error (Weibo
# answers 403 with error_code 10023): the classifier maps such a response
# to a retryable kind, or None to let the status code decide.
Classifier = Callable[[httpx.Response], str | None]


class PoliteClient:
    def __init__(self, politeness: Politeness, metrics: ConnectorMetrics, stop: asyncio.Event, *,
                 headers: Mapping[str, str] | None = None, classify: Classifier | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.politeness = politeness
        self.metrics = metrics
        self.stop = stop
        self.bucket = TokenBucket(politeness.rate_limit, politeness.burst)
        self.classify = classify
        self.clock = clock
        self.wall = wall
        self.http = httpx.AsyncClient(
            headers={"User-Agent": USER_AGENT, **dict(headers or {})},
            timeout=httpx.Timeout(politeness.timeout),
            follow_redirects=True,
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> PoliteClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_turn(self) -> None:
        """Block until the rate limit allows one more request."""
        while True:
            delay = self.bucket.wait_time(self.clock())
            if delay <= 0:
                self.bucket.take(self.clock())
                return
            if await pause(self.stop, delay):
                raise Stopping()

    async def _backoff(self, backoff: Backoff, kind: str, retry_after: float | None, attempt: int,
                       url: str) -> None:
        self.metrics.error(kind)
        if attempt >= self.politeness.max_attempts:
            raise FetchError(kind, f"{_where(url)}: giving up after {attempt} attempts ({kind})")
        delay = min(backoff.failure(retry_after), max(self.politeness.backoff_max, retry_after or 0.0))
        log.warning("%s: %s from %s, retrying in %.1fs", self.metrics.connector, kind, _where(url), delay)
        if await pause(self.stop, delay):
            raise Stopping()

    async def get(self, url: str, *, params: Mapping[str, Any] | None = None,
                  headers: Mapping[str, str] | None = None) -> httpx.Response:
        """GET with politeness; returns 2xx and 304 responses, raises FetchError otherwise."""
        backoff = Backoff(self.politeness.backoff_base, max(self.politeness.backoff_max, self.politeness.backoff_base))
        attempt = 0
        while True:
            attempt += 1
            await self.wait_turn()
            try:
                response = await self.http.get(url, params=params, headers=headers)
            except httpx.TimeoutException:
                await self._backoff(backoff, "timeout", None, attempt, url)
                continue
            except httpx.TransportError:
                await self._backoff(backoff, "connect", None, attempt, url)
                continue
            kind = self.classify(response) if self.classify is not None else None
            if kind is None:
                if response.status_code == 429:
                    kind = "http_429"
                elif response.status_code >= 500:
                    kind = "http_5xx"
            if kind is not None:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self.wall())
                await self._backoff(backoff, kind, retry_after, attempt, url)
                continue
            if response.status_code >= 400:
                self.metrics.error(f"http_{response.status_code // 100}xx")
                raise FetchError(f"http_{response.status_code}", f"{_where(url)} answered {response.status_code}",
                                 response.status_code)
            return response


def _where(url: str) -> str:
    """The URL without its query: query strings can carry tokens and must not be logged."""
    return str(httpx.URL(url).copy_with(query=None, fragment=None))
