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
from alert_samples import T0, alert, config  # noqa: E402

from alerting.channels import make_channel  # noqa: E402
from alerting.message import Notification  # noqa: E402
from alerting.notifier import make_renderer  # noqa: E402
from alerting.render import Renderer, TemplateError, cut_bytes, fit_sections, sparkline  # noqa: E402

GOLDEN = Path(__file__).parent / "alerting" / "golden"
KINDS = ("dingtalk", "wecom", "feishu", "slack", "pagerduty", "alertmanager", "webhook")
# Body limits the platforms document (docs/alerting.md).
BODY_LIMITS = {"dingtalk": 20_000, "feishu": 20_000}


def channel(kind: str, language: str, **extra: Any) -> Any:
    spec: dict[str, Any] = {"name": kind, "type": kind, "url": "http://127.0.0.1:9/hook", **extra}
    env = {"PD_KEY": "routing-key"}
    if kind == "pagerduty":
        spec = {"name": kind, "type": kind, "routing_key_env": "PD_KEY"}
    cfg = config({"channels": [spec]}, environ=env, language=language, grafana_url="https://grafana.example/d/koubei")
    return make_channel(cfg.alerting.channels[0], make_renderer(cfg, cfg.alerting))


CASES = {
    "firing": lambda: [alert("acme", severity="critical")],
    "resolved": lambda: [alert("acme", state="resolved", sequence=3, started_at=T0 - 5400)],
    "group": lambda: [alert("acme", severity="critical"), alert("bolt"), alert("cola", state="resolved", sequence=2)],
    "flood": lambda: [alert(f"b{i:02d}", brand_name=f"品牌{i:02d}号", severity="critical" if i % 3 == 0 else "warning")
                      for i in range(80)],
}


def rendered_requests(kind: str, language: str, case: str) -> str:
    note = Notification(kind, "alerting.routes|x|", {}, CASES[case](), "new", T0)
    out = []
    for request in channel(kind, language).build(note, T0):
        out.append({"method": request.method, "url": request.url, "body": request.json()})
    return json.dumps(out, ensure_ascii=False, indent=1) + "\n"


# "flood" shows truncation, so only for the platforms with a size limit
# (PagerDuty sends one event per alert; Alertmanager and webhooks take JSON).
GOLDEN_CASES = [(kind, language, case) for kind in KINDS for language in ("zh", "en") for case in sorted(CASES)
                if not (case == "flood" and kind in ("pagerduty", "alertmanager", "webhook"))]


@pytest.mark.parametrize(("kind", "language", "case"), GOLDEN_CASES)
def test_golden_render(kind: str, language: str, case: str) -> None:
    text = rendered_requests(kind, language, case)
    path = GOLDEN / f"{kind}_{language}_{case}.json"
    if os.environ.get("KOUBEI_REGEN_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path.name}: run with KOUBEI_REGEN_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


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
    note_text = "条告警未显示" if language == "zh" else "more alerts not shown"
    assert note_text in raw


def test_a_single_huge_alert_is_cut_not_dropped() -> None:
    huge = alert(summary="x", risk_terms=[["风险" * 3000, 1]])
    renderer = Renderer("zh")
    text, omitted = fit_sections("", renderer.render(Notification("c", "g", {}, [huge], "new", T0)).sections,
                                 renderer.templates["more.tmpl"], 2000)
    assert len(text.encode()) <= 2000 and omitted == 0 and "艾克美" in text


def test_fit_sections_counts_what_it_leaves_out() -> None:
    renderer = Renderer("en")
    text, omitted = fit_sections("", ["a" * 100] * 10, renderer.templates["more.tmpl"], 350)
    assert omitted == 7 and text.endswith("... 7 more alerts not shown") and len(text) <= 350


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
    assert "Negative share" in renderer.render(note).text()


def test_a_template_with_an_unknown_placeholder_names_it(tmp_path: Path) -> None:
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "firing.md.tmpl").write_text("$brand_nme\n", encoding="utf-8")
    renderer = Renderer("zh", templates_dir=str(tmp_path))
    with pytest.raises(TemplateError, match=r"firing.md.tmpl: unknown placeholder \$brand_nme"):
        renderer.render(Notification("c", "g", {}, [alert()], "new", T0))


def test_a_broken_user_template_stops_the_notifier_at_start_up(tmp_path: Path) -> None:
    from alerting.notifier import Notifier
    from streams.kafka import BrokerQuirks

    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "resolved.md.tmpl").write_text("$duraton\n", encoding="utf-8")
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
    assert strings["signal"]["risk_terms"] == {"zh": "风险词激增", "en": "risk-term surge"}[language]


@pytest.mark.parametrize(("language", "expected"), [
    ("zh", "- 触发依据：**8 个新风险话题**，预期 0.12（近 5分钟，z=6.7）"),
    ("en", "- Why: **8 new risk stories** vs 0.12 expected (last 5m, z=6.7)"),
])
def test_the_firing_message_says_why_in_the_signal_s_own_units(language: str, expected: str) -> None:
    event = alert("acme", signal="risk_terms", value=8.0, baseline=0.12, statistic=6.72, window_seconds=300.0)
    cfg = config({"channels": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/hook"}]},
                 language=language)
    section = make_renderer(cfg, cfg.alerting).render(Notification("hook", "r", {}, [event], "new", T0)).sections[0]
    assert expected in section.splitlines()
