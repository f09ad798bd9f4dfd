"""The alerting section: strict, errors name the field, secrets never shown."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "alerting"))
from alert_samples import config  # noqa: E402

from alerting.config import DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT, DEFAULT_REPEAT_INTERVAL  # noqa: E402
from alerting.notifier import make_renderer  # noqa: E402
from streams.settings import ConfigError  # noqa: E402

HOOK = {"name": "hook", "type": "webhook", "url": "https://example.com/hook"}


def error_of(alerting: dict[str, Any], environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config(alerting, environ=environ)
    return info.value


def test_absent_section_is_valid() -> None:
    acfg = config(None).alerting
    assert acfg.channels == () and acfg.route is None


def test_timings_default_to_alertmanager_s_and_a_brand_is_one_group() -> None:
    route = config({"channels": [HOOK], "routes": {"receiver": "hook"}}).alerting.route
    assert (route.group_wait, route.group_interval, route.repeat_interval) == (
        DEFAULT_GROUP_WAIT, DEFAULT_GROUP_INTERVAL, DEFAULT_REPEAT_INTERVAL) == (30.0, 300.0, 14400.0)
    # Unlike Alertmanager (one group for everything): one message per brand incident.
    assert route.group_by == ("brand",)
    assert [c.group_by for c in config({"channels": [HOOK]}).alerting.route.routes] == [("brand",)]
    explicit = config({"channels": [HOOK], "routes": {"receiver": "hook", "group_by": [],
                                                      "routes": [{"receiver": "hook"}]}}).alerting.route
    assert explicit.group_by == explicit.routes[0].group_by == ()


def test_children_inherit_and_override_timings() -> None:
    route = config({"channels": [HOOK], "routes": {
        "receiver": "hook", "group_wait": "1s", "group_by": ["brand"],
        "routes": [{"match": {"severity": "critical"}, "group_wait": "0s"}]}}).alerting.route
    child = route.routes[0]
    assert (child.receiver, child.group_wait, child.group_by, child.group_interval) == ("hook", 0.0, ("brand",), 300.0)


@pytest.mark.parametrize(("alerting", "field", "message"), [
    ({"channels": [HOOK, {"name": "x", "type": "webhook", "url": "ftp://nope"}]}, "alerting.channels[1].url",
     "not an http"),
    ({"channels": [{"name": "x", "type": "telegram", "url": "https://t"}]}, "alerting.channels[0].type", "one of"),
    ({"channels": [{**HOOK, "colour": "red"}]}, "alerting.channels[0].colour", "unknown field"),
    ({"channels": [HOOK, HOOK]}, "alerting.channels[1].name", "duplicate"),
    ({"channels": [{**HOOK, "mention_mobiles": ["1"]}]}, "alerting.channels[0].mention_mobiles", "only valid"),
    ({"channels": [HOOK], "routes": {"receiver": "nobody"}}, "alerting.routes.receiver", "no channel named"),
    ({"channels": [HOOK], "routes": {"receiver": "hook", "routes": [{"match": {"brand": "zzz"}}]}},
     "alerting.routes.routes[0].match.brand[0]", "not one of"),
    ({"channels": [HOOK], "routes": {"receiver": "hook", "routes": [{"match": {"severity": "high"}}]}},
     "alerting.routes.routes[0].match.severity[0]", "not one of"),
    ({"channels": [HOOK], "routes": {"receiver": "hook", "group_wait": "soon"}}, "alerting.routes.group_wait",
     "duration"),
    ({"channels": [HOOK], "routes": {"receiver": "hook", "quiet_hours": {"start": "25:00", "end": "08:00"}}},
     "alerting.routes.quiet_hours.start", "local time"),
    ({"channels": [HOOK], "routes": {"match": {"brand": "acme"}}}, "alerting.routes.match", "root route"),
    ({"timezone": "Mars/Olympus"}, "alerting.timezone", "unknown time zone"),
    ({"delivery": {"initial_backoff": "10s", "max_backoff": "1s"}}, "alerting.delivery.max_backoff", ">="),
    ({"channels": [{"name": "pd", "type": "pagerduty"}]}, "alerting.channels[0].routing_key_env", "required"),
])
def test_errors_name_the_field(alerting: dict[str, Any], field: str, message: str) -> None:
    err = error_of(alerting)
    assert err.field == field and message in err.message


def test_secrets_come_from_the_environment_and_are_never_shown() -> None:
    spec = {"name": "ding", "type": "dingtalk", "url_env": "DING_URL", "secret_env": "DING_SECRET"}
    env = {"DING_URL": "https://oapi.dingtalk.com/robot/send?access_token=SECRET-TOKEN", "DING_SECRET": "SEC123"}
    ch = config({"channels": [spec]}, environ=env).alerting.channels[0]
    assert ch.options.secret.reveal() == "SEC123" and ch.url.reveal().endswith("SECRET-TOKEN")
    assert "SEC123" not in repr(ch) and "SECRET-TOKEN" not in repr(ch)
    assert "SEC123" not in str(ch) and "$DING_SECRET" in repr(ch)  # a log line names where it came from
    bad = error_of({"channels": [spec]}, environ={"DING_URL": "not-a-url SECRET-TOKEN", "DING_SECRET": "x"})
    assert bad.field == "alerting.channels[0].url_env" and "SECRET-TOKEN" not in str(bad)
    missing = error_of({"channels": [spec]}, environ={})
    assert "DING_URL is not set" in missing.message
    inline = error_of({"channels": [{**spec, "secret_env": "SEC-abc/123"}]}, environ=env)
    assert "NAME of an environment variable" in inline.message


def test_default_rates_follow_the_platforms() -> None:
    chans = config({"channels": [
        {"name": "d", "type": "dingtalk", "url": "https://d"}, {"name": "f", "type": "feishu", "url": "https://f"},
        {"name": "s", "type": "slack", "url": "https://s"},
        {"name": "p", "type": "pagerduty", "routing_key_env": "K", "rate_per_minute": 60}]},
        environ={"K": "k"}).alerting.channels
    assert [(round(c.rate_per_second * 60), c.burst) for c in chans] == [(20, 20), (300, 5), (60, 1), (60, 120)]


def test_language_and_grafana_come_from_the_top_level_unless_overridden() -> None:
    cfg = config({}, language="en", grafana_url="https://g/d/1")
    renderer = make_renderer(cfg, cfg.alerting)
    assert renderer.language == "en" and renderer.grafana_url == "https://g/d/1"
    cfg = config({"language": "zh", "grafana_url": "https://other"}, language="en")
    assert make_renderer(cfg, cfg.alerting).language == "zh" and make_renderer(cfg, cfg.alerting).grafana_url == "https://other"


def test_channels_without_routes_receive_everything() -> None:
    acfg = config({"channels": [HOOK, {**HOOK, "name": "hook2"}]}).alerting
    assert [r.receiver for r in acfg.route.routes] == ["hook", "hook2"]


def test_one_registry_gives_each_type_its_own_options_and_defaults() -> None:
    from alerting.channels import CHANNEL_TYPES, make_channel

    specs = [{"name": kind, "type": kind, "url": "https://example.com/x"} for kind in CHANNEL_TYPES]
    specs[[s["type"] for s in specs].index("pagerduty")] = {"name": "pagerduty", "type": "pagerduty",
                                                             "routing_key_env": "PD"}
    cfg = config({"channels": specs}, environ={"PD": "key"})
    for channel in cfg.alerting.channels:
        kind = CHANNEL_TYPES[channel.type]
        assert isinstance(channel.options, kind.options_class)
        assert (channel.rate_per_minute, channel.burst) == (kind.default_rate_per_minute, kind.default_burst)
        assert type(make_channel(channel, make_renderer(cfg, cfg.alerting))) is kind
    assert cfg.alerting.channel("pagerduty").url.reveal() == "https://events.pagerduty.com/v2/enqueue"


def test_a_field_of_another_type_names_the_types_that_take_it() -> None:
    err = error_of({"channels": [{**HOOK, "resend_interval": "1m"}]})
    assert err.field == "alerting.channels[0].resend_interval" and err.message == "only valid for type alertmanager"
    err = error_of({"channels": [{**HOOK, "type": "slack", "secret_env": "S"}]}, environ={"S": "x"})
    assert err.message == "only valid for type dingtalk or feishu or webhook"


def test_a_named_secret_that_is_not_set_fails_naming_the_variable() -> None:
    err = error_of({"channels": [{**HOOK, "secret_env": "HOOK_SECRET"}]}, environ={})
    assert err.field == "alerting.channels[0].secret_env" and "HOOK_SECRET is not set" in err.message


def test_docs_list_every_channel_field() -> None:
    from alerting.channels import CHANNEL_TYPES, ChannelConfig
    from streams.settings import yaml_keys

    doc = (Path(__file__).resolve().parent.parent / "docs" / "alerting.md").read_text(encoding="utf-8")
    keys = set(yaml_keys(ChannelConfig)).union(*(yaml_keys(k.options_class) for k in CHANNEL_TYPES.values()))
    assert [k for k in sorted(keys) if f"`{k}`" not in doc] == []
