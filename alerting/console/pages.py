"""The console's HTML pages, rendered on the server from plain data.

Every outside value (brand names, post text, comments, evidence) goes
through ``h`` (invisible characters removed, HTML-escaped) and every link
to the outside through ``safe.url`` (plain http(s) only). Texts come from
the strings table of the page's language (``alerting/console/strings/``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from alerting.console import charts
from alerting.console.links import SILENCE_SECONDS
from alerting.console.state import BrandSummary
from alerting.incidents import Incident
from alerting.policy.silences import Silence
from alerting.render import is_proportion
from alerting.render.safe import as_text, epoch, finite, scrub
from alerting.render.safe import url as safe_url
from streams.sentiment.auto import Correction

LANGUAGES = ("zh", "en")
_STRINGS: dict[str, dict[str, str]] = {}


def strings(language: str) -> dict[str, str]:
    """The strings table of a language; English fills any key a table lacks."""
    if language not in _STRINGS:
        folder = resources.files("alerting.console") / "strings"
        english = json.loads((folder / "en.json").read_text(encoding="utf-8"))
        own = json.loads((folder / f"{language}.json").read_text(encoding="utf-8"))
        _STRINGS[language] = {**english, **own}
    return _STRINGS[language]


def h(value: Any) -> str:
    """Outside text made safe for HTML: scrubbed and escaped."""
    return escape(scrub(value) if isinstance(value, str) else as_text(value))


@dataclass
class PageContext:
    """What every page needs to know about the request."""

    language: str
    path: str  # the request path with its query, for the language switch and the login's "next"
    timezone: str = "Asia/Shanghai"
    user: str | None = None
    csrf: str = ""
    auth_enabled: bool = False
    notice: str = ""
    now: float = 0.0
    can_read: bool = True
    # Reading Kafka has failed since then: every page says its data may be old.
    stale_since: float | None = None
    texts: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.texts = strings(self.language if self.language in LANGUAGES else "zh")

    def t(self, key: str, **values: Any) -> str:
        """The text for ``key``, HTML-escaped, with ``{name}`` filled from escaped values."""
        template = self.texts.get(key, key)
        return escape(template).format(**{k: v if isinstance(v, Markup) else h(v) for k, v in values.items()})

    def clock(self, value: Any, with_date: bool = True) -> str:
        moment = epoch(value)
        if moment is None:
            return "–"
        local = datetime.fromtimestamp(moment, ZoneInfo(self.timezone))
        return local.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")

    def short_clock(self, value: float) -> str:
        moment = epoch(value)
        if moment is None:
            return ""
        local = datetime.fromtimestamp(moment, ZoneInfo(self.timezone))
        return local.strftime("%m-%d %H:%M" if local.hour == 0 and local.minute == 0 else "%H:%M")

    def duration(self, seconds: float | None) -> str:
        if seconds is None or not math.isfinite(seconds) or seconds < 0:
            return "–"
        minutes = int(round(seconds / 60.0))
        days, rest = divmod(minutes, 1440)
        hours, minutes = divmod(rest, 60)
        parts = []
        if days:
            parts.append(self.t("days", n=days))
        if hours:
            parts.append(self.t("hours", n=hours))
        if minutes or not parts:
            parts.append(self.t("minutes", n=minutes))
        return " ".join(parts)


class Markup(str):
    """HTML already made safe: ``PageContext.t`` inserts it as it is."""


def pct(value: Any) -> str:
    number = finite(value, math.nan)
    return "–" if math.isnan(number) or not -10 <= number <= 10 else f"{number:.1%}"


def num(value: Any) -> str:
    number = finite(value, math.nan)
    if math.isnan(number) or abs(number) >= 1e15:
        return "–"
    if float(number).is_integer():
        return f"{int(number):,}"
    return f"{number:,.3g}" if abs(number) >= 1000 else f"{number:.3g}"


def signal_value(signal: str, value: Any) -> str:
    """A signal's value in its unit: shares as percentages, the rest as numbers."""
    return pct(value) if is_proportion(signal) else num(value)


def incident_path(incident_id: str) -> str:
    return f"/incidents/{quote(incident_id, safe='')}"


def with_query(path: str, **params: str) -> str:
    return f"{path}?{urlencode(params)}" if params else path


# -- layout -------------------------------------------------------------------

_STYLE = """
body{font-family:-apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:0;color:#222;
background:#f6f7f9}header{background:#20324a;color:#fff;padding:10px 20px;display:flex;gap:18px;align-items:center;
flex-wrap:wrap}header a{color:#fff;text-decoration:none}header .brand{font-weight:bold;font-size:18px}
header .right{margin-left:auto;display:flex;gap:12px;align-items:center}main{padding:16px 20px;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff;margin:8px 0 18px}th,td{border-bottom:1px solid #e3e6ea;
padding:6px 8px;text-align:left;vertical-align:top;font-size:14px}th{background:#eef1f5;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums}.sev-critical{background:#d62728;color:#fff}
.sev-warning{background:#ff9f1a;color:#222}.badge{display:inline-block;padding:1px 8px;border-radius:10px;
font-size:12px}.state-open{background:#fde0dc;color:#a4161a}.state-resolved{background:#dff3e4;color:#1b6b35}
.muted{color:#777}.notice{background:#fff6d6;border:1px solid #e8d27a;padding:8px 12px;margin:8px 0}
.error{background:#fde0dc;border:1px solid #e39b94;padding:8px 12px;margin:8px 0}.card{background:#fff;
padding:12px 16px;margin:0 0 16px;border:1px solid #e3e6ea}.actions form{display:inline}.actions a.button,
button{display:inline-block;margin:2px 6px 2px 0;padding:5px 12px;border:1px solid #20324a;background:#fff;
color:#20324a;border-radius:4px;font-size:14px;cursor:pointer;text-decoration:none}button.primary,
a.button.primary{background:#20324a;color:#fff}.excerpt{max-width:560px}h1{font-size:22px;margin:6px 0 12px}
h2{font-size:17px;margin:18px 0 6px}dl.facts{display:grid;grid-template-columns:max-content auto;gap:4px 14px}
dl.facts dt{color:#666}dl.facts dd{margin:0}input[type=text],input[type=password]{padding:5px;width:260px}
"""


def layout(ctx: PageContext, title: str, body: str) -> str:
    other = "en" if ctx.language == "zh" else "zh"
    switch_to = with_query("/lang/" + other, next=ctx.path)
    if ctx.user:
        account = (f'<span>{ctx.t("signed_in_as", user=ctx.user)}</span>'
                   f'<form method="post" action="/logout" style="display:inline">'
                   f'<input type="hidden" name="csrf" value="{escape(ctx.csrf)}">'
                   f'<button type="submit" id="logout">{ctx.t("logout")}</button></form>')
    elif ctx.auth_enabled:
        account = f'<a id="login" href="{escape(with_query("/login", next=ctx.path))}">{ctx.t("login")}</a>'
    else:
        account = f'<span class="muted">{ctx.t("read_only")}</span>'
    notice = f'<div class="notice" id="notice">{ctx.notice}</div>' if ctx.notice else ""
    if ctx.stale_since is not None:
        notice = (f'<div class="notice" id="stale">{ctx.t("kafka_unreachable", when=ctx.clock(ctx.stale_since))}'
                  f'</div>{notice}')
    return (f'<!doctype html><html lang="{"zh-CN" if ctx.language == "zh" else "en"}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{h(title)} · {ctx.t("app_name")}</title><style>{_STYLE}</style></head><body>'
            f'<header><a class="brand" href="/">{ctx.t("app_name")}</a>'
            f'<a href="/">{ctx.t("nav_overview")}</a><a href="/incidents">{ctx.t("nav_incidents")}</a>'
            f'<a href="/backtests">{ctx.t("nav_backtests")}</a>'
            f'<span class="right"><a id="lang" href="{escape(switch_to)}">{ctx.t("switch_language")}</a>'
            f'{account}</span></header><main>{notice}{body}</main></body></html>')


def severity_badge(ctx: PageContext, severity: str) -> str:
    kind = severity if severity in ("warning", "critical") else "warning"
    return f'<span class="badge sev-{kind}">{ctx.t("severity_" + kind)}</span>'


def state_badge(ctx: PageContext, incident: Incident) -> str:
    return f'<span class="badge state-{incident.state}">{ctx.t("state_" + incident.state)}</span>'


# -- overview -----------------------------------------------------------------

def overview_page(ctx: PageContext, summaries: Sequence[BrandSummary], loaded: bool) -> str:
    rows = []
    for s in summaries:
        spark = charts.sparkline(s.hourly_totals, s.hourly_negatives, title=ctx.texts["sparkline_title"])
        lift = ""
        if s.share_now is not None and s.baseline is not None:
            delta = s.share_now - s.baseline
            lift = f' <span class="muted">({"+" if delta >= 0 else ""}{delta * 100:.1f} pt)</span>'
        baseline = pct(s.baseline) if s.baseline is not None else "–"
        if s.baseline_source:
            baseline += f' <span class="muted">{ctx.t("baseline_" + s.baseline_source)}</span>'
        incidents = (f'<a href="{escape(with_query("/incidents", brand=s.brand, state="open"))}">'
                     f'{ctx.t("open_count", n=s.open_incidents)}</a>' if s.open_incidents else
                     f'<span class="muted">{ctx.t("none")}</span>')
        rows.append(f'<tr class="brand-row" data-brand="{h(s.brand)}"><td><a href="'
                    f'{escape(with_query("/incidents", brand=s.brand))}">{h(s.name)}</a>'
                    f'<div class="muted">{h(s.brand)}</div></td>'
                    f'<td class="num">{pct(s.share_now) if s.share_now is not None else "–"}{lift}</td>'
                    f'<td class="num">{baseline}</td><td class="num">{num(s.volume_hour)}</td>'
                    f'<td class="num">{num(s.negative_hour)}</td><td>{spark}</td><td>{incidents}</td></tr>')
    loading = "" if loaded else f'<div class="notice">{ctx.t("loading")}</div>'
    body = (f'<h1>{ctx.t("overview_title")}</h1>{loading}<p class="muted">{ctx.t("overview_help")}</p>'
            f'<table id="brands"><tr><th>{ctx.t("col_brand")}</th><th class="num">{ctx.t("col_share_now")}</th>'
            f'<th class="num">{ctx.t("col_baseline")}</th><th class="num">{ctx.t("col_volume_hour")}</th>'
            f'<th class="num">{ctx.t("col_negative_hour")}</th><th>{ctx.t("col_sparkline")}</th>'
            f'<th>{ctx.t("col_open_incidents")}</th></tr>{"".join(rows)}</table>')
    return layout(ctx, ctx.texts["overview_title"], body)


# -- incident list --------------------------------------------------------------

def incident_list_page(ctx: PageContext, incidents: Sequence[Incident], brands: Mapping[str, str],
                       brand: str | None, open_only: bool) -> str:
    options = [f'<option value="">{ctx.t("all_brands")}</option>']
    for brand_id, name in brands.items():
        selected = " selected" if brand_id == brand else ""
        options.append(f'<option value="{h(brand_id)}"{selected}>{h(name)}</option>')
    state_options = "".join(
        f'<option value="{value}"{" selected" if (value == "open") == open_only else ""}>{ctx.t(label)}</option>'
        for value, label in (("all", "filter_all"), ("open", "filter_open")))
    form = (f'<form method="get" action="/incidents" class="filters"><label>{ctx.t("col_brand")} '
            f'<select name="brand">{"".join(options)}</select></label> <label>{ctx.t("col_state")} '
            f'<select name="state">{state_options}</select></label> <button type="submit">{ctx.t("filter")}</button>'
            f'</form>')
    rows = []
    for incident in incidents:
        signals = ", ".join(sorted({ctx.texts.get("signal_" + t.latest.signal, t.latest.signal)
                                    for t in incident.tracks}))
        ack = f' <span class="badge state-resolved">{ctx.t("acknowledged")}</span>' if incident.acknowledged else ""
        rows.append(f'<tr class="incident-row" data-id="{h(incident.id)}"><td><a href="{incident_path(incident.id)}">'
                    f'{h(incident.brand_name)}</a><div class="muted">{h(incident.id)}</div></td>'
                    f'<td>{severity_badge(ctx, incident.severity)}</td><td>{state_badge(ctx, incident)}{ack}</td>'
                    f'<td>{ctx.clock(incident.opened_at)}</td><td>{ctx.duration(incident.duration)}</td>'
                    f'<td class="num">{pct(incident.peak_share)}</td><td>{h(signals)}</td></tr>')
    table = (f'<table id="incidents"><tr><th>{ctx.t("col_brand")}</th><th>{ctx.t("col_severity")}</th>'
             f'<th>{ctx.t("col_state")}</th><th>{ctx.t("col_opened")}</th><th>{ctx.t("col_duration")}</th>'
             f'<th class="num">{ctx.t("col_peak_share")}</th><th>{ctx.t("col_signals")}</th></tr>'
             f'{"".join(rows)}</table>' if rows else f'<p class="muted" id="incidents">{ctx.t("no_incidents")}</p>')
    return layout(ctx, ctx.texts["incidents_title"], f'<h1>{ctx.t("incidents_title")}</h1>{form}{table}')


# -- incident page --------------------------------------------------------------

def _silence_rows(ctx: PageContext, silences: Sequence[Silence], until_resolved: Mapping[str, str],
                  incident: Incident) -> str:
    rows = []
    for s in silences:
        matchers = " ".join(m.display() for m in s.matchers)
        lasts = (ctx.t("until_resolved_short") if until_resolved.get(s.id) in incident.aliases
                 else ctx.t("until", when=ctx.clock(s.ends_at)))
        end_form = ""
        if ctx.user:
            end_form = (f'<form method="post" action="{incident_path(incident.id)}/unsilence" style="display:inline">'
                        f'<input type="hidden" name="csrf" value="{escape(ctx.csrf)}">'
                        f'<input type="hidden" name="silence" value="{h(s.id)}">'
                        f'<button type="submit">{ctx.t("end_silence")}</button></form>')
        rows.append(f'<li class="silence" data-silence="{h(s.id)}">{ctx.t("silenced")} · {lasts} · '
                    f'<code>{h(matchers)}</code> · {h(s.created_by)}{"：" if ctx.language == "zh" else ": "}'
                    f'{h(s.comment)} {end_form}</li>')
    return "".join(rows)


def _actions(ctx: PageContext, incident: Incident) -> str:
    if not ctx.auth_enabled:
        return f'<p class="muted">{ctx.t("actions_off")}</p>'
    if not ctx.user:
        login = escape(with_query("/login", next=ctx.path))
        return f'<p><a class="button" href="{login}">{ctx.t("login_to_act")}</a></p>'
    base = incident_path(incident.id)
    buttons = [(f"{base}/confirm/silence-1h", "silence_1h", "silence-1h"),
               (f"{base}/confirm/silence-4h", "silence_4h", "silence-4h"),
               (f"{base}/confirm/silence-resolved", "silence_until_resolved", "silence-resolved")]
    if not incident.acknowledged:
        buttons.append((f"{base}/confirm/ack", "acknowledge", "ack"))
    links = "".join(f'<a class="button" id="action-{name}" href="{escape(href)}">{ctx.t(label)}</a>'
                    for href, label, name in buttons)
    return f'<div class="actions">{links}</div>'


def incident_page(ctx: PageContext, incident: Incident, points: Sequence[charts.Point], silences: Sequence[Silence],
                  until_resolved: Mapping[str, str], corrections: Mapping[str, Correction]) -> str:
    facts = [("col_state", state_badge(ctx, incident)), ("col_severity", severity_badge(ctx, incident.severity)),
             ("col_peak_severity", severity_badge(ctx, incident.peak_severity)),
             ("col_opened", ctx.clock(incident.opened_at))]
    if incident.escalated_at is not None:
        facts.append(("col_escalated", ctx.clock(incident.escalated_at)))
    facts += [("col_resolved", ctx.clock(incident.resolved_at) if incident.resolved_at is not None else "–"),
              ("col_duration", ctx.duration(incident.duration if incident.duration is not None
                                            else max(ctx.now - incident.opened_at, 0.0)) if ctx.now else "–"),
              ("col_peak_share", pct(incident.peak_share))]
    acks = incident.acks()
    ack_text = ("".join(f'<div class="ack">{ctx.t("acked_by", user=a.by, when=ctx.clock(a.at))}'
                        f'{(" · " + h(a.comment)) if a.comment else ""}</div>' for a in acks)
                if acks else f'<span class="muted">{ctx.t("not_acknowledged")}</span>')
    facts.append(("col_ack", ack_text))
    silence_items = _silence_rows(ctx, silences, until_resolved, incident)
    facts.append(("col_silence", f'<ul id="silences">{silence_items}</ul>' if silence_items else
                  f'<span class="muted" id="silences">{ctx.t("not_silenced")}</span>'))
    fact_html = "".join(f"<dt>{ctx.t(k)}</dt><dd>{v}</dd>" for k, v in facts)
    # The chart: from an hour before the start to half an hour after the end (or now).
    marks = []
    for at, kind, signal, _ in incident.timeline():
        label = ctx.texts.get("mark_" + kind, kind)
        marks.append(charts.Mark(at, kind, f'{label} · {ctx.texts.get("signal_" + signal, signal)}'))
    span_end = incident.resolved_at if incident.resolved_at is not None else math.inf
    chart = charts.timeline(
        charts.downsample(points), marks, baseline=incident.signals[0].latest.baseline_share,
        span=(incident.opened_at, span_end if math.isfinite(span_end) else points[-1].start + points[-1].size
              if points else incident.opened_at),
        clock=ctx.short_clock, labels={"volume": ctx.texts["chart_volume"], "share": ctx.texts["chart_share"],
                                       "baseline": ctx.texts["chart_baseline"]})
    why = []
    for t in incident.signals:
        e = t.latest
        why.append(f'<tr class="signal-row" data-signal="{h(e.signal)}"><td>'
                   f'{h(ctx.texts.get("signal_" + e.signal, e.signal))}</td>'
                   f'<td>{ctx.t("state_" + ("open" if t.resolved_at is None else "resolved"))}</td>'
                   f'<td>{severity_badge(ctx, e.severity)}</td>'
                   f'<td class="num">{signal_value(e.signal, e.value)}</td>'
                   f'<td class="num">{signal_value(e.signal, e.baseline)}</td>'
                   f'<td class="num">{ctx.duration(finite(e.window_seconds, math.nan))}</td>'
                   f'<td class="num">{num(e.statistic)}</td><td>{ctx.clock(t.start)}</td>'
                   f'<td>{ctx.clock(t.resolved_at) if t.resolved_at is not None else "–"}</td>'
                   f'<td class="muted">{h(e.summary)}</td></tr>')
    why_table = (f'<table id="why"><tr><th>{ctx.t("col_signal")}</th><th>{ctx.t("col_state")}</th>'
                 f'<th>{ctx.t("col_severity")}</th><th class="num">{ctx.t("col_value")}</th>'
                 f'<th class="num">{ctx.t("col_expected")}</th><th class="num">{ctx.t("col_window")}</th>'
                 f'<th class="num">z</th><th>{ctx.t("col_started")}</th><th>{ctx.t("col_ended")}</th>'
                 f'<th>{ctx.t("col_summary")}</th></tr>{"".join(why)}</table>')
    terms = incident.risk_terms()
    terms_html = ("、".join(f"{h(term)}({count})" for term, count in terms) if terms
                  else f'<span class="muted">{ctx.t("none")}</span>')
    kols = incident.kols()
    kol_rows = "".join(f'<tr><td>{h(k["author"])}{" ✔" if k["verified"] else ""}</td>'
                       f'<td class="num">{num(k["followers"])}</td><td class="num">{num(k["reposts"])}</td>'
                       f'<td class="muted">{h(k["post_id"])}</td></tr>' for k in kols)
    kol_table = (f'<table id="kols"><tr><th>{ctx.t("col_account")}</th><th class="num">{ctx.t("col_followers")}</th>'
                 f'<th class="num">{ctx.t("col_reposts")}</th><th>{ctx.t("col_post")}</th></tr>{kol_rows}</table>'
                 if kols else f'<p class="muted" id="kols">{ctx.t("no_kols")}</p>')
    post_rows = []
    for rank, post in enumerate(incident.top_posts(), 1):
        post_id = as_text(post.get("id"), 200)
        link = safe_url(post.get("url"))
        excerpt = h(as_text(post.get("excerpt"), 400).replace("\n", " "))
        text = f'<a href="{escape(link)}" rel="noopener noreferrer" target="_blank">{excerpt}</a>' if link else excerpt
        corrected = corrections.get(post_id)
        if corrected is not None:
            mark = ctx.t("marked_as", label=ctx.texts.get("label_" + corrected.label, corrected.label),
                         user=corrected.by)
        elif ctx.user:
            mark = "".join(
                f'<form method="post" action="{incident_path(incident.id)}/correct" style="display:inline">'
                f'<input type="hidden" name="csrf" value="{escape(ctx.csrf)}">'
                f'<input type="hidden" name="post" value="{h(post_id)}">'
                f'<input type="hidden" name="label" value="{label}">'
                f'<button type="submit" class="correct-{label}">{ctx.t("mark_" + label)}</button></form>'
                for label in ("neutral", "positive"))
        else:
            mark = ""
        post_rows.append(f'<tr class="post-row" data-post="{h(post_id)}"><td class="num">{rank}</td>'
                         f'<td>{h(as_text(post.get("author"), 100))}</td>'
                         f'<td class="num">{num(post.get("followers"))}</td><td class="excerpt">{text}</td>'
                         f'<td class="num">{pct(post.get("negative"))}</td><td>{mark}</td></tr>')
    posts_table = (f'<table id="posts"><tr><th class="num">#</th><th>{ctx.t("col_account")}</th>'
                   f'<th class="num">{ctx.t("col_followers")}</th><th>{ctx.t("col_post")}</th>'
                   f'<th class="num">{ctx.t("col_negative_score")}</th><th>{ctx.t("col_sentiment_wrong")}</th></tr>'
                   f'{"".join(post_rows)}</table>' if post_rows else f'<p class="muted">{ctx.t("no_posts")}</p>')
    deliveries = incident.deliveries()
    delivery_rows = "".join(
        f'<tr><td>{ctx.clock(d.delivered_at)}</td><td>{h(d.channel)}</td>'
        f'<td>{h(ctx.texts.get("signal_" + d.key.rpartition(":")[2], d.key))}</td>'
        f'<td>{ctx.t("delivery_" + d.state)}</td><td>{severity_badge(ctx, d.severity) if d.severity else ""}</td>'
        f'<td>{ctx.t("kind_" + d.kind) if ("kind_" + d.kind) in ctx.texts else h(d.kind)}</td></tr>'
        for d in deliveries)
    delivery_table = (f'<table id="deliveries"><tr><th>{ctx.t("col_when")}</th><th>{ctx.t("col_channel")}</th>'
                      f'<th>{ctx.t("col_signal")}</th><th>{ctx.t("col_state")}</th><th>{ctx.t("col_severity")}</th>'
                      f'<th>{ctx.t("col_kind")}</th></tr>{delivery_rows}</table>' if deliveries else
                      f'<p class="muted" id="deliveries">{ctx.t("no_deliveries")}</p>')
    body = (f'<h1>{h(incident.brand_name)} {severity_badge(ctx, incident.severity)} {state_badge(ctx, incident)}</h1>'
            f'<div class="muted">{ctx.t("incident_id")}: <code id="incident-id">{h(incident.id)}</code></div>'
            f'<div class="card"><dl class="facts">{fact_html}</dl>{_actions(ctx, incident)}</div>'
            f'<h2>{ctx.t("timeline_title")}</h2><div class="card">{chart}</div>'
            f'<h2>{ctx.t("why_title")}</h2>{why_table}'
            f'<h2>{ctx.t("terms_title")}</h2><div class="card" id="terms">{terms_html}</div>'
            f'<h2>{ctx.t("kols_title")}</h2>{kol_table}'
            f'<h2>{ctx.t("posts_title")}</h2>{posts_table}'
            f'<h2>{ctx.t("deliveries_title")}</h2>{delivery_table}')
    return layout(ctx, incident.brand_name, body)


# -- actions ------------------------------------------------------------------

def describe_action(ctx: PageContext, action: str, incident: Incident, until: float | None) -> str:
    """What pressing the button will do, in words."""
    if action == "ack":
        return ctx.t("confirm_ack", brand=incident.brand_name, user=ctx.user or ctx.texts["chat_link_user"])
    if action == "silence-resolved":
        return ctx.t("confirm_silence_resolved", brand=incident.brand_name, brand_id=incident.brand,
                     when=ctx.clock(until))
    hours = SILENCE_SECONDS.get(action, 3600.0) / 3600.0
    return ctx.t("confirm_silence", brand=incident.brand_name, brand_id=incident.brand, hours=f"{hours:g}",
                 when=ctx.clock(until))


def confirm_page(ctx: PageContext, action: str, incident: Incident, post_to: str, hidden: Mapping[str, str],
                 until: float | None, cancel: str) -> str:
    fields = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in hidden.items())
    comment = (f'<p><label>{ctx.t("comment")} <input type="text" name="comment" maxlength="500"></label></p>')
    body = (f'<h1>{ctx.t("confirm_title")}</h1><div class="card"><p id="what">{describe_action(ctx, action, incident, until)}'
            f'</p><form method="post" action="{escape(post_to)}"><input type="hidden" name="csrf" '
            f'value="{escape(ctx.csrf)}">{fields}{comment}<button type="submit" class="primary" id="confirm">'
            f'{ctx.t("confirm_button")}</button> <a href="{escape(cancel)}">{ctx.t("cancel")}</a></form></div>')
    return layout(ctx, ctx.texts["confirm_title"], body)


def message_page(ctx: PageContext, title_key: str, text_key: str, *, error: bool = True,
                 link: tuple[str, str] | None = None, **values: Any) -> str:
    extra = f'<p><a href="{escape(link[0])}">{ctx.t(link[1])}</a></p>' if link else ""
    body = (f'<h1>{ctx.t(title_key)}</h1><div class="{"error" if error else "notice"}" id="message">'
            f'{ctx.t(text_key, **values)}</div>{extra}')
    return layout(ctx, ctx.texts.get(title_key, title_key), body)


def login_page(ctx: PageContext, next_path: str, token: bool, users: bool, error: str = "") -> str:
    forms = []
    hidden = (f'<input type="hidden" name="csrf" value="{escape(ctx.csrf)}">'
              f'<input type="hidden" name="next" value="{escape(next_path)}">')
    if users:
        forms.append(f'<form method="post" action="/login">{hidden}'
                     f'<p><label>{ctx.t("user")} <input type="text" name="user" id="user" autocomplete="username">'
                     f'</label></p><p><label>{ctx.t("password")} <input type="password" name="password" id="password" '
                     f'autocomplete="current-password"></label></p>'
                     f'<button type="submit" class="primary" id="login-password">{ctx.t("login")}</button>'
                     f'<p class="muted">{ctx.t("login_help_users")}</p></form>')
    if token:
        forms.append(f'<form method="post" action="/login">{hidden}'
                     f'<p><label>{ctx.t("your_name")} <input type="text" name="name" id="name" maxlength="64">'
                     f'</label></p><p><label>{ctx.t("token")} <input type="password" name="token" id="token" '
                     f'autocomplete="off"></label></p>'
                     f'<button type="submit" class="primary" id="login-submit">{ctx.t("login")}</button>'
                     f'<p class="muted">{ctx.t("login_help_token")}</p></form>')
    problem = f'<div class="error">{ctx.t(error)}</div>' if error else ""
    body = f'<h1>{ctx.t("login")}</h1>{problem}' + "".join(f'<div class="card">{form}</div>' for form in forms)
    return layout(ctx, ctx.texts["login"], body)


def bounce_page(target: str) -> str:
    """A page that loads ``target`` again from this site: a visitor coming
    from a chat app (another site) arrives without our SameSite=Strict
    cookies; the same-site reload carries them."""
    return (f'<!doctype html><html><head><meta charset="utf-8">'
            f'<meta http-equiv="refresh" content="0;url={escape(target)}"></head>'
            f'<body><a href="{escape(target)}">…</a></body></html>')


# -- backtest reports -----------------------------------------------------------

def report_list_page(ctx: PageContext, reports: Sequence[tuple[str, str]], configured: bool) -> str:
    if not configured:
        body = f'<p class="muted">{ctx.t("reports_off")}</p>'
    elif not reports:
        body = f'<p class="muted">{ctx.t("no_reports")}</p>'
    else:
        body = "<ul id=\"reports\">" + "".join(
            f'<li><a href="/backtests/{quote(name)}">{h(name)}</a> <span class="muted">{h(summary)}</span></li>'
            for name, summary in reports) + "</ul>"
    return layout(ctx, ctx.texts["backtests_title"], f'<h1>{ctx.t("backtests_title")}</h1>{body}')


def report_page(ctx: PageContext, name: str, report: Mapping[str, Any]) -> str:
    rows = []
    for b in report.get("brands", []):
        rows.append(f'<tr><td>{h(b.get("name") or b.get("brand"))}</td><td class="num">{num(b.get("mentions"))}</td>'
                    f'<td class="num">{num(b.get("negative"))}</td><td class="num">{pct(b.get("negative_share"))}</td>'
                    f'<td class="num">{num(b.get("negative_alerts"))}</td><td class="num">{num(b.get("volume_alerts"))}'
                    f'</td><td class="num">{num(b.get("false_alerts")) if report.get("labelled") else "?"}</td></tr>')
    summary = report.get("summary", {})
    facts = [("report_source", h(report.get("source", ""))), ("report_detector", h(report.get("detector", ""))),
             ("report_span", f'{ctx.clock(report.get("first_time"))} – {ctx.clock(report.get("last_time"))}'),
             ("report_posts", num(summary.get("posts"))), ("report_matched", num(summary.get("matched_posts"))),
             ("report_invalid", num(summary.get("invalid_lines")))]
    if report.get("labelled"):
        facts.append(("report_false_per_week", num(summary.get("false_alerts_per_brand_week"))))
    windows = []
    for w in report.get("windows", []):
        verdict = "verdict_ok" if w.get("passed") else ("verdict_missed" if w.get("expected") == "negative_alert"
                                                        else "verdict_alerted")
        windows.append(f'<tr><td>{h(w.get("brand"))}</td><td>{h(w.get("kind"))}</td>'
                       f'<td>{ctx.clock(w.get("onset"))} – {ctx.clock(w.get("end"))}</td><td>{h(w.get("expected"))}</td>'
                       f'<td>{ctx.t(verdict)}</td><td class="num">{ctx.duration(w.get("delay_seconds"))}</td></tr>')
    window_table = (f'<h2>{ctx.t("windows_title")}</h2><table id="windows"><tr><th>{ctx.t("col_brand")}</th>'
                    f'<th>{ctx.t("col_kind")}</th><th>{ctx.t("col_when")}</th><th>{ctx.t("col_expected_alert")}</th>'
                    f'<th>{ctx.t("col_verdict")}</th><th class="num">{ctx.t("col_delay")}</th></tr>'
                    f'{"".join(windows)}</table>' if windows else "")
    charts_html = []
    for brand, series in (report.get("series") or {}).items():
        points = [charts.Point(finite(p[0], math.nan), finite(report.get("bucket_seconds"), 60.0),
                               int(finite(p[1], 0)), int(finite(p[2], 0)))
                  for p in series if isinstance(p, list) and len(p) >= 3]
        marks = [charts.Mark(finite(a.get("event_time"), math.nan), "resolved" if a.get("state") == "resolved"
                             else "alert", ctx.texts.get("signal_" + str(a.get("signal")), str(a.get("signal"))))
                 for a in report.get("alerts", []) if isinstance(a, dict) and a.get("brand") == brand
                 and (a.get("new") or a.get("state") == "resolved")]
        chart = charts.timeline(charts.downsample(points), marks, clock=ctx.clock,
                                labels={"volume": ctx.texts["chart_volume"], "share": ctx.texts["chart_share"],
                                        "baseline": ctx.texts["chart_baseline"]})
        charts_html.append(f'<h2>{h(brand)}</h2><div class="card">{chart}</div>')
    fact_html = "".join(f"<dt>{ctx.t(k)}</dt><dd>{v}</dd>" for k, v in facts)
    body = (f'<h1>{ctx.t("backtest_title", name=name)}</h1><div class="card"><dl class="facts">{fact_html}</dl></div>'
            f'<table id="report-brands"><tr><th>{ctx.t("col_brand")}</th><th class="num">{ctx.t("col_mentions")}</th>'
            f'<th class="num">{ctx.t("col_negative")}</th><th class="num">{ctx.t("col_share")}</th>'
            f'<th class="num">{ctx.t("col_negative_alerts")}</th><th class="num">{ctx.t("col_volume_alerts")}</th>'
            f'<th class="num">{ctx.t("col_false_alerts")}</th></tr>{"".join(rows)}</table>'
            f'{window_table}{"".join(charts_html)}')
    return layout(ctx, name, body)
