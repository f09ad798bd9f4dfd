"""Turn notifications into text PR teams read (zh by default, en selectable).

Templates are plain files (``string.Template``: ``$name`` placeholders, no
code) in ``alerting/templates/<language>/``; a user points
``alerting.templates_dir`` at a folder of the same layout to override any
of them, and files it lacks fall back to the packaged ones. Lists (top
posts, risk terms) are rendered by the code with a one-line template each,
so a template never needs loops.
"""

from __future__ import annotations

import json
import math
import re
import string
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from alerting.episode import Milestone, episode_id
from alerting.message import Notification
from alerting.render.safe import as_text, count, epoch, finite, scrub, url
from streams.models import AlertEvent

PACKAGED = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE_FILES = ("title_firing.tmpl", "title_resolved.tmpl", "title_missed.tmpl", "title_group.tmpl",
                  "firing.md.tmpl", "resolved.md.tmpl", "post.md.tmpl", "more.tmpl", "strings.json")
SPARK = "▁▂▃▄▅▆▇█"
SPARK_POINTS = 24
MAX_TITLE_BRANDS = 600  # characters of brand names in a group's title


class TemplateError(ValueError):
    pass


def sparkline(values: list[Any], points: int = SPARK_POINTS) -> str:
    recent = [max(0.0, finite(v)) for v in values[-points:]]
    if not recent:
        return ""
    top = max(recent)
    if top <= 0:
        return SPARK[0] * len(recent)
    return "".join(SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1) + 0.5))] for v in recent)


def share(value: Any) -> str:
    number = finite(value, math.nan)
    if math.isnan(number):
        return "–"
    return f"{number:.1%}" if abs(number) < 1e6 else f"{number * 100:.3g}%"


def signal_value(signal: str, value: Any) -> str:
    """Shares read as percentages, counts as whole numbers."""
    if signal.endswith("share"):
        return share(value)
    number = finite(value, math.nan)
    if math.isnan(number):
        return "–"
    if abs(number) >= 1e15:
        return f"{number:.3g}"
    return f"{number:,.0f}" if abs(number - round(number)) < 1e-9 else f"{number:,.2f}"


def clean_inline(text: Any, limit: int = 80) -> str:
    """Outside text goes inside a markdown line: no newlines, no markup of
    its own, nothing invisible, at most ``limit`` characters."""
    flat = re.sub(r"\s+", " ", as_text(text, limit * 4 + 16)).strip()
    flat = flat.translate(str.maketrans({"*": "＊", "`": "'", "[": "［", "]": "］", "<": "＜", ">": "＞",
                                         "#": "＃", "_": "＿", "|": "｜"}))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def plain_inline(text: Any, limit: int) -> str:
    """An identifier (brand id, alert key, signal name) on one line: flattened,
    nothing invisible, at most ``limit`` characters; its characters kept."""
    flat = re.sub(r"\s+", " ", as_text(text, limit * 4 + 16)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def cut_bytes(text: str, limit: int, ellipsis: str = "…") -> str:
    """Cut at a UTF-8 character boundary so that the result fits ``limit`` bytes."""
    data = scrub(text).encode()
    if len(data) <= limit:
        return text
    room = max(0, limit - len(ellipsis.encode()))
    return data[:room].decode("utf-8", errors="ignore") + ellipsis


def fit_sections(header: str, sections: list[str], more: string.Template, limit: int,
                 separator: str = "\n\n") -> tuple[str, int]:
    """Join as many alert sections as fit ``limit`` bytes, then a visible
    "... N more" note; returns (text, number left out). The first section is
    cut rather than dropped, so a message is never empty nor rejected."""
    def size(text: str) -> int:
        return len(text.encode())

    body = header
    shown = 0
    for i, section in enumerate(sections):
        left_after = len(sections) - i - 1
        note = separator + more.safe_substitute(count=left_after) if left_after else ""
        candidate = body + (separator if body else "") + section
        if size(candidate) + size(note) <= limit:
            body = candidate
            shown += 1
            continue
        break
    if shown == 0 and sections:
        note = separator + more.safe_substitute(count=len(sections) - 1) if len(sections) > 1 else ""
        room = limit - size(body) - size(separator if body else "") - size(note)
        body = body + (separator if body else "") + cut_bytes(sections[0], max(0, room))
        shown = 1
    omitted = len(sections) - shown
    if omitted:
        body += separator + more.safe_substitute(count=omitted)
    return cut_bytes(body, limit), omitted


@dataclass
class Rendered:
    title: str
    header: str
    sections: list[str]
    more: string.Template
    strings: dict[str, Any]

    def text(self, limit: int = 1_000_000) -> str:
        return fit_sections(self.header, self.sections, self.more, limit)[0]


class Renderer:
    def __init__(self, language: str = "zh", templates_dir: str | None = None, timezone: str = "Asia/Shanghai",
                 grafana_url: str = "") -> None:
        if language not in ("zh", "en"):
            raise TemplateError(f"language must be zh or en, got {language!r}")
        self.language = language
        self.tz = ZoneInfo(timezone)
        self.grafana_url = grafana_url
        self.templates: dict[str, string.Template] = {}
        raw_strings = ""
        for name in TEMPLATE_FILES:
            path = self._locate(templates_dir, name)
            text = path.read_text(encoding="utf-8")
            if name == "strings.json":
                raw_strings = text
                continue
            template = string.Template(text.rstrip("\n"))
            if not template.is_valid():
                raise TemplateError(f"{path}: invalid placeholder (use $name or ${{name}}; $$ for a dollar sign)")
            self.templates[name] = template
        try:
            custom = json.loads(raw_strings)
        except json.JSONDecodeError as exc:
            raise TemplateError(f"strings.json: {exc}") from None
        if not isinstance(custom, dict):
            raise TemplateError("strings.json: expected a JSON object")
        # A user's strings.json from an older release lacks newer entries: the packaged ones fill in.
        packaged = json.loads((PACKAGED / language / "strings.json").read_text(encoding="utf-8"))
        self.strings: dict[str, Any] = {**packaged, **custom}

    def _locate(self, templates_dir: str | None, name: str) -> Path:
        if templates_dir:
            custom = Path(templates_dir) / self.language / name
            if custom.is_file():
                return custom
        return PACKAGED / self.language / name

    def _fill(self, name: str, values: dict[str, Any]) -> str:
        try:
            return self.templates[name].substitute(values)
        except KeyError as exc:
            raise TemplateError(f"{name}: unknown placeholder ${exc.args[0]} "
                                f"(known: {', '.join(sorted(values))})") from None

    def local_time(self, when: Any) -> str:
        """``2026-03-02 13:08`` in the alerting time zone; "????-??-?? ??:??" for a time no calendar shows."""
        seconds = epoch(when)
        if seconds is None:
            return "????-??-?? ??:??"
        try:
            return datetime.fromtimestamp(seconds, self.tz).strftime("%Y-%m-%d %H:%M")
        except (OverflowError, OSError, ValueError):
            return "????-??-?? ??:??"

    def local_day(self, when: Any) -> str:
        return self.local_time(when)[:10]

    def local_clock(self, when: Any) -> str:
        return self.local_time(when)[11:]

    def duration(self, seconds: Any) -> str:
        units = self.strings["units"]
        minutes = int(round(min(max(0.0, finite(seconds)), 100 * 365 * 86400.0) / 60))
        if minutes < 60:
            return f"{minutes}{units['minute']}"
        hours, minutes = divmod(minutes, 60)
        return f"{hours}{units['hour']}{minutes}{units['minute']}" if minutes else f"{hours}{units['hour']}"

    def dashboard_url(self, event: AlertEvent) -> str:
        if not self.grafana_url:
            return ""
        sep = "&" if "?" in self.grafana_url else "?"
        started = epoch(event.started_at)
        since = f"&from={int((started - 3600) * 1000)}" if started is not None else ""
        link = f"{self.grafana_url}{sep}var-brand={quote(scrub(event.brand)[:200])}{since}&to=now"
        return link if len(link) <= 2000 else ""

    def timeline(self, milestones: list[Milestone]) -> str:
        """"经过：13:08 触发（警告）→ 13:12 升级为严重 → 13:40 恢复": what a
        channel missed (an outage), or "" when it missed nothing."""
        if not milestones:
            return ""
        words = self.strings["timeline"]
        day = self.local_day(milestones[0].at)
        steps = []
        for m in milestones:
            when = self.local_clock(m.at) if self.local_day(m.at) == day else self.local_time(m.at)[5:]
            severity = self.strings["severity"].get(m.severity, "")
            if m.kind == "fired":
                steps.append(f"{when} {words['fired']}" + (self.strings.get("paren", "（{}）").format(severity)
                                                            if severity else ""))
            elif m.kind in ("escalated", "deescalated"):
                steps.append(f"{when} {words[m.kind]}{self.strings.get('space', '')}{severity}")
            else:
                steps.append(f"{when} {words['resolved']}")
        return f"{words['label']}{self.strings.get('colon', '：')}" + " → ".join(steps)

    def values(self, event: AlertEvent, milestones: list[Milestone] | None = None) -> dict[str, Any]:
        s = self.strings
        posts = []
        for p in [p for p in event.top_posts[:3] if isinstance(p, dict)]:
            link = url(p.get("url"))
            posts.append(self._fill("post.md.tmpl", {
                "rank": len(posts) + 1,
                "author": clean_inline(p.get("author"), 30) or s["anonymous"],
                "followers": count(p.get("followers", 0) or 0),
                "excerpt": clean_inline(p.get("excerpt")),
                "url": link,
                "link": f"[{s['open']}]({link})" if link else "",
            }))
        terms = [f"{clean_inline(t[0], 20)}({clean_inline(count(t[1]), 12)})" for t in event.risk_terms[:5]
                 if isinstance(t, (list, tuple)) and len(t) >= 2 and clean_inline(t[0], 20)]
        dashboard = self.dashboard_url(event)
        change = finite(event.volume_change)
        signal = plain_inline(event.signal, 40)
        statistic = finite(event.statistic)
        return {
            "brand": plain_inline(event.brand, 64),
            "brand_name": clean_inline(event.brand_name or event.brand, 40),
            "severity": event.severity,
            "severity_label": s["severity"].get(event.severity, event.severity),
            "peak_severity_label": s["severity"].get(
                event.peak_severity if isinstance(event.peak_severity, str) and event.peak_severity else event.severity,
                s["severity"].get(event.severity, event.severity)),
            "signal": signal,
            "signal_label": s["signal"].get(event.signal, clean_inline(event.signal, 40)),
            "negative_share": share(event.negative_share),
            "baseline_share": share(event.baseline_share),
            "negative": count(event.negative),
            "total": count(event.total),
            "value": signal_value(event.signal, event.value),
            "baseline": signal_value(event.signal, event.baseline),
            "peak_value": signal_value(event.signal, event.peak_value or event.value),
            "value_unit": s.get("value_unit", {}).get(event.signal, ""),
            "statistic": f"{statistic:.1f}" if abs(statistic) < 1e9 else f"{statistic:.3g}",
            "volume_change": (f"{change:.1f}x" if abs(change) < 1e9 else f"{change:.3g}x") if change else s["none"],
            "window": self.duration(event.window_seconds),
            "sparkline": sparkline(event.sparkline) or s["none"],
            "top_posts": "\n".join(posts) if posts else s["no_posts"],
            "risk_terms": s["list_separator"].join(terms) if terms else s["none"],
            "dashboard": f"[{s['dashboard']}]({dashboard})" if dashboard else "",
            "dashboard_url": dashboard,
            "started": self.local_time(event.started_at),
            "updated": self.local_time(event.event_time),
            "ended": self.local_time(event.ended_at or event.event_time),
            "duration": self.duration(finite(event.ended_at or event.event_time) - finite(event.started_at)),
            "summary": clean_inline(event.summary, 200),
            "key": plain_inline(event.key, 128),
            "timeline": self.timeline(milestones or []),
        }

    def milestones(self, note: Notification, alert: AlertEvent) -> list[Milestone]:
        out = []
        for raw in note.timelines.get(episode_id(alert), []):
            try:
                out.append(Milestone.from_dict(raw))
            except (TypeError, ValueError):
                continue
        return out

    def render(self, note: Notification) -> Rendered:
        sections = []
        for alert in note.alerts:
            values = self.values(alert, self.milestones(note, alert))
            body = self._fill("firing.md.tmpl" if alert.state == "firing" else "resolved.md.tmpl", values)
            sections.append(_drop_empty_lines(body))
        return Rendered(title=self.title(note), header="", sections=sections, more=self.templates["more.tmpl"],
                        strings=self.strings)

    def title(self, note: Notification) -> str:
        if len(note.alerts) == 1:
            alert = note.alerts[0]
            missed = self.milestones(note, alert)
            if alert.state == "firing":
                name = "title_firing.tmpl"
            else:  # a resolve the channel also missed the firing of says so in its title
                name = "title_missed.tmpl" if any(m.kind == "fired" for m in missed) else "title_resolved.tmpl"
            return self._fill(name, self.values(alert, missed))
        firing = note.firing
        worst = "critical" if any(a.severity == "critical" for a in firing) else "warning"
        brands = self.strings["list_separator"].join(
            dict.fromkeys(clean_inline(a.brand_name or a.brand, 40) for a in note.alerts))
        return self._fill("title_group.tmpl", {
            "count": len(note.alerts), "firing_count": len(firing), "resolved_count": len(note.resolved),
            "severity_label": self.strings["severity"][worst] if firing else self.strings["resolved"],
            # Bounded: the title heads the message on every platform.
            "brands": brands if len(brands) <= MAX_TITLE_BRANDS else brands[: MAX_TITLE_BRANDS - 1] + "…",
        })


def _drop_empty_lines(text: str) -> str:
    """A placeholder that rendered empty (no dashboard configured) leaves no
    empty bullet behind, and never more than one blank line in a row."""
    out: list[str] = []
    for line in text.split("\n"):
        if line.strip() in ("-", ">"):
            continue
        if not line.strip() and (not out or not out[-1].strip()):
            continue
        out.append(line.rstrip())
    return "\n".join(out).strip("\n")


_LINK = re.compile(r"\[([^\]]+)\]\((\S+?)\)")


def to_slack_mrkdwn(markdown: str) -> str:
    """Slack's mrkdwn: *bold*, <url|text>, a leading > quotes, and &, <, >
    elsewhere escaped (they are Slack's control characters)."""
    def escape(text: str) -> str:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        text = re.sub(r"^&gt; ", "> ", text, flags=re.M)
        return re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)

    out: list[str] = []
    last = 0
    for match in _LINK.finditer(markdown):
        out.append(escape(markdown[last:match.start()]))
        url = match.group(2).replace("|", "%7C").replace(">", "%3E")
        out.append(f"<{url}|{escape(match.group(1))}>")
        last = match.end()
    out.append(escape(markdown[last:]))
    return "".join(out)


def to_plain(markdown: str) -> str:
    """For plain-text messages and fallbacks: markup removed, links kept readable."""
    text = re.sub(r"\*\*(.+?)\*\*", r"\1", markdown)
    text = re.sub(r"\[([^\]]+)\]\((\S+?)\)", r"\1 \2", text)
    return re.sub(r"^#+\s*", "", text, flags=re.M)
