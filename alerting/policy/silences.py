"""Mute stage: silences, stored as records on ``<prefix>.silences``.

Every notifier reads the whole topic and follows it, so a silence added by
``koubei silence add`` on any machine mutes every worker, and survives
restarts. The latest record per silence id wins: expiring a silence is a new
record with ``ends_at`` set to now.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerting.labels import ALERT_LABELS
from alerting.matchers import Matcher, MatcherError, any_of, matches_all
from alerting.matchers import parse_matchers as parse_matcher_strings
from streams.models import SEVERITIES


class SilenceError(ValueError):
    pass


@dataclass(frozen=True)
class Silence:
    id: str
    # All must match (Alertmanager's matchers; several values given for one
    # label with "=" on the command line are one "any of" matcher).
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    comment: str = ""
    created_by: str = ""
    updated_at: float = 0.0

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels)

    def to_dict(self) -> dict[str, Any]:
        """``matchers`` keeps the record format older notifiers read (label ->
        values, equality); the other matchers go to ``expressions``."""
        simple: dict[str, list[str]] = {}
        expressions: list[str] = []
        for matcher in self.matchers:
            if matcher.op == "=" and matcher.name not in simple:
                simple[matcher.name] = [matcher.value]
            else:
                expressions.append(str(matcher))
        out: dict[str, Any] = {"id": self.id, "matchers": simple}
        if expressions:
            out["expressions"] = expressions
        out.update(starts_at=self.starts_at, ends_at=self.ends_at, comment=self.comment,
                   created_by=self.created_by, updated_at=self.updated_at)
        return out

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, data: Any) -> Silence:
        if not isinstance(data, dict):
            raise SilenceError("silence record: expected a JSON object")
        try:
            matchers = [any_of(str(k), [str(x) for x in v]) for k, v in dict(data["matchers"]).items()]
            matchers += parse_matcher_strings(str(x) for x in data.get("expressions", []))
            return cls(id=str(data["id"]), matchers=tuple(matchers), starts_at=float(data["starts_at"]),
                       ends_at=float(data["ends_at"]), comment=str(data.get("comment", "")),
                       created_by=str(data.get("created_by", "")), updated_at=float(data.get("updated_at", 0.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise SilenceError(f"silence record: bad or missing field ({exc})") from None


def parse_matchers(items: Iterable[str], brand_ids: Sequence[str],
                       label_names: Sequence[str] = ALERT_LABELS) -> tuple[Matcher, ...]:
    """``brand=acme severity!=critical 'team=~"east.*"'`` -> matchers, with
    the routes' semantics; several ``=`` values of one label mean any of them."""
    given = list(items)
    if not given:
        raise SilenceError("give at least one matcher, e.g. brand=acme")
    parsed: list[Matcher] = []
    for item in given:
        try:
            matchers = parse_matcher_strings([item])
        except MatcherError as exc:
            raise SilenceError(str(exc)) from None
        for matcher in matchers:
            if matcher.name not in label_names:
                raise SilenceError(f"bad matcher {item!r}: unknown label {matcher.name!r} "
                                   f"(labels: {', '.join(label_names)})")
            if matcher.op in ("=", "!=") and matcher.name == "brand" and matcher.value not in brand_ids:
                raise SilenceError(f"brand={matcher.value}: not a configured brand ({', '.join(brand_ids)})")
            if matcher.op in ("=", "!=") and matcher.name == "severity" and matcher.value not in SEVERITIES:
                raise SilenceError(f"severity={matcher.value}: must be one of {', '.join(SEVERITIES)}")
        parsed.extend(matchers)
    equal: dict[str, list[str]] = {}
    for matcher in parsed:
        if matcher.op == "=":
            equal.setdefault(matcher.name, []).append(matcher.value)
    out = [any_of(name, values) for name, values in equal.items()]
    return tuple(out + [m for m in parsed if m.op != "="])



def new_silence(matchers: tuple[Matcher, ...] | Mapping[str, Sequence[str]], now: float, duration: float,
                comment: str, created_by: str) -> Silence:
    """A silence from matchers, or from the older label -> values (any of) form."""
    if duration <= 0:
        raise SilenceError("--for must be a positive duration")
    if isinstance(matchers, Mapping):
        matchers = tuple(any_of(name, list(values)) for name, values in matchers.items())
    return Silence(id=uuid.uuid4().hex[:12], matchers=matchers, starts_at=now, ends_at=now + duration,
                   comment=comment, created_by=created_by, updated_at=now)


def expired(silence: Silence, now: float) -> Silence:
    return Silence(id=silence.id, matchers=silence.matchers, starts_at=silence.starts_at,
                   ends_at=min(silence.ends_at, now), comment=silence.comment,
                   created_by=silence.created_by, updated_at=now)


@dataclass
class SilenceStore:
    silences: dict[str, Silence] = field(default_factory=dict)

    def apply(self, silence: Silence) -> None:
        current = self.silences.get(silence.id)
        if current is None or silence.updated_at >= current.updated_at:
            self.silences[silence.id] = silence

    def apply_record(self, payload: bytes | None) -> bool:
        """Apply one topic record; a bad record is skipped (returns False)."""
        if not payload:
            return False
        try:
            self.apply(Silence.from_dict(json.loads(payload)))
        except (SilenceError, ValueError, RecursionError):
            return False
        return True

    def active(self, now: float) -> list[Silence]:
        return sorted((s for s in self.silences.values() if s.active(now)), key=lambda s: s.ends_at)

    def is_silenced(self, labels: Mapping[str, str], now: float) -> bool:
        return any(s.active(now) and s.matches(labels) for s in self.silences.values())

    def find(self, prefix: str) -> Silence:
        hits = [s for s in self.silences.values() if s.id.startswith(prefix)]
        if len(hits) != 1:
            raise SilenceError(f"no silence with id {prefix!r}" if not hits else f"id {prefix!r} is ambiguous")
        return hits[0]
