"""What every channel shares: its common settings, the request/response
model and the send loop. Each channel type declares its own options beside
its module (``DingTalkOptions`` in dingtalk.py ...); ``alerting.channels``
holds the one registry of types.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import httpx

from alerting.message import Notification
from alerting.render import Renderer
from alerting.render.safe import json_safe
from alerting.secret import UNSET, Secret, environ_of, secret_from_env
from streams.settings import ConfigError, get_secret, option

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_HTTP_URL = re.compile(r"^https?://[^\s/]+")


@dataclass(frozen=True)
class ChannelOptions:
    """Base of a channel type's own options. The hooks below let the policy
    stages ask what they need without knowing channel types."""

    def reminder_cap(self) -> float | None:
        """A channel that forgets alerts unless they are re-sent (Alertmanager)
        caps the group interval and the repeat interval at this."""
        return None

    def rate_limit_identity(self) -> str:
        """Besides the URL, what the platform rate-limits (a routing key)."""
        return ""


def _channel_name(value: Any, where: str, context: Mapping[str, Any]) -> str:
    if value is None:
        raise ConfigError(where, "required field is missing")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not _NAME.match(str(value)):
        raise ConfigError(where, "use letters, digits, '.', '-' or '_' (it becomes a metric label)")
    return str(value)


def _channel_type(value: Any, where: str, context: Mapping[str, Any]) -> str:
    # Checked against the registry by alerting.channels.parse_channel, which
    # needs the type first to know which options to read.
    kind: type[Channel[Any]] = context["channel_type"]
    return kind.type


def _endpoint(value: Any, where: str, context: Mapping[str, Any]) -> Secret:
    """``url`` or ``url_env`` (read just before): robot URLs carry their
    access token, so the URL is a Secret either way."""
    kind: type[Channel[Any]] = context["channel_type"]
    url_env = context["section"].get("url_env")
    path = where.rpartition(".")[0]
    if url_env is not None:
        if value is not None:
            raise ConfigError(where, "give url or url_env, not both")
        url = get_secret({"url_env": url_env}, "url_env", path, required=True, environ=environ_of(context)) or ""
        secret, shown, field_name = Secret(url, f"${url_env}"), f"the URL in ${url_env}", "url_env"
    else:
        if value is None:
            if kind.default_url is None:
                raise ConfigError(where, "required field is missing")
            value = kind.default_url
        if isinstance(value, bool) or not isinstance(value, str):
            raise ConfigError(where, f"expected a URL, got {type(value).__name__}")
        secret, shown, field_name = Secret(value, "the url field"), repr(value), "url"
    if not _HTTP_URL.match(secret.reveal()):
        raise ConfigError(f"{path}.{field_name}" if path else field_name, f"{shown} is not an http(s) URL")
    return secret


def _templates_dir(value: Any, where: str, context: Mapping[str, Any]) -> str | None:
    """A channel's own templates: a folder laid out like alerting.templates_dir
    (``<language>/<name>``, or the files directly in it)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str) or not value.strip():
        raise ConfigError(where, "expected the path of a folder of templates")
    if not Path(value).is_dir():
        raise ConfigError(where, f"{value!r} is not a folder")
    return value


def _rate_per_minute(value: Any, where: str, context: Mapping[str, Any]) -> float:
    kind: type[Channel[Any]] = context["channel_type"]
    if value is None:
        return kind.default_rate_per_minute
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(where, f"expected a number, got {value!r}")
    if value < 0.01:
        raise ConfigError(where, f"must be >= 0.01, got {value}")
    return float(value)


def _burst(value: Any, where: str, context: Mapping[str, Any]) -> int:
    kind: type[Channel[Any]] = context["channel_type"]
    if value is None:
        return kind.default_burst
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(where, f"expected a whole number >= 1, got {value!r}")
    return value


@dataclass(frozen=True)
class ChannelConfig:
    """The fields every channel has; ``options`` holds its type's own."""

    name: str = option(parse=_channel_name, help="letters, digits, '.', '-', '_'; used in routes, metrics and logs")
    type: str = option(parse=_channel_type, help="dingtalk, wecom, feishu, slack, pagerduty, alertmanager or webhook")
    url_env: str | None = option(None, env_name=True,
                                 help="environment variable holding the URL (DingTalk, WeCom, Feishu and Slack "
                                      "URLs carry the robot's token)")
    url: Secret = option(UNSET, parse=_endpoint, shown_default="per type",
                         help="the endpoint, when it carries no secret")
    timeout: float = option(10.0, duration=True, minimum=0.05, help="per request")
    rate_per_minute: float = option(0.0, parse=_rate_per_minute, shown_default="the platform's limit",
                                    help="token bucket per destination (channels posting to one robot share it)")
    burst: int = option(1, parse=_burst, shown_default="the platform's limit", help="requests allowed back to back")
    send_resolved: bool = option(True, help="also tell the channel when an alert resolves")
    templates_dir: str | None = option(None, parse=_templates_dir,
                                       help="this channel's own templates (files it lacks come from "
                                            "alerting.templates_dir, then the packaged ones)")
    options: ChannelOptions = field(default_factory=ChannelOptions)

    @property
    def rate_per_second(self) -> float:
        return self.rate_per_minute / 60.0

    @property
    def destination(self) -> str:
        """What a platform rate-limits: the robot (its URL), or the PagerDuty
        routing key. Used as a dictionary key only, never shown."""
        return f"{self.url.reveal()}|{self.options.rate_limit_identity()}"


@dataclass(frozen=True)
class SigningSecret(ChannelOptions):
    """Options of the channels that sign their requests (DingTalk 加签, Feishu, webhook)."""

    secret: Secret | None = option(None, key="secret_env", env_name=True, parse=secret_from_env(required=False),
                                   help="environment variable holding the signing secret")


@dataclass(frozen=True)
class Mentions(ChannelOptions):
    """@-mentions of the Chinese chat robots."""

    mention_mobiles: tuple[str, ...] = option((), help="mobile numbers to @")
    mention_users: tuple[str, ...] = option((), help="user ids to @")
    mention_all: bool = option(False, help="@ everyone in the group")


@dataclass(frozen=True)
class Targets:
    """Whom one message @: the channel's own mentions and its route's."""

    mobiles: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    everyone: bool = False


_MENTION = re.compile(r"^\+?[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")


def mention_targets(options: ChannelOptions, note: Notification) -> Targets:
    """The channel's mention_* options (DingTalk, WeCom) plus the route's
    ``mention`` the notification carries; each once. Values read back from a
    parked notification are checked again: they go inside markup."""
    own = options if isinstance(options, Mentions) else Mentions()
    route = note.mentions if isinstance(note.mentions, dict) else {}

    def listed(name: str) -> list[str]:
        raw = route.get(name)
        return [v for v in raw if isinstance(v, str) and _MENTION.match(v)] if isinstance(raw, list) else []

    return Targets(tuple(dict.fromkeys([*own.mention_mobiles, *listed("mobiles")])),
                   tuple(dict.fromkeys([*own.mention_users, *listed("users")])),
                   own.mention_all or route.get("all") is True)


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
    """Strict JSON in valid UTF-8, whatever the evidence held (render.safe.json_safe)."""
    return json.dumps(json_safe(payload), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


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
    amount that depends on the text, so shrink by the measured excess; and
    by twice as much each time the body did not shrink enough (a message
    drops whole incidents, not single bytes)."""
    budget = limit
    body = build(budget)
    step = 0
    for _ in range(16):
        if len(body) <= limit:
            return budget, body
        step = max(len(body) - limit + 16, step * 2)
        budget = max(64, budget - step)
        body = build(budget)
    if len(body) > limit:  # fixed parts alone are too large (huge mentions?): the least text there is
        budget = 64
        body = build(budget)
    return budget, body


OptionsT = TypeVar("OptionsT", bound=ChannelOptions)


class Channel(Generic[OptionsT]):
    """A receiver: renders a notification for its platform, sends it, and
    says whether a failure is worth retrying (``SendResult.outcome``). When
    and how often to send is decided by the stages before it.

    Subclasses set ``type``, ``options_class`` and their platform defaults,
    and implement ``build`` and ``check_body``."""

    type: ClassVar[str] = "base"
    options_class: ClassVar[type[ChannelOptions]] = ChannelOptions
    # The platform's documented rate per robot (DingTalk mutes a robot that
    # goes over for ten minutes, so defaults sit at the limit, never above).
    default_rate_per_minute: ClassVar[float] = 60.0
    default_burst: ClassVar[int] = 1
    default_url: ClassVar[str | None] = None
    # Codes the platform uses for "you are sending too fast" and how long to back off.
    throttle_codes: ClassVar[Mapping[int, float]] = {}
    transient_codes: ClassVar[frozenset[int]] = frozenset()

    def __init__(self, config: ChannelConfig, renderer: Renderer) -> None:
        if not isinstance(config.options, self.options_class):
            raise TypeError(f"channel {config.name!r}: {type(self).__name__} needs {self.options_class.__name__}")
        self.config = config
        self.options: OptionsT = config.options  # type: ignore[assignment] - checked just above
        self.renderer = renderer.for_channel(config.templates_dir)

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
        except (ValueError, RecursionError):
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
