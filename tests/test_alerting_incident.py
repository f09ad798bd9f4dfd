"""One incident per brand episode: the configuration that makes a brand's
signals one message (group_by, mentions, the console's links, templates per
channel), the pipeline telling a message what its channel already heard,
and the incident message itself on every channel."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "alerting"))
from alert_samples import T0, alert, config  # noqa: E402

from streams.settings import ConfigError  # noqa: E402

HOOK = {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/hook"}


def error_of(alerting: dict[str, Any], environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        config(alerting, environ=environ)
    return caught.value


# ---- configuration ----------------------------------------------------------

def test_a_route_names_whom_to_mention_and_children_inherit_it() -> None:
    route = config({"channels": [HOOK], "routes": {
        "receiver": "hook", "mention": {"mobiles": ["13800000000", 13900000000], "users": ["ou_3f2a", "U024BE7LH"]},
        "routes": [{"matchers": ['brand="acme"']}, {"matchers": ['brand="bolt"'], "mention": {"all": True}}]}}
    ).alerting.route
    assert route.mention is not None
    assert (route.mention.mobiles, route.mention.users, route.mention.all) == (
        ("13800000000", "13900000000"), ("ou_3f2a", "U024BE7LH"), False)
    assert route.routes[0].mention == route.mention
    assert route.routes[1].mention is not None and route.routes[1].mention.all and not route.routes[1].mention.users
    assert config({"channels": [HOOK]}).alerting.route.mention is None


@pytest.mark.parametrize(("mention", "field", "message"), [
    ({"mobiles": ["138 0000 0000"]}, "alerting.routes.mention.mobiles[0]", "not a mobile number"),
    ({"users": ["<!everyone>"]}, "alerting.routes.mention.users[0]", "not a user id"),
    ({"users": ["ok", "a b"]}, "alerting.routes.mention.users[1]", "not a user id"),
    ({"phones": ["1"]}, "alerting.routes.mention.phones", "unknown"),
])
def test_a_mention_that_could_not_notify_anyone_fails_at_start_up(mention: dict[str, Any], field: str,
                                                                   message: str) -> None:
    err = error_of({"channels": [HOOK], "routes": {"receiver": "hook", "mention": mention}})
    assert err.field == field and message in err.message


def test_console_url_and_the_action_key_are_read_once_for_the_notifier_and_the_console() -> None:
    acfg = config({"channels": [HOOK], "console_url": "http://127.0.0.1:8090/", "action_secret_env": "ACT"},
                  environ={"ACT": "k3y"}).alerting
    assert acfg.console_url == "http://127.0.0.1:8090/"
    assert acfg.action_secret is not None and acfg.action_secret.reveal() == "k3y"
    assert "k3y" not in repr(acfg)
    assert config({"channels": [HOOK]}).alerting.console_url is None


@pytest.mark.parametrize(("alerting", "environ", "field", "message"), [
    ({"console_url": "console.local"}, {}, "alerting.console_url", "not an http(s) URL"),
    ({"console_url": "http://x/?a=<b>"}, {}, "alerting.console_url", "not an http(s) URL"),
    ({"action_secret_env": "ACT"}, {}, "alerting.action_secret_env", "ACT is not set"),
    ({"action_secret_env": "s3cr3t value"}, {}, "alerting.action_secret_env", "NAME of an environment variable"),
])
def test_bad_console_settings_fail_with_the_field(alerting: dict[str, Any], environ: dict[str, str], field: str,
                                                  message: str) -> None:
    err = error_of({"channels": [HOOK], **alerting}, environ)
    assert err.field == field and message in err.message


def test_a_channel_s_templates_dir_must_be_a_folder(tmp_path: Path) -> None:
    ok = config({"channels": [{**HOOK, "templates_dir": str(tmp_path)}]}).alerting.channels[0]
    assert ok.templates_dir == str(tmp_path)
    err = error_of({"channels": [{**HOOK, "templates_dir": str(tmp_path / "missing")}]})
    assert err.field == "alerting.channels[0].templates_dir" and "not a folder" in err.message


def test_by_default_a_brand_s_signals_are_one_message_and_brands_are_not_mixed() -> None:
    from alerting.labels import Labeler
    from alerting.pipeline import Dispatcher
    from alerting.policy.dedup import DeliveryLog
    from alerting.policy.silences import SilenceStore

    acfg = config({"channels": [HOOK], "routes": {"receiver": "hook", "group_wait": "10s"}}).alerting
    dispatcher = Dispatcher(acfg, Labeler(), DeliveryLog(), SilenceStore())
    for event in (alert("acme"), alert("acme", signal="negative_volume"), alert("bolt")):
        dispatcher.accept(event, None, T0)
    jobs, _ = dispatcher.due(T0 + 10)
    notes = [dispatcher.materialize(job, T0 + 10)[0] for job in jobs]
    assert sorted(sorted(a.key for a in n.alerts) for n in notes if n is not None) == [
        ["acme:negative_share", "acme:negative_volume"], ["bolt:negative_share"]]


def test_a_message_knows_what_its_channel_already_heard_and_whom_its_route_mentions() -> None:
    from alerting.episode import episode_id
    from alerting.labels import Labeler
    from alerting.pipeline import Dispatcher
    from alerting.policy.dedup import DeliveryLog
    from alerting.policy.silences import SilenceStore

    acfg = config({"channels": [HOOK], "routes": {"receiver": "hook", "group_wait": "0s", "group_interval": "1s",
                                                  "mention": {"mobiles": ["13800000000"]}}}).alerting
    dispatcher = Dispatcher(acfg, Labeler(), DeliveryLog(), SilenceStore())

    def deliver(now: float) -> Any:
        [job], _ = dispatcher.due(now)
        note, _ = dispatcher.materialize(job, now)
        dispatcher.delivered(job, note, now)
        return note

    fired = alert("acme", peak_value=0.46)
    dispatcher.accept(fired, None, T0)
    first = deliver(T0)
    assert first.told == {} and first.mentions == {"mobiles": ["13800000000"], "users": [], "all": False}
    critical = alert("acme", severity="critical", sequence=2, value=0.61, peak_value=0.61)
    volume = alert("acme", signal="negative_volume")
    dispatcher.accept(critical, None, T0 + 60)
    dispatcher.accept(volume, None, T0 + 60)
    second = deliver(T0 + 60)
    assert {a.key for a in second.alerts} == {"acme:negative_share", "acme:negative_volume"}
    assert second.told == {episode_id(critical): {"sequence": 1, "current": False, "severity": "warning",
                                                  "peak_value": 0.46}}
    again = type(second).from_dict(second.to_dict())
    assert (again.told, again.mentions) == (second.told, second.mentions)
