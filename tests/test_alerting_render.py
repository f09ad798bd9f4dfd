"""Golden files of what each platform receives, in Chinese and English,
including truncation at each platform's size limit.

Regenerate after an intended change with KOUBEI_REGEN_GOLDEN=1 and review
the diff of tests/alerting/golden/ like code.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "alerting"))
from alert_samples import (  # noqa: E402
    ENDED,
    T0,
    alert,
    config,
    crisis_alert,
    crisis_firing,
    crisis_posts,
    crisis_resolved,
    crisis_update,
)

from alerting.channels import make_channel  # noqa: E402
from alerting.episode import episode_id  # noqa: E402
from alerting.message import Notification  # noqa: E402
from alerting.notifier import make_renderer  # noqa: E402
from alerting.render import Renderer, TemplateError, cut_bytes, fit_sections, sparkline  # noqa: E402
from alerting.render.incident import IncidentLinks, IncidentRef  # noqa: E402

GOLDEN = Path(__file__).parent / "alerting" / "golden"
KINDS = ("dingtalk", "wecom", "feishu", "slack", "pagerduty", "alertmanager", "webhook")
# Body limits the platforms document (docs/alerting.md).
BODY_LIMITS = {"dingtalk": 20_000, "feishu": 20_000}
CONSOLE = "http://127.0.0.1:8090"


def console_links(ref: IncidentRef) -> IncidentLinks:
    """Stands in for the console's incident_url / signed_action_url."""
    incident = f"{ref.brand}-{int(ref.started_at)}"
    return IncidentLinks(f"{CONSOLE}/incidents/{incident}", f"{CONSOLE}/act?do=silence-1h&i={incident}&sig=3f2a",
                         f"{CONSOLE}/act?do=ack&i={incident}&sig=9c1e")


def channel(kind: str, language: str, links: bool = True, **extra: Any) -> Any:
    spec: dict[str, Any] = {"name": kind, "type": kind, "url": "http://127.0.0.1:9/hook", **extra}
    env = {"PD_KEY": "routing-key"}
    if kind == "pagerduty":
        spec = {"name": kind, "type": kind, "routing_key_env": "PD_KEY"}
    cfg = config({"channels": [spec]}, environ=env, language=language, grafana_url="https://grafana.example/d/koubei")
    renderer = make_renderer(cfg, cfg.alerting)
    renderer.links = console_links if links else None
    return make_channel(cfg.alerting.channels[0], renderer)


ON_DUTY = {"mobiles": ["13800000000"], "users": ["ou_7d8a6e"], "all": False}


def case_note(case: str) -> Notification:
    if case == "firing":
        return Notification("c", "alerting.routes|c|brand=chenguang", {"brand": "chenguang"}, crisis_firing(), "new",
                            T0, mentions=ON_DUTY)
    if case == "update":
        alerts, told = crisis_update()
        return Notification("c", "alerting.routes|c|brand=chenguang", {"brand": "chenguang"}, alerts, "new",
                            T0 + 300, told=told, mentions=ON_DUTY)
    if case == "resolved":
        return Notification("c", "alerting.routes|c|brand=chenguang", {"brand": "chenguang"}, crisis_resolved(),
                            "new", ENDED, told={episode_id(a): {"sequence": 1, "current": False,
                                                                "severity": "critical", "peak_value": 1.0}
                                                for a in crisis_resolved()})
    return Notification("c", "alerting.routes|c|", {}, CASES[case](), "new", T0)


CASES = {
    # group_by: [] and alerts from an older detector (no stories, no tally): three brands in one message.
    "group": lambda: [alert("acme", severity="critical"), alert("bolt"), alert("cola", state="resolved", sequence=2)],
    "flood": lambda: [alert(f"b{i:02d}", brand_name=f"品牌{i:02d}号", severity="critical" if i % 3 == 0 else "warning")
                      for i in range(80)],
}
INCIDENT_CASES = ("firing", "update", "resolved")


def rendered_requests(kind: str, language: str, case: str) -> str:
    out = []
    for request in channel(kind, language).build(case_note(case), T0):
        out.append({"method": request.method, "url": request.url, "body": request.json()})
    return json.dumps(out, ensure_ascii=False, indent=1) + "\n"


# "flood" shows truncation, so only for the platforms with a size limit
# (PagerDuty sends one event per alert; Alertmanager and webhooks take JSON).
GOLDEN_CASES = [(kind, language, case) for kind in KINDS for language in ("zh", "en")
                for case in (*INCIDENT_CASES, *sorted(CASES))
                if not (case == "flood" and kind in ("pagerduty", "alertmanager", "webhook"))]


@pytest.mark.parametrize(("kind", "language", "case"), GOLDEN_CASES)
def test_golden_render(kind: str, language: str, case: str) -> None:
    text = rendered_requests(kind, language, case)
    path = GOLDEN / f"{kind}_{language}_{case}.json"
    if os.environ.get("KOUBEI_REGEN_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path.name}: run with KOUBEI_REGEN_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def test_every_golden_file_belongs_to_a_case() -> None:
    expected = {f"{kind}_{language}_{case}.json" for kind, language, case in GOLDEN_CASES}
    assert sorted(p.name for p in GOLDEN.glob("*.json") if p.name not in expected) == []


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("kind", ["dingtalk", "wecom", "feishu", "slack"])
def test_flood_is_truncated_within_the_platform_limit_with_a_count(kind: str, language: str) -> None:
    note = Notification(kind, "g", {}, CASES["flood"](), "new", T0)
    [request] = channel(kind, language).build(note, T0)
    body = request.json()
    if kind in BODY_LIMITS:
        assert len(request.body) <= BODY_LIMITS[kind]
    if kind == "wecom":
        assert len(body["markdown"]["content"].encode()) <= 4096
    if kind == "slack":
        assert len(body["blocks"]) <= 50
        assert all(len(b["text"]["text"]) <= 3000 for b in body["blocks"] if b["type"] == "section")
    raw = request.body.decode()
    note_text = "个事件未显示" if language == "zh" else "more incidents not shown"
    assert note_text in raw


def test_a_single_huge_incident_is_cut_not_dropped_and_keeps_its_why_and_links() -> None:
    huge = crisis_alert("negative_share", top_posts=[dict(p, author="长" * 3000, excerpt="投诉" * 3000)
                                                     for p in crisis_posts()])
    renderer = Renderer("zh", links=console_links)
    rendered = renderer.render(Notification("c", "g", {}, [huge], "new", T0))
    full = rendered.text()
    text = rendered.text(1500)
    assert len(text.encode()) <= 1500 < len(full.encode())
    # The least important paragraphs went first; the title, why and the links stayed.
    assert text.startswith("**【严重】晨光乳业") and "负面占比上升：**71.8%**" in text and "查看事件详情" in text


def test_fit_sections_counts_what_it_leaves_out() -> None:
    renderer = Renderer("en")
    text, omitted = fit_sections("", ["a" * 100] * 10, renderer.templates["more.tmpl"], 350)
    assert omitted == 7 and text.endswith("... 7 more incidents not shown") and len(text) <= 350


def test_cut_bytes_never_splits_a_character() -> None:
    cut = cut_bytes("口碑哨兵" * 10, 20)
    assert len(cut.encode()) <= 20 and cut.endswith("…")
    cut.encode("utf-8")


def test_sparkline_scales_to_the_recent_peak() -> None:
    assert sparkline([0, 1, 2, 4, 8]) == "▁▂▃▅█"
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([]) == ""
    assert len(sparkline(list(range(100)))) == 24


def test_post_text_cannot_inject_markup() -> None:
    evil = alert(top_posts=[{"author": "**boss**", "followers": 1, "excerpt": "[click](http://evil)\n# big",
                             "url": "https://weibo.example/1"}])
    text = Renderer("zh").render(Notification("c", "g", {}, [evil], "new", T0)).text()
    assert "](http://evil)" not in text and "**boss**" not in text and "\n# big" not in text


def test_users_can_override_one_template_and_keep_the_rest(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "title_firing.tmpl").write_text("ALERT $brand_name ($severity)\n", encoding="utf-8")
    renderer = Renderer("en", templates_dir=str(tmp_path))
    note = Notification("c", "g", {}, [alert()], "new", T0)
    assert renderer.render(note).title == "ALERT 艾克美 (warning)"
    assert "**Why**" in renderer.render(note).text()


def test_a_channel_s_own_templates_go_before_the_shared_ones_for_that_channel_only(tmp_path: Path) -> None:
    shared, own = tmp_path / "shared", tmp_path / "dingtalk"
    (shared / "zh").mkdir(parents=True)
    own.mkdir()
    (shared / "zh" / "title_firing.tmpl").write_text("共享 $brand_name\n", encoding="utf-8")
    (shared / "zh" / "strings.json").write_text('{"open": "原帖"}', encoding="utf-8")
    (own / "title_firing.tmpl").write_text("钉钉 $brand_name $severity_label\n", encoding="utf-8")
    cfg = config({"templates_dir": str(shared), "channels": [
        {"name": "d", "type": "dingtalk", "url": "http://127.0.0.1:9/d", "templates_dir": str(own)},
        {"name": "w", "type": "wecom", "url": "http://127.0.0.1:9/w"}]})
    renderer = make_renderer(cfg, cfg.alerting)
    ding, wecom = (make_channel(c, renderer) for c in cfg.alerting.channels)
    note = Notification("c", "g", {}, [alert()], "new", T0)
    assert ding.build(note, T0)[0].json()["markdown"]["title"] == "钉钉 艾克美 警告"
    assert "[原帖](" in ding.build(note, T0)[0].json()["markdown"]["text"]  # the shared strings still apply
    assert wecom.build(note, T0)[0].json()["markdown"]["content"].startswith("### 共享 艾克美")


def test_an_unknown_placeholder_stops_start_up_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "incident.md.tmpl").write_text("$brand_nme\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"incident.md.tmpl: unknown placeholder \$brand_nme"):
        Renderer("zh", templates_dir=str(tmp_path))


def test_a_template_of_the_message_per_signal_era_says_what_replaced_it(tmp_path: Path) -> None:
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "firing.md.tmpl").write_text("**$brand_name** $value\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"firing.md.tmpl: no longer used.*incident.md.tmpl"):
        Renderer("zh", templates_dir=str(tmp_path))


def test_a_broken_format_in_strings_json_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "strings.json").write_text('{"share_context": "{share} ({windw})"}', encoding="utf-8")
    with pytest.raises(TemplateError, match="share_context"):
        Renderer("en", templates_dir=str(tmp_path))


def test_a_broken_user_template_stops_the_notifier_at_start_up(tmp_path: Path) -> None:
    from alerting.notifier import Notifier
    from streams.kafka import BrokerQuirks

    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "summary.md.tmpl").write_text("$duraton\n", encoding="utf-8")
    cfg = config({"channels": [{"name": "h", "type": "webhook", "url": "http://127.0.0.1:9/h"}],
                  "templates_dir": str(tmp_path)})
    with pytest.raises(TemplateError, match="duraton"):
        Notifier(cfg, cfg.alerting, "127.0.0.1:9", BrokerQuirks.for_kafka())


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_detector_signal_has_a_label(language: str) -> None:
    from streams.detection.params import SIGNALS

    strings = json.loads((Path(__file__).parent.parent / "alerting" / "templates" / language / "strings.json")
                         .read_text(encoding="utf-8"))
    assert set(strings["signal"]) == set(SIGNALS)
    # Every count signal says what it counts (the share is a percentage).
    assert set(strings["value_unit"]) == set(SIGNALS)
    assert all(strings["value_unit"][s] for s in SIGNALS if s != "negative_share")
    assert strings["signal"]["risk_terms"] == {"zh": "风险词激增", "en": "risk-term surge"}[language]


@pytest.mark.parametrize(("language", "expected"), [
    ("zh", "- 风险词激增：**8 个新风险话题**，预期 0.12（近 5分钟，z=6.7）"),
    ("en", "- risk-term surge: **8 new risk stories** vs 0.12 expected (last 5m, z=6.7)"),
])
def test_the_firing_message_says_why_in_the_signal_s_own_units(language: str, expected: str) -> None:
    event = alert("acme", signal="risk_terms", value=8.0, baseline=0.12, statistic=6.72, window_seconds=300.0,
                  peak_value=8.0)
    cfg = config({"channels": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/hook"}]},
                 language=language)
    text = make_renderer(cfg, cfg.alerting).render(Notification("hook", "r", {}, [event], "new", T0)).text()
    assert expected in text.splitlines()


def test_a_strings_json_changes_single_labels_and_wrong_types_stop_start_up(tmp_path: Path) -> None:
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "strings.json").write_text('{"links": {"incident": "事件页"}, "open": "原帖"}', encoding="utf-8")
    renderer = Renderer("zh", templates_dir=str(tmp_path))
    assert renderer.strings["links"]["incident"] == "事件页" and renderer.strings["links"]["acknowledge"] == "确认"
    for broken in ('{"links": "事件页"}', '{"open": 3}', '{"severity": {"critical": ["严重"]}}'):
        (tmp_path / "zh" / "strings.json").write_text(broken, encoding="utf-8")
        with pytest.raises(TemplateError, match="strings.json"):
            Renderer("zh", templates_dir=str(tmp_path))


@pytest.mark.parametrize("language, expected", [
    ("zh", "9分钟内其转发 6 条中 6 条为负面（原帖本身未读作负面）"),
    ("en", "6 of 6 reposts of it read negative within 9m (the post itself was not read as negative)"),
])
def test_a_kol_alert_opened_by_the_reaction_says_so(language: str, expected: str) -> None:
    evidence = {"account": "热点速递V", "account_followers": 50_000_000, "account_verified": True,
                "usual_per_week": 0.01, "path": "reposts", "negative_reposts": 6, "reposts_seen": 6,
                "watched_minutes": 9.0}
    kol = alert(signal="kol", value=50_000_000.0, baseline=31_622_776.0, statistic=3.9, window_seconds=60.0,
                evidence=evidence)
    text = Renderer(language).render(Notification("c", "g", {}, [kol], "new", T0)).text()
    assert "热点速递V" in text and expected in text
    # The first way (the post itself read negative) says nothing of reposts.
    direct = alert(signal="kol", value=50_000_000.0, baseline=31_622_776.0, statistic=3.9, window_seconds=60.0,
                   evidence=dict(evidence, path="post"))
    assert expected not in Renderer(language).render(Notification("c", "g", {}, [direct], "new", T0)).text()
