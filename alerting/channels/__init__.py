"""One module per platform; each only knows how to render and send.

Whether to send, when, and how often to retry is decided by the stages in
alerting/pipeline.py (like Alertmanager's receivers). ``CHANNEL_TYPES`` is
the one registry of channel types: configuration parsing reads each type's
options and platform defaults from it, and ``make_channel`` builds from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from alerting.channels.alertmanager import Alertmanager
from alerting.channels.base import Channel, ChannelConfig, ChannelOptions, HttpRequest, Outcome, SendResult
from alerting.channels.dingtalk import DingTalk
from alerting.channels.feishu import Feishu
from alerting.channels.pagerduty import PagerDuty
from alerting.channels.slack import Slack
from alerting.channels.webhook import Webhook
from alerting.channels.wecom import WeCom
from alerting.render import Renderer
from streams.settings import ConfigError, join, read_section, section, yaml_keys

CHANNEL_TYPES: Mapping[str, type[Channel[Any]]] = {
    kind.type: kind for kind in (DingTalk, WeCom, Feishu, Slack, PagerDuty, Alertmanager, Webhook)
}
_COMMON_KEYS = yaml_keys(ChannelConfig)


def parse_channel(raw: Any, path: str, context: Mapping[str, Any]) -> ChannelConfig:
    """Validate one entry of ``alerting.channels``: the common fields, then
    the options of its ``type``. A field that belongs to another type says
    which types take it."""
    data = section(raw, path)
    kind = CHANNEL_TYPES.get(data.get("type")) if isinstance(data.get("type"), str) else None
    if kind is None:
        raise ConfigError(join(path, "type"), f"must be one of {', '.join(CHANNEL_TYPES)}; got {data.get('type')!r}")
    own_keys = yaml_keys(kind.options_class)
    for key in data:
        if key in _COMMON_KEYS or key in own_keys:
            continue
        owners = [name for name, other in CHANNEL_TYPES.items() if key in yaml_keys(other.options_class)]
        if owners:
            raise ConfigError(join(path, str(key)), f"only valid for type {' or '.join(owners)}")
        allowed = ", ".join(sorted(_COMMON_KEYS + own_keys))
        raise ConfigError(join(path, str(key)), f"unknown field (allowed: {allowed})")
    typed = {**context, "channel_type": kind}
    common = read_section(ChannelConfig, {k: v for k, v in data.items() if k in _COMMON_KEYS}, path, typed)
    options = read_section(kind.options_class, {k: v for k, v in data.items() if k in own_keys}, path, typed)
    return replace(common, options=options)


def make_channel(config: ChannelConfig, renderer: Renderer) -> Channel[Any]:
    return CHANNEL_TYPES[config.type](config, renderer)


__all__ = ["CHANNEL_TYPES", "Channel", "ChannelConfig", "ChannelOptions", "HttpRequest", "Outcome", "SendResult",
           "make_channel", "parse_channel"]
