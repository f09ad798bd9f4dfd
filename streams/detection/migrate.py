"""Saved detector states across versions.

Version 3 was the single-class detector: one flat dict. Version 4 groups it
as the composed detector keeps it: ``baseline`` (the same fields, plus the
risk-story memory), ``signals`` (one dict per signal: the volume signal's
daily tail, the risk signal's usual share of risk stories) and ``alerts``
(one per alert key, the same fields as before). Nothing learned is lost in
the migration; a state of another detector or an unknown version is dropped
(re-learning beats mis-reading).
"""

from __future__ import annotations

from typing import Any

STATE_VERSION = 4
_BASELINE_V3 = ("size", "last_start", "seen", "ring", "pos", "sums", "windows", "volume", "phi_volume",
                "phi_negative", "share", "share_rho", "reach_per_negative", "volume_long", "risk_seen")
_EVIDENCE = ("sparkline", "volume_sparkline", "recent_top", "recent_terms", "incident_top", "incident_terms")


def migrate_state(state: dict[str, Any], detector: str) -> dict[str, Any]:
    """``state`` in the current layout, or {} when it cannot be read."""
    if not state:
        return {}
    if state.get("detector") != detector:
        return {}
    version = state.get("version")
    if version == STATE_VERSION:
        return state
    if version == 3:
        return _from_v3(state)
    return {}


def _from_v3(old: dict[str, Any]) -> dict[str, Any]:
    signals: dict[str, dict[str, Any]] = {}
    if "risk" in old:
        signals["risk_terms"] = {"stories": float(old["risk"][0]), "posts": float(old["risk"][1])}
    if "volume_tail" in old:
        today, typical, days, day = old["volume_tail"]
        signals["volume"] = {"today": float(today), "typical": float(typical), "days": int(days), "day": int(day)}
    return {
        "version": STATE_VERSION,
        "detector": old["detector"],
        "baseline": {k: old[k] for k in _BASELINE_V3 if k in old},
        "signals": signals,
        "alerts": dict(old.get("alerts", {})),
        **{k: old[k] for k in _EVIDENCE if k in old},
    }
