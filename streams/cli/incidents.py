"""``koubei alerts list|show``: the incident history on the command line.

The same incidents as the console (``alerting.incidents``), read from the
alerts, deliveries, silences and acks topics: a table for people (in the
configured language, ``--lang`` to switch), ``--json`` for tools.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import unicodedata
from collections.abc import Sequence
from typing import Any

from streams.cli.config import KoubeiConfig, load_koubei_config

# How long to wait for the broker to answer before saying it cannot be reached
# (the admin client alone would wait 30 s).
PROBE_SECONDS = 10.0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    alerts = subparsers.add_parser("alerts", help="incident history: `koubei alerts list` and `koubei alerts show ID`")
    actions = alerts.add_subparsers(dest="alerts_command", metavar="ACTION")
    lst = actions.add_parser("list", help="incidents, open first, then the most recently resolved")
    lst.add_argument("--brand", default=None, help="only this brand (its id)")
    lst.add_argument("--open", action="store_true", help="only incidents still open")
    lst.add_argument("--limit", type=int, default=50, help="at most this many (default 50; 0 = all)")
    _common(lst)
    lst.set_defaults(func=cmd_list)
    show = actions.add_parser("show", help="one incident: signals, posts, KOLs, deliveries, silences, acks")
    show.add_argument("incident", metavar="INCIDENT_ID", help="e.g. acme:1763699100 (any alert's brand:start works)")
    _common(show)
    show.set_defaults(func=cmd_show)
    alerts.set_defaults(func=lambda args: (alerts.print_help(), 2)[1])


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--lang", choices=("zh", "en"), default=None, help="language of the table (default: config)")
    parser.add_argument("-c", "--config", default="koubei.yaml", help="the configuration file (default koubei.yaml)")


def load_incidents(config: KoubeiConfig) -> tuple[Any, Any]:
    """(IncidentBook, SilenceStore) from the topics, read whole."""
    from alerting.incidents import IncidentBook
    from alerting.policy.silences import SilenceStore
    from streams import topics
    from streams.cli.console import gap_of
    from streams.kafka import bootstrap_servers, cluster_id, ensure_topics, read_topic

    bootstrap = bootstrap_servers(config.kafka.url)
    cluster_id(bootstrap, timeout=PROBE_SECONDS, security=config.kafka)
    ensure_topics(bootstrap, config.topics.plan((topics.ALERTS, topics.DELIVERIES, topics.SILENCES, topics.ACKS)),
                  config.kafka.replication_factor, security=config.kafka)
    book = IncidentBook(gap=gap_of(config), retention=float("inf"))
    silences = SilenceStore()
    for record in read_topic(bootstrap, config.topic(topics.ALERTS), security=config.kafka):
        book.add_alert_record(record.value)
    for record in read_topic(bootstrap, config.topic(topics.DELIVERIES), security=config.kafka):
        book.add_delivery_record(record.value)
    for record in read_topic(bootstrap, config.topic(topics.ACKS), security=config.kafka):
        book.add_ack_record(record.key, record.value)
    for record in read_topic(bootstrap, config.topic(topics.SILENCES), security=config.kafka):
        silences.apply_record(record.value)
    return book, silences


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * max(width - _width(text), 0)
    return fill + text if right else text + fill


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """Columns aligned for a terminal, counting CJK characters as two cells."""
    widths = [max([_width(h)] + [_width(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(_pad(h, widths[i], i in numeric) for i, h in enumerate(headers)).rstrip()]
    for row in rows:
        lines.append("  ".join(_pad(cell, widths[i], i in numeric) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)


def _context(config: KoubeiConfig, language: str | None) -> Any:
    from alerting.console.pages import PageContext

    lang = language or config.alerting.language or config.language
    return PageContext(language=lang, path="", timezone=config.alerting.timezone, now=time.time())


def _text(ctx: Any, key: str, **values: Any) -> str:
    """A strings-table entry as plain text (the table's HTML escaping undone)."""
    from html import unescape

    return unescape(ctx.t(key, **values))


def cmd_list(args: argparse.Namespace) -> int:
    from alerting.labels import Labeler

    config = load_koubei_config(args.config)
    book, silences = load_incidents(config)
    incidents = book.incidents(args.brand, args.open)
    if args.limit > 0:
        incidents = incidents[: args.limit]
    now = time.time()
    labeler = Labeler.of(config.brands)
    if args.json:
        out = []
        for incident in incidents:
            data = incident.to_dict()
            data["silences"] = [s.to_dict() for s in incident.silences(silences.silences.values(), labeler, now)]
            out.append(data)
        print(json.dumps(out, ensure_ascii=False, indent=2, allow_nan=False))
        return 0
    ctx = _context(config, args.lang)
    if not incidents:
        print(_text(ctx, "no_incidents"))
        return 0
    rows = []
    for i in incidents:
        signals = ", ".join(sorted({ctx.texts.get("signal_" + t.latest.signal, t.latest.signal) for t in i.tracks}))
        silenced = _text(ctx, "silenced") if i.silences(silences.silences.values(), labeler, now) else ""
        rows.append([i.id, i.brand_name, ctx.texts["severity_" + i.severity], ctx.texts["state_" + i.state],
                     ctx.clock(i.opened_at), ctx.duration(i.duration) if i.duration is not None else "–",
                     f"{i.peak_share:.1%}", signals,
                     ctx.texts["acknowledged"] if i.acknowledged else "", silenced])
    keys = ("incident_id", "col_brand", "col_severity", "col_state", "col_opened", "col_duration", "col_peak_share",
            "col_signals", "col_ack", "col_silence")
    print(table([_text(ctx, k) for k in keys], rows, numeric=(6,)))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from alerting.labels import Labeler

    config = load_koubei_config(args.config)
    book, silences = load_incidents(config)
    incident = book.get(args.incident)
    if incident is None:
        print(f"koubei alerts show: no incident {args.incident!r} (see `koubei alerts list`)", file=sys.stderr)
        return 1
    now = time.time()
    active = incident.silences(silences.silences.values(), Labeler.of(config.brands), now)
    if args.json:
        data = incident.to_dict(limit=20)
        data["silences"] = [s.to_dict() for s in active]
        print(json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False))
        return 0
    from alerting.console.pages import num, pct, signal_value

    ctx = _context(config, args.lang)
    t = ctx.texts
    lines = [f"{incident.brand_name} ({incident.brand})  {t['severity_' + incident.severity]}  "
             f"{t['state_' + incident.state]}  {incident.id}"]
    facts = [("col_opened", ctx.clock(incident.opened_at))]
    if incident.escalated_at is not None:
        facts.append(("col_escalated", ctx.clock(incident.escalated_at)))
    facts += [("col_resolved", ctx.clock(incident.resolved_at) if incident.resolved_at is not None else "–"),
              ("col_duration", ctx.duration(incident.duration) if incident.duration is not None else "–"),
              ("col_peak_severity", t["severity_" + incident.peak_severity]),
              ("col_peak_share", pct(incident.peak_share))]
    acks = incident.acks()
    facts.append(("col_ack", "; ".join(_text(ctx, "acked_by", user=a.by, when=ctx.clock(a.at))
                                       + (f" · {a.comment}" if a.comment else "") for a in acks)
                  or _text(ctx, "not_acknowledged")))
    facts.append(("col_silence", "; ".join(f"{' '.join(m.display() for m in s.matchers)} "
                                           f"{_text(ctx, 'until', when=ctx.clock(s.ends_at))} ({s.created_by}: "
                                           f"{s.comment})" for s in active) or _text(ctx, "not_silenced")))
    label_width = max(_width(_text(ctx, k)) for k, _ in facts)
    lines += [f"  {_pad(_text(ctx, k), label_width)}  {v}" for k, v in facts]
    lines += ["", _text(ctx, "why_title")]
    rows = []
    for track in incident.signals:
        e = track.latest
        rows.append([t.get("signal_" + e.signal, e.signal), t["state_" + ("open" if track.resolved_at is None
                                                                           else "resolved")],
                     t["severity_" + (e.severity if e.severity in ("warning", "critical") else "warning")],
                     signal_value(e.signal, e.value), signal_value(e.signal, e.baseline),
                     ctx.duration(e.window_seconds if isinstance(e.window_seconds, (int, float)) else None),
                     num(e.statistic), ctx.clock(track.start),
                     ctx.clock(track.resolved_at) if track.resolved_at is not None else "–"])
    headers = [_text(ctx, k) for k in ("col_signal", "col_state", "col_severity", "col_value", "col_expected",
                                       "col_window")] + ["z", _text(ctx, "col_started"), _text(ctx, "col_ended")]
    lines.append(table(headers, rows, numeric=(3, 4, 5, 6)))
    terms = incident.risk_terms()
    if terms:
        lines += ["", f"{_text(ctx, 'terms_title')}: " + ", ".join(f"{term}({count})" for term, count in terms)]
    kols = incident.kols()
    if kols:
        lines += ["", _text(ctx, "kols_title"),
                  table([_text(ctx, "col_account"), _text(ctx, "col_followers"), _text(ctx, "col_post")],
                        [[k["author"] + (" ✔" if k["verified"] else ""), num(k["followers"]), k["post_id"]]
                         for k in kols], numeric=(1,))]
    posts = incident.top_posts()
    if posts:
        lines += ["", _text(ctx, "posts_title")]
        for rank, post in enumerate(posts, 1):
            excerpt = " ".join(str(post.get("excerpt", "")).split())[:80]
            lines.append(f"  {rank}. {post.get('author', '')} ({num(post.get('followers'))}): {excerpt}")
            if isinstance(post.get("url"), str) and post["url"].startswith(("http://", "https://")):
                lines.append(f"     {post['url']}")
    deliveries = incident.deliveries()
    lines += ["", _text(ctx, "deliveries_title")]
    if deliveries:
        lines.append(table([_text(ctx, k) for k in ("col_when", "col_channel", "col_signal", "col_state", "col_kind")],
                           [[ctx.clock(d.delivered_at), d.channel, t.get("signal_" + d.key.rpartition(":")[2], d.key),
                             t.get("delivery_" + d.state, d.state), t.get("kind_" + d.kind, d.kind)]
                            for d in deliveries]))
    else:
        lines.append("  " + _text(ctx, "no_deliveries"))
    lines += ["", _text(ctx, "timeline_title")]
    for at, kind, signal, severity in incident.timeline():
        sev = f" ({t['severity_' + severity]})" if severity in ("warning", "critical") else ""
        lines.append(f"  {ctx.clock(at)}  {t.get('mark_' + kind, kind)} · {t.get('signal_' + signal, signal)}{sev}")
    print("\n".join(lines))
    return 0
