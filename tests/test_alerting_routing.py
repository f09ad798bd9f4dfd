"""Alertmanager-compatible routing: matchers on any label (brand labels
included), nested routes with continue, inhibit_rules, time_intervals that
mute or make a route active, the same matchers for silences, and the old
``match:`` form still accepted."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "alerting"))
from alert_samples import BRANDS, T0, alert, config  # noqa: E402

from alerting.labels import Labeler  # noqa: E402
from alerting.matchers import MatcherError, parse_matcher, parse_matchers  # noqa: E402
from alerting.message import Notification  # noqa: E402
from alerting.pipeline import Dispatcher  # noqa: E402
from alerting.policy.dedup import DeliveryLog  # noqa: E402
from alerting.policy.routing import match_routes  # noqa: E402
from alerting.policy.silences import Silence, SilenceError, SilenceStore, new_silence  # noqa: E402
from alerting.policy.silences import parse_matchers as silence_matchers  # noqa: E402
from streams.models import AlertEvent  # noqa: E402
from streams.settings import ConfigError, load_yaml  # noqa: E402

LABELLED = [{**BRANDS[0], "labels": {"team": "east", "tier": "gold"}},
            {**BRANDS[1], "labels": {"team": "west"}}, BRANDS[2]]
CHANNELS = [{"name": n, "type": "webhook", "url": f"http://127.0.0.1:9/{n}"} for n in ("pr", "east-pr", "oncall")]
FRIDAY_NOON = T0  # 2025-11-21 12:40 in Shanghai, a Friday
SATURDAY = T0 + 86400


def acfg(alerting: dict[str, Any], brands: list[dict[str, Any]] | None = None) -> Any:
    return config({"channels": CHANNELS, **alerting}, brands=brands or LABELLED).alerting


class Flow:
    """Dispatcher with the brands' labels and a fake clock; every delivery succeeds."""

    def __init__(self, alerting: dict[str, Any], now: float = FRIDAY_NOON) -> None:
        cfg = config({"channels": CHANNELS, **alerting}, brands=LABELLED)
        self.silences = SilenceStore()
        self.dispatcher = Dispatcher(cfg.alerting, Labeler.of(cfg.brands), DeliveryLog(), self.silences)
        self.now = now
        self.sent: list[Notification] = []

    def push(self, event: AlertEvent) -> None:
        self.dispatcher.accept(event, None, self.now)

    def advance(self, seconds: float, step: float = 10.0) -> list[Notification]:
        out: list[Notification] = []
        end = self.now + seconds
        while self.now < end:
            self.now = min(end, self.now + step)
            jobs, _ = self.dispatcher.due(self.now)
            for job in jobs:
                note, _ = self.dispatcher.materialize(job, self.now)
                if note is None:
                    self.dispatcher.nothing_to_send(job, self.now)
                else:
                    self.dispatcher.delivered(job, note, self.now)
                    out.append(note)
        self.sent += out
        return out

    def told(self, channel: str) -> list[tuple[str, str, str]]:
        return [(a.brand, a.signal, a.severity) for n in self.sent if n.channel == channel for a in n.alerts]


def receivers(cfg: Any, event: AlertEvent) -> list[str | None]:
    return [r.receiver for r in match_routes(cfg.route, Labeler.of(
        config({}, brands=LABELLED).brands).labels(event))]


# ---- matchers -------------------------------------------------------------

@pytest.mark.parametrize(("text", "name", "op", "value"), [
    ('severity="critical"', "severity", "=", "critical"),
    ("severity = critical", "severity", "=", "critical"),
    ('brand!="acme"', "brand", "!=", "acme"),
    ('signal=~"negative_.*"', "signal", "=~", "negative_.*"),
    ('team!~"ea.*"', "team", "!~", "ea.*"),
    (r'team="a \"b\" \\ c"', "team", "=", 'a "b" \\ c'),
    ('team=""', "team", "=", ""),
])
def test_matchers_read_alertmanager_syntax(text: str, name: str, op: str, value: str) -> None:
    m = parse_matcher(text)
    assert (m.name, m.op, m.value) == (name, op, value)
    assert parse_matcher(str(m)) == m  # str() writes it back in the same syntax


def test_matcher_semantics_are_alertmanagers() -> None:
    labels = {"brand": "acme", "severity": "critical", "signal": "negative_share"}
    assert parse_matcher('signal=~"negative_.*"').matches(labels)
    assert not parse_matcher('signal=~"negative"').matches(labels)  # anchored: the whole value
    assert parse_matcher('team=""').matches(labels)  # an absent label is the empty value
    assert parse_matcher('team!~"east"').matches(labels)
    assert not parse_matcher("brand!=acme").matches(labels)
    both = parse_matchers(['{brand="acme", severity=~"crit.*"}'])
    assert len(both) == 2 and all(m.matches(labels) for m in both)


@pytest.mark.parametrize(("text", "message"), [
    ("brand", "bad matcher"), ('brand=~"("', "not a regular expression"), ('brand="acme', "unbalanced"),
    ('brand="a"b"', "unescaped quote"), ("9brand=x", "bad matcher"),
])
def test_bad_matchers_say_why(text: str, message: str) -> None:
    with pytest.raises(MatcherError, match=message):
        parse_matcher(text)


# ---- routes -------------------------------------------------------------------

def test_routes_match_any_label_with_every_operator_and_continue() -> None:
    cfg = acfg({"routes": {"receiver": "pr", "routes": [
        {"matchers": ['severity="critical"', 'signal=~"negative_.*"'], "receiver": "oncall", "continue": True},
        {"matchers": ["team=east"], "receiver": "east-pr", "routes": [
            {"matchers": ['signal!~"negative_.*"'], "receiver": "pr"}]},
    ]}})
    assert receivers(cfg, alert("acme", severity="critical")) == ["oncall", "east-pr"]
    assert receivers(cfg, alert("acme", signal="volume")) == ["pr"]  # east-pr's child took it
    assert receivers(cfg, alert("bolt", severity="critical", signal="volume")) == ["pr"]
    assert receivers(cfg, alert("bolt", severity="critical")) == ["oncall"]


def test_the_old_match_form_still_works_beside_matchers() -> None:
    cfg = acfg({"routes": {"receiver": "pr", "routes": [
        {"match": {"brand": ["acme", "bolt"], "tier": "gold"}, "receiver": "east-pr"}]}})
    assert receivers(cfg, alert("acme")) == ["east-pr"]
    assert receivers(cfg, alert("bolt")) == ["pr"]  # no tier label


def test_group_by_a_brand_label() -> None:
    flow = Flow({"routes": {"receiver": "pr", "group_by": ["team"], "group_wait": "10s"}})
    for brand in ("acme", "bolt", "cola"):
        flow.push(alert(brand))
    notes = flow.advance(20)
    assert sorted(n.group_labels["team"] for n in notes) == ["", "east", "west"]


def test_durations_take_alertmanager_syntax() -> None:
    route = acfg({"routes": {"receiver": "pr", "group_interval": "1h30m", "repeat_interval": "1y"}}).route
    assert (route.group_interval, route.repeat_interval) == (5400.0, 365 * 86400.0)


@pytest.mark.parametrize(("routes", "field", "message"), [
    ({"receiver": "pr", "routes": [{"matchers": ["colour=red"]}]}, "alerting.routes.routes[0].matchers[0]",
     "unknown label 'colour'"),
    ({"receiver": "pr", "routes": [{"matchers": ["brand!=zzz"]}]}, "alerting.routes.routes[0].matchers[0]",
     "not one of"),
    ({"receiver": "pr", "routes": [{"matchers": ["a", 'severity="critical"']}]},
     "alerting.routes.routes[0].matchers[0]", "bad matcher"),
    ({"receiver": "pr", "routes": [{"matchers": ['signal=~"(("']}]}, "alerting.routes.routes[0].matchers[0]",
     "regular expression"),
    ({"receiver": "pr", "matchers": ["brand=acme"]}, "alerting.routes.matchers", "root route"),
    ({"receiver": "pr", "routes": [{"match": {"colour": "red"}}]}, "alerting.routes.routes[0].match.colour",
     "unknown label"),
    ({"receiver": "pr", "group_by": ["colour"]}, "alerting.routes.group_by[0]", "must be one of"),
    ({"receiver": "pr", "mute_time_intervals": ["night"]}, "alerting.routes.mute_time_intervals", "root route"),
    ({"receiver": "pr", "routes": [{"mute_time_intervals": ["nope"]}]},
     "alerting.routes.routes[0].mute_time_intervals[0]", "no time interval named 'nope'"),
])
def test_routing_errors_name_the_field(routes: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        acfg({"routes": routes, "time_intervals": [{"name": "night", "time_intervals": [{"weekdays": ["sunday"]}]}]})
    assert info.value.field == field and message in info.value.message


@pytest.mark.parametrize(("labels", "field", "message"), [
    ({"severity": "x"}, "brands[0].labels.severity", "reserved"),
    ({"9lives": "x"}, "brands[0].labels.9lives", "label name"),
])
def test_brand_labels_must_be_label_names(labels: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        acfg({}, brands=[{**BRANDS[0], "labels": labels}])
    assert info.value.field == field and message in info.value.message


# ---- time intervals -----------------------------------------------------------

def intervals(*items: dict[str, Any]) -> Any:
    cfg = acfg({"time_intervals": [{"name": "t", "time_intervals": list(items)}]})
    return cfg.time_intervals["t"]


def at(text: str) -> float:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


def test_time_intervals_have_alertmanager_fields() -> None:
    office = intervals({"weekdays": ["monday:friday"], "times": [{"start_time": "09:00", "end_time": "18:00"}]})
    assert office.contains(at("2025-11-21 09:00")) and not office.contains(at("2025-11-21 18:00"))
    assert not office.contains(at("2025-11-22 12:00"))  # a Saturday
    month_end = intervals({"days_of_month": ["-3:-1"]})
    assert month_end.contains(at("2026-02-26 10:00")) and not month_end.contains(at("2026-02-25 10:00"))
    summer = intervals({"months": ["june:august"], "years": ["2026"]})
    assert summer.contains(at("2026-07-01 00:00")) and not summer.contains(at("2027-07-01 00:00"))
    utc = intervals({"times": [{"start_time": "00:00", "end_time": "01:00"}], "location": "UTC"})
    assert utc.contains(at("2025-11-21 08:30"))  # 00:30 UTC
    nights = intervals({"times": [{"start_time": "22:00", "end_time": "24:00"}]},
                       {"times": [{"start_time": "00:00", "end_time": "08:00"}]})
    assert nights.contains(at("2025-11-21 23:59")) and nights.contains(at("2025-11-22 07:59"))
    assert not nights.contains(at("2025-11-22 08:00"))


@pytest.mark.parametrize(("item", "field", "message"), [
    ({"times": [{"start_time": 1380, "end_time": "24:00"}]}, "times[0].start_time", "the number 1380"),
    ({"times": [{"start_time": "23:00", "end_time": "01:00"}]}, "times[0].end_time", "two ranges"),
    ({"times": [{"start_time": "24:00", "end_time": "24:00"}]}, "times[0].start_time", "not a time of day"),
    ({"weekdays": ["funday"]}, "weekdays[0]", "unknown weekday"),
    ({"weekdays": ["friday:monday"]}, "weekdays[0]", "ends before it starts"),
    ({"days_of_month": ["0"]}, "days_of_month[0]", "out of range"),
    ({"months": ["13"]}, "months[0]", "out of range"),
    ({"location": "Mars/Olympus"}, "location", "unknown time zone"),
    ({"hours": ["1"]}, "hours", "unknown field"),
])
def test_time_interval_errors_name_the_field(item: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        intervals(item)
    assert info.value.field == f"alerting.time_intervals[0].time_intervals[0].{field}"
    assert message in info.value.message


def test_an_unquoted_yaml_time_is_read_as_text() -> None:
    raw = load_yaml("time_intervals:\n  - name: night\n    time_intervals:\n"
                    "      - times: [{start_time: 23:00, end_time: 24:00}]\n")
    cfg = acfg(raw)
    assert cfg.time_intervals["night"].intervals[0].times == ((23 * 60, 24 * 60),)


def test_mute_time_intervals_mute_and_active_time_intervals_limit_a_route() -> None:
    flow = Flow({
        "time_intervals": [{"name": "weekend", "time_intervals": [{"weekdays": ["saturday", "sunday"]}]},
                           {"name": "office", "time_intervals": [{"weekdays": ["monday:friday"],
                                                                  "times": [{"start_time": "09:00",
                                                                             "end_time": "18:00"}]}]}],
        "routes": {"group_wait": "30s", "group_interval": "5m", "routes": [
            {"receiver": "pr", "mute_time_intervals": ["weekend"], "continue": True},
            {"receiver": "east-pr", "active_time_intervals": ["office"], "continue": True}]},
    }, now=at("2025-11-22 10:00"))  # Saturday
    flow.push(alert("acme"))
    flow.advance(3600)
    assert flow.told("pr") == [] and flow.told("east-pr") == []  # muted, inactive
    flow.advance(at("2025-11-24 09:10") - flow.now, step=60)  # to Monday morning, still firing
    first = {n.channel: n.created_at for n in reversed(flow.sent)}
    assert at("2025-11-24 00:00") <= first["pr"] < at("2025-11-24 00:10")  # the weekend's mute ended
    assert at("2025-11-24 09:00") <= first["east-pr"] < at("2025-11-24 09:10")  # office hours began


# ---- inhibition -----------------------------------------------------------------

INHIBIT = [{"source_matchers": ['severity="critical"', 'signal=~"negative_.*"'],
            "target_matchers": ['severity="warning"'], "equal": ["brand"]},
           {"source_matchers": ['severity="critical"', 'signal=~"negative_.*"'],
            "target_matchers": ['signal="volume"'], "equal": ["brand"]}]


def test_a_critical_negative_alert_inhibits_its_brands_warning_and_volume_alerts() -> None:
    flow = Flow({"inhibit_rules": INHIBIT, "routes": {"receiver": "pr", "group_by": ["..."], "group_wait": "10s",
                                                      "group_interval": "1m"}})
    flow.push(alert("acme", severity="critical"))
    flow.push(alert("acme", signal="negative_volume"))  # warning: inhibited
    flow.push(alert("acme", signal="volume", severity="critical"))  # volume: inhibited
    flow.push(alert("bolt", signal="negative_volume"))  # another brand: not
    flow.advance(60)
    assert sorted(flow.told("pr")) == [("acme", "negative_share", "critical"), ("bolt", "negative_volume", "warning")]
    # The critical resolves: the warning still firing is sent at its group's next check.
    flow.push(alert("acme", severity="critical", state="resolved", sequence=2))
    flow.advance(120)
    assert ("acme", "negative_volume", "warning") in flow.told("pr")
    assert ("acme", "volume", "critical") in flow.told("pr")


def test_an_alert_does_not_inhibit_itself() -> None:
    flow = Flow({"inhibit_rules": [{"source_matchers": ['signal=~".*"'], "target_matchers": ['signal=~".*"'],
                                    "equal": ["brand"]}], "routes": {"receiver": "pr", "group_wait": "10s"}})
    flow.push(alert("acme"))
    assert flow.advance(30) and flow.told("pr") == [("acme", "negative_share", "warning")]


@pytest.mark.parametrize(("rule", "field", "message"), [
    ({"target_matchers": ["severity=warning"]}, "alerting.inhibit_rules[0].source_matchers", "required"),
    ({**INHIBIT[0], "equal": ["colour"]}, "alerting.inhibit_rules[0].equal[0]", "unknown label"),
    ({**INHIBIT[0], "target_match": {"severity": "warning"}}, "alerting.inhibit_rules[0].target_match", "unknown"),
])
def test_inhibit_rule_errors_name_the_field(rule: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        acfg({"inhibit_rules": [rule]})
    assert info.value.field == field and message in info.value.message


# ---- silences use the same matchers -------------------------------------------

def test_silences_take_the_routes_matchers() -> None:
    labels = Labeler.of(config({}, brands=LABELLED).brands)
    matchers = silence_matchers(["team=east", 'signal!~"negative_.*"'], ("acme", "bolt", "cola"), labels.names())
    store = SilenceStore()
    store.apply(new_silence(matchers, T0, 3600, "east volume only", "me"))
    assert store.is_silenced(labels.labels(alert("acme", signal="volume")), T0 + 1)
    assert not store.is_silenced(labels.labels(alert("acme")), T0 + 1)
    assert not store.is_silenced(labels.labels(alert("bolt", signal="volume")), T0 + 1)
    # Several "=" values of one label still mean any of them.
    either = silence_matchers(["brand=acme", "brand=bolt"], ("acme", "bolt"))
    assert [str(m) for m in either] == ['brand=~"acme|bolt"']


def test_silence_records_keep_the_old_format_readable() -> None:
    silence = new_silence(silence_matchers(["brand=acme", 'severity!="critical"'], ("acme",)), T0, 60, "c", "me")
    data = silence.to_dict()
    assert data["matchers"] == {"brand": ["acme"]} and data["expressions"] == ['severity!="critical"']
    assert Silence.from_dict(data) == silence
    old = Silence.from_dict({"id": "x", "matchers": {"brand": ["acme", "bolt"]}, "starts_at": 0, "ends_at": 9e9})
    assert old.matches({"brand": "bolt"}) and not old.matches({"brand": "cola"})


def test_silence_matchers_are_checked_like_routes() -> None:
    with pytest.raises(SilenceError, match="unknown label 'tema'"):
        silence_matchers(["tema=east"], ("acme",), ("brand", "severity", "signal", "team"))
    with pytest.raises(SilenceError, match="not a configured brand"):
        silence_matchers(["brand!=zzz"], ("acme",))


# ---- an Alertmanager configuration, translated (docs/alerting.md) ---------------

def test_the_documented_alertmanager_translation_is_valid() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "alerting.md").read_text(encoding="utf-8")
    block = doc.split("<!-- alertmanager-example -->")[1].split("```yaml")[1].split("```")[0]
    raw = load_yaml(block)
    cfg = config(raw["alerting"], brands=LABELLED,
                 environ={"PR_DINGTALK_URL": "https://oapi.example/robot", "PAGERDUTY_ROUTING_KEY": "k"})
    flow_cfg = cfg.alerting
    assert [r.receiver for r in match_routes(flow_cfg.route, Labeler.of(cfg.brands).labels(
        alert("acme", severity="critical")))] == ["oncall", "pr-dingtalk"]
    assert flow_cfg.inhibit_rules and "night" in flow_cfg.time_intervals
