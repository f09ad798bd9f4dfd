"""Mute stage: silences, stored as records on ``<prefix>.silences``.

Every notifier reads the whole topic and follows it, so a silence added by
``koubei silence add`` on any machine mutes every worker, and survives
restarts. The latest record per silence id wins: expiring a silence is a new
record with ``ends_at`` set to now.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alerting.config import MATCH_FIELDS
from streams.models import SEVERITIES

_MATCHER = re.compile(r"^(brand|severity|signal)=([^=\s]+)$")


class SilenceError(ValueError):
    pass


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: dict[str, tuple[str, ...]]
    starts_at: float
    ends_at: float
    comment: str = ""
    created_by: str = ""
    updated_at: float = 0.0

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(name) in values for name, values in self.matchers.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "matchers": {k: list(v) for k, v in self.matchers.items()},
            "starts_at": self.starts_at, "ends_at": self.ends_at, "comment": self.comment,
            "created_by": self.created_by, "updated_at": self.updated_at,
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, data: Any) -> Silence:
        if not isinstance(data, dict):
            raise SilenceError("silence record: expected a JSON object")
        try:
            matchers = {str(k): tuple(str(x) for x in v) for k, v in dict(data["matchers"]).items()}
            return cls(id=str(data["id"]), matchers=matchers, starts_at=float(data["starts_at"]),
                       ends_at=float(data["ends_at"]), comment=str(data.get("comment", "")),
                       created_by=str(data.get("created_by", "")), updated_at=float(data.get("updated_at", 0.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise SilenceError(f"silence record: bad or missing field ({exc})") from None


def parse_matchers(items: list[str], brand_ids: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """``brand=acme severity=warning`` -> matchers; several values of one
    label (``brand=a brand=b``) mean either."""
    if not items:
        raise SilenceError("give at least one matcher, e.g. brand=acme")
    out: dict[str, list[str]] = {}
    for item in items:
        match = _MATCHER.match(item.strip())
        if not match:
            raise SilenceError(f"bad matcher {item!r}: expected {'|'.join(MATCH_FIELDS)}=VALUE")
        name, value = match.group(1), match.group(2)
        if name == "brand" and value not in brand_ids:
            raise SilenceError(f"brand={value}: not a configured brand ({', '.join(brand_ids)})")
        if name == "severity" and value not in SEVERITIES:
            raise SilenceError(f"severity={value}: must be one of {', '.join(SEVERITIES)}")
        out.setdefault(name, []).append(value)
    return {k: tuple(v) for k, v in out.items()}


def new_silence(matchers: dict[str, tuple[str, ...]], now: float, duration: float, comment: str,
                created_by: str) -> Silence:
    if duration <= 0:
        raise SilenceError("--for must be a positive duration")
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
