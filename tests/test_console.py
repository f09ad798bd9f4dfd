"""The console's pure parts: signed links, passwords and sessions, its
config section, the strings tables, charts and pages under hostile input."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent / "alerting"))
from alert_samples import BRANDS, T0, alert  # noqa: E402

from alerting.console import charts, pages  # noqa: E402
from alerting.console.auth import (  # noqa: E402
    SessionStore,
    basic_credentials,
    csrf_matches,
    hash_password,
    parse_users,
    token_matches,
    verify_password,
)
from alerting.console.links import (  # noqa: E402
    LinkError,
    action_links,
    incident_url,
    message_links,
    signed_action_url,
    verify_action,
)
from alerting.console.state import ConsoleState  # noqa: E402
from alerting.incidents import IncidentBook, incident_id  # noqa: E402
from alerting.labels import Labeler  # noqa: E402
from streams.cli.config import parse_koubei_config  # noqa: E402
from streams.detection.params import SIGNALS  # noqa: E402
from streams.settings import ConfigError  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SECRET = "link-secret-for-tests"
REF = incident_id("acme", T0)


def _link_parts(url: str) -> tuple[str, str, str, str, str]:
    match = re.match(r"^https://pr\.example/act/([^/]+)/([^?]+)\?exp=(\d+)&sig=([0-9a-f]+)$", url)
    assert match, url
    from urllib.parse import unquote

    action, ref, exp, sig = match.groups()
    return action, unquote(ref), exp, sig, url


# -- signed links ----------------------------------------------------------------

def test_a_signed_link_verifies_until_it_expires() -> None:
    url = signed_action_url("https://pr.example/", SECRET, "silence-1h", REF, T0 + 3600)
    action, ref, exp, sig, _ = _link_parts(url)
    assert (action, ref) == ("silence-1h", REF)
    assert verify_action(SECRET, action, ref, exp, sig, now=T0) == int(T0 + 3600)
    with pytest.raises(LinkError) as expired:
        verify_action(SECRET, action, ref, exp, sig, now=T0 + 3600)
    assert expired.value.reason == "expired"


@pytest.mark.parametrize("change", ["action", "incident", "expiry", "signature", "secret"])
def test_a_changed_link_is_refused_as_tampered(change: str) -> None:
    action, ref, exp, sig, _ = _link_parts(signed_action_url("https://pr.example", SECRET, "silence-1h", REF, T0 + 60))
    secret = SECRET
    if change == "action":
        action = "silence-4h"  # a longer silence than the link grants
    elif change == "incident":
        ref = incident_id("bolt", T0)
    elif change == "expiry":
        exp = str(int(exp) + 86400 * 365)
    elif change == "signature":
        sig = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    else:
        secret = "another-secret"
    with pytest.raises(LinkError) as refused:
        verify_action(secret, action, ref, exp, sig, now=T0)
    assert refused.value.reason == "bad_signature"


def test_a_tampered_link_that_is_also_expired_is_reported_as_tampered() -> None:
    action, ref, exp, sig, _ = _link_parts(signed_action_url("https://pr.example", SECRET, "ack", REF, T0))
    with pytest.raises(LinkError) as refused:
        verify_action(SECRET, "silence-1h", ref, exp, sig, now=T0 + 10)
    assert refused.value.reason == "bad_signature"


@given(action=st.text(max_size=20), ref=st.text(max_size=40), exp=st.text(max_size=20), sig=st.text(max_size=80),
       secret=st.text(max_size=20))
def test_verify_refuses_anything_with_a_reason_and_never_fails(action: str, ref: str, exp: str, sig: str,
                                                               secret: str) -> None:
    try:
        verify_action(secret, action, ref, exp, sig, now=T0)
    except LinkError as exc:
        assert exc.reason in ("malformed", "unknown_action", "bad_signature", "expired")
    else:
        pytest.fail("a random link verified")


def test_signing_refuses_what_could_never_verify() -> None:
    for args in (("reboot", REF), ("ack", "not an id")):
        with pytest.raises(ValueError):
            signed_action_url("https://pr.example", SECRET, args[0], args[1], T0)
    with pytest.raises(ValueError):
        signed_action_url("https://pr.example", "", "ack", REF, T0)


def test_message_links_for_the_renderer() -> None:
    cfg = parse_koubei_config({"brands": BRANDS, "console": {"public_url": "https://pr.example/console/",
                                                             "link_secret_env": "LINK_SECRET", "link_ttl": "2h"}},
                              environ={"LINK_SECRET": SECRET}).console
    links = message_links(cfg, "acme", T0 + 0.7, now=T0)
    assert links["incident"] == f"https://pr.example/console/incidents/acme%3A{int(T0)}"
    assert incident_url("https://pr.example/console", REF, "en").endswith("?lang=en")
    action, ref, exp, sig = re.match(r".*/act/([^/]+)/([^?]+)\?exp=(\d+)&sig=(\w+)", links["silence-1h"]).groups()
    assert action == "silence-1h" and int(exp) == int(T0 + 7200)
    assert verify_action(SECRET, action, ref.replace("%3A", ":"), exp, sig, now=T0)
    assert set(links) == {"incident", "silence-1h", "ack"}
    unsigned = parse_koubei_config({"brands": BRANDS, "console": {"public_url": "https://pr.example"}}).console
    assert set(message_links(unsigned, "acme", T0, T0)) == {"incident"}
    assert message_links(parse_koubei_config({"brands": BRANDS}).console, "acme", T0, T0) == {}
    # The same from plain values, wherever the address and the key are configured.
    plain = action_links("https://pr.example/console", SECRET, "acme", T0 + 0.7, T0 + 7200)
    assert plain == links
    assert action_links("https://pr.example", None, "acme", T0, T0).keys() == {"incident"}
    assert action_links(None, SECRET, "acme", T0, T0) == {} and action_links("https://x", SECRET, "a", math.nan, 0) == {}


# -- passwords, tokens, sessions -----------------------------------------------------

def test_password_hashes_verify_only_their_password() -> None:
    stored = hash_password("correct horse", iterations=1000)
    assert stored.startswith("pbkdf2_sha256$1000$")
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horse ")
    assert not verify_password("pbkdf2_sha256$x$y$z", "anything")
    assert hash_password("a", 1000) != hash_password("a", 1000)  # salted


def test_users_entries_errors_name_the_entry_never_the_hash() -> None:
    good = hash_password("pw-alice-1", 1000)
    assert parse_users(f"alice:{good}\n bob:{good} ") == {"alice": good, "bob": good}
    assert parse_users(f"alice:{good},bob:{good}").keys() == {"alice", "bob"}
    for text, message in ((f"alice:{good}\nalice:{good}", "given twice"), ("alice", "entry 1"),
                          (f"alice:{good}\nbob:pbkdf2_sha256$10$AAAA$BBBB", "entry 2 (bob)"),
                          ("", "no user")):
        with pytest.raises(ValueError) as err:
            parse_users(text)
        assert message in str(err.value) and good not in str(err.value)


def test_tokens_and_basic_credentials() -> None:
    assert token_matches("s3cret-token", "s3cret-token") and not token_matches("s3cret-token", "s3cret")
    assert basic_credentials("Basic YWxpY2U6cHc6d2l0aDpjb2xvbnM=") == ("alice", "pw:with:colons")
    for header in ("Bearer x", "Basic", "Basic !!!", "Basic YWxpY2U="):
        assert basic_credentials(header) is None


@given(st.text(max_size=200))
def test_any_authorization_header_is_read_or_refused(header: str) -> None:
    result = basic_credentials(header)
    assert result is None or (isinstance(result[0], str) and isinstance(result[1], str))


def test_sessions_expire_rotate_on_login_and_stay_bounded() -> None:
    store = SessionStore(ttl=100, max_sessions=3)
    first = store.new(0)
    assert store.get(first.id, 50) is first and store.get(first.id, 101) is None
    anon = store.new(200)
    logged = store.login(anon, "alice", 210)
    assert logged.id != anon.id and logged.csrf != anon.csrf and store.get(anon.id, 210) is None
    assert logged.user == "alice" and csrf_matches(logged, logged.csrf) and not csrf_matches(logged, anon.csrf)
    assert not csrf_matches(logged, None) and not csrf_matches(logged, "")
    for i in range(5):
        store.new(300 + i)
    assert len(store) == 3 and store.get(logged.id, 310) is None


# -- the console section ---------------------------------------------------------------

def _console(raw: dict[str, Any], environ: dict[str, str] | None = None) -> Any:
    return parse_koubei_config({"brands": BRANDS, "console": raw}, environ=environ or {}).console


def test_console_section_defaults_and_secrets() -> None:
    default = _console({})
    assert default.listen == "127.0.0.1:8090" and not default.auth_enabled and default.public_url == ""
    stored = hash_password("pw-alice-1", 1000)
    cfg = _console({"listen": "[::1]:9000", "token_env": "TOK", "users_env": "USERS", "public_url": "https://pr.x/",
                    "link_secret_env": "LINK", "history": "2d"},
                   {"TOK": "tok-value", "USERS": f"alice:{stored}", "LINK": "link-value"})
    assert cfg.address == ("::1", 9000) and cfg.auth_enabled and cfg.secure_cookies and cfg.history == 172800
    assert cfg.token.reveal() == "tok-value" and "tok-value" not in repr(cfg) and "link-value" not in repr(cfg)


@pytest.mark.parametrize(("raw", "environ", "message"), [
    ({"listen": "8090"}, {}, "console.listen: expected HOST:PORT"),
    ({"listen": "127.0.0.1:99999"}, {}, "console.listen"),
    ({"public_url": "ftp://x"}, {}, "console.public_url: expected an http(s) URL"),
    ({"token_env": "NOT_SET"}, {}, "console.token_env: environment variable NOT_SET is not set"),
    ({"users_env": "USERS"}, {"USERS": "alice:plain-password"}, "console.users_env: $USERS: entry 1 (alice)"),
    ({"users_env": "alice:pbkdf2"}, {}, "must be the NAME of an environment variable"),
    ({"link_ttl": "10s"}, {}, "console.link_ttl: must be at least 60s"),
    ({"colour": "red"}, {}, "console.colour: unknown field"),
])
def test_console_section_errors_name_the_field(raw: dict[str, Any], environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _console(raw, environ)
    assert message in str(err.value) and "plain-password" not in str(err.value)


# -- strings ------------------------------------------------------------------------------

def test_both_languages_have_every_string_the_code_uses() -> None:
    zh = json.loads((REPO / "alerting/console/strings/zh.json").read_text(encoding="utf-8"))
    en = json.loads((REPO / "alerting/console/strings/en.json").read_text(encoding="utf-8"))
    assert zh.keys() == en.keys()
    source = "".join(p.read_text(encoding="utf-8") for p in (REPO / "alerting/console").glob("*.py"))
    source += (REPO / "streams/cli/incidents.py").read_text(encoding="utf-8")
    used = set(re.findall(r'(?:\.t|_text\(ctx,|texts\.get|texts\[|message_page\(ctx,)\(?\s*"([a-z_]+)"', source))
    prefixes = {"severity_": ("warning", "critical"), "state_": ("open", "resolved"),
                "signal_": SIGNALS,
                "label_": ("negative", "positive", "neutral"), "mark_": ("fired", "escalated", "resolved", "neutral"),
                "link_": ("malformed", "bad_signature", "expired", "unknown_action"),
                "delivery_": ("firing", "resolved"), "kind_": ("new", "repeat"), "baseline_": ("alert", "median")}
    for key in used:
        if key.endswith("_") or key == "_title":
            continue
        assert key in zh, key
    for prefix, names in prefixes.items():
        for name in names:
            assert prefix + name in zh, prefix + name
    for reason in prefixes["link_"]:
        assert f"link_{reason}_title" in zh
    for table in (zh, en):  # every placeholder a text uses is one the code fills
        for key, text in table.items():
            assert set(re.findall(r"{(\w+)}", text)) <= {"user", "when", "n", "brand", "brand_id", "hours", "id",
                                                         "label", "name"}, key


# -- charts and pages under any input ---------------------------------------------------------

def test_charts_draw_nothing_impossible() -> None:
    points = [charts.Point(T0 + 60 * i, 60, 10, 3) for i in range(5)] + [charts.Point(math.nan, 60, 1, 1)]
    svg = charts.timeline(points, [charts.Mark(T0 + 120, "fired", "<b>触发</b>"), charts.Mark(math.inf, "x", "y")],
                          baseline=0.2, span=(T0, T0 + 200))
    assert svg.startswith("<svg") and "nan" not in svg.lower() and "inf" not in svg.lower()
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    assert "<svg" in charts.timeline([]) and "<svg" in charts.sparkline([math.nan, -1, 0, 5], [9, 9])
    far = charts.timeline(points, [charts.Mark(1e30, "fired", "far"), charts.Mark(T0 + 60, "fired", "near")])
    assert "near" in far and "far" not in far
    many = [charts.Point(T0 + 60 * i, 60, 1, 1) for i in range(7 * 1440)]
    coarse = charts.downsample(many, 240)
    assert len(coarse) <= 240 and sum(p.total for p in coarse) == 7 * 1440


hostile_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=()), max_size=30) | st.sampled_from(
    ["<script>alert(1)</script>", "\u202e\u200b", "\ud800", "javascript:alert(1)", '"><img src=x onerror=1>'])
hostile_number = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**20, 10**20)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=hostile_text, excerpt=hostile_text, url=hostile_text, author=hostile_text, number=hostile_number,
       summary=hostile_text, lang=st.sampled_from(["zh", "en"]))
def test_pages_render_any_alert_without_markup_from_it(name: str, excerpt: str, url: str, author: str,
                                                      number: Any, summary: str, lang: str) -> None:
    book = IncidentBook()
    event = alert(brand_name=name, summary=summary, value=number, statistic=number, window_seconds=number,
                  top_posts=[{"id": "weibo:1", "author": author, "followers": number, "excerpt": excerpt, "url": url,
                              "negative": number, "reach": number}],
                  evidence={"account": author, "account_followers": number})
    assert book.add_alert(event) is None
    [incident] = book.incidents()
    ctx = pages.PageContext(language=lang, path="/x", user="alice", csrf="c", auth_enabled=True, now=T0)
    points = [charts.Point(T0 + 60 * i, 60, 5, 2) for i in range(30)]
    html = pages.incident_page(ctx, incident, points, [], {}, {})
    html += pages.incident_list_page(ctx, [incident], {"acme": name}, None, False)
    state = ConsoleState({"acme": name}, Labeler())
    html += pages.overview_page(ctx, [state.summary("acme")], True)
    assert "<script" not in html and "<img" not in html and not re.search(r'href="\s*javascript:', html)
    assert set(re.findall(r'href="([a-z]+):', html)) <= {"http", "https"}
    assert "\u202e" not in html and "\ud800" not in html
    html.encode("utf-8")


record_bytes = st.one_of(
    st.none(), st.binary(max_size=200),
    st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                     st.sampled_from(["brand", "start", "size", "total", "negative", "id", "matchers", "starts_at",
                                      "ends_at", "until_resolved", "incident", "at", "by", "post_id", "label",
                                      "key", "channel", "state", "started_at", "delivered_at", "signal"]),
                     inner, max_size=8), max_leaves=20).map(lambda v: json.dumps(v).encode()))


junk = st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**30, 10**30) \
    | st.text(max_size=10) | st.lists(st.integers(), max_size=3) | st.dictionaries(st.text(max_size=3), st.integers())
GOOD = {"alerts": alert().to_dict(), "buckets": {"brand": "acme", "start": T0, "size": 60, "total": 9, "negative": 3},
        "deliveries": {"channel": "c", "key": "acme:negative_share", "started_at": T0 - 900, "state": "firing",
                       "sequence": 1, "delivered_at": T0},
        "silences": {"id": "s1", "matchers": {"brand": ["acme"]}, "starts_at": T0, "ends_at": T0 + 60,
                     "until_resolved": "acme:1"},
        "acks": {"incident": "acme:1", "by": "x", "at": T0}, "sentiment.corrections": {"post_id": "p", "label": "neutral"}}


@st.composite
def damaged_records(draw: st.DrawFn) -> tuple[str, Any, Any]:
    """A real record of a topic with one field replaced by anything."""
    role = draw(st.sampled_from(sorted(GOOD)))
    data = json.loads(json.dumps(GOOD[role]))
    data[draw(st.sampled_from(sorted(data)))] = draw(junk)
    return role, draw(st.none() | st.binary(max_size=8)), json.dumps(data).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(damaged_records() | st.tuples(
    st.sampled_from(["alerts", "buckets", "deliveries", "silences", "acks", "sentiment.corrections", "unknown"]),
    st.none() | st.binary(max_size=20), record_bytes), max_size=20))
def test_any_topic_record_is_applied_or_counted_never_an_error(records: list[tuple[str, Any, Any]]) -> None:
    state = ConsoleState({"acme": "艾克美"}, Labeler())
    for role, key, value in records:
        state.apply(role, key, value)
    assert sum(state.records.values()) + sum(state.unreadable.values()) == len(records)
    state.prune()
    for brand in state.all_brands():
        state.summary(brand)
    state.due_expiries(T0)
    ctx = pages.PageContext(language="zh", path="/", now=T0)
    pages.overview_page(ctx, [state.summary(b) for b in state.all_brands()], True)
    for incident in state.book.incidents():
        pages.incident_page(ctx, incident, state.points(incident.brand, 0, math.inf), [], {}, state.corrections)
