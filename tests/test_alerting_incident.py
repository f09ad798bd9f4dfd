"""One incident per brand episode: the configuration that makes a brand's
signals one message (group_by, mentions, the console's links, templates per
channel), the pipeline telling a message what its channel already heard,
and the incident message itself on every channel."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "alerting"))
from alert_samples import T0, alert, config  # noqa: E402
from alert_samples import config_error as error_of  # noqa: E402

HOOK = {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/hook"}


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


def test_the_console_section_gives_the_messages_their_incident_and_signed_action_links() -> None:
    # Declared once, in the console section: the console verifies with the key the notifier signs with.
    from alerting.console.config import ConsoleConfig
    from alerting.console.links import link_provider
    from alerting.render.incident import IncidentRef
    from streams.settings import read_section

    console = read_section(ConsoleConfig, {"public_url": "http://127.0.0.1:8090/", "link_secret_env": "ACT"},
                           "console", {"environ": {"ACT": "k3y"}})
    links = link_provider(console, clock=lambda: 1_772_409_600.0)(IncidentRef("acme", 1_772_409_000.0, ()))
    assert links.incident.startswith("http://127.0.0.1:8090/") and "acme" in links.incident
    assert links.silence_1h and links.acknowledge and "k3y" not in links.silence_1h + repr(console)
    bare = read_section(ConsoleConfig, {}, "console", {"environ": {}})
    assert link_provider(bare)(IncidentRef("acme", 1_772_409_000.0, ())).incident == ""


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


# ---- the incident message ------------------------------------------------------

def _renderer(language: str = "zh", links: Any = None) -> Any:
    from alerting.render import Renderer

    return Renderer(language, grafana_url="https://grafana.example/d/koubei", links=links)


def _links(ref: Any) -> Any:
    from alerting.render.incident import IncidentLinks

    page = f"http://127.0.0.1:8090/incidents/{ref.brand}-{int(ref.started_at)}"
    return IncidentLinks(page, page + "/silence?h=1&sig=ab12", page + "/ack?sig=cd34")


def _note(alerts: list[Any], **extra: Any) -> Any:
    from alerting.message import Notification

    return Notification("c", "g", {}, alerts, extra.pop("kind", "new"), T0, **extra)


def incident_notes() -> dict[str, Any]:
    from alert_samples import crisis_firing, crisis_resolved, crisis_update

    alerts, told = crisis_update()
    return {"firing": _note(crisis_firing(), mentions={"mobiles": ["13800000000"], "users": ["U024BE7LH"]}),
            "update": _note(alerts, told=told), "resolved": _note(crisis_resolved())}


DURATION = re.compile(r"\d+ ?(?:小时|分钟|h|m)(?:\d+(?:分钟|m))?(?![a-z])")
CLOCK = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}|\b\d{2}:\d{2}\b")
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?%?")
URL = re.compile(r"https?://[^\s)>|\"]+")


def human_texts(kind: str, requests: list[Any]) -> list[str]:
    """What a person reads on the platform, one text per message they see."""
    out = []
    for request in requests:
        body = request.json()
        if kind == "dingtalk":
            out.append(body["markdown"]["text"])
        elif kind == "wecom":
            out.append(body["markdown"]["content"] if "markdown" in body else body["text"]["content"])
        elif kind == "feishu":
            card = body["card"]
            parts = [card["header"]["title"]["content"]]
            for element in card["elements"]:
                if element["tag"] == "div":
                    parts.append(element["text"]["content"])
                else:
                    parts += [f"{a['text']['content']} {a['url']}" for a in element["actions"]]
            out.append("\n".join(parts))
        elif kind == "slack":
            out.append("\n".join(b["text"]["text"] for b in body["blocks"] if "text" in b))
        elif kind == "pagerduty":
            if body["event_action"] == "trigger":
                out.append(body["payload"]["summary"] + "\n" + body["payload"]["custom_details"]["message"])
        elif kind == "alertmanager":
            out += [a["annotations"]["summary"] + "\n" + a["annotations"]["description"] for a in body]
        else:
            out.append(body["text"])
    return out


def repeated(text: str, posts: list[dict[str, Any]]) -> list[str]:
    """Posts and numbers that appear more than once in one message."""
    problems = []
    links = [u for u in URL.findall(text) if "weibo.example" in u]
    problems += [f"post link {u}" for u in set(links) if links.count(u) > 1]
    text = URL.sub(" ", text)
    for post in posts:
        excerpt, author = post["excerpt"], post["author"]
        for size in range(len(excerpt), 9, -1):  # the excerpt as shown, maybe cut short
            if excerpt[:size] in text:
                if text.count(excerpt[:size]) > 1:
                    problems.append(f"post {excerpt[:size]}")
                text = text.replace(excerpt[:size], " ")
                break
        text = text.replace(author, " ")
    # Window lengths, times and the "silence 1 h" link name are labels, not facts.
    text = CLOCK.sub(" ", DURATION.sub(" ", text.replace("静默 1 小时", "").replace("Silence 1 h", "")))
    numbers = NUMBER.findall(text)
    problems += [f"number {n}" for n in set(numbers) if numbers.count(n) > 1]
    return problems


CHANNEL_KINDS = [("dingtalk", {}), ("wecom", {}), ("wecom", {"msgtype": "text"}), ("feishu", {}), ("slack", {}),
                 ("pagerduty", {}), ("alertmanager", {}), ("webhook", {})]


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize(("kind", "extra"), CHANNEL_KINDS)
def test_no_post_or_number_appears_twice_in_one_message_on_any_channel(kind: str, extra: dict[str, Any],
                                                                       language: str) -> None:
    from alert_samples import crisis_posts

    from alerting.channels import make_channel

    spec = {"name": "c", "type": kind, **extra, **({"routing_key_env": "PD"} if kind == "pagerduty"
                                                    else {"url": "http://127.0.0.1:9/hook"})}
    cfg = config({"channels": [spec]}, environ={"PD": "key"}, language=language)
    renderer = _renderer(language, _links)
    channel = make_channel(cfg.alerting.channels[0], renderer)
    for case, note in incident_notes().items():
        texts = human_texts(kind, channel.build(note, T0))
        assert texts or (kind, case) == ("pagerduty", "resolved"), case  # PagerDuty's resolve carries no text
        for text in texts:
            assert repeated(text, crisis_posts()) == [], (case, text)


def test_the_check_finds_what_the_old_messages_repeated() -> None:
    """The same check on a message that repeats (one section per signal, as before incidents)."""
    from alert_samples import crisis_posts

    text = "\n".join(f"- 负面占比：**71.8%**（基线 23.5%）\n> {p['author']}（粉丝 {p['followers']:,}）：{p['excerpt']} "
                     f"[查看]({p['url']})" for p in crisis_posts()[:2]) * 2
    assert {"number 71.8%", "number 23.5%", "number 5,104,377"} <= set(repeated(text, crisis_posts()))
    assert any(p.startswith("post link") for p in repeated(text, crisis_posts()))


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_summary_labels_the_share_it_ended_at_and_never_shows_an_empty_window(language: str) -> None:
    from alert_samples import crisis_resolved

    [_, risk] = crisis_resolved()
    text = _renderer(language).render(_note(crisis_resolved())).text()
    assert "0.0%" not in text
    assert {"zh": "结束时负面占比：26.2%（近 15分钟，基线 23.5%）",
            "en": "Negative share at the end: 26.2% (last 15m, baseline 23.5%)"}[language] in text
    # Only the signal whose last window had no posts: no share line at all.
    alone = _renderer(language).render(_note([risk])).text()
    assert "0.0%" not in alone and ("结束时负面占比" not in alone and "at the end" not in alone)


def test_a_signal_that_resolves_while_others_fire_is_an_update_without_a_share_of_nothing() -> None:
    from alert_samples import crisis_alert

    from alerting.episode import episode_id

    share = crisis_alert("negative_share", state="resolved", sequence=3, negative_share=0.0, total=0, peak_value=0.83)
    volume = crisis_alert("negative_volume")
    told = {episode_id(a): {"sequence": 2, "current": a is volume, "severity": "critical", "peak_value": 0.8}
            for a in (share, volume)}
    rendered = _renderer().render(_note([volume, share], told=told))
    [incident] = rendered.incidents
    assert incident.incident.kind == "update"
    assert rendered.title == "【更新·严重】晨光乳业 · 负面占比上升已恢复"
    text = rendered.text()
    assert "- 负面占比上升：峰值 **83.0%**（近 5分钟，严重）" in text and "- 仍在告警：负面声量激增" in text
    assert "0.0%" not in text and "28 条负面帖子" not in text  # nothing changed there: not repeated


def test_an_incident_the_channel_knows_is_only_named_when_another_brand_has_news() -> None:
    from alert_samples import crisis_firing

    from alerting.episode import episode_id

    known = crisis_firing()
    told = {episode_id(a): {"sequence": 1, "current": True, "severity": "critical", "peak_value": a.peak_value}
            for a in known}
    rendered = _renderer().render(_note([*known, alert("acme", severity="critical")], told=told))
    assert [r.incident.kind for r in rendered.incidents] == ["new", "unchanged"]
    assert rendered.title.startswith("【严重】口碑事件 2 个（进行中 2，已恢复 0）")
    text = rendered.text()
    assert "**【持续中·严重】晨光乳业 · 负面舆情**" in text and "育儿百科" not in text


def test_a_reminder_repeats_the_incident_under_its_own_title() -> None:
    from alert_samples import crisis_firing

    rendered = _renderer().render(_note(crisis_firing(), kind="repeat"))
    assert rendered.title == "【持续中·严重】晨光乳业 · 负面舆情" and "**为什么告警**" in rendered.text()


def test_an_incident_missed_in_an_outage_is_summarised_with_each_signal_s_story() -> None:
    from alert_samples import ENDED, STARTED, crisis_resolved

    from alerting.episode import episode_id

    volume, risk = crisis_resolved()
    timelines = {episode_id(a): [{"kind": "fired", "at": STARTED, "severity": "warning", "sequence": 1},
                                 {"kind": "resolved", "at": ENDED, "severity": "critical", "sequence": 2}]
                 for a in (volume, risk)}
    rendered = _renderer().render(_note([volume, risk], timelines=timelines))
    assert rendered.title == "【已恢复·补发】晨光乳业 · 负面舆情"
    text = rendered.text()
    assert "经过（负面声量激增）：12:08 触发（警告） → 14:40 恢复" in text
    assert "经过（风险词激增）：12:08 触发（警告） → 14:40 恢复" in text


def test_links_come_from_the_provider_and_a_failing_one_costs_the_links_not_the_message() -> None:
    from alert_samples import crisis_firing

    from alerting.render.incident import IncidentLinks

    seen: list[Any] = []

    def provider(ref: Any) -> IncidentLinks:
        seen.append(ref)
        return _links(ref)

    text = _renderer(links=provider).render(_note(crisis_firing())).text()
    [ref] = seen
    assert ref.brand == "chenguang" and len(ref.alerts) == 4 and ref.started_at == min(a.started_at for a in ref.alerts)
    assert "[静默 1 小时](http://127.0.0.1:8090/incidents/chenguang-" in text

    def broken(ref: Any) -> IncidentLinks:
        raise RuntimeError("console down")

    def hostile(ref: Any) -> IncidentLinks:
        return IncidentLinks("javascript:alert(1)", "http://x/a b", "")

    for bad in (broken, hostile):
        text = _renderer(links=bad).render(_note(crisis_firing())).text()
        assert "查看事件详情" not in text and "静默" not in text and "**为什么告警**" in text


@pytest.mark.parametrize(("kind", "extra"), [("dingtalk", {}), ("wecom", {}), ("wecom", {"msgtype": "text"}),
                                             ("feishu", {}), ("slack", {})])
def test_the_route_s_people_are_mentioned_the_way_each_platform_notifies_them(kind: str, extra: dict[str, Any]) -> None:
    from alert_samples import crisis_firing

    from alerting.channels import make_channel

    cfg = config({"channels": [{"name": "c", "type": kind, "url": "http://127.0.0.1:9/hook", **extra}]})
    channel = make_channel(cfg.alerting.channels[0], _renderer())
    note = _note(crisis_firing(), mentions={"mobiles": ["13800000000"], "users": ["U024BE7LH"], "all": True})
    [request] = channel.build(note, T0)
    body = request.json()
    raw = request.body.decode()
    if kind == "dingtalk":
        assert body["at"] == {"atMobiles": ["13800000000"], "atUserIds": ["U024BE7LH"], "isAtAll": True}
        assert "@13800000000 @U024BE7LH" in body["markdown"]["text"]
    elif kind == "wecom" and extra:
        assert body["text"]["mentioned_list"] == ["U024BE7LH"]
        assert body["text"]["mentioned_mobile_list"] == ["13800000000", "@all"]
    elif kind == "wecom":
        assert body["markdown"]["content"].endswith("<@U024BE7LH>")  # markdown cannot @ a mobile
    elif kind == "feishu":
        assert "<at id=U024BE7LH></at><at id=all></at>" in raw
    else:
        assert body["blocks"][-1]["text"]["text"] == "<@U024BE7LH> <!channel>"


def test_machines_get_the_incident_as_data() -> None:
    from alert_samples import crisis_firing

    from alerting.channels import make_channel

    cfg = config({"channels": [{"name": "w", "type": "webhook", "url": "http://127.0.0.1:9/w"},
                               {"name": "p", "type": "pagerduty", "routing_key_env": "PD"},
                               {"name": "a", "type": "alertmanager", "url": "http://127.0.0.1:9/am"}]},
                 environ={"PD": "key"})
    webhook, pagerduty, alertmanager = (make_channel(c, _renderer(links=_links)) for c in cfg.alerting.channels)
    note = _note(crisis_firing())
    [incident] = webhook.build(note, T0)[0].json()["incidents"]
    assert incident["kind"] == "new" and incident["severity"] == "critical"
    assert [s["signal"] for s in incident["signals"]] == ["risk_terms", "negative_volume", "negative_share", "kol"]
    assert incident["signals"][2] == {"signal": "negative_share", "label": "负面占比上升", "state": "firing",
                                      "severity": "critical", "value": 0.718, "expected": 0.235, "unit": "",
                                      "window_seconds": 300.0, "z": 6.7, "peak": 0.718, "started_at": T0 - 1920,
                                      "new": True}
    assert [(s["posts"], s["reposts"]) for s in incident["stories"]] == [(38, 898), (18, 3948), (9, 1320)]
    assert incident["kols"][0] == {"author": "育儿百科", "followers": 5104377.0, "verified": True, "kol_signal": True}
    assert set(incident["links"]) == {"incident", "silence_1h", "acknowledge", "dashboard"}
    assert incident["totals"] == {"negative_posts": 212, "posts": 301, "stories": 57, "more_stories": False}
    details = pagerduty.build(note, T0)[0].json()["payload"]["custom_details"]
    assert details["signals"] == incident["signals"] and details["stories"] == incident["stories"]
    assert details["kols"] == incident["kols"] and details["links"] == incident["links"]
    annotations = alertmanager.build(note, T0)[0].json()[0]["annotations"]
    assert annotations["incident_url"] == incident["links"]["incident"]
    assert annotations["summary"] == "【严重】晨光乳业 · 负面舆情" and "为什么告警" in annotations["description"]
