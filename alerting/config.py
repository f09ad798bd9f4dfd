"""The ``alerting`` section of koubei.yaml: channels, the routing tree, delivery.

Declared with ``streams.settings.option``: each field once, with its
default, bounds and help. Parsing is strict (unknown fields and bad values
fail with the field path, e.g. ``alerting.channels[1].url``). Each channel
type's own options are declared beside its module (alerting/channels/) and
read through the one registry, ``alerting.channels.CHANNEL_TYPES``. Secrets
(robot tokens, signing keys, PagerDuty routing keys) are never written in
the file: ``*_env`` fields name environment variables, and their values
never appear in an error, a ``repr`` or a log.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerting.channels import ChannelConfig, parse_channel
from alerting.labels import ALERT_LABELS, LABEL_NAME, RESERVED_LABELS
from alerting.matchers import Matcher, MatcherError, any_of, parse_matchers
from alerting.policy.inhibition import InhibitRule
from alerting.timeintervals import NamedTimeIntervals, parse_time_intervals
from streams.config import Brand
from streams.models import SEVERITIES
from streams.settings import (
    ConfigError,
    FieldParser,
    get_bool,
    get_str,
    get_str_list,
    join,
    option,
    parse_duration,
    read_section,
    section,
)

# Alertmanager's own defaults (group_wait 30s, group_interval 5m, repeat_interval 4h): the reference behaviour.
DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0
DEFAULT_TIMEZONE = "Asia/Shanghai"
# One message tells one brand's incident: all of a brand's signals travel
# together unless a route says otherwise (Alertmanager's own default, one
# group for everything, would put unrelated brands in one message).
DEFAULT_GROUP_BY = ("brand",)
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_YEARS = re.compile(r"(\d+)y")


def check_timezone(value: Any, where: str) -> str:
    tz = get_str({"timezone": value}, "timezone", where.rpartition(".")[0])
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(where, f"unknown time zone {tz!r} (use e.g. Asia/Shanghai)") from None
    return tz


def clock_minute(value: Any, where: str) -> int:
    """``"23:00"`` -> minutes after midnight. YAML 1.1 reads an unquoted
    23:00 as the number 1380; koubei's loader keeps it text, and a number
    that still arrives here is refused with the reason."""
    if isinstance(value, bool) or value is None:
        raise ConfigError(where, f"expected a local time like 22:00, got {value!r}")
    if isinstance(value, (int, float)):
        raise ConfigError(where, f"expected a local time like \"22:00\" in quotes, got the number {value!r} "
                                 "(YAML 1.1 reads an unquoted 22:00 as a number of minutes)")
    match = _CLOCK.match(str(value))
    if not match:
        raise ConfigError(where, f"expected a local time like 22:00, got {value!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def _clock(value: Any, where: str, context: Mapping[str, Any]) -> int:
    return clock_minute(value, where)


def _local_timezone(value: Any, where: str, context: Mapping[str, Any]) -> str:
    """A time zone that defaults to ``alerting.timezone``."""
    if value is None:
        return str(context.get("timezone", DEFAULT_TIMEZONE))
    return check_timezone(value, where)


@dataclass(frozen=True)
class QuietHours:
    """A daily local clock window in which matching severities are held back
    (kept, and sent when the window ends)."""

    start_minute: int = option(parse=_clock, key="start", required=True, help="local time, e.g. \"23:00\"")
    end_minute: int = option(parse=_clock, key="end", required=True, help="local time, e.g. \"08:00\"")
    timezone: str = option(DEFAULT_TIMEZONE, parse=_local_timezone, shown_default="alerting.timezone",
                           help="IANA time zone of start and end")
    severities: tuple[str, ...] = option(("warning",), choices=SEVERITIES, help="severities held back")

    def contains(self, epoch: float) -> bool:
        local = datetime.fromtimestamp(epoch, ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        if self.start_minute <= self.end_minute:
            return self.start_minute <= minute < self.end_minute
        return minute >= self.start_minute or minute < self.end_minute  # wraps midnight


def _inherited(name: str, default: Any, reader: Callable[[Any, str], Any]) -> FieldParser:
    """A route field that children inherit from their parent unless set."""

    def parse(value: Any, where: str, context: Mapping[str, Any]) -> Any:
        if value is None:
            parent: Mapping[str, Any] | None = context.get("parent")
            return parent[name] if parent is not None else default
        return reader(value, where)

    return parse


def _duration(minimum: float) -> Callable[[Any, str], float]:
    def read(value: Any, where: str) -> float:
        if isinstance(value, str) and "y" in value:  # Alertmanager's durations also take years (365 days)
            value = _YEARS.sub(lambda m: f"{int(m.group(1)) * 365}d", value)
        seconds = parse_duration(value, where)
        if seconds < minimum:
            raise ConfigError(where, f"must be at least {minimum:g}s")
        return seconds

    return read


def _group_by(value: Any, where: str, context: Mapping[str, Any]) -> tuple[str, ...]:
    if value is None:
        parent: Mapping[str, Any] | None = context.get("parent")
        return parent["group_by"] if parent is not None else DEFAULT_GROUP_BY
    path, _, name = where.rpartition(".")
    names = tuple(get_str_list({name: value}, name, path))
    allowed = (*context.get("label_names", ALERT_LABELS), "...")
    for i, label in enumerate(names):
        if label not in allowed:
            raise ConfigError(join(where, i), f"must be one of {', '.join(allowed)}")
    return names


def check_matchers(matchers: tuple[Matcher, ...], where: str, context: Mapping[str, Any],
                   paths: list[str] | None = None) -> tuple[Matcher, ...]:
    """Typos must fail loudly: an unknown label, or a brand or severity that
    does not exist, would make a route or a silence match nothing (or everything)."""
    names: Sequence[str] = context.get("label_names", ALERT_LABELS)
    brand_ids: Sequence[str] = context.get("brand_ids", ())
    for i, matcher in enumerate(matchers):
        at = paths[i] if paths is not None else join(where, i)
        if matcher.name not in names:
            raise ConfigError(at, f"unknown label {matcher.name!r} (labels: {', '.join(names)})")
        allowed = brand_ids if matcher.name == "brand" else SEVERITIES if matcher.name == "severity" else None
        if allowed is not None and matcher.op in ("=", "!=") and matcher.value not in allowed:
            raise ConfigError(at, f"{matcher.value!r} is not one of {', '.join(allowed)}")
    return matchers


def _matcher_list(value: Any, where: str, context: Mapping[str, Any]) -> tuple[Matcher, ...]:
    """Alertmanager's ``matchers``: a list of strings like ``severity="critical"``."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ConfigError(where, 'expected a list of matchers like \'severity="critical"\'')
    out: list[Matcher] = []
    paths: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise ConfigError(join(where, i), f"expected a matcher like 'brand=\"acme\"', got {item!r}")
        try:
            parsed = parse_matchers([item])
        except MatcherError as exc:
            raise ConfigError(join(where, i), str(exc)) from None
        out.extend(parsed)
        paths.extend([join(where, i)] * len(parsed))
    return check_matchers(tuple(out), where, context, paths)


_MOBILE = re.compile(r"^\+?[0-9]{5,20}$")
# Platform user ids: DingTalk userId, WeCom userid, Feishu open_id (ou_...),
# Slack member id (U...). They go inside markup (<@U123>, <at id=...>), so
# nothing that could close or open a tag.
_USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")


def _checked_list(pattern: re.Pattern[str], what: str) -> FieldParser:
    def parse(value: Any, where: str, context: Mapping[str, Any]) -> tuple[str, ...]:
        if value is None:
            return ()
        path, _, name = where.rpartition(".")
        items = get_str_list({name: [str(v) if isinstance(v, int) and not isinstance(v, bool) else v
                                     for v in (value if isinstance(value, list) else [value])]}, name, path)
        for i, item in enumerate(items):
            if not pattern.match(item):
                raise ConfigError(join(where, i), f"{item!r} is not {what}")
        return tuple(items)

    return parse


@dataclass(frozen=True)
class MentionConfig:
    """Whom a route's messages @ in the chat: DingTalk, WeCom, Feishu and
    Slack notify only the people a message names this way."""

    mobiles: tuple[str, ...] = option((), parse=_checked_list(_MOBILE, "a mobile number"),
                                      help="mobile numbers to @ (DingTalk; WeCom with msgtype: text)")
    users: tuple[str, ...] = option((), parse=_checked_list(_USER_ID, "a user id"),
                                    help="user ids to @: DingTalk userId, WeCom userid, Feishu open_id, Slack member id")
    all: bool = option(False, help="@ everyone in the group (Slack: @channel)")


def _route_mention(value: Any, where: str, context: Mapping[str, Any]) -> MentionConfig | None:
    if value is None:
        parent: Mapping[str, Any] | None = context.get("parent")
        return parent["mention"] if parent is not None else None
    return read_section(MentionConfig, value, where, context)


def _route_quiet_hours(value: Any, where: str, context: Mapping[str, Any]) -> QuietHours | None:
    if value is None:
        parent: Mapping[str, Any] | None = context.get("parent")
        return parent["quiet_hours"] if parent is not None else None
    return read_section(QuietHours, value, where, context)


def _receiver(value: Any, where: str, context: Mapping[str, Any]) -> str | None:
    if value is None:
        parent: Mapping[str, Any] | None = context.get("parent")
        return parent["receiver"] if parent is not None else None
    names: Sequence[str] = context.get("channel_names", ())
    receiver = get_str({"receiver": value}, "receiver", where.rpartition(".")[0])
    if receiver not in names:
        raise ConfigError(where, f"no channel named {receiver!r} (channels: {', '.join(names) or 'none'})")
    return receiver


def _match(value: Any, where: str, context: Mapping[str, Any]) -> tuple[Matcher, ...]:
    """The deprecated ``match: {label: value or [values]}`` (equal to any of them)."""
    if value is None:
        return ()
    if context.get("parent") is None:
        raise ConfigError(where, "the root route matches every alert; put match on a child route")
    data = section(value, where)
    names: Sequence[str] = context.get("label_names", ALERT_LABELS)
    unknown = [k for k in data if k not in names]
    if unknown:
        raise ConfigError(join(where, str(unknown[0])), f"unknown label (labels: {', '.join(names)})")
    brand_ids: Sequence[str] = context.get("brand_ids", ())
    out: list[Matcher] = []
    for name in data:
        values = get_str_list(data, name, where, required=True)
        allowed = brand_ids if name == "brand" else SEVERITIES if name == "severity" else None
        for i, item in enumerate(values):
            if allowed is not None and item not in allowed:
                raise ConfigError(join(join(where, name), i), f"{item!r} is not one of {', '.join(allowed)}")
        out.append(any_of(name, values))
    return tuple(out)


def _route_matchers(value: Any, where: str, context: Mapping[str, Any]) -> tuple[Matcher, ...]:
    if value is not None and context.get("parent") is None:
        raise ConfigError(where, "the root route matches every alert; put matchers on a child route")
    return _matcher_list(value, where, context)


def _interval_names(value: Any, where: str, context: Mapping[str, Any]) -> tuple[NamedTimeIntervals, ...]:
    """Route fields naming ``alerting.time_intervals``; like Alertmanager's,
    not inherited by child routes and not allowed on the root."""
    if value is None:
        return ()
    if context.get("parent") is None:
        raise ConfigError(where, "not allowed on the root route (as in Alertmanager): set it on a child route")
    path, _, name = where.rpartition(".")
    known: Mapping[str, NamedTimeIntervals] = context.get("time_intervals", {})
    out = []
    for i, item in enumerate(get_str_list({name: value}, name, path)):
        if item not in known:
            raise ConfigError(join(where, i), f"no time interval named {item!r} "
                                              f"(alerting.time_intervals: {', '.join(known) or 'none'})")
        out.append(known[item])
    return tuple(out)


def _continue(value: Any, where: str, context: Mapping[str, Any]) -> bool:
    if value is None:
        return False
    return get_bool({"continue": value}, "continue", where.rpartition(".")[0], False)


def _child_routes(value: Any, where: str, context: Mapping[str, Any]) -> tuple[RouteConfig, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(where, "expected a list of routes")
    inherited = {k: v for k, v in context.items() if k != "section"}
    inherited["parent"] = context["section"]
    return tuple(replace(read_section(RouteConfig, item, join(where, i), inherited), path=join(where, i))
                 for i, item in enumerate(value))


@dataclass(frozen=True)
class RouteConfig:
    """One node of the routing tree (Alertmanager's ``route``); children
    inherit the fields marked so unless they set their own."""

    receiver: str | None = option(None, parse=_receiver, shown_default="parent's",
                                  help="a channel name (inherited)")
    matchers: tuple[Matcher, ...] = option((), parse=_route_matchers,
                                           help='Alertmanager matchers, e.g. [\'severity="critical"\', \'brand=~"a|b"\']')
    match: tuple[Matcher, ...] = option((), parse=_match,
                                        help="deprecated: {label: value or [values]} (equal to any of them)")
    group_by: tuple[str, ...] = option(DEFAULT_GROUP_BY, parse=_group_by,
                                       help="labels that split groups, [] for one group, or \"...\" (inherited)")
    group_wait: float = option(DEFAULT_GROUP_WAIT, parse=_inherited("group_wait", DEFAULT_GROUP_WAIT, _duration(0.0)),
                               duration=True, help="wait before a new group's first message (inherited)")
    group_interval: float = option(DEFAULT_GROUP_INTERVAL, duration=True,
                                   parse=_inherited("group_interval", DEFAULT_GROUP_INTERVAL, _duration(0.01)),
                                   help="wait before telling a group's changes (inherited)")
    repeat_interval: float = option(DEFAULT_REPEAT_INTERVAL, duration=True,
                                    parse=_inherited("repeat_interval", DEFAULT_REPEAT_INTERVAL, _duration(0.01)),
                                    help="re-send a group still firing and unchanged (inherited)")
    continue_matching: bool = option(False, key="continue", parse=_continue,
                                     help="keep matching later siblings after this one matched")
    mute_time_intervals: tuple[NamedTimeIntervals, ...] = option((), parse=_interval_names,
                                                                 help="names of time_intervals in which it sends nothing")
    active_time_intervals: tuple[NamedTimeIntervals, ...] = option((), parse=_interval_names,
                                                                   help="names of time_intervals outside which it "
                                                                        "sends nothing")
    quiet_hours: QuietHours | None = option(None, parse=_route_quiet_hours,
                                            help="deprecated: hold matching severities in a daily window (inherited)")
    mention: MentionConfig | None = option(None, parse=_route_mention,
                                           help="whom its messages @: {mobiles, users, all} (inherited)")
    routes: tuple[RouteConfig, ...] = option((), parse=_child_routes, help="child routes")
    path: str = ""

    @property
    def all_matchers(self) -> tuple[Matcher, ...]:
        return self.match + self.matchers

def default_route(channel_names: Sequence[str], path: str) -> RouteConfig:
    """No routing tree: every alert goes to every channel, with Alertmanager's timings."""
    children = tuple(RouteConfig(receiver=name, continue_matching=True, path=f"{path.rpartition('.')[0]}.channels[{i}]")
                     for i, name in enumerate(channel_names))
    return RouteConfig(routes=children, path=path)


@dataclass(frozen=True)
class DeliveryConfig:
    retry_deadline: float = option(3600.0, duration=True,
                                   help="retrying longer than this since the first failure dead-letters the message")
    initial_backoff: float = option(1.0, duration=True, minimum=0.001, help="first pause between attempts")
    max_backoff: float = option(300.0, duration=True, minimum=0.001, help="longest pause between attempts")
    # Quick attempts inside the consumer before a message is parked in the
    # retry topic; parking frees the alerts partition for newer alerts.
    inline_attempts: int = option(3, minimum=1, maximum=20, help="quick attempts before parking in the retry topic")
    concurrency: int = option(1, minimum=1, maximum=64, help="parallel deliveries per channel")

    def check(self, path: str) -> None:
        if self.max_backoff < self.initial_backoff:
            raise ConfigError(join(path, "max_backoff"), f"must be >= initial_backoff ({self.initial_backoff:g}s)")


@dataclass(frozen=True)
class SilenceSettings:
    max_duration: float = option(30 * 86400.0, duration=True, minimum=60.0, help="longest silence `koubei silence add` accepts")


def _timezone(value: Any, where: str, context: Mapping[str, Any]) -> str:
    return DEFAULT_TIMEZONE if value is None else check_timezone(value, where)


def _channels(value: Any, where: str, context: Mapping[str, Any]) -> tuple[ChannelConfig, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(where, "expected a list of channels")
    channels: list[ChannelConfig] = []
    for i, item in enumerate(value):
        path = join(where, i)
        channel = parse_channel(item, path, context)
        if any(c.name == channel.name for c in channels):
            raise ConfigError(join(path, "name"), f"duplicate channel name {channel.name!r}")
        channels.append(channel)
    return tuple(channels)


def _root_route(value: Any, where: str, context: Mapping[str, Any]) -> RouteConfig | None:
    names = [c.name for c in context["section"]["channels"]]
    if value is None:
        return default_route(names, where) if names else None
    route_context = {k: v for k, v in context.items() if k != "section"}
    route_context.update(parent=None, channel_names=names, timezone=context["section"]["timezone"],
                         time_intervals=context["section"]["time_intervals"])
    return replace(read_section(RouteConfig, value, where, route_context), path=where)


def _time_intervals(value: Any, where: str, context: Mapping[str, Any]) -> Mapping[str, NamedTimeIntervals]:
    return parse_time_intervals(value, where, context["section"]["timezone"])


def _label_names(value: Any, where: str) -> tuple[str, ...]:
    return tuple(get_str_list({"equal": value}, "equal", where.rpartition(".")[0]))


def _equal(value: Any, where: str, context: Mapping[str, Any]) -> tuple[str, ...]:
    if value is None:
        return ()
    names = _label_names(value, where)
    known: Sequence[str] = context.get("label_names", ALERT_LABELS)
    for i, name in enumerate(names):
        if name not in known:
            raise ConfigError(join(where, i), f"unknown label {name!r} (labels: {', '.join(known)})")
    return names


def _required_matchers(value: Any, where: str, context: Mapping[str, Any]) -> tuple[Matcher, ...]:
    if value is None:
        raise ConfigError(where, 'required: a list of matchers like \'severity="critical"\'')
    return _matcher_list(value, where, context)


@dataclass(frozen=True)
class InhibitRuleConfig:
    source_matchers: tuple[Matcher, ...] = option((), parse=_required_matchers, required=True,
                                                  help="the alerts that, while firing, inhibit")
    target_matchers: tuple[Matcher, ...] = option((), parse=_required_matchers, required=True,
                                                  help="the alerts they inhibit")
    equal: tuple[str, ...] = option((), parse=_equal, help="labels that must have the same value on both")


def _inhibit_rules(value: Any, where: str, context: Mapping[str, Any]) -> tuple[InhibitRule, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(where, "expected a list of {source_matchers, target_matchers, equal}")
    inner = {k: v for k, v in context.items() if k != "section"}
    rules = []
    for i, item in enumerate(value):
        rule = read_section(InhibitRuleConfig, item, join(where, i), inner)
        rules.append(InhibitRule(rule.source_matchers, rule.target_matchers, rule.equal))
    return tuple(rules)


@dataclass(frozen=True)
class AlertingConfig:
    language: str | None = option(None, choices=("zh", "en"), shown_default="top-level language",
                                  help="language of messages")
    timezone: str = option(DEFAULT_TIMEZONE, parse=_timezone, help="times in messages, quiet hours")
    templates_dir: str | None = option(None, help="your own templates (docs/alerting.md)")
    grafana_url: str | None = option(None, allow_empty=True, shown_default="top-level grafana_url",
                                     help="the brand dashboard linked from messages")
    channels: tuple[ChannelConfig, ...] = option((), parse=_channels, help="where alerts go")
    time_intervals: Mapping[str, NamedTimeIntervals] = option({}, parse=_time_intervals,
                                                              help="named intervals routes mute in or are active in")
    inhibit_rules: tuple[InhibitRule, ...] = option((), parse=_inhibit_rules,
                                                    help="while a source alert fires, matching targets are not sent")
    route: RouteConfig | None = option(None, key="routes", parse=_root_route,
                                       help="the routing tree (default: every channel gets every alert)")
    delivery: DeliveryConfig = option(DeliveryConfig(), help="retries and concurrency")
    silences: SilenceSettings = option(SilenceSettings(), help="limits of `koubei silence add`")

    def channel(self, name: str) -> ChannelConfig:
        for ch in self.channels:
            if ch.name == name:
                return ch
        raise KeyError(name)


def check_brand_labels(brands: Sequence[Brand]) -> tuple[str, ...]:
    """Brand labels are matched, grouped on and sent to Alertmanager as labels:
    their names must be label names and must not shadow an alert's own."""
    names: list[str] = list(ALERT_LABELS)
    for i, brand in enumerate(brands):
        for name in brand.labels:
            where = f"brands[{i}].labels.{name}"
            if not LABEL_NAME.match(name):
                raise ConfigError(where, "a label name is letters, digits and '_', not starting with a digit")
            if name in RESERVED_LABELS:
                raise ConfigError(where, f"{name!r} is set by koubei itself (reserved: {', '.join(RESERVED_LABELS)})")
            if name not in names:
                names.append(name)
    return tuple(names)


def parse_alerting(raw: Any, path: str, brands: Sequence[Brand] | None, *,
                   environ: Mapping[str, str]) -> AlertingConfig:
    """Validate the ``alerting`` section; an absent section is valid (no channels)."""
    brand_ids = tuple(b.id for b in brands or ())
    label_names = check_brand_labels(brands or ())
    return read_section(AlertingConfig, raw, path, {"environ": environ, "brand_ids": brand_ids,
                                                    "label_names": label_names})
