"""A notification: what one channel is asked to send for one alert group."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from streams.models import AlertEvent

STATE_RANK = {"firing": 0, "resolved": 1}
_NUMBERS = ("started_at", "event_time", "window_seconds", "value", "baseline", "statistic", "negative_share",
            "baseline_share", "volume_change", "peak_value")
_LISTS = ("risk_terms", "top_posts", "sparkline")


def parse_alert(payload: bytes | None) -> AlertEvent:
    """Decode one record of the alerts topic; ValueError names what is wrong.

    Checked here, at the door, because a malformed record that got as far as
    rendering would fail on every retry and block its partition.
    """
    if not payload:
        raise ValueError("empty record")
    try:
        data = json.loads(payload)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    for name in ("key", "brand", "signal"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise ValueError(f"{name}: expected a non-empty string")
    for name in ("brand_name", "summary", "peak_severity", "detector"):
        if not isinstance(data.get(name, ""), str):
            raise ValueError(f"{name}: expected a string")
    if not isinstance(data.get("evidence", {}), dict):
        raise ValueError("evidence: expected an object")
    ended = data.get("ended_at")
    if ended is not None and (isinstance(ended, bool) or not isinstance(ended, (int, float))):
        raise ValueError("ended_at: expected a number or null")
    for name in _NUMBERS:
        value = data.get(name, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name}: expected a number, got {type(value).__name__}")
    for name in ("negative", "total", "sequence"):
        value = data.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name}: expected a whole number")
    for name in _LISTS:
        if not isinstance(data.get(name, []), list):
            raise ValueError(f"{name}: expected a list")
    if not all(isinstance(p, dict) for p in data.get("top_posts", [])):
        raise ValueError("top_posts: expected a list of objects")
    if not all(isinstance(t, list) and len(t) == 2 for t in data.get("risk_terms", [])):
        raise ValueError("risk_terms: expected [term, count] pairs")
    try:
        return AlertEvent.from_dict(data)
    except TypeError as exc:  # a required field is missing
        raise ValueError(str(exc)) from None


def sample_alert(brand: str, brand_name: str, state: str, now: float, summary: str) -> AlertEvent:
    """A realistic, clearly-marked test alert (``koubei test-alert``, template checks)."""
    return AlertEvent(
        key=f"{brand}:test", brand=brand, brand_name=brand_name, signal="negative_share", state=state,
        severity="warning", started_at=now - 1800, event_time=now, window_seconds=900, value=0.42, baseline=0.12,
        statistic=5.1, negative=84, total=200, negative_share=0.42, baseline_share=0.12, volume_change=2.4,
        summary=summary, ended_at=now if state == "resolved" else None, peak_value=0.45,
        peak_severity="warning", risk_terms=[["test", 3]],
        top_posts=[{"id": "test:1", "author": "koubei-sentinel", "followers": 0, "excerpt": summary, "url": "",
                    "negative": 0.9, "reach": 1.0, "created_at": now}],
        sparkline=[1, 2, 2, 3, 5, 8, 13, 21], sequence=1, detector="test",
    )


def alert_fields(event: AlertEvent) -> dict[str, Any]:
    """The alert as a JSON-ready dict, shallow: ``asdict`` deep-copies every
    nested list and was the largest single CPU cost per delivery."""
    return dict(vars(event))


def alert_identity(event: AlertEvent) -> tuple[float, int, int]:
    """Orders the updates of one alert lifecycle: a lifecycle is (key,
    started_at) because the detectors restart ``sequence`` for a new one."""
    return (event.started_at, STATE_RANK[event.state], event.sequence)


@dataclass
class Notification:
    channel: str
    group_key: str
    group_labels: dict[str, str]
    alerts: list[AlertEvent]
    kind: str  # "new" (something changed), "repeat" (reminder / re-send), "test"
    created_at: float
    # Opaque handles of the Kafka messages this notification answers for;
    # released (made committable) once it is delivered, parked or dead.
    tokens: list[Any] = field(default_factory=list, compare=False, repr=False)
    # Per episode (alerting.episode.episode_id): what the channel missed
    # before this update, as [{kind, at, severity, sequence}, ...]; only
    # present when it missed more than the update itself (an outage).
    timelines: dict[str, list[dict[str, Any]]] = field(default_factory=dict, compare=False)
    # Per alert key: the labels routes matched on (brand labels included).
    labels: dict[str, dict[str, str]] = field(default_factory=dict, compare=False)
    # Per episode: what the channel was told of it before this message,
    # {"sequence", "current" (it heard this very update), "severity",
    # "peak_value" (of the last firing update it heard)}; absent: nothing.
    # The renderer then tells a known incident's changes, not all of it again.
    told: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)
    # Whom the route's messages @: {"mobiles": [...], "users": [...], "all": bool}.
    mentions: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def id(self) -> str:
        """Stable across restarts for the same content, so a receiver can
        drop a re-delivery; a reminder is a deliberate new message."""
        parts = [self.channel, self.group_key, self.kind]
        parts += [f"{a.key}|{a.started_at}|{a.state}|{a.sequence}" for a in sorted(self.alerts, key=lambda a: a.key)]
        if self.kind != "new":
            parts.append(f"{self.created_at:.3f}")
        # surrogatepass: a key with a lone surrogate still hashes (it is never sent as text).
        return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]

    @property
    def firing(self) -> list[AlertEvent]:
        return [a for a in self.alerts if a.state == "firing"]

    @property
    def resolved(self) -> list[AlertEvent]:
        return [a for a in self.alerts if a.state == "resolved"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "group_key": self.group_key,
            "group_labels": dict(self.group_labels),
            "alerts": [alert_fields(a) for a in self.alerts],
            "kind": self.kind,
            "created_at": self.created_at,
            "timelines": self.timelines,
            "labels": self.labels,
            "told": self.told,
            "mentions": self.mentions,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        return cls(
            channel=str(data["channel"]),
            group_key=str(data["group_key"]),
            group_labels={str(k): str(v) for k, v in dict(data.get("group_labels") or {}).items()},
            alerts=[AlertEvent.from_dict(a) for a in data["alerts"]],
            kind=str(data.get("kind", "new")),
            created_at=float(data["created_at"]),
            timelines={str(k): list(v) for k, v in dict(data.get("timelines") or {}).items()},
            labels={str(k): {str(n): str(v) for n, v in dict(ls).items()}
                    for k, ls in dict(data.get("labels") or {}).items()},
            told={str(k): dict(v) for k, v in dict(data.get("told") or {}).items() if isinstance(v, dict)},
            mentions=dict(data.get("mentions") or {}),
        )

    def to_json(self) -> bytes:
        # ensure_ascii: a lone surrogate in evidence becomes an escape, not an encoding error.
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()
