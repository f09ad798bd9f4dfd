"""What every channel shares: the request/response model and the send loop."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from alerting.config import ChannelConfig
from alerting.message import Notification
from alerting.render import Renderer


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"  # transient: try again later
    PERMANENT = "permanent"  # will never work as configured: dead-letter now


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    detail: str
    retry_after: float | None = None
    # The platform said "too fast": pause this destination, not only this message.
    throttled: bool = False


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    value = headers.get("retry-after") or headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    import time

    return max(0.0, when - (now if now is not None else time.time()))


def shrink_to_fit(build: Callable[[int], bytes], limit: int) -> tuple[int, bytes]:
    """Find a text budget whose whole request body fits ``limit`` bytes.

    JSON escaping and fixed fields make the body larger than the text, by an
    amount that depends on the text, so shrink by the measured excess."""
    budget = limit
    body = build(budget)
    for _ in range(8):
        if len(body) <= limit:
            return budget, body
        budget = max(64, budget - (len(body) - limit) - 16)
        body = build(budget)
    return budget, body


class Channel:
    """Base class; subclasses implement ``build`` and ``check_body``."""

    type = "base"
    # Codes the platform uses for "you are sending too fast" and how long to back off.
    throttle_codes: Mapping[int, float] = {}
    transient_codes: frozenset[int] = frozenset()

    def __init__(self, config: ChannelConfig, renderer: Renderer) -> None:
        self.config = config
        self.renderer = renderer

    @property
    def name(self) -> str:
        return self.config.name

    def build(self, note: Notification, now: float) -> list[HttpRequest]:
        raise NotImplementedError

    def check_body(self, body: Any) -> SendResult:
        """Success read from the platform's own error code, not the HTTP status."""
        return SendResult(Outcome.DELIVERED, "ok")

    def _code_result(self, code: Any, message: Any) -> SendResult:
        if code == 0:
            return SendResult(Outcome.DELIVERED, "ok")
        if isinstance(code, int) and code in self.throttle_codes:
            return SendResult(Outcome.RETRY, f"throttled: code {code} {message}", self.throttle_codes[code], True)
        if isinstance(code, int) and code in self.transient_codes:
            return SendResult(Outcome.RETRY, f"platform busy: code {code} {message}")
        return SendResult(Outcome.PERMANENT, f"rejected: code {code} {message}")

    def interpret(self, status: int, headers: Mapping[str, str], content: bytes) -> SendResult:
        body: Any = None
        try:
            body = json.loads(content) if content else None
        except ValueError:
            body = content[:200].decode("utf-8", errors="replace")
        if status == 429:
            return SendResult(Outcome.RETRY, "HTTP 429", retry_after_seconds(headers), True)
        if status >= 500 or status == 408:
            return SendResult(Outcome.RETRY, f"HTTP {status}", retry_after_seconds(headers))
        if status >= 400:
            if isinstance(body, dict):
                # Some platforms (Feishu) answer 400 with a throttling code.
                checked = self.check_body(body)
                if checked.outcome is Outcome.RETRY:
                    return checked
            return SendResult(Outcome.PERMANENT, f"HTTP {status}: {str(body)[:200]}")
        return self.check_body(body)

    async def send(self, client: httpx.AsyncClient, note: Notification, now: float) -> SendResult:
        result = SendResult(Outcome.DELIVERED, "nothing to send")
        for request in self.build(note, now):
            try:
                response = await client.request(request.method, request.url, content=request.body,
                                                headers=dict(request.headers), timeout=self.config.timeout)
            except httpx.TimeoutException:
                return SendResult(Outcome.RETRY, f"timed out after {self.config.timeout:g}s")
            except httpx.HTTPError as exc:
                return SendResult(Outcome.RETRY, f"{type(exc).__name__}: {str(exc)[:200]}")
            result = self.interpret(response.status_code, response.headers, response.content)
            if result.outcome is not Outcome.DELIVERED:
                return result
        return result
