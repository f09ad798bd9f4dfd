"""What one message says about one brand's episode: an incident, not a list
of signals.

A notification holds a group's alerts (alerting/pipeline.py); grouped by
brand (the default ``group_by``), those of one brand are one incident: the
signals that fired, what the posts behind it are about (stories), who
drives it (big and verified accounts), its farthest-reaching posts. This
module builds that view from the alerts' evidence, plain data and no text,
so every channel renders the same facts (alerting/render/__init__.py) and
PagerDuty and webhooks get them as structured data.

What the channel already heard (``Notification.told``) decides the kind of
message: a new incident is told whole, a known one only what changed (an
update), a finished one as a summary. Evidence comes from outside (posts,
detectors): every field is read defensively (alerting/render/safe.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerting.episode import SEVERITY_RANK, Milestone, episode_id
from alerting.message import Notification, alert_identity
from alerting.render.safe import epoch, finite
from streams.models import AlertEvent

# An account this big is a KOL whether or not the kol signal fired for it;
# the detector's kol_min_followers default (streams/detection/params.py).
KOL_FOLLOWERS = 100_000
STORIES_SHOWN = 3
DRIVERS_SHOWN = 5
POSTS_SHOWN = 3
TERMS_PER_STORY = 3
# Bounds on outside evidence: an alert may carry any list (1,000 posts).
MAX_POSTS_READ = 50
MAX_TERMS_READ = 20

KINDS = ("new", "update", "reminder", "resolved", "unchanged")


@dataclass(frozen=True)
class IncidentRef:
    """What a link provider needs to point at an incident: its brand, when it
    started (the first of its alerts, or the detector's incident tally) and
    its alerts (each ``key`` and ``started_at`` names one alert lifecycle)."""

    brand: str
    started_at: float
    alerts: tuple[AlertEvent, ...]


@dataclass(frozen=True)
class IncidentLinks:
    """Links a message carries for one incident; "" = none. The console
    (``koubei console``) provides them: its incident page and signed,
    expiring action links that land on its confirmation page."""

    incident: str = ""
    silence_1h: str = ""
    acknowledge: str = ""


LinkProvider = Callable[[IncidentRef], IncidentLinks]


@dataclass(frozen=True)
class Story:
    key: str
    post: dict[str, Any]  # the story's farthest-reaching sample post
    posts: int  # negative posts telling it (the detector's count, else the sample's)
    reposts: int  # their repost counters, summed
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Driver:
    author: Any
    followers: Any
    verified: bool
    kol_signal: bool  # the account the kol signal fired on


@dataclass
class Incident:
    brand: str
    brand_name: str
    kind: str  # one of KINDS
    alerts: list[AlertEvent]  # firing first, worst first
    severity: str
    told_severity: str  # the worst severity the channel heard ("" nothing)
    new_signals: list[AlertEvent]  # firing, never told to the channel
    changed: list[AlertEvent]  # firing, told before but not this update
    still: list[AlertEvent]  # firing, nothing new
    resolved: list[AlertEvent]  # resolved in this message
    latest: AlertEvent  # the freshest update: its evidence is the most complete
    started_at: float | None
    ended_at: float | None
    tally: dict[str, Any]  # evidence["incident"] (streams/detection/incident.py), {} if absent
    stories: list[Story] = field(default_factory=list)
    drivers: list[Driver] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)  # farthest-reaching, not shown as a story
    # The alerts whose earlier milestones the channel missed (an outage), with them.
    timelines: list[tuple[AlertEvent, list[Milestone]]] = field(default_factory=list)
    missed: bool = False  # resolved, and the channel never heard it fire (an outage)
    told: dict[str, dict[str, Any]] = field(default_factory=dict)  # episode id -> what the channel heard
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def firing(self) -> list[AlertEvent]:
        return [a for a in self.alerts if a.state == "firing"]

    @property
    def volume_only(self) -> bool:
        return all(a.signal == "volume" for a in self.alerts)

    def ref(self) -> IncidentRef:
        return IncidentRef(self.brand, self.started_at if self.started_at is not None else 0.0, tuple(self.alerts))


def _rank(severity: Any) -> int:
    return SEVERITY_RANK.get(severity, -1) if isinstance(severity, str) else -1


def _worst(severities: Sequence[Any]) -> str:
    ranked = [s for s in severities if _rank(s) >= 0]
    return max(ranked, key=_rank) if ranked else ""


def _tally(alert: AlertEvent) -> dict[str, Any]:
    evidence = alert.evidence if isinstance(alert.evidence, dict) else {}
    tally = evidence.get("incident")
    return tally if isinstance(tally, dict) else {}


def _story_key(post: Mapping[str, Any], index: int) -> str:
    for name in ("story", "id"):
        value = post.get(name)
        if isinstance(value, str) and value:
            return value[:200]
    return f"#{index}"


def _count(value: Any) -> int:
    number = finite(value)
    return int(min(max(number, 0.0), 1e15))


def _terms(post: Mapping[str, Any]) -> list[str]:
    raw = post.get("terms")
    if not isinstance(raw, list):
        return []
    return [t for t in raw[:MAX_TERMS_READ] if isinstance(t, str) and t.strip()]


def _reach(post: Mapping[str, Any]) -> float:
    return finite(post.get("reach"))


def sample_posts(alerts: Sequence[AlertEvent]) -> list[dict[str, Any]]:
    """The incident's sample posts, each once (the freshest alert's copy),
    farthest-reaching first."""
    seen: dict[str, dict[str, Any]] = {}
    for alert in sorted(alerts, key=lambda a: -finite(a.event_time)):
        posts = alert.top_posts if isinstance(alert.top_posts, list) else []
        for i, post in enumerate(posts[:MAX_POSTS_READ]):
            if not isinstance(post, dict):
                continue
            key = str(post.get("id")) if isinstance(post.get("id"), str) and post.get("id") else f"{alert.key}#{i}"
            seen.setdefault(key, post)
    return sorted(seen.values(), key=lambda p: -_reach(p))


def stories_of(posts: Sequence[dict[str, Any]], counts: Mapping[str, Any]) -> list[Story]:
    """Posts grouped by the story they spread, the most-told first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for i, post in enumerate(posts):
        groups.setdefault(_story_key(post, i), []).append(post)
    out = []
    for key, members in groups.items():
        told = counts.get(key)
        known = isinstance(told, list) and len(told) == 2
        sampled_reposts = sum(_count(p.get("reposts")) for p in members)
        posts_count = max(len(members), _count(told[0])) if known else len(members)
        reposts = max(sampled_reposts, _count(told[1])) if known else sampled_reposts
        terms: list[str] = []
        for member in members:
            terms += [t for t in _terms(member) if t not in terms]
        out.append(Story(key, members[0], posts_count, reposts, tuple(terms[:TERMS_PER_STORY])))
    out.sort(key=lambda s: (-s.posts, -_reach(s.post)))
    return out


def drivers_of(alerts: Sequence[AlertEvent], posts: Sequence[dict[str, Any]]) -> list[Driver]:
    """KOLs and verified accounts among the posters, the biggest first: the
    account the kol signal fired on, then the sample posts' authors."""
    found: dict[str, Driver] = {}

    def add(author: Any, followers: Any, verified: bool, kol_signal: bool) -> None:
        if not isinstance(author, str) or not author.strip():
            return
        name = author.strip()[:200]
        known = found.get(name)
        if known is not None:
            followers = followers if finite(followers) >= finite(known.followers) else known.followers
            verified, kol_signal = verified or known.verified, kol_signal or known.kol_signal
        found[name] = Driver(name, followers, verified, kol_signal)

    for alert in alerts:
        evidence = alert.evidence if isinstance(alert.evidence, dict) else {}
        if alert.signal == "kol":
            add(evidence.get("account"), evidence.get("account_followers"), evidence.get("account_verified") is True,
                True)
    for post in posts:
        verified = post.get("verified") is True
        if verified or finite(post.get("followers")) >= KOL_FOLLOWERS:
            add(post.get("author"), post.get("followers"), verified, False)
    return sorted(found.values(), key=lambda d: -finite(d.followers))[:DRIVERS_SHOWN]


def milestones(note: Notification, alert: AlertEvent) -> list[Milestone]:
    """What the channel missed of an alert's episode (readable entries only)."""
    out = []
    for raw in note.timelines.get(episode_id(alert), []):
        try:
            out.append(Milestone.from_dict(raw))
        except (TypeError, ValueError):
            continue
    return out


def _is_news(note: Notification, alert: AlertEvent) -> bool:
    told = note.told.get(episode_id(alert))
    return alert.state == "resolved" or not isinstance(told, dict) or told.get("current") is not True


def build(note: Notification) -> list[Incident]:
    """The incidents of a notification: one per brand, in the order the
    pipeline sorted its alerts (firing, critical first), news first."""
    by_brand: dict[str, dict[str, AlertEvent]] = {}
    for alert in note.alerts:
        episodes = by_brand.setdefault(alert.brand, {})
        eid = episode_id(alert)
        known = episodes.get(eid)
        if known is None or alert_identity(alert) > alert_identity(known):
            episodes[eid] = alert  # the same update twice (a template check) is one
    incidents = [_incident(note, list(episodes.values())) for episodes in by_brand.values()]
    order = {"new": 0, "update": 1, "reminder": 2, "resolved": 3, "unchanged": 4}
    incidents.sort(key=lambda i: (order[i.kind], -_rank(i.severity)))
    return incidents


def _incident(note: Notification, alerts: list[AlertEvent]) -> Incident:
    alerts.sort(key=lambda a: (a.state != "firing", -_rank(a.severity), -finite(a.statistic), a.key))
    firing = [a for a in alerts if a.state == "firing"]
    told = [t for a in alerts if isinstance(t := note.told.get(episode_id(a)), dict)]
    heard = {episode_id(a) for a in alerts if isinstance(note.told.get(episode_id(a)), dict)}
    news = {id(a) for a in alerts if _is_news(note, a)}
    timelines = [(a, m) for a in alerts if (m := milestones(note, a))]
    latest = max(alerts, key=lambda a: (finite(a.event_time), a.state == "firing"))
    missed = False
    if not firing:
        kind = "resolved"
        missed = any(m.kind == "fired" for _, ms in timelines for m in ms)
    elif note.kind == "repeat":
        kind = "reminder"
    elif not news:
        kind = "unchanged"
    elif heard:
        kind = "update"
    else:
        kind = "new"
    tally = _tally(latest)
    counts: dict[str, Any] = {}
    for alert in sorted(alerts, key=lambda a: finite(a.event_time)):
        story_counts = _tally(alert).get("story_counts")
        if isinstance(story_counts, dict):
            counts.update(story_counts)
    posts = sample_posts(alerts)
    # Posts from producers that predate story keys cannot be grouped into
    # stories (nor their reposts counted): they are listed as posts only.
    grouped = any(isinstance(p.get("story"), str) and p.get("story") for p in posts)
    stories = stories_of(posts, counts)[:STORIES_SHOWN] if grouped else []
    # A post of a story already told (its copies and reposts) is not listed again.
    told_stories = {s.key for s in stories}
    others = [p for i, p in enumerate(posts) if _story_key(p, i) not in told_stories]
    starts = [t for t in [epoch(a.started_at) for a in alerts] + [epoch(tally.get("opened_at"))] if t is not None]
    ends = [t for t in (epoch(a.ended_at if a.ended_at is not None else a.event_time) for a in alerts)
            if t is not None]
    severity = _worst([a.severity for a in firing]) if firing else _worst(
        [a.peak_severity for a in alerts] + [a.severity for a in alerts] + [tally.get("severity")])
    first = alerts[0]
    return Incident(
        brand=first.brand, brand_name=first.brand_name or first.brand, kind=kind, alerts=alerts,
        severity=severity or "warning", told_severity=_worst([t.get("severity") for t in told]),
        new_signals=[a for a in firing if episode_id(a) not in heard],
        changed=[a for a in firing if episode_id(a) in heard and id(a) in news],
        still=[a for a in firing if id(a) not in news],
        resolved=[a for a in alerts if a.state == "resolved"],
        latest=latest, started_at=min(starts) if starts else None,
        ended_at=max(ends) if ends and not firing else None, tally=tally,
        stories=stories, drivers=drivers_of(alerts, posts),
        posts=others[:POSTS_SHOWN], timelines=timelines, missed=missed,
        told={episode_id(a): t for a in alerts if isinstance(t := note.told.get(episode_id(a)), dict)},
        labels=dict(note.labels.get(first.key, {})),
    )


def escalated(incident: Incident) -> bool:
    return bool(incident.told_severity) and _rank(incident.severity) > _rank(incident.told_severity)


def deescalated(incident: Incident) -> bool:
    return bool(incident.told_severity) and 0 <= _rank(incident.severity) < _rank(incident.told_severity)


def new_peak(alert: AlertEvent, told: Any) -> bool:
    """The alert's peak rose above what the channel was last told."""
    if not isinstance(told, Mapping):
        return False
    before, now = finite(told.get("peak_value"), math.nan), finite(alert.peak_value, math.nan)
    return not math.isnan(before) and not math.isnan(now) and now > before
