"""Every channel's renderer, fed arbitrary alert evidence (huge and odd
strings, control characters, emoji, lone surrogates, NaN and infinite
numbers, absurd times, empty lists, 1,000 posts, very long brand names):
never an exception, and the request always within the platform's documented
limits (docs/alerting.md), as strict JSON in valid UTF-8."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent / "alerting"))
from alert_samples import T0, config  # noqa: E402

from alerting.channels import HttpRequest, make_channel  # noqa: E402
from alerting.episode import episode_id  # noqa: E402
from alerting.message import Notification  # noqa: E402
from alerting.notifier import make_renderer  # noqa: E402
from alerting.render.incident import IncidentLinks, IncidentRef  # noqa: E402
from alerting.render.safe import scrub  # noqa: E402
from streams.detection.params import SIGNALS  # noqa: E402
from streams.models import AlertEvent  # noqa: E402

ODD = ["", " ", "\x00\x01\x1b[31m\x7f", "🚨🔥" * 300, "\u200b\u202e\ufeff", "**[click](http://evil)**\n# big",
       "<@all> @all &amp; <b>", "\ud800", "a\udfffb", "晨光乳业" * 2000, "x" * 30_000, "$brand ${x} $$", "\\" * 50]
LONE_SURROGATES = st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=5)
TEXT = st.one_of(st.text(max_size=200), st.sampled_from(ODD), LONE_SURROGATES,
                 st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=3), st.integers(100, 8000)))
NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**30), 10**30),
                   st.sampled_from([0.0, -0.0, 1e300, -1e300, 5e-324, 1767225600000.0, 1e20]))
TIME = st.one_of(st.just(T0), NUMBER)
JSON = st.recursive(st.one_of(st.none(), st.booleans(), NUMBER, TEXT),
                    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
                    max_leaves=12)
POST_KEYS = st.sampled_from(["id", "author", "followers", "excerpt", "url", "negative", "reach", "created_at",
                             "story", "reposts", "verified", "terms"])
POST = st.dictionaries(st.one_of(POST_KEYS, TEXT), JSON, max_size=8)
THOUSAND_POSTS = [{"id": f"w:{i}", "author": f"用户{i}" * 20, "followers": 10**i if i < 30 else "1.5万",
                   "excerpt": "投诉" * 100, "url": "https://weibo.example/" + "x" * 300} for i in range(1000)]


SIGNAL_NAMES = st.sampled_from(list(SIGNALS))
# The detector's incident tally (streams/detection/incident.py), as it is and as anything else.
TALLY = st.fixed_dictionaries({}, optional={
    "opened_at": TIME, "negative": st.one_of(st.integers(-(2**70), 2**70), JSON),
    "total": st.one_of(st.integers(-(2**70), 2**70), JSON), "stories": st.one_of(st.integers(-5, 10**6), JSON),
    "more_stories": JSON, "severity": st.one_of(st.sampled_from(["warning", "critical"]), JSON),
    "signals": st.one_of(st.lists(st.one_of(st.sampled_from(["kol", "volume", "risk_terms"]), TEXT), max_size=8), JSON),
    "story_counts": st.one_of(st.dictionaries(TEXT, st.one_of(st.lists(NUMBER, min_size=2, max_size=2), JSON),
                                              max_size=5), JSON)})
EVIDENCE = st.one_of(st.dictionaries(TEXT, JSON, max_size=5), st.just({"raw": None}),
                     st.fixed_dictionaries({"incident": st.one_of(TALLY, JSON)}, optional={
                         "account": JSON, "account_followers": NUMBER, "account_verified": JSON,
                         "usual_per_week": NUMBER}))


def deep(depth: int) -> Any:
    out: Any = "bottom"
    for _ in range(depth):
        out = {"raw": out}
    return out


@st.composite
def alert_events(draw: st.DrawFn) -> AlertEvent:
    return AlertEvent(
        key=draw(TEXT) or "k", brand=draw(TEXT) or "b", brand_name=draw(TEXT), signal=draw(st.one_of(SIGNAL_NAMES, TEXT)),
        state=draw(st.sampled_from(["firing", "resolved"])), severity=draw(st.sampled_from(["warning", "critical"])),
        started_at=draw(TIME), event_time=draw(TIME), window_seconds=draw(NUMBER), value=draw(NUMBER),
        baseline=draw(NUMBER), statistic=draw(NUMBER), negative=draw(st.integers(-(2**70), 2**70)),
        total=draw(st.integers(-(2**70), 2**70)), negative_share=draw(NUMBER), baseline_share=draw(NUMBER),
        volume_change=draw(NUMBER), summary=draw(TEXT), ended_at=draw(st.one_of(st.none(), TIME)),
        peak_value=draw(NUMBER), peak_severity=draw(st.one_of(st.sampled_from(["warning", "critical", ""]), TEXT)),
        risk_terms=draw(st.one_of(st.lists(st.lists(JSON, min_size=2, max_size=2), max_size=30),
                                  st.lists(JSON, max_size=5))),
        top_posts=draw(st.one_of(st.lists(POST, max_size=5), st.just(THOUSAND_POSTS), st.lists(JSON, max_size=3))),
        sparkline=draw(st.lists(JSON, max_size=40)),
        sequence=draw(st.integers(-(2**70), 2**70)), detector=draw(TEXT),
        evidence=draw(st.one_of(EVIDENCE, st.just({"raw": deep(5000)}))),
    )


@st.composite
def notifications(draw: st.DrawFn) -> Notification:
    alerts = draw(st.one_of(st.lists(alert_events(), min_size=1, max_size=3),
                            st.builds(lambda a, n: [a] * n, alert_events(), st.integers(55, 80))))
    timelines: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts[:2]:
        if draw(st.booleans()):
            timelines[episode_id(alert)] = draw(st.lists(st.fixed_dictionaries({
                "kind": st.sampled_from(["fired", "escalated", "deescalated", "resolved"]), "at": NUMBER,
                "severity": st.one_of(st.sampled_from(["warning", "critical", ""]), TEXT),
                "sequence": st.integers(-5, 10)}), max_size=5))
    # What the channel heard of each episode, and whom to @: as the pipeline writes them, or anything.
    told = {episode_id(a): draw(st.one_of(st.fixed_dictionaries({
        "sequence": st.integers(-5, 10), "current": st.booleans(),
        "severity": st.one_of(st.sampled_from(["warning", "critical", ""]), TEXT), "peak_value": NUMBER}),
        st.dictionaries(TEXT, JSON, max_size=3))) for a in alerts[:3] if draw(st.booleans())}
    mentions = draw(st.one_of(st.just({}), st.fixed_dictionaries({
        "mobiles": st.lists(st.one_of(st.just("13800000000"), TEXT), max_size=3),
        "users": st.lists(st.one_of(st.just("U024BE7LH"), TEXT), max_size=3), "all": JSON}),
        st.dictionaries(TEXT, JSON, max_size=3)))
    return Notification("c", draw(TEXT), {}, alerts, draw(st.sampled_from(["new", "repeat"])), T0,
                        timelines=timelines, told=told, mentions=mentions)


CHANNELS = [("dingtalk", {"secret_env": "S", "mention_mobiles": ["13800000000"], "mention_users": ["u1"]}),
            ("wecom", {"mention_users": ["zhangsan"]}),
            ("wecom", {"msgtype": "text", "mention_mobiles": ["13800000000"], "mention_all": True}),
            ("feishu", {"secret_env": "S"}), ("slack", {}), ("pagerduty", {"routing_key_env": "PD"}),
            ("alertmanager", {}), ("webhook", {"secret_env": "S"})]
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def links(ref: IncidentRef) -> IncidentLinks:
    """A console's links, built from the incident's (hostile) brand as a console would."""
    page = f"https://console.example/incidents/{quote(scrub(ref.brand)[:200])}-{ref.started_at!r}"
    return IncidentLinks(page, page + "/silence?sig=x", page + "/ack?sig=y")


def channel(kind: str, extra: dict[str, Any], language: str) -> Any:
    spec = {"name": f"{kind}-1", "type": kind, **extra}
    if kind != "pagerduty":
        spec["url"] = "https://example.com/hook"
    cfg = config({"channels": [spec]}, environ={"S": "secret", "PD": "routing-key"}, language=language,
                 grafana_url="https://grafana.example/d/koubei")
    renderer = make_renderer(cfg, cfg.alerting)
    renderer.links = links
    return make_channel(cfg.alerting.channels[0], renderer)


def strict_json(request: HttpRequest) -> Any:
    def no_constants(name: str) -> Any:
        raise AssertionError(f"{name} is not JSON")
    text = request.body.decode("utf-8")  # strict: no lone surrogates reach the wire
    return json.loads(text, parse_constant=no_constants)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check_limits(kind: str, extra: dict[str, Any], requests: list[HttpRequest]) -> None:
    assert requests
    for request in requests:
        body = strict_json(request)
        if kind == "dingtalk":
            assert len(request.body) <= 20_000
            assert body["markdown"]["text"] and body["markdown"]["title"]
            for mobile in body["at"]["atMobiles"]:
                assert f"@{mobile}" in body["markdown"]["text"]  # or the person is not notified
        elif kind == "wecom":
            if extra.get("msgtype") == "text":
                assert 0 < len(body["text"]["content"].encode()) <= 2_048
            else:
                assert 0 < len(body["markdown"]["content"].encode()) <= 4_096
        elif kind == "feishu":
            assert len(request.body) <= 20_000
            assert len(json.dumps(body["card"], ensure_ascii=False).encode()) <= 30_000
        elif kind == "slack":
            assert body["text"] and len(body["blocks"]) <= 50
            for block in body["blocks"]:
                if block["type"] == "section":
                    assert 0 < utf16_len(block["text"]["text"]) <= 3_000
                if block["type"] == "header":
                    assert 0 < utf16_len(block["text"]["text"]) <= 150
        elif kind == "pagerduty":
            assert 0 < len(body["dedup_key"]) <= 255
            assert len(request.body) <= 512 * 1024  # PagerDuty's event size limit
            if body["event_action"] == "trigger":
                payload = body["payload"]
                assert 0 < len(payload["summary"]) <= 1_024 and payload["source"]
                assert payload["severity"] in ("critical", "error", "warning", "info")
        elif kind == "alertmanager":
            for item in body:
                assert item["labels"]["alertname"]
                for name, value in item["labels"].items():
                    assert LABEL_NAME.match(name) and isinstance(value, str) and len(value) <= 1_024
                    assert not re.search(r"[\x00-\x1f\x7f]", value)
                for value in item["annotations"].values():
                    assert isinstance(value, str) and len(value) <= 16_384
                assert item["startsAt"] and item["endsAt"]
        elif kind == "webhook":
            assert body["alerts"] and body["id"] and len(request.body) <= 1_000_000


BUILT = {language: [(kind, extra, channel(kind, extra, language)) for kind, extra in CHANNELS]
         for language in ("zh", "en")}


@pytest.mark.parametrize("language", ["zh", "en"])
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(note=notifications())
def test_any_evidence_renders_within_every_platform_s_limits(language: str, note: Notification) -> None:
    for kind, extra, built in BUILT[language]:
        check_limits(kind, extra, built.build(note, T0))


# ---- the doors: records read from Kafka -------------------------------------

FIELD_NAMES = st.sampled_from(sorted(AlertEvent.__dataclass_fields__))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patch=st.dictionaries(FIELD_NAMES, JSON, max_size=4), junk=st.binary(max_size=64))
def test_any_alert_record_is_an_alert_that_renders_or_a_reason(patch: dict[str, Any], junk: bytes) -> None:
    from alert_samples import alert

    from alerting.message import parse_alert

    record = json.dumps({**alert().to_dict(), **patch}).encode()
    for payload in (record, junk, record[: len(record) // 2], b'{"evidence":' * 3000):
        try:
            event = parse_alert(payload)
        except ValueError:
            continue  # dead-lettered with the reason
        note = Notification("c", "g", {}, [event], "new", T0)
        for kind, extra, built in BUILT["zh"]:
            check_limits(kind, extra, built.build(note, T0))


@settings(max_examples=150, deadline=None)
@given(payload=st.one_of(st.binary(max_size=200), JSON.map(lambda v: json.dumps(v).encode()),
                         st.just(b'{"channel":' * 5000)))
def test_delivery_log_and_silence_records_are_read_or_skipped_never_fatal(payload: bytes) -> None:
    from alerting.policy.dedup import DeliveryLog
    from alerting.policy.silences import SilenceStore

    assert DeliveryLog().apply_record(payload) in (True, False)
    assert SilenceStore().apply_record(payload) in (True, False)
