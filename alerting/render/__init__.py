"""Turn notifications into text PR teams read (zh by default, en selectable).

A message tells incidents, not signals: the alerts of one brand in a
notification are one incident (alerting/render/incident.py builds the view),
told whole when the channel first hears of it, as a short update when it
changes and as a summary when it is over.

Templates are plain files (``string.Template``: ``$name`` placeholders, no
code) in ``alerting/templates/<language>/``; ``alerting.templates_dir`` (and
a channel's own ``templates_dir``) point at folders of the same layout that
override any of them, and files they lack fall back to the packaged ones. A
message template is paragraphs separated by blank lines; a line whose
placeholders all rendered empty disappears, and so does a paragraph whose
placeholders all did (a heading with nothing under it). Lists (signals,
stories, accounts, posts) are rendered by the code with a one-line
template each, so a template never needs loops.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from alerting.episode import Milestone, episode_id
from alerting.message import Notification
from alerting.render import incident as view
from alerting.render.incident import Driver, Incident, IncidentLinks, LinkProvider, Story
from alerting.render.safe import as_text, count, epoch, finite, scrub, url
from streams.models import AlertEvent

PACKAGED = Path(__file__).resolve().parent.parent / "templates"
SPARK = "▁▂▃▄▅▆▇█"
SPARK_POINTS = 24
MAX_TITLE_BRANDS = 600  # characters of brand names in a group's title
STORY_EXCERPT = 60
POST_EXCERPT = 50

_TITLE = ("brand", "brand_name", "severity", "severity_label", "kind_label", "signal_label", "signals", "headline")
_BODY = ("brand", "brand_name", "severity", "severity_label", "kind_label", "timeline", "links", "started",
         "dashboard_url", "incident_url")
# Every template and the placeholders it may use (checked when templates load).
TEMPLATES: dict[str, tuple[str, ...]] = {
    "title_firing.tmpl": _TITLE, "title_update.tmpl": _TITLE, "title_reminder.tmpl": _TITLE,
    "title_resolved.tmpl": _TITLE, "title_missed.tmpl": _TITLE,
    "title_group.tmpl": ("count", "firing_count", "resolved_count", "severity_label", "brands"),
    "incident.md.tmpl": (*_BODY, "signals", "share_context", "sparkline", "stories", "drivers", "posts"),
    "update.md.tmpl": (*_BODY, "severity_change", "changes", "still_firing", "resolved", "sparkline"),
    "summary.md.tmpl": (*_BODY, "duration", "ended", "peak_severity", "negative_posts", "story_count",
                        "last_share", "signals", "earlier_signals"),
    "signal.md.tmpl": ("change", "label", "value", "unit", "expected", "window", "z", "peak", "severity_label",
                       "signal"),
    "signal_kol.md.tmpl": ("change", "label", "account", "usual", "reaction", "z", "window", "severity_label",
                           "signal"),
    "signal_resolved.md.tmpl": ("change", "label", "peak", "unit", "peak_window", "peak_severity_label", "duration", "signal"),
    "story.md.tmpl": ("excerpt", "posts", "reposts", "terms", "author", "url", "link"),
    "driver.md.tmpl": ("author", "followers", "badge"),
    "post.md.tmpl": ("rank", "author", "followers", "followers_note", "excerpt", "url", "link"),
    "more.tmpl": ("count",),
}
TEMPLATE_FILES = (*TEMPLATES, "strings.json")
# Templates of the message-per-signal era: a copy in templates_dir would be
# silently ignored, so it stops start-up with what replaced it.
OBSOLETE = {"firing.md.tmpl": "incident.md.tmpl and signal.md.tmpl",
            "resolved.md.tmpl": "summary.md.tmpl and signal_resolved.md.tmpl"}
# strings.json entries that are formats, with the fields each is given.
FORMATS: dict[str, dict[str, Any]] = {
    "peak_note": {"": "1"}, "share_context": {"share": "1", "window": "1", "baseline": "1"},
    "posts_of_total": {"negative": "1", "total": "1"}, "story_count": {"": "1"}, "story_count_more": {"": "1"},
    "story_terms": {"": "1"}, "followers_note": {"": "1"}, "paren": {"": "1"},
    "headline.escalated": {"": "1"}, "headline.deescalated": {"": "1"}, "headline.new_signal": {"": "1"},
    "headline.new_signals": {"": "1"}, "headline.resolved_signal": {"": "1"},
    "headline.resolved_signals": {"": "1"},
    "kol_reposts": {"negative": "1", "reposts": "1", "minutes": "1"},
}
# Under a size limit, the paragraphs that go first (by the placeholder they hold).
DROP_ORDER = ("posts", "drivers", "stories", "earlier_signals", "sparkline", "share_context", "timeline")


class TemplateError(ValueError):
    pass


def sparkline(values: list[Any], points: int = SPARK_POINTS) -> str:
    recent = [max(0.0, finite(v)) for v in values[-points:]] if isinstance(values, list) else []
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


def is_proportion(signal: Any) -> bool:
    """Whether a signal's value is a proportion (a share; negative_tone's mean
    probability): the one rule the chat text and the PR console both read."""
    return isinstance(signal, str) and (signal.endswith("share") or signal == "negative_tone")


def signal_value(signal: str, value: Any) -> str:
    """Proportions read as percentages, counts as whole numbers."""
    if is_proportion(signal):
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


def _size(text: str) -> int:
    return len(text.encode())


def fit_sections(header: str, sections: list[str], more: string.Template, limit: int,
                 separator: str = "\n\n", first: Any = None) -> tuple[str, int]:
    """Join as many sections as fit ``limit`` bytes, then a visible "... N
    more" note; returns (text, number left out). The first section is
    shrunk (``first(room)``, else cut) rather than dropped, so a message is
    never empty nor rejected."""
    body = header
    shown = 0
    for i, section in enumerate(sections):
        left_after = len(sections) - i - 1
        note = separator + more.safe_substitute(count=left_after) if left_after else ""
        candidate = body + (separator if body else "") + section
        if _size(candidate) + _size(note) <= limit:
            body = candidate
            shown += 1
            continue
        break
    if shown == 0 and sections:
        note = separator + more.safe_substitute(count=len(sections) - 1) if len(sections) > 1 else ""
        room = max(0, limit - _size(body) - _size(separator if body else "") - _size(note))
        body = body + (separator if body else "") + (first(room) if first is not None else cut_bytes(sections[0], room))
        shown = 1
    omitted = len(sections) - shown
    if omitted:
        body += separator + more.safe_substitute(count=omitted)
    return cut_bytes(body, limit), omitted


_PLACEHOLDER = string.Template.pattern


def placeholders(text: str) -> list[str]:
    return [m.group("named") or m.group("braced") for m in _PLACEHOLDER.finditer(text)
            if m.group("named") or m.group("braced")]


def fill_paragraphs(text: str, values: Mapping[str, str]) -> list[tuple[frozenset[str], str]]:
    """A message template filled in, as paragraphs (the placeholders each
    held, its text). A line whose placeholders all rendered empty is left
    out, and so is a paragraph whose placeholders all did."""
    out: list[tuple[frozenset[str], str]] = []
    for paragraph in text.split("\n\n"):
        names = placeholders(paragraph)
        if names and not any(values.get(n) for n in names):
            continue
        lines = []
        for line in paragraph.split("\n"):
            used = placeholders(line)
            if used and not any(values.get(n) for n in used):
                continue
            lines.append(string.Template(line).substitute(values).rstrip())
        filled = "\n".join(lines).strip("\n")
        if filled.strip():
            out.append((frozenset(names), filled))
    return out


@dataclass
class RenderedIncident:
    incident: Incident
    title: str
    paragraphs: list[tuple[frozenset[str], str]]
    links: IncidentLinks
    dashboard_url: str
    data: dict[str, Any] = field(default_factory=dict)  # the incident as structured data (PagerDuty, webhook)

    def body(self, limit: int | None = None) -> str:
        """The paragraphs; over ``limit`` bytes, the least important go first
        (posts, accounts, stories ...), then the rest is cut."""
        paragraphs = list(self.paragraphs)
        text = "\n\n".join(p for _, p in paragraphs)
        if limit is None or _size(text) <= limit:
            return text
        for block in DROP_ORDER:
            paragraphs = [p for p in paragraphs if block not in p[0]]
            text = "\n\n".join(p for _, p in paragraphs)
            if _size(text) <= limit:
                return text
        return cut_bytes(text, limit)

    def section(self, limit: int | None = None, heading: str = "**") -> str:
        head = f"### {self.title}" if heading == "###" else f"**{self.title}**"
        if not self.paragraphs:
            return head if limit is None else cut_bytes(head, limit)
        room = None if limit is None else max(0, limit - _size(head) - 2)
        text = f"{head}\n\n{self.body(room)}"
        return text if limit is None else cut_bytes(text, limit)


@dataclass
class Rendered:
    title: str
    incidents: list[RenderedIncident]
    more: string.Template
    strings: dict[str, Any]

    @property
    def sections(self) -> list[str]:
        return [r.section() for r in self.incidents]

    def text(self, limit: int = 1_000_000, heading: str = "**") -> str:
        """The whole message: one incident with its title as the heading, or
        a group's title then each incident, as many as fit ``limit`` bytes.
        ``heading``: "**" (bold), "###" or "" (no title: the platform shows it)."""
        if len(self.incidents) == 1:
            return self.incidents[0].section(limit, heading) if heading else self.incidents[0].body(limit)
        header = {"###": f"### {self.title}", "": ""}.get(heading, f"**{self.title}**")
        first = self.incidents[0] if self.incidents else None
        text, _ = fit_sections(header, self.sections, self.more, limit,
                               first=(lambda room: first.section(room)) if first is not None else None)
        return text

    def of(self, alert: AlertEvent) -> RenderedIncident:
        """The incident an alert of the notification belongs to."""
        for rendered in self.incidents:
            if any(a is alert or a.key == alert.key for a in rendered.incident.alerts):
                return rendered
        return self.incidents[0]


class Renderer:
    def __init__(self, language: str = "zh", templates_dir: str | None = None, timezone: str = "Asia/Shanghai",
                 grafana_url: str = "", links: LinkProvider | None = None) -> None:
        if language not in ("zh", "en"):
            raise TemplateError(f"language must be zh or en, got {language!r}")
        self.language = language
        self.tz = ZoneInfo(timezone)
        self.timezone = timezone
        self.grafana_url = grafana_url
        self.templates_dir = templates_dir
        self.links = links
        self._for_channel: dict[str, Renderer] = {}
        self.templates, self.strings = self._load((templates_dir,) if templates_dir else ())

    def for_channel(self, templates_dir: str | None) -> Renderer:
        """This renderer with a channel's own templates in front of ours."""
        if not templates_dir:
            return self
        known = self._for_channel.get(templates_dir)
        if known is None:
            known = Renderer(self.language, None, self.timezone, self.grafana_url, self.links)
            known.templates_dir = self.templates_dir
            known.templates, known.strings = self._load(
                tuple(d for d in (templates_dir, self.templates_dir) if d))
            self._for_channel[templates_dir] = known
        return known

    # ---- templates -----------------------------------------------------

    def _load(self, folders: tuple[str, ...]) -> tuple[dict[str, string.Template], dict[str, Any]]:
        for folder in folders:
            for old, new in OBSOLETE.items():
                for place in (Path(folder) / self.language / old, Path(folder) / old):
                    if place.is_file():
                        raise TemplateError(f"{place}: no longer used: a message tells one incident now; "
                                            f"move what you changed to {new} (docs/alerting.md, "
                                            "'Messages and templates')")
        templates: dict[str, string.Template] = {}
        for name, allowed in TEMPLATES.items():
            path = self._locate(folders, name)
            text = path.read_text(encoding="utf-8").replace("\r\n", "\n").rstrip("\n")
            template = string.Template(text)
            if not template.is_valid():
                raise TemplateError(f"{path}: invalid placeholder (use $name or ${{name}}; $$ for a dollar sign)")
            for used in placeholders(text):
                if used not in allowed:
                    raise TemplateError(f"{name}: unknown placeholder ${used} (known: {', '.join(sorted(allowed))})")
            templates[name] = template
        # A user's strings.json only needs the entries it changes: the packaged
        # ones fill in the rest (and newer entries an older copy lacks).
        strings: dict[str, Any] = json.loads((PACKAGED / self.language / "strings.json").read_text(encoding="utf-8"))
        for folder in reversed(folders):
            path = self._locate((folder,), "strings.json")
            if path.parent == PACKAGED / self.language:
                continue
            try:
                custom = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise TemplateError(f"{path}: {exc}") from None
            except RecursionError:
                raise TemplateError(f"{path}: nested too deeply") from None
            if not isinstance(custom, dict):
                raise TemplateError(f"{path}: expected a JSON object")
            for key, value in custom.items():
                known = strings.get(key)
                if isinstance(known, dict):  # a group of labels: the entries given replace ours
                    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                        raise TemplateError(f"{path}: {key}: expected an object of texts like {json.dumps(known)}")
                    strings[key] = {**known, **value}
                elif known is not None and not isinstance(value, str):
                    raise TemplateError(f"{path}: {key}: expected a text, got {json.dumps(value)[:80]}")
                else:
                    strings[key] = value
        for key, fields in FORMATS.items():
            group, _, name = key.partition(".")
            fmt = strings.get(group, {}).get(name) if name else strings.get(group)
            try:
                if not isinstance(fmt, str):
                    raise TypeError("expected a text")
                fmt.format(fields.get("", ""), **{k: v for k, v in fields.items() if k})
            except (KeyError, IndexError, ValueError, TypeError) as exc:
                raise TemplateError(f"strings.json: {key}: {exc!r} (fields: "
                                    f"{', '.join(k or '{}' for k in fields)})") from None
        return templates, strings

    def _locate(self, folders: tuple[str, ...], name: str) -> Path:
        for folder in folders:
            for custom in (Path(folder) / self.language / name, Path(folder) / name):
                if custom.is_file():
                    return custom
        return PACKAGED / self.language / name

    def _line(self, name: str, values: Mapping[str, str]) -> str:
        return self.templates[name].substitute(values)

    def _format(self, key: str, *args: Any, **kwargs: Any) -> str:
        group, _, name = key.partition(".")
        fmt = self.strings[group][name] if name else self.strings[group]
        return str(fmt).format(*args, **kwargs)

    # ---- small formats -------------------------------------------------

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

    def timeline(self, milestones: list[Milestone], label: str = "") -> str:
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
                steps.append(f"{when} {words['fired']}" + (self._format("paren", severity) if severity else ""))
            elif m.kind in ("escalated", "deescalated"):
                steps.append(f"{when} {words[m.kind]}{self.strings.get('space', '')}{severity}")
            else:
                steps.append(f"{when} {words['resolved']}")
        head = words["label"] + (self._format("paren", label) if label else "")
        return f"{head}{self.strings.get('colon', '：')}" + " → ".join(steps)

    def milestones(self, note: Notification, alert: AlertEvent) -> list[Milestone]:
        return view.milestones(note, alert)

    def severity_label(self, severity: Any) -> str:
        labels = self.strings["severity"]
        return str(labels.get(severity, labels["warning"])) if isinstance(severity, str) else str(labels["warning"])

    def signal_label(self, signal: Any) -> str:
        labels = self.strings["signal"]
        return str(labels[signal]) if isinstance(signal, str) and signal in labels else clean_inline(signal, 40)

    def _statistic(self, value: Any) -> str:
        number = finite(value)
        return f"{number:.1f}" if abs(number) < 1e9 else f"{number:.3g}"

    def _list(self, items: Iterable[str]) -> str:
        return str(self.strings["list_separator"]).join(items)

    # ---- rows ------------------------------------------------------------

    def signal_row(self, alert: AlertEvent, change: str = "", new_high: bool = False) -> str:
        signal = alert.signal if isinstance(alert.signal, str) else ""
        evidence = alert.evidence if isinstance(alert.evidence, dict) else {}
        common = {"change": change, "label": self.signal_label(signal), "z": self._statistic(alert.statistic),
                  "window": self.duration(alert.window_seconds), "severity_label": self.severity_label(alert.severity),
                  "signal": plain_inline(signal, 40)}
        if signal == "kol":
            usual = finite(evidence.get("usual_per_week"), math.nan)
            # The post itself was misread; the reaction to it paged (streams/detection/signals/kol.py).
            reaction = self._format("kol_reposts", negative=int(finite(evidence.get("negative_reposts"), 0.0)),
                                    reposts=int(finite(evidence.get("reposts_seen"), 0.0)),
                                    minutes=self.duration(finite(evidence.get("watched_minutes"), 0.0) * 60.0)) \
                if evidence.get("path") == "reposts" else ""
            return self._line("signal_kol.md.tmpl", {
                **common, "account": clean_inline(evidence.get("account"), 30) or self.strings["anonymous"],
                "usual": "–" if math.isnan(usual) else f"{usual:.2g}", "reaction": reaction})
        value, top = finite(alert.value, math.nan), finite(alert.peak_value, math.nan)
        if not math.isnan(top) and not math.isnan(value) and signal_value(signal, top) != signal_value(signal, value) \
                and top > value:
            note = self._format("peak_note", signal_value(signal, top))
        else:  # the value now is the peak: a new high when the channel was told a lower one
            note = str(self.strings["new_high"]) if new_high else ""
        return self._line("signal.md.tmpl", {
            **common, "value": signal_value(signal, alert.value), "unit": self._unit(signal),
            "expected": signal_value(signal, alert.baseline), "peak": note})

    def _unit(self, signal: str) -> str:
        return str(self.strings.get("value_unit", {}).get(signal, ""))

    def resolved_row(self, alert: AlertEvent, change: str = "") -> str:
        signal = alert.signal if isinstance(alert.signal, str) else ""
        evidence = alert.evidence if isinstance(alert.evidence, dict) else {}
        if signal == "kol":  # its "value" is followers, shown with the account among who drives it
            peak, unit = clean_inline(evidence.get("account"), 30) or self.strings["anonymous"], ""
        else:
            peak, unit = signal_value(signal, alert.peak_value or alert.value), self._unit(signal)
        end = alert.ended_at if alert.ended_at is not None else alert.event_time
        # The peak's window: a count is only comparable with the window it was counted in.
        window = finite(alert.peak_window_seconds, 0.0) if signal != "kol" else 0.0
        peak_window = self._format("peak_window", self.duration(window)) if window > 0 else ""
        return self._line("signal_resolved.md.tmpl", {
            "change": change, "label": self.signal_label(signal), "peak": peak, "unit": unit,
            "peak_window": peak_window,
            "peak_severity_label": self.severity_label(alert.peak_severity or alert.severity),
            "duration": self.duration(finite(end) - finite(alert.started_at)), "signal": plain_inline(signal, 40)})

    def _link(self, address: Any) -> str:
        link = url(address)
        return f"[{self.strings['open']}]({link})" if link else ""

    def story_row(self, story: Story) -> str:
        post = story.post
        terms = [clean_inline(t, 12) for t in story.terms]
        return self._line("story.md.tmpl", {
            "excerpt": clean_inline(post.get("excerpt"), STORY_EXCERPT) or self.strings["anonymous"],
            "posts": count(story.posts), "reposts": count(story.reposts),
            "terms": self._format("story_terms", self._list(terms)) if terms else "",
            "author": clean_inline(post.get("author"), 30) or self.strings["anonymous"],
            "url": url(post.get("url")), "link": self._link(post.get("url"))})

    def driver_row(self, driver: Driver) -> str:
        badges = ([self.strings["verified"]] if driver.verified else []) + (
            [self.strings["kol_mark"]] if driver.kol_signal else [])
        return self._line("driver.md.tmpl", {
            "author": clean_inline(driver.author, 30) or self.strings["anonymous"],
            "followers": count(driver.followers or 0),
            "badge": "".join(f"{self.strings['badge_separator']}{b}" for b in badges)})

    def post_row(self, post: dict[str, Any], rank: int, drivers: set[str]) -> str:
        author = clean_inline(post.get("author"), 30) or self.strings["anonymous"]
        followers = count(post.get("followers", 0) or 0)
        # An account listed under "who drives it" has its followers there already.
        note = "" if author in drivers else self._format("followers_note", followers)
        return self._line("post.md.tmpl", {
            "rank": str(rank), "author": author, "followers": followers, "followers_note": note,
            "excerpt": clean_inline(post.get("excerpt"), POST_EXCERPT), "url": url(post.get("url")),
            "link": self._link(post.get("url"))})

    # ---- one incident ------------------------------------------------------

    def _links(self, incident: Incident) -> tuple[IncidentLinks, str]:
        provided = IncidentLinks()
        if self.links is not None:
            try:
                provided = self.links(incident.ref())
            except Exception:  # a link is never a reason to lose the message
                provided = IncidentLinks()
            if not isinstance(provided, IncidentLinks):
                provided = IncidentLinks()
        safe = IncidentLinks(url(provided.incident), url(provided.silence_1h), url(provided.acknowledge))
        first = min(incident.alerts, key=lambda a: finite(a.started_at, math.inf))
        return safe, self.dashboard_url(first)

    def links_line(self, incident: Incident, links: IncidentLinks, dashboard: str) -> str:
        words = self.strings["links"]
        parts = [("incident", links.incident)]
        if incident.kind != "resolved":  # nothing left to silence or acknowledge
            parts += [("silence_1h", links.silence_1h), ("acknowledge", links.acknowledge)]
        parts.append(("dashboard", dashboard))
        return str(self.strings["link_separator"]).join(f"[{words[k]}]({v})" for k, v in parts if v)

    def _timelines(self, incident: Incident) -> str:
        several = len(incident.timelines) > 1
        return "\n".join(self.timeline(ms, self.signal_label(a.signal) if several else "")
                         for a, ms in incident.timelines)

    def _share_context(self, alert: AlertEvent) -> str:
        if alert.total <= 0 or math.isnan(finite(alert.negative_share, math.nan)):
            return ""
        return self._format("share_context", share=share(alert.negative_share),
                            window=self.duration(alert.window_seconds), baseline=share(alert.baseline_share))

    def headline(self, incident: Incident) -> str:
        s = self.strings
        if view.escalated(incident):
            return self._format("headline.escalated", self.severity_label(incident.severity))
        if incident.new_signals:
            labels = [self.signal_label(a.signal) for a in incident.new_signals]
            return (self._format("headline.new_signal", self._list(labels)) if len(labels) <= 2
                    else self._format("headline.new_signals", len(labels)))
        if incident.resolved:
            labels = [self.signal_label(a.signal) for a in incident.resolved]
            return (self._format("headline.resolved_signal", self._list(labels)) if len(labels) <= 2
                    else self._format("headline.resolved_signals", len(labels)))
        if view.deescalated(incident):
            return self._format("headline.deescalated", self.severity_label(incident.severity))
        return str(s["headline"]["changed"])

    def title_values(self, incident: Incident) -> dict[str, str]:
        first = incident.alerts[0]
        return {
            "brand": plain_inline(incident.brand, 64), "brand_name": clean_inline(incident.brand_name, 40),
            "severity": incident.severity, "severity_label": self.severity_label(incident.severity),
            "kind_label": str(self.strings["kind"]["volume" if incident.volume_only else "negative"]),
            "signal_label": self.signal_label(first.signal),
            "signals": self._list(dict.fromkeys(self.signal_label(a.signal) for a in incident.alerts)),
            "headline": self.headline(incident) if incident.kind == "update" else "",
        }

    def standing_title(self, incident: Incident) -> str:
        """The incident's own title whatever this message says of it (an
        on-call tool keeps one summary per incident)."""
        kind = "resolved" if not incident.firing else "new"
        name = "title_missed.tmpl" if kind == "resolved" and incident.missed else (
            "title_resolved.tmpl" if kind == "resolved" else "title_firing.tmpl")
        return re.sub(r"\s+", " ", self._line(name, self.title_values(incident))).strip()

    def incident_title(self, incident: Incident) -> str:
        name = {"new": "title_firing.tmpl", "update": "title_update.tmpl", "reminder": "title_reminder.tmpl",
                "unchanged": "title_reminder.tmpl", "resolved": "title_resolved.tmpl"}[incident.kind]
        if incident.kind == "resolved" and incident.missed:
            name = "title_missed.tmpl"
        return re.sub(r"\s+", " ", self._line(name, self.title_values(incident))).strip()

    def render_incident(self, incident: Incident, inline_links: bool = True) -> RenderedIncident:
        s = self.strings
        links, dashboard = self._links(incident)
        values: dict[str, str] = {
            **self.title_values(incident),
            "timeline": self._timelines(incident),
            "links": self.links_line(incident, links, dashboard) if inline_links else "",
            "started": self.local_time(incident.started_at), "dashboard_url": dashboard,
            "incident_url": links.incident,
        }
        change = s["change"]
        if incident.kind in ("new", "reminder"):
            rows = [self.signal_row(a) for a in incident.firing]
            rows += [self.resolved_row(a, change["resolved"]) for a in incident.resolved]
            shares_shown = any(a.signal == "negative_share" for a in incident.alerts)
            drivers = {clean_inline(d.author, 30) for d in incident.drivers}
            values.update(
                signals="\n".join(rows), share_context="" if shares_shown else self._share_context(incident.latest),
                sparkline=sparkline(incident.latest.sparkline),
                stories="\n".join(self.story_row(story) for story in incident.stories),
                drivers="\n".join(self.driver_row(d) for d in incident.drivers),
                posts="\n".join(self.post_row(p, i + 1, drivers) for i, p in enumerate(incident.posts)))
            template = "incident.md.tmpl"
        elif incident.kind == "update":
            told_severity = incident.told_severity
            moved = view.escalated(incident) or view.deescalated(incident)
            rows = [self.signal_row(a, change["new"]) for a in incident.new_signals]
            rows += [self.signal_row(a, change["changed"], view.new_peak(a, incident.told.get(episode_id(a))))
                     for a in incident.changed]
            values.update(
                severity_change=(f"{self.severity_label(told_severity)} → **{self.severity_label(incident.severity)}**"
                                 if moved else ""),
                changes="\n".join(rows), still_firing=self._list(self.signal_label(a.signal) for a in incident.still),
                resolved="\n".join(self.resolved_row(a) for a in incident.resolved), sparkline="")
            template = "update.md.tmpl"
        elif incident.kind == "resolved":
            values.update(self._summary_values(incident))
            template = "summary.md.tmpl"
        else:  # unchanged: the incident goes on, told in an earlier message; its title says so
            rendered = RenderedIncident(incident, self.incident_title(incident), [], links, dashboard)
            rendered.data = self.incident_data(rendered)
            return rendered
        paragraphs = fill_paragraphs(self.templates[template].template, values)
        rendered = RenderedIncident(incident, self.incident_title(incident), paragraphs, links, dashboard)
        rendered.data = self.incident_data(rendered)
        return rendered

    def _summary_values(self, incident: Incident) -> dict[str, str]:
        tally = incident.tally
        negative, total = tally.get("negative"), tally.get("total")
        posts = ""
        if isinstance(negative, int) and isinstance(total, int) and not isinstance(negative, bool) and total > 0:
            posts = self._format("posts_of_total", negative=count(negative), total=count(total))
        stories = tally.get("stories")
        story_count = ""
        if isinstance(stories, int) and not isinstance(stories, bool) and stories > 0:
            story_count = self._format("story_count_more" if tally.get("more_stories") is True else "story_count",
                                       count(stories))
        # The share when it ended, labelled with its window: the widest one that had posts.
        closing = sorted(incident.resolved, key=lambda a: -finite(a.window_seconds))
        last_share = next((text for a in closing if (text := self._share_context(a))), "")
        present = {a.signal for a in incident.alerts}
        earlier = tally.get("signals")
        earlier_labels = [self.signal_label(s) for s in earlier if isinstance(s, str) and s not in present][:10] \
            if isinstance(earlier, list) else []
        end = incident.ended_at
        return {
            "duration": self.duration(finite(end) - finite(incident.started_at)) if end is not None else "",
            "ended": self.local_time(end), "peak_severity": self.severity_label(incident.severity),
            "negative_posts": posts, "story_count": story_count, "last_share": last_share,
            "signals": "\n".join(self.resolved_row(a) for a in incident.alerts),
            "earlier_signals": self._list(dict.fromkeys(earlier_labels)),
        }

    # ---- structured ------------------------------------------------------

    def incident_data(self, rendered: RenderedIncident) -> dict[str, Any]:
        """The incident as data for machines (PagerDuty custom_details, webhooks)."""
        inc = rendered.incident

        def number(value: Any) -> float | None:
            out = finite(value, math.nan)
            return None if math.isnan(out) else out

        def post(p: dict[str, Any]) -> dict[str, Any]:
            return {"author": as_text(p.get("author"), 200), "followers": p.get("followers")
                    if isinstance(p.get("followers"), (int, float, str)) and not isinstance(p.get("followers"), bool)
                    else None, "excerpt": as_text(p.get("excerpt"), 500), "url": url(p.get("url"))}

        data: dict[str, Any] = {
            "brand": as_text(inc.brand, 200), "brand_name": as_text(inc.brand_name, 200), "kind": inc.kind,
            "state": "firing" if inc.firing else "resolved", "severity": inc.severity, "title": rendered.title,
            "started_at": inc.started_at, "ended_at": inc.ended_at,
            "signals": [{"signal": as_text(a.signal, 200), "label": self.signal_label(a.signal), "state": a.state,
                         "severity": a.severity, "value": number(a.value), "expected": number(a.baseline),
                         "unit": self._unit(a.signal) if isinstance(a.signal, str) else "",
                         "window_seconds": number(a.window_seconds), "z": number(a.statistic),
                         "peak": number(a.peak_value), "started_at": number(a.started_at),
                         "new": any(a is n for n in inc.new_signals)} for a in inc.alerts],
            "stories": [{**post(s.post), "posts": s.posts, "reposts": s.reposts, "terms": list(s.terms)}
                         for s in inc.stories],
            "kols": [{"author": as_text(d.author, 200), "followers": number(d.followers), "verified": d.verified,
                      "kol_signal": d.kol_signal} for d in inc.drivers],
            "posts": [post(p) for p in inc.posts],
            "links": {k: v for k, v in (("incident", rendered.links.incident),
                                        ("silence_1h", rendered.links.silence_1h),
                                        ("acknowledge", rendered.links.acknowledge),
                                        ("dashboard", rendered.dashboard_url)) if v},
        }
        totals = {name: value for name, value in ((n, inc.tally.get(k)) for n, k in (
            ("negative_posts", "negative"), ("posts", "total"), ("stories", "stories")))
            if isinstance(value, int) and not isinstance(value, bool)}
        if totals:  # the whole incident so far (the detector's tally), not one signal's window
            data["totals"] = {**totals, "more_stories": inc.tally.get("more_stories") is True}
        if inc.kind == "update":
            data["changes"] = {"severity_from": inc.told_severity, "severity_to": inc.severity,
                               "new_signals": [as_text(a.signal, 200) for a in inc.new_signals],
                               "resolved_signals": [as_text(a.signal, 200) for a in inc.resolved]}
        return data

    # ---- a whole notification ----------------------------------------------

    def render(self, note: Notification, inline_links: bool = True) -> Rendered:
        incidents = [self.render_incident(i, inline_links) for i in view.build(note)]
        return Rendered(title=self._title(note, incidents), incidents=incidents, more=self.templates["more.tmpl"],
                        strings=self.strings)

    def title(self, note: Notification) -> str:
        return self.render(note).title

    def _title(self, note: Notification, incidents: list[RenderedIncident]) -> str:
        if len(incidents) == 1:
            return incidents[0].title
        open_ = [r.incident for r in incidents if r.incident.firing]
        worst = "critical" if any(i.severity == "critical" for i in open_) else "warning"
        brands = self._list(dict.fromkeys(clean_inline(r.incident.brand_name, 40) for r in incidents))
        return re.sub(r"\s+", " ", self._line("title_group.tmpl", {
            "count": str(len(incidents)), "firing_count": str(len(open_)),
            "resolved_count": str(len(incidents) - len(open_)),
            "severity_label": self.severity_label(worst) if open_ else str(self.strings["resolved"]),
            # Bounded: the title heads the message on every platform.
            "brands": brands if len(brands) <= MAX_TITLE_BRANDS else brands[: MAX_TITLE_BRANDS - 1] + "…",
        })).strip()


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
        link = match.group(2).replace("|", "%7C").replace(">", "%3E")
        out.append(f"<{link}|{escape(match.group(1))}>")
        last = match.end()
    out.append(escape(markdown[last:]))
    return "".join(out)


def to_plain(markdown: str) -> str:
    """For plain-text messages and fallbacks: markup removed, links kept readable."""
    text = re.sub(r"\*\*(.+?)\*\*", r"\1", markdown)
    text = re.sub(r"\[([^\]]+)\]\((\S+?)\)", r"\1 \2", text)
    return re.sub(r"^#+\s*", "", text, flags=re.M)


__all__ = ["TEMPLATES", "IncidentLinks", "LinkProvider", "Rendered", "RenderedIncident", "Renderer", "TemplateError",
           "clean_inline", "cut_bytes", "fit_sections", "sparkline", "to_plain", "to_slack_mrkdwn"]
