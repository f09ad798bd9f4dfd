"""Incidents: one per brand episode, folded from what the pipeline writes.

The detector emits one alert lifecycle per signal (``acme:negative_share``
fired at 13:08, escalated at 13:12, resolved at 13:40); a crisis usually
lights several signals of one brand at once or one after another. An
*incident* is the PR team's unit: every signal episode of one brand that
overlaps another or starts within ``gap`` seconds (the detection cool-down,
``detection.cooldown``, 30 min by default) of the previous one's end.

``IncidentBook`` is plain state, no I/O and no wall clock: the console's
follower, ``koubei alerts list|show`` and the tests feed it records of
``<prefix>.alerts`` (AlertEvent), ``<prefix>.deliveries`` (the delivery log,
``alerting.policy.dedup``) and ``<prefix>.acks`` (``ack_record``), in any
order. The grouping is recomputed from the episodes of a brand whenever
they change, so it does not depend on the order records were read in (the
console reads several partitions one after another): the same records give
the same incidents.

An incident's id is ``<brand>:<unix seconds of its first episode's start>``
(``acme:1763699100``). Every episode start of an incident is an *alias*
that resolves to it: a chat message that only knows its own alert
(``incident_id(event.brand, event.started_at)``) links to the right
incident, and still does after a later signal merged two incidents.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alerting.episode import SEVERITY_RANK, Episode
from alerting.labels import Labeler
from alerting.message import parse_alert
from alerting.policy.silences import Silence
from alerting.render.safe import epoch, finite, json_safe, scrub
from streams.models import AlertEvent

# streams.detection.params.AdaptiveParams.cooldown: how long after a resolve
# the same signal is held back; a signal that comes back within it is the
# same story.
DEFAULT_GAP = 1800.0
# Ids are whole seconds: incidents of a brand must start at least a second
# apart for their ids to differ.
MIN_GAP = 1.0
DEFAULT_RETENTION = 7 * 86400.0
# streams.detection.params.AdaptiveParams.kol_min_followers: smaller accounts are never KOLs.
KOL_MIN_FOLLOWERS = 100_000
POSTS_KEPT = 20  # per episode, the farthest-reaching
TERMS_KEPT = 20
KOLS_KEPT = 20
DELIVERIES_KEPT = 200  # per episode
EPISODES_KEPT = 2000  # per brand; the oldest resolved go first
INCIDENT_STATES = ("open", "resolved")


def incident_id(brand: str, started_at: float) -> str:
    """``acme:1763699100``: the id of the incident whose episode started then."""
    return f"{brand}:{math.floor(started_at)}"


def parse_incident_id(text: str) -> tuple[str, int] | None:
    """(brand, start second) of an id, or None when it is not one."""
    brand, sep, second = text.rpartition(":")
    if not sep or not brand or not second.isdigit() or len(second) > 12:
        return None
    return brand, int(second)


@dataclass(frozen=True)
class Delivery:
    """One record of the delivery log: a platform accepted a message about an episode."""

    channel: str
    key: str
    started_at: float
    state: str
    severity: str
    sequence: int
    delivered_at: float
    kind: str = "new"

    def to_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "key": self.key, "started_at": self.started_at, "state": self.state,
                "severity": self.severity, "sequence": self.sequence, "delivered_at": self.delivered_at,
                "kind": self.kind}


@dataclass(frozen=True)
class Ack:
    """Someone acknowledged an incident: they are on it. Keyed on
    ``<prefix>.acks`` by the incident id they saw (any alias works)."""

    incident: str
    by: str
    at: float
    comment: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"incident": self.incident, "by": self.by, "at": self.at, "comment": self.comment}

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def ack_record(ack: Ack) -> tuple[bytes, bytes]:
    """(key, value) of the record that stores ``ack`` on ``<prefix>.acks``."""
    return ack.incident.encode("utf-8", "surrogatepass"), ack.to_json()


def parse_ack(payload: bytes) -> Ack:
    """ValueError with the reason for anything that is not an ack record."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("an ack is a JSON object")
    ref = data.get("incident")
    if not isinstance(ref, str) or parse_incident_id(ref) is None:
        raise ValueError("incident: expected an id like acme:1763699100")
    at = epoch(data.get("at"))
    if at is None:
        raise ValueError("at: expected unix seconds")
    by, comment = data.get("by", ""), data.get("comment", "")
    if not isinstance(by, str) or not isinstance(comment, str):
        raise ValueError("by, comment: expected strings")
    return Ack(ref, scrub(by)[:200], at, scrub(comment)[:2000])


def _rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity, -1)


def _post_reach(post: Mapping[str, Any]) -> float:
    return finite(post.get("reach"), 0.0)


@dataclass
class EpisodeTrack:
    """One signal episode (alert key + started_at) and what its updates told:
    the newest update and milestones (``alerting.episode.Episode``), plus
    evidence gathered over every update (posts and terms the detector's
    later top-N no longer lists stay known)."""

    brand: str
    key: str
    start: float
    episode: Episode
    resolved_at: float | None = None  # the latest resolve time seen (order-independent)
    peak_share: float = 0.0
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    terms: dict[str, int] = field(default_factory=dict)
    kols: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: set[tuple[str, int, str]] = field(default_factory=set)  # (state, sequence, severity) of updates read

    @property
    def updates(self) -> int:
        """Distinct updates read (a record read twice counts once)."""
        return len(self.seen)

    @property
    def end(self) -> float:
        return math.inf if self.resolved_at is None else self.resolved_at

    @property
    def latest(self) -> AlertEvent:
        return self.episode.latest

    @property
    def critical_since(self) -> float | None:
        """When the episode was first known to be critical."""
        times = [m.at for m in self.episode.milestones
                 if m.severity == "critical" and m.kind in ("fired", "escalated")]
        if not times and (self.latest.peak_severity == "critical" or self.latest.severity == "critical"):
            times.append(self.start if self.latest.sequence <= 1 else finite(self.latest.event_time, self.start))
        return min(times) if times else None

    @property
    def peak_severity(self) -> str:
        ranks = [_rank(self.latest.severity), _rank(self.latest.peak_severity)]
        ranks += [_rank(m.severity) for m in self.episode.milestones]
        return "critical" if max(ranks) >= _rank("critical") else "warning"

    def absorb(self, event: AlertEvent, kol_min_followers: int) -> None:
        if len(self.seen) < 10_000:
            self.seen.add((event.state, int(event.sequence), event.severity))
        if event.state == "resolved":
            ended = epoch(event.ended_at) if event.ended_at is not None else None
            ended = ended if ended is not None else epoch(event.event_time)
            ended = max(self.start, ended if ended is not None else self.start)
            self.resolved_at = ended if self.resolved_at is None else max(self.resolved_at, ended)
        share = finite(event.negative_share, 0.0)
        if 0.0 <= share <= 1.0:
            self.peak_share = max(self.peak_share, share)
        for post in event.top_posts if isinstance(event.top_posts, list) else ():
            if not isinstance(post, dict):
                continue
            post_id = post.get("id")
            if not isinstance(post_id, str) or not post_id:
                continue
            known = self.posts.get(post_id)
            if known is None or _post_reach(post) > _post_reach(known):
                self.posts[post_id] = dict(post)
            followers = finite(post.get("followers"), 0.0)
            author = post.get("author")
            if followers >= kol_min_followers and isinstance(author, str) and author:
                self._add_kol(author, followers, False, post_id, 0)
        if len(self.posts) > POSTS_KEPT:
            ranked = sorted(self.posts.items(), key=lambda kv: (-_post_reach(kv[1]), kv[0]))
            self.posts = dict(ranked[:POSTS_KEPT])
        for pair in event.risk_terms if isinstance(event.risk_terms, list) else ():
            if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str):
                # The detector's counts are cumulative over the episode: the largest is the latest.
                count = int(finite(pair[1], 0.0)) if abs(finite(pair[1], 0.0)) < 1e15 else 0
                self.terms[pair[0]] = max(self.terms.get(pair[0], 0), count)
        if len(self.terms) > TERMS_KEPT:
            self.terms = dict(sorted(self.terms.items(), key=lambda kv: (-kv[1], kv[0]))[:TERMS_KEPT])
        evidence = event.evidence if isinstance(event.evidence, dict) else {}
        if event.signal == "kol" and isinstance(evidence.get("account"), str) and evidence["account"]:
            self._add_kol(evidence["account"], finite(evidence.get("account_followers"), 0.0),
                          evidence.get("account_verified") is True, str(evidence.get("post_id", "")),
                          finite(evidence.get("post_reposts"), 0.0))

    def _add_kol(self, author: str, followers: float, verified: bool, post_id: str, reposts: float) -> None:
        known = self.kols.get(author)
        entry = {"author": author, "followers": int(min(followers, 1e15)), "verified": verified,
                 "post_id": post_id, "reposts": int(min(max(reposts, 0.0), 1e15))}
        if known is not None:
            entry["verified"] = verified or known["verified"]
            entry["followers"] = max(entry["followers"], known["followers"])
            entry["post_id"] = known["post_id"] or post_id
            entry["reposts"] = max(entry["reposts"], known["reposts"])
        self.kols[author] = entry
        if len(self.kols) > KOLS_KEPT:
            ranked = sorted(self.kols.values(), key=lambda k: (-k["followers"], k["author"]))
            self.kols = {k["author"]: k for k in ranked[:KOLS_KEPT]}


@dataclass
class Incident:
    """A view over the episodes of one brand that belong together; built by
    ``IncidentBook`` (do not keep one across book updates: it is rebuilt)."""

    brand: str
    tracks: list[EpisodeTrack]
    _deliveries: Mapping[tuple[str, float], list[Delivery]] = field(repr=False)
    _acks: Mapping[str, Ack] = field(repr=False)

    @property
    def opened_at(self) -> float:
        return min(t.start for t in self.tracks)

    @property
    def id(self) -> str:
        return incident_id(self.brand, self.opened_at)

    @property
    def aliases(self) -> frozenset[str]:
        return frozenset(incident_id(self.brand, t.start) for t in self.tracks)

    @property
    def brand_name(self) -> str:
        newest = max(self.tracks, key=lambda t: (finite(t.latest.event_time, t.start), t.key))
        name = newest.latest.brand_name
        return scrub(name) if isinstance(name, str) and name.strip() else self.brand

    @property
    def is_open(self) -> bool:
        return any(t.resolved_at is None for t in self.tracks)

    @property
    def state(self) -> str:
        return "open" if self.is_open else "resolved"

    @property
    def resolved_at(self) -> float | None:
        return None if self.is_open else max(t.end for t in self.tracks)

    @property
    def end(self) -> float:
        return max(t.end for t in self.tracks)

    @property
    def last_update(self) -> float:
        return max(max(finite(t.latest.event_time, t.start), t.start, t.resolved_at or 0.0) for t in self.tracks)

    @property
    def severity(self) -> str:
        """Now: the highest severity of the signals still firing; once resolved, the peak."""
        live = [t.latest.severity for t in self.tracks if t.resolved_at is None]
        if not live:
            return self.peak_severity
        return "critical" if any(s == "critical" for s in live) else "warning"

    @property
    def peak_severity(self) -> str:
        return "critical" if any(t.peak_severity == "critical" for t in self.tracks) else "warning"

    @property
    def escalated_at(self) -> float | None:
        """When the incident became critical, if it did not open critical."""
        times = [c for c in (t.critical_since for t in self.tracks) if c is not None]
        if not times:
            return None
        first = min(times)
        return None if first <= self.opened_at else first

    @property
    def peak_share(self) -> float:
        return max(t.peak_share for t in self.tracks)

    @property
    def duration(self) -> float | None:
        resolved = self.resolved_at
        return None if resolved is None else resolved - self.opened_at

    @property
    def signals(self) -> list[EpisodeTrack]:
        return sorted(self.tracks, key=lambda t: (t.start, t.key))

    def top_posts(self, limit: int = 10) -> list[dict[str, Any]]:
        """The farthest-reaching posts of every signal, each once."""
        posts: dict[str, dict[str, Any]] = {}
        for track in self.tracks:
            for post_id, post in track.posts.items():
                if post_id not in posts or _post_reach(post) > _post_reach(posts[post_id]):
                    posts[post_id] = post
        ranked = sorted(posts.items(), key=lambda kv: (-_post_reach(kv[1]), kv[0]))
        return [post for _, post in ranked[:limit]]

    def risk_terms(self, limit: int = 10) -> list[tuple[str, int]]:
        """Each signal's detector counts the brand's risk terms over its own
        episode; the largest count of a term is the best estimate for the incident."""
        terms: dict[str, int] = {}
        for track in self.tracks:
            for term, count in track.terms.items():
                terms[term] = max(terms.get(term, 0), count)
        return sorted(terms.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]

    def kols(self, limit: int = 10) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for track in self.tracks:
            for author, kol in track.kols.items():
                known = found.get(author)
                if known is None or (kol["followers"], kol["verified"]) > (known["followers"], known["verified"]):
                    found[author] = kol
        return sorted(found.values(), key=lambda k: (-k["followers"], k["author"]))[:limit]

    def deliveries(self) -> list[Delivery]:
        out: list[Delivery] = []
        for track in self.tracks:
            out.extend(self._deliveries.get((track.key, track.start), ()))
        return sorted(out, key=lambda d: (d.delivered_at, d.channel, d.key, d.sequence))

    def acks(self) -> list[Ack]:
        aliases = self.aliases
        return sorted((a for ref, a in self._acks.items() if ref in aliases), key=lambda a: a.at)

    @property
    def acknowledged(self) -> bool:
        return bool(self.acks())

    def timeline(self) -> list[tuple[float, str, str, str]]:
        """(time, milestone kind, signal, severity) of every signal, in time order."""
        points: list[tuple[float, str, str, str]] = []
        for track in self.tracks:
            for milestone in track.episode.milestones:
                at = milestone.at if milestone.kind != "resolved" or track.resolved_at is None else track.resolved_at
                points.append((at, milestone.kind, track.latest.signal, milestone.severity))
        return sorted(points, key=lambda p: (p[0], p[1], p[2]))

    def labels(self, labeler: Labeler) -> list[dict[str, str]]:
        """The label sets its signals are routed and silenced with."""
        return [labeler.labels(t.latest) for t in self.tracks]

    def silences(self, silences: Iterable[Silence], labeler: Labeler, now: float) -> list[Silence]:
        """The silences in effect at ``now`` that mute at least one of its signals."""
        label_sets = self.labels(labeler)
        return [s for s in silences if s.active(now) and any(s.matches(ls) for ls in label_sets)]

    def to_dict(self, limit: int = 10) -> dict[str, Any]:
        """JSON-ready (``koubei alerts show --json``, the console's API): no NaN, valid UTF-8."""
        signals = []
        for t in self.signals:
            e = t.latest
            signals.append({
                "key": e.key, "signal": e.signal, "state": "firing" if t.resolved_at is None else "resolved",
                "severity": e.severity, "peak_severity": t.peak_severity, "started_at": t.start,
                "ended_at": t.resolved_at, "value": e.value, "expected": e.baseline,
                "window_seconds": e.window_seconds, "z": e.statistic, "peak_value": e.peak_value,
                "peak_window_seconds": e.peak_window_seconds,
                "negative": e.negative, "total": e.total, "negative_share": e.negative_share,
                "baseline_share": e.baseline_share, "volume_change": e.volume_change, "summary": e.summary,
                "sequence": e.sequence, "updates": t.updates, "evidence": e.evidence,
            })
        data = {
            "id": self.id, "brand": self.brand, "brand_name": self.brand_name, "state": self.state,
            "severity": self.severity, "peak_severity": self.peak_severity, "opened_at": self.opened_at,
            "escalated_at": self.escalated_at, "resolved_at": self.resolved_at, "duration_seconds": self.duration,
            "peak_negative_share": self.peak_share, "aliases": sorted(self.aliases), "signals": signals,
            "top_posts": self.top_posts(limit), "risk_terms": [list(t) for t in self.risk_terms(limit)],
            "kols": self.kols(limit), "deliveries": [d.to_dict() for d in self.deliveries()],
            "acks": [a.to_dict() for a in self.acks()],
            "timeline": [{"at": at, "kind": kind, "signal": sig, "severity": sev}
                         for at, kind, sig, sev in self.timeline()],
        }
        safe: dict[str, Any] = json_safe(data)
        return safe


def _gap_of(gap: float | Callable[[str], float]) -> Callable[[str], float]:
    if callable(gap):
        return lambda brand: max(MIN_GAP, finite(gap(brand), DEFAULT_GAP))
    fixed = max(MIN_GAP, finite(gap, DEFAULT_GAP))
    return lambda brand: fixed


@dataclass
class IncidentBook:
    """Every incident known, from alert, delivery-log and ack records.

    ``gap``: seconds (or brand -> seconds) within which a signal episode
    joins the brand's previous one; ``retention``: resolved incidents older
    than this, counted back from the newest alert event time seen, are
    forgotten (the data's clock, not the wall clock, so a replay of last
    year shows last year).
    """

    gap: float | Callable[[str], float] = DEFAULT_GAP
    retention: float = DEFAULT_RETENTION
    kol_min_followers: int = KOL_MIN_FOLLOWERS
    clock: float = 0.0  # the newest event time seen
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> records not taken
    _tracks: dict[str, dict[tuple[str, float], EpisodeTrack]] = field(default_factory=dict, repr=False)
    _incidents: dict[str, list[Incident]] = field(default_factory=dict, repr=False)
    _aliases: dict[str, Incident] = field(default_factory=dict, repr=False)
    _deliveries: dict[tuple[str, float], list[Delivery]] = field(default_factory=dict, repr=False)
    _acks: dict[str, Ack] = field(default_factory=dict, repr=False)
    _changed: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._gap = _gap_of(self.gap)

    # -- input -------------------------------------------------------------

    def _reject(self, reason: str) -> str:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        return reason

    def add_alert(self, event: AlertEvent) -> str | None:
        """Take one alert event; returns None, or the reason it was not taken."""
        if not isinstance(event.brand, str) or not event.brand or not isinstance(event.key, str) or not event.key:
            return self._reject("no_brand")
        start = epoch(event.started_at)
        if start is None:
            return self._reject("bad_time")
        brand = scrub(event.brand)
        slot = (scrub(event.key), float(start))
        tracks = self._tracks.setdefault(brand, {})
        track = tracks.get(slot)
        try:
            if track is None:
                track = EpisodeTrack(brand, slot[0], slot[1], Episode.start(event))
            else:
                track.episode.update(event)
            track.absorb(event, self.kol_min_followers)
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            # A field of the wrong type (a hand-made record): the episode as it was stays.
            if not tracks:
                del self._tracks[brand]
            return self._reject(f"invalid_alert: {type(exc).__name__}")
        tracks[slot] = track
        moment = epoch(event.event_time)
        self.clock = max(self.clock, start, moment if moment is not None else start)
        self._changed.add(brand)
        return None

    def add_alert_record(self, payload: bytes | None) -> str | None:
        """One record of ``<prefix>.alerts``; None, or the reason it was not taken."""
        try:
            event = parse_alert(payload)
        except ValueError as exc:
            return self._reject(f"invalid_alert: {exc}"[:120])
        return self.add_alert(event)

    def add_delivery_record(self, payload: bytes | None) -> bool:
        """One record of ``<prefix>.deliveries`` (``owed`` records are not deliveries and are skipped)."""
        if not payload:
            return False
        try:
            data = json.loads(payload)
            if not isinstance(data, dict) or data.get("type") == "owed":
                return False
            key, channel, state = data["key"], data["channel"], data["state"]
            if not all(isinstance(x, str) for x in (key, channel, state)) or state not in ("firing", "resolved"):
                return False
            start = epoch(data["started_at"])
            delivered = epoch(data.get("delivered_at", 0.0))
            if start is None or delivered is None:
                return False
            delivery = Delivery(scrub(channel), scrub(key), float(start), state, str(data.get("severity", ""))[:20],
                                int(finite(data.get("sequence"), 0.0)), float(delivered), str(data.get("kind", "new"))[:20])
        except (ValueError, KeyError, TypeError, RecursionError, OverflowError):
            return False
        slot = (delivery.key, delivery.started_at)
        known = self._deliveries.setdefault(slot, [])
        if delivery not in known:
            known.append(delivery)
            del known[:-DELIVERIES_KEPT]
        return True

    def add_ack(self, ack: Ack) -> None:
        current = self._acks.get(ack.incident)
        if current is None or ack.at >= current.at:
            self._acks[ack.incident] = ack

    def add_ack_record(self, key: bytes | None, payload: bytes | None) -> bool:
        """One record of ``<prefix>.acks``; a tombstone (no value) withdraws the ack of its key."""
        if payload is None:
            if key is not None:
                self._acks.pop(key.decode("utf-8", "replace"), None)
                return True
            return False
        try:
            self.add_ack(parse_ack(payload))
        except ValueError:
            return False
        return True

    # -- output ------------------------------------------------------------

    def _rebuild(self) -> None:
        for brand in self._changed:
            for old in self._incidents.pop(brand, []):
                for alias in old.aliases:
                    if self._aliases.get(alias) is old:
                        del self._aliases[alias]
            tracks = sorted(self._tracks.get(brand, {}).values(), key=lambda t: (t.start, t.key))
            gap = self._gap(brand)
            groups: list[list[EpisodeTrack]] = []
            end = -math.inf
            for track in tracks:
                if groups and track.start <= end + gap:
                    groups[-1].append(track)
                else:
                    groups.append([track])
                    end = -math.inf
                end = max(end, track.end)
            incidents = [Incident(brand, group, self._deliveries, self._acks) for group in groups]
            if incidents:
                self._incidents[brand] = incidents
            for incident in incidents:
                for alias in incident.aliases:
                    self._aliases[alias] = incident
        self._changed.clear()

    def incidents(self, brand: str | None = None, open_only: bool = False) -> list[Incident]:
        """Open incidents first (newest first), then the resolved ones, most recently resolved first."""
        self._rebuild()
        found = [i for b, items in self._incidents.items() if brand in (None, b) for i in items
                 if i.is_open or not open_only]
        return sorted(found, key=lambda i: (not i.is_open, -(i.opened_at if i.is_open else i.end), i.id))

    def get(self, ref: str) -> Incident | None:
        """The incident an id or any alias of it names; else, for any
        ``<brand>:<second>``, the brand's incident that was going on then
        (within ``gap`` of it). A message may name an incident by another
        moment than a signal's start (when the detector counted it open):
        its link still lands on the incident."""
        self._rebuild()
        found = self._aliases.get(ref)
        if found is not None:
            return found
        parsed = parse_incident_id(ref)
        if parsed is None:
            return None
        brand, second = parsed
        gap = self._gap(brand)
        near = [(max(i.opened_at - second, second - i.end, 0.0), i.opened_at, i)
                for i in self._incidents.get(brand, ()) if i.opened_at - gap <= second + 1 and second <= i.end + gap]
        return min(near, key=lambda n: n[:2])[2] if near else None

    def of_event(self, event: AlertEvent) -> Incident | None:
        start = epoch(event.started_at)
        if start is None or not isinstance(event.brand, str):
            return None
        return self.get(incident_id(scrub(event.brand), start))

    def brands(self) -> list[str]:
        return sorted(self._tracks)

    def episodes(self) -> int:
        return sum(len(t) for t in self._tracks.values())

    def expire(self) -> int:
        """Forget resolved incidents that ended more than ``retention`` before
        the newest event time; keep at most EPISODES_KEPT episodes a brand.
        Returns the number of episodes forgotten."""
        self._rebuild()
        horizon = self.clock - self.retention
        dropped = 0
        for brand, incidents in list(self._incidents.items()):
            for incident in incidents:
                if not incident.is_open and incident.end < horizon:
                    for track in incident.tracks:
                        self._forget(brand, track)
                        dropped += 1
            tracks = self._tracks.get(brand, {})
            excess = len(tracks) - EPISODES_KEPT
            if excess > 0:
                resolved = sorted((t for t in tracks.values() if t.resolved_at is not None), key=lambda t: t.end)
                for track in resolved[:excess]:
                    self._forget(brand, track)
                    dropped += 1
        if dropped:
            self._rebuild()
        known = {slot for tracks in self._tracks.values() for slot in tracks}
        for slot in [s for s, items in self._deliveries.items()
                     if s not in known and max(d.delivered_at for d in items) < horizon]:
            del self._deliveries[slot]
        for ref in [r for r, ack in self._acks.items() if r not in self._aliases and ack.at < horizon]:
            del self._acks[ref]
        return dropped

    def _forget(self, brand: str, track: EpisodeTrack) -> None:
        tracks = self._tracks.get(brand, {})
        tracks.pop((track.key, track.start), None)
        self._deliveries.pop((track.key, track.start), None)
        if not tracks:
            self._tracks.pop(brand, None)
        self._changed.add(brand)

