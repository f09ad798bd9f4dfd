"""The ``alerting`` section of koubei.yaml: channels, the routing tree, delivery.

Parsing is strict (unknown fields and bad values fail with the field path,
e.g. ``alerting.channels[1].url``). Secrets (robot tokens, signing keys,
PagerDuty routing keys) are never written in the file: ``*_env`` fields name
environment variables, and their values never appear in an error or a log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.models import SEVERITIES
from streams.settings import (
    ConfigError,
    get_bool,
    get_duration,
    get_enum,
    get_int,
    get_number,
    get_secret,
    get_str,
    get_str_list,
    join,
    reject_unknown,
    section,
)

CHANNEL_TYPES = ("dingtalk", "wecom", "feishu", "slack", "pagerduty", "alertmanager", "webhook")

# Per-destination send rates the platforms document (messages per second,
# burst). Going over DingTalk's limit mutes the robot for ten minutes, so the
# defaults sit exactly at the documented rate, never above.
DEFAULT_RATES: dict[str, tuple[float, int]] = {
    "dingtalk": (20 / 60, 20),
    "wecom": (20 / 60, 20),
    "feishu": (5.0, 5),
    "slack": (1.0, 1),
    "pagerduty": (120 / 60, 120),
    "alertmanager": (50.0, 50),
    "webhook": (50.0, 50),
}

DEFAULT_URLS = {"pagerduty": "https://events.pagerduty.com/v2/enqueue"}

# Alertmanager's own defaults (group_wait 30s, group_interval 5m, repeat_interval 4h): the reference behaviour.
DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0
MATCH_FIELDS = ("brand", "severity", "signal")
GROUP_BY_FIELDS = ("brand", "severity", "signal", "...")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    type: str
    # Robot URLs carry their access token: kept out of repr (and so of logs).
    url: str = field(repr=False)
    timeout: float = 10.0
    rate_per_second: float = 1.0
    burst: int = 1
    send_resolved: bool = True
    # Secrets, read from the environment; repr=False keeps them out of logs.
    secret: str | None = field(default=None, repr=False)
    routing_key: str | None = field(default=None, repr=False)
    # DingTalk / WeCom @-mentions.
    mention_mobiles: tuple[str, ...] = ()
    mention_users: tuple[str, ...] = ()
    mention_all: bool = False
    wecom_msgtype: str = "markdown"
    # Alertmanager forgets an alert after resolve_timeout (5 m) unless it is
    # re-sent; the notifier re-sends active alerts this often.
    resend_interval: float = 60.0
    source: str = "koubei-sentinel"


@dataclass(frozen=True)
class QuietHours:
    """Local clock interval in which matching severities are held back."""

    start_minute: int
    end_minute: int
    timezone: str
    severities: tuple[str, ...] = ("warning",)

    def contains(self, epoch: float) -> bool:
        from datetime import datetime

        local = datetime.fromtimestamp(epoch, ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        if self.start_minute <= self.end_minute:
            return self.start_minute <= minute < self.end_minute
        return minute >= self.start_minute or minute < self.end_minute  # wraps midnight

    def ends_after(self, epoch: float) -> float:
        """The first instant after ``epoch`` that is outside quiet hours."""
        step = 60.0
        t = epoch - (epoch % 60) + step
        for _ in range(24 * 60 + 1):
            if not self.contains(t):
                return t
            t += step
        return epoch + 86400.0


@dataclass(frozen=True)
class RouteConfig:
    """One node of the routing tree; children inherit unset fields."""

    receiver: str | None
    match: Mapping[str, tuple[str, ...]]
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float
    continue_matching: bool
    quiet_hours: QuietHours | None
    routes: tuple[RouteConfig, ...]
    path: str


@dataclass(frozen=True)
class DeliveryConfig:
    retry_deadline: float = 3600.0
    initial_backoff: float = 1.0
    max_backoff: float = 300.0
    # Quick attempts inside the consumer before a message is parked in the
    # retry topic; parking frees the alerts partition for newer alerts.
    inline_attempts: int = 3
    concurrency: int = 1


@dataclass(frozen=True)
class AlertingConfig:
    channels: tuple[ChannelConfig, ...] = ()
    route: RouteConfig | None = None
    delivery: DeliveryConfig = DeliveryConfig()
    language: str | None = None  # None: the top-level `language`
    timezone: str = "Asia/Shanghai"
    templates_dir: str | None = None
    grafana_url: str | None = None  # None: the top-level `grafana_url`
    silence_max_duration: float = 30 * 86400.0

    def channel(self, name: str) -> ChannelConfig:
        for ch in self.channels:
            if ch.name == name:
                return ch
        raise KeyError(name)


CHANNEL_FIELDS = (
    "name", "type", "url", "url_env", "secret_env", "routing_key_env", "timeout", "rate_per_minute",
    "burst", "send_resolved", "mention_mobiles", "mention_users", "mention_all", "msgtype",
    "resend_interval", "source",
)
_TYPE_ONLY = {
    "secret_env": ("dingtalk", "feishu", "webhook"),
    "routing_key_env": ("pagerduty",),
    "mention_mobiles": ("dingtalk", "wecom"),
    "mention_users": ("dingtalk", "wecom"),
    "mention_all": ("dingtalk", "wecom"),
    "msgtype": ("wecom",),
    "resend_interval": ("alertmanager",),
    "source": ("pagerduty",),
}


def _parse_channel(raw: Any, path: str, environ: Mapping[str, str]) -> ChannelConfig:
    data = section(raw, path)
    reject_unknown(data, CHANNEL_FIELDS, path)
    name = get_str(data, "name", path, required=True)
    if not _NAME.match(name):
        raise ConfigError(join(path, "name"), "use letters, digits, '.', '-' or '_' (it becomes a metric label)")
    kind = get_enum(data, "type", path, CHANNEL_TYPES, "")
    for key, kinds in _TYPE_ONLY.items():
        if key in data and kind not in kinds:
            raise ConfigError(join(path, key), f"only valid for type {' or '.join(kinds)}")
    if "url" in data and "url_env" in data:
        raise ConfigError(join(path, "url"), "give url or url_env, not both")
    if "url_env" in data:
        # Webhook URLs of DingTalk/WeCom/Slack carry the robot token: treat as a secret.
        url = get_secret(data, "url_env", path, required=True, environ=environ) or ""
        shown = f"the URL in ${data['url_env']}"
    else:
        url = get_str(data, "url", path, DEFAULT_URLS.get(kind), required=kind not in DEFAULT_URLS)
        shown = repr(url)
    if not re.match(r"^https?://[^\s/]+", url):
        raise ConfigError(join(path, "url_env" if "url_env" in data else "url"),
                          f"{shown} is not an http(s) URL")
    rate, burst = DEFAULT_RATES[kind]
    per_minute = get_number(data, "rate_per_minute", path, rate * 60, minimum=0.01)
    routing_key = None
    if kind == "pagerduty":
        routing_key = get_secret(data, "routing_key_env", path, required=True, environ=environ)
    return ChannelConfig(
        name=name,
        type=kind,
        url=url,
        timeout=get_duration(data, "timeout", path, 10.0, minimum=0.05),
        rate_per_second=per_minute / 60.0,
        burst=get_int(data, "burst", path, burst, minimum=1),
        send_resolved=get_bool(data, "send_resolved", path, True),
        secret=get_secret(data, "secret_env", path, environ=environ),
        routing_key=routing_key,
        mention_mobiles=tuple(get_str_list(data, "mention_mobiles", path)),
        mention_users=tuple(get_str_list(data, "mention_users", path)),
        mention_all=get_bool(data, "mention_all", path, False),
        wecom_msgtype=get_enum(data, "msgtype", path, ("markdown", "text"), "markdown"),
        resend_interval=get_duration(data, "resend_interval", path, 60.0, minimum=1.0),
        source=get_str(data, "source", path, "koubei-sentinel"),
    )


def _parse_quiet_hours(raw: Any, path: str, default_tz: str) -> QuietHours:
    data = section(raw, path)
    reject_unknown(data, ("start", "end", "timezone", "severities"), path)
    minutes = []
    for name in ("start", "end"):
        text = get_str(data, name, path, required=True)
        match = _CLOCK.match(text)
        if not match:
            raise ConfigError(join(path, name), f"expected a local time like 22:00, got {text!r}")
        minutes.append(int(match.group(1)) * 60 + int(match.group(2)))
    tz = _timezone(data, path, default_tz)
    severities = get_str_list(data, "severities", path) or ["warning"]
    for i, sev in enumerate(severities):
        if sev not in SEVERITIES:
            raise ConfigError(join(join(path, "severities"), i), f"must be one of {', '.join(SEVERITIES)}")
    return QuietHours(minutes[0], minutes[1], tz, tuple(severities))


def _timezone(data: Mapping[str, Any], path: str, default: str) -> str:
    tz = get_str(data, "timezone", path, default)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(join(path, "timezone"), f"unknown time zone {tz!r} (use e.g. Asia/Shanghai)") from None
    return tz


ROUTE_FIELDS = ("receiver", "match", "group_by", "group_wait", "group_interval", "repeat_interval",
                "continue", "routes", "quiet_hours")


def _parse_match(raw: Any, path: str, brand_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    data = section(raw, path)
    reject_unknown(data, MATCH_FIELDS, path)
    out: dict[str, tuple[str, ...]] = {}
    for name in MATCH_FIELDS:
        if name not in data:
            continue
        values = get_str_list(data, name, path, required=True)
        allowed = brand_ids if name == "brand" else SEVERITIES if name == "severity" else None
        for i, value in enumerate(values):
            if allowed is not None and value not in allowed:
                raise ConfigError(join(join(path, name), i), f"{value!r} is not one of {', '.join(allowed)}")
        out[name] = tuple(values)
    return out


def _parse_route(raw: Any, path: str, parent: RouteConfig | None, channel_names: Sequence[str],
                 brand_ids: Sequence[str], tz: str) -> RouteConfig:
    data = section(raw, path)
    reject_unknown(data, ROUTE_FIELDS, path)
    receiver = get_str(data, "receiver", path, parent.receiver if parent else None) or None
    if receiver is not None and receiver not in channel_names:
        raise ConfigError(join(path, "receiver"),
                          f"no channel named {receiver!r} (channels: {', '.join(channel_names) or 'none'})")
    if parent is None and "match" in data:
        raise ConfigError(join(path, "match"), "the root route matches every alert; put match on a child route")
    group_by = tuple(get_str_list(data, "group_by", path)) if "group_by" in data else (
        parent.group_by if parent else ())
    for i, name in enumerate(group_by):
        if name not in GROUP_BY_FIELDS:
            raise ConfigError(join(join(path, "group_by"), i), f"must be one of {', '.join(GROUP_BY_FIELDS)}")
    quiet = (_parse_quiet_hours(data["quiet_hours"], join(path, "quiet_hours"), tz)
             if data.get("quiet_hours") is not None else (parent.quiet_hours if parent else None))
    node = RouteConfig(
        receiver=receiver,
        match=_parse_match(data.get("match"), join(path, "match"), brand_ids),
        group_by=group_by,
        group_wait=get_duration(data, "group_wait", path, parent.group_wait if parent else DEFAULT_GROUP_WAIT),
        group_interval=get_duration(data, "group_interval", path,
                                    parent.group_interval if parent else DEFAULT_GROUP_INTERVAL, minimum=0.01),
        repeat_interval=get_duration(data, "repeat_interval", path,
                                     parent.repeat_interval if parent else DEFAULT_REPEAT_INTERVAL, minimum=0.01),
        continue_matching=get_bool(data, "continue", path, False),
        quiet_hours=quiet,
        routes=(),
        path=path,
    )
    children_raw = data.get("routes")
    if children_raw is None:
        return node
    if not isinstance(children_raw, list):
        raise ConfigError(join(path, "routes"), "expected a list of routes")
    children = tuple(
        _parse_route(item, join(join(path, "routes"), i), node, channel_names, brand_ids, tz)
        for i, item in enumerate(children_raw)
    )
    return RouteConfig(**{**node.__dict__, "routes": children})


def _parse_delivery(raw: Any, path: str) -> DeliveryConfig:
    data = section(raw, path)
    reject_unknown(data, ("retry_deadline", "initial_backoff", "max_backoff", "inline_attempts", "concurrency"), path)
    initial = get_duration(data, "initial_backoff", path, 1.0, minimum=0.001)
    maximum = get_duration(data, "max_backoff", path, 300.0, minimum=0.001)
    if maximum < initial:
        raise ConfigError(join(path, "max_backoff"), f"must be >= initial_backoff ({initial:g}s)")
    return DeliveryConfig(
        retry_deadline=get_duration(data, "retry_deadline", path, 3600.0, minimum=0.0),
        initial_backoff=initial,
        max_backoff=maximum,
        inline_attempts=get_int(data, "inline_attempts", path, 3, minimum=1, maximum=20),
        concurrency=get_int(data, "concurrency", path, 1, minimum=1, maximum=64),
    )


def parse_alerting(raw: Any, path: str, brands: Any, *, environ: Mapping[str, str]) -> AlertingConfig:
    """Validate the ``alerting`` section; an absent section is valid (no channels)."""
    data = section(raw, path)
    reject_unknown(data, ("channels", "routes", "delivery", "language", "timezone", "templates_dir",
                          "grafana_url", "silences"), path)
    brand_ids = [b.id for b in brands or ()]
    channels_raw = data.get("channels") or []
    if not isinstance(channels_raw, list):
        raise ConfigError(join(path, "channels"), "expected a list of channels")
    channels: list[ChannelConfig] = []
    for i, item in enumerate(channels_raw):
        where = join(join(path, "channels"), i)
        channel = _parse_channel(item, where, environ)
        if any(c.name == channel.name for c in channels):
            raise ConfigError(join(where, "name"), f"duplicate channel name {channel.name!r}")
        channels.append(channel)
    names = [c.name for c in channels]
    tz = _timezone(data, path, "Asia/Shanghai")
    route: RouteConfig | None = None
    if data.get("routes") is not None:
        route = _parse_route(data["routes"], join(path, "routes"), None, names, brand_ids, tz)
    elif channels:
        # No routing tree: every alert goes to every channel, Alertmanager's timings.
        route = RouteConfig(
            receiver=None, match={}, group_by=(), group_wait=DEFAULT_GROUP_WAIT,
            group_interval=DEFAULT_GROUP_INTERVAL, repeat_interval=DEFAULT_REPEAT_INTERVAL,
            continue_matching=False, quiet_hours=None, path=join(path, "routes"),
            routes=tuple(
                RouteConfig(receiver=n, match={}, group_by=(), group_wait=DEFAULT_GROUP_WAIT,
                            group_interval=DEFAULT_GROUP_INTERVAL, repeat_interval=DEFAULT_REPEAT_INTERVAL,
                            continue_matching=True, quiet_hours=None, routes=(), path=f"{path}.channels[{i}]")
                for i, n in enumerate(names)
            ),
        )
    language = get_enum(data, "language", path, ("zh", "en"), "zh") if "language" in data else None
    silences = section(data.get("silences"), join(path, "silences"))
    reject_unknown(silences, ("max_duration",), join(path, "silences"))
    grafana = get_str(data, "grafana_url", path, allow_empty=True) if "grafana_url" in data else None
    return AlertingConfig(
        channels=tuple(channels),
        route=route,
        delivery=_parse_delivery(data.get("delivery"), join(path, "delivery")),
        language=language,
        timezone=tz,
        templates_dir=get_str(data, "templates_dir", path) if "templates_dir" in data else None,
        grafana_url=grafana,
        silence_max_duration=get_duration(silences, "max_duration", join(path, "silences"), 30 * 86400.0,
                                          minimum=60.0),
    )
