"""The adaptive detector: a brand's baseline, a list of signals and the alert policy.

Composed the way River composes small estimators: the ``Baseline``
(streams/detection/baseline.py) turns each closed bucket into a ``Frame``
(windows, expected counts, the usual share); every signal in
``streams.detection.signals.REGISTRY`` scores the frame and learns from
ordinary buckets; the ``AlertPolicy`` (streams/detection/policy.py) turns
hot and quiet tests into ``firing``, escalating and ``resolved`` events. Signals that
share an alert key (``volume`` and ``volume_long``) are one alert: the first
hot one speaks.

What may learn from a bucket is decided here, after the tests: nothing from
a bucket in which a signal that watches it is hot or its alert is firing
(unless it has fired for ``relearn_after``: then the level is probably the
new normal), so a past crisis does not raise the bar for the next one.

The whole state is ``to_state()``, plain JSON (state version 4: the
baseline, one dict per signal, one per alert key, the evidence). States of
version 3 (the single-class detector) are migrated, see
``streams.detection.migrate``.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from streams.detection.baseline import Baseline, BaselineState, Frame
from streams.detection.incident import IncidentTally
from streams.detection.migrate import STATE_VERSION, migrate_state
from streams.detection.params import AdaptiveParams
from streams.detection.policy import AlertPolicy, AlertState
from streams.detection.signals import REGISTRY
from streams.detection.signals.base import Signal, Test
from streams.detection.stats import count_z, share_z, upper_tail_p, wilson_lower
from streams.models import AlertEvent, Bucket

# Posts an alert carries: enough for the message's three top stories and
# the farthest-reaching posts beside them (alerting/render/incident.py).
TOP_POSTS = 6
RECENT_POSTS = 3  # posts kept from each bucket just before an incident, to seed it
INCIDENT_TERMS = 20
RECENT_BUCKETS_FOR_EVIDENCE = 2
RECENT_TERMS = 5  # risk terms kept per recent bucket

__all__ = ["STATE_VERSION", "AdaptiveDetector"]


class AdaptiveDetector:
    """See the module docstring; ``update`` is the only entry point."""

    name = "adaptive"

    def __init__(self, brand: str, brand_name: str = "", params: AdaptiveParams | None = None,
                 state: dict[str, Any] | None = None) -> None:
        self.brand = brand
        self.brand_name = brand_name or brand
        p = self.params = params or AdaptiveParams()
        s = migrate_state(state or {}, self.name)
        self.baseline = Baseline(p.windows, p.baseline_half_life, p.season_half_life, p.volume_long_half_life,
                                 p.warmup, p.utc_offset_hours, BaselineState.from_dict(s.get("baseline", {})),
                                 local_share_half_life=p.local_share_half_life)
        saved = s.get("signals", {})
        self.signals: dict[str, Signal] = {name: cls(p, self.baseline, saved.get(name)) for name, cls in REGISTRY.items()}
        self.signal_list = list(self.signals.values())
        # Alert keys in registry order, each with its signals.
        self.keys: dict[str, list[Signal]] = {}
        for sig in self.signal_list:
            self.keys.setdefault(sig.key, []).append(sig)
        enabled = set(p.signals) if p.signals else set(REGISTRY)
        self.enabled = frozenset(k for k, sigs in self.keys.items() if k in enabled or any(x.name in enabled for x in sigs))
        self.negative_keys = tuple(k for k, sigs in self.keys.items() if sigs[0].negative)
        self.policy = AlertPolicy(p.fire_after, p.resolve_after, p.z_critical, p.cooldown, p.volume_cooldown)
        saved_alerts = s.get("alerts", {})
        self.alerts: dict[str, AlertState] = {k: AlertState.from_dict(saved_alerts.get(k)) for k in self.keys}
        n = p.sparkline_buckets
        self.sparkline: deque[int] = deque(s.get("sparkline", []), maxlen=n)
        self.volume_sparkline: deque[int] = deque(s.get("volume_sparkline", []), maxlen=n)
        self.recent_top: deque[list[dict[str, Any]]] = deque(s.get("recent_top", []), maxlen=RECENT_BUCKETS_FOR_EVIDENCE)
        self.recent_terms: deque[dict[str, int]] = deque(s.get("recent_terms", []), maxlen=RECENT_BUCKETS_FOR_EVIDENCE)
        self.incident_top: list[dict[str, Any]] = list(s.get("incident_top", []))
        self.incident_terms: dict[str, int] = dict(s.get("incident_terms", {}))
        self.incident = IncidentTally.from_dict(s.get("incident"))
        self.firing_keys = frozenset(k for k, st in self.alerts.items() if st.firing is not None)
        self.was_hot = any(st.hot for st in self.alerts.values())
        self.relearn_buckets = 1
        self._derive()

    def _derive(self) -> None:
        size = self.baseline.size
        self.relearn_buckets = max(1, int(math.ceil(self.params.relearn_after / size))) if size else 1
        for sig in self.signal_list:
            sig.derive()

    # -- what others read ------------------------------------------------------

    @property
    def frame(self) -> Frame:
        return self.baseline.frame

    @property
    def seen(self) -> int:
        """Buckets seen so far."""
        return self.baseline.seen

    @property
    def last_warmed(self) -> bool:
        return self.baseline.frame.warmed

    @property
    def last_tests(self) -> dict[str, Test]:
        """The last bucket's test per signal."""
        return {name: sig.last for name, sig in self.signals.items()} if self.baseline.seen else {}

    @property
    def last_statistics(self) -> dict[str, float]:
        return {name: test.z for name, test in self.last_tests.items()}

    @property
    def last_short_volume_z(self) -> float:
        return self.signals["volume"].short_z  # type: ignore[attr-defined, no-any-return]

    @property
    def volume_threshold(self) -> float:
        return self.signals["volume"].threshold  # type: ignore[attr-defined, no-any-return]

    @property
    def last_long_z(self) -> float:
        return self.baseline.frame.long_z

    def gauges(self) -> dict[str, float]:
        """What the worker exports after each bucket: the usual negative share,
        the strongest negative statistic now, open alerts."""
        return {
            "baseline_share": self.baseline.base_share,
            "score": self._negative_score(),
            "firing": float(len(self.firing_keys)),
        }

    def _negative_score(self) -> float:
        """The strongest negative statistic over the last bucket's windows
        (signals skip windows that cannot be hot; computed here on demand)."""
        if not self.baseline.seen:
            return 0.0
        f = self.baseline.frame
        score = max([sig.last.z for sig in self.signal_list if sig.negative] + [0.0])
        base = f.base_share
        b = self.baseline
        for index, (total, negative, mu_total, _risk, _stories) in enumerate(b.sums):
            if negative < self.params.min_negative or negative <= total * base:
                continue
            score = max(score, share_z(negative, total, base, b.share_rho[index].rho),
                        count_z(negative, mu_total * base * f.level, b.phi_negative[index].phi))
        return score

    # -- state -----------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        base = self.baseline.to_state()
        return {
            "version": STATE_VERSION,
            "detector": self.name,
            "baseline": {k: getattr(base, k) for k in base.__dataclass_fields__},
            "signals": {name: sig.to_state() for name, sig in self.signals.items()},
            "alerts": {k: st.to_dict() for k, st in self.alerts.items()},
            "sparkline": list(self.sparkline),
            "volume_sparkline": list(self.volume_sparkline),
            "recent_top": [x[:RECENT_POSTS] for x in self.recent_top],
            "recent_terms": [_top_dict(x, RECENT_TERMS) for x in self.recent_terms],
            "incident_top": list(self.incident_top),
            "incident_terms": dict(self.incident_terms),
            "incident": self.incident.to_dict(),
        }

    # -- the entry point -------------------------------------------------------

    def update(self, bucket: Bucket) -> list[AlertEvent]:
        b = self.baseline
        if b.last_start is not None and bucket.start <= b.last_start:
            return []  # re-delivered after a crash: already counted
        if b.size != bucket.size:
            b.change_size(bucket.size)
            self._derive()
        f = b.observe(bucket, b.fresh_risk(bucket), b.fresh_negative(bucket))
        f.firing = self.firing_keys
        hot = f.hot
        hot.clear()
        self.sparkline.append(bucket.negative)
        self.volume_sparkline.append(bucket.total)
        for sig in self.signal_list:
            test = sig.score(f)
            sig.last = test
            if test.hot:
                hot.add(sig.name)

        events: list[AlertEvent] = []
        incident_was_open = bool(self.firing_keys)
        if incident_was_open:
            self._collect_evidence(bucket)
            self.incident.collect(bucket)
        # The common case (nothing hot now or in the previous bucket, nothing
        # firing) has nothing to advance.
        if hot or incident_was_open or self.was_hot:
            for key, sigs in self.keys.items():
                events.extend(self._advance(key, sigs, f))
            self.firing_keys = frozenset(k for k, st in self.alerts.items() if st.firing is not None)
        self.was_hot = bool(hot)
        incident_open = bool(self.firing_keys)
        if not incident_was_open and incident_open:
            self._open_incident(bucket)
            self.incident.open(bucket)
            # The firing events were built before the incident's evidence existed.
            for event in events:
                event.top_posts = [dict(x) for x in self.incident_top]
                event.risk_terms = self._top_terms()
        self.incident.describe(events)
        if incident_was_open and not incident_open:
            self.incident_top = []
            self.incident_terms = {}
            self.incident.close()
        self.incident.remember(bucket)
        self.recent_top.append(bucket.top_negative)
        self.recent_terms.append(bucket.risk_terms)
        self._learn(f)
        return events

    def _learn(self, f: Frame) -> None:
        """Each baseline learns only from ordinary traffic (see the module docstring)."""
        hot = f.hot
        seen = f.seen
        relearn = self.relearn_buckets
        long_hot = "volume_long" in hot
        volume = self.alerts.get("volume")
        volume_firing = volume.firing if volume is not None else None
        if volume_firing is not None:
            volume_learns = seen - volume_firing["since_bucket"] >= relearn
        else:
            # A long-scale rise alone does not stop the level learning: it is
            # a slow change the level is meant to follow.
            volume_learns = "volume" not in hot or long_hot
        long_learns = volume_learns and not long_hot and volume_firing is None
        # The tone baselines learn only while no negative signal is hot or
        # firing (unless it has fired for relearn_after), and not during a
        # volume event (a viral wave of praise would lower the usual share).
        firing_negative = [self.alerts[k].firing for k in self.negative_keys if self.alerts[k].firing is not None]
        if firing_negative:
            tone_learns = all(seen - firing["since_bucket"] >= relearn for firing in firing_negative)
        else:
            tone_learns = not any(self.signals[name].negative for name in hot)
        self.baseline.learn(volume_learns, long_learns, tone_learns)
        for sig in self.signal_list:
            sig.learn(f, tone_learns, volume_learns)

    # -- alert lifecycle ---------------------------------------------------------

    def _advance(self, key: str, sigs: list[Signal], f: Frame) -> list[AlertEvent]:
        # Signals sharing a key are one alert: the first hot one speaks.
        winner = sigs[0]
        test = winner.last
        quiet = test.quiet
        for sig in sigs[1:]:
            quiet = quiet and sig.last.quiet
            if sig.last.hot and not test.hot:
                winner, test = sig, sig.last
        if not quiet and test.quiet:
            test = Test(test.z, test.index, test.hot, quiet)
        st = self.alerts[key]
        policy = self.policy
        bucket = f.bucket
        assert bucket is not None
        policy.mark(st, test.hot, bucket.start)
        if key not in self.enabled:
            return []
        end = bucket.start + bucket.size
        if st.firing is None:
            if not policy.may_open(st, test.hot, test.z, end, winner.episodic, winner.single_bucket):
                return []
            facts = self._facts(winner, test, f)
            policy.open(st, bucket.start, end, f.seen, facts["severity"], facts["value"], test.z, winner.episodic,
                        int(facts["window_buckets"]))
            return [self._event(key, winner, st, "firing", facts, end)]
        facts = self._facts(winner, test, f)
        step = policy.follow(st, test.hot, test.quiet, test.z, facts["value"], facts["severity"],
                             int(facts["window_buckets"]))
        if step == "resolve":
            event = self._event(key, winner, st, "resolved", facts, end)
            policy.close(st, end, winner.episodic)
            return [event]
        if step == "escalate":
            return [self._event(key, winner, st, "firing", facts, end)]
        return []

    def _facts(self, sig: Signal, test: Test, f: Frame) -> dict[str, Any]:
        """Numbers behind one signal's best window, and the severity they imply."""
        p = self.params
        b = self.baseline
        index = test.index if test.index < len(b.sums) else 0
        total, negative, mu_total, risk_sum, stories_sum = b.sums[index] if b.sums else (0, 0, 0.0, 0, 0)
        width = b.windows[index] if b.windows else 1
        reach_sum = b.ring_reach(width)
        base = f.base_share
        mu_negative = mu_total * base * f.level
        share = negative / total if total else 0.0
        lower = wilson_lower(negative, total, p.z_fire)
        expected_reach = mu_negative * b.reach_per_negative
        window = {
            "index": index, "width": width, "total": total, "negative": negative, "mu_total": mu_total,
            "risk": risk_sum, "stories": stories_sum, "share": share, "wilson_lower": lower, "mu_negative": mu_negative,
            "reach": reach_sum,
            "reach_ratio": reach_sum / expected_reach if expected_reach > 0 else 0.0,
            "volume_change": total / mu_total if mu_total > 0 else 0.0,
            "negative_change": negative / mu_negative if mu_negative > 0 else 0.0,
        }
        described = sig.describe(f, test, window)
        z = test.z
        critical = described.critical or (sig.negative and risk_sum >= p.risk_critical_hits)
        size = b.size or 0.0
        width = int(described.evidence.pop("window_buckets", width))
        evidence = {
            "test": described.test,
            "signal": sig.name,
            "window_seconds": width * size,
            "z": round(z, 3),
            "p_value": upper_tail_p(z) if math.isfinite(z) else 1.0,
            "z_fire": p.z_fire,
            "z_critical": p.z_critical,
            "hot_buckets": self.alerts[sig.key].hot,
            "windows_seconds": [w * size for w in b.windows],
            "z_per_window": sig.z_per_window(f),
            "observed": described.value,
            "expected": round(described.baseline, 4),
            "expected_negative": round(mu_negative, 4),
            "expected_total": round(mu_total, 4),
            "wilson_lower": round(lower, 4),
            "baseline_share": round(base, 4),
            "overdispersion_phi": round((b.phi_negative if sig.negative else b.phi_volume)[index].phi, 4),
            "share_rho": round(b.share_rho[index].rho, 4),
            "negative_change": round(window["negative_change"], 3),
            "reach_negative": round(reach_sum, 3),
            "reach_ratio": round(window["reach_ratio"], 3),
            "risk_stories": risk_sum,
            "warmed_up": f.warmed,
            "sensitivity": p.sensitivity,
            "volume_sparkline": list(self.volume_sparkline),
            "long_scale_z": round(f.long_z, 3),
            "long_scale_ratio": round(f.long_ratio, 3),
            "long_scale_half_life_seconds": p.volume_long_half_life,
            "negative_level": round(f.level, 3),
        }
        evidence.update(described.evidence)
        return {
            "severity": "critical" if critical else "warning",
            "value": described.value, "baseline": described.baseline, "z": z, "window_buckets": width,
            "total": total, "negative": negative, "share": share, "volume_change": window["volume_change"],
            "evidence": evidence,
        }

    def _event(self, key: str, sig: Signal, st: AlertState, state: str, facts: dict[str, Any],
               end: float) -> AlertEvent:
        firing = st.firing
        assert firing is not None
        firing["seq"] += 1
        size = self.baseline.size or 0.0
        summary = sig.summary(facts, facts["window_buckets"] * size / 60.0)
        if state == "resolved":
            summary = f"resolved: {summary}"
        return AlertEvent(
            key=f"{self.brand}:{key}",
            brand=self.brand,
            brand_name=self.brand_name,
            signal=key,
            state=state,
            severity=firing["severity"] if state == "resolved" else facts["severity"],
            started_at=firing["started_at"],
            event_time=end,
            window_seconds=facts["window_buckets"] * size,
            value=round(facts["value"], 4),
            baseline=round(facts["baseline"], 4),
            statistic=round(facts["z"], 3),
            negative=int(facts["negative"]),
            total=int(facts["total"]),
            negative_share=round(facts["share"], 4),
            baseline_share=facts["evidence"]["baseline_share"],
            volume_change=round(facts["volume_change"], 3),
            summary=summary,
            ended_at=end if state == "resolved" else None,
            peak_value=round(firing["peak"], 4),
            peak_window_seconds=int(firing.get("peak_window") or facts["window_buckets"]) * size,
            peak_severity=firing["severity"],
            risk_terms=self._top_terms(),
            top_posts=[dict(x) for x in self.incident_top],
            sparkline=[float(x) for x in self.sparkline],
            sequence=firing["seq"],
            detector=self.name,
            evidence=facts["evidence"],
        )

    # -- evidence --------------------------------------------------------------

    def _open_incident(self, bucket: Bucket) -> None:
        """Seed the evidence with the buckets just before the alert: the posts
        that started a crisis are usually in the buckets that made it hot."""
        posts: list[dict[str, Any]] = [dict(x) for x in bucket.top_negative]
        for earlier in self.recent_top:
            posts.extend(earlier[:RECENT_POSTS])
        self.incident_top = _top_posts(posts)
        terms: dict[str, int] = dict(bucket.risk_terms)
        for earlier_terms in self.recent_terms:
            for term, count in _top_dict(earlier_terms, RECENT_TERMS).items():
                terms[term] = terms.get(term, 0) + count
        self.incident_terms = _top_dict(terms, INCIDENT_TERMS)

    def _collect_evidence(self, bucket: Bucket) -> None:
        if bucket.top_negative:
            self.incident_top = _top_posts(self.incident_top + [dict(x) for x in bucket.top_negative])
        if bucket.risk_terms:
            terms = self.incident_terms
            for term, count in bucket.risk_terms.items():
                terms[term] = terms.get(term, 0) + count
            if len(terms) > INCIDENT_TERMS:
                self.incident_terms = _top_dict(terms, INCIDENT_TERMS)

    def _top_terms(self) -> list[list[Any]]:
        ranked = sorted(self.incident_terms.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        return [[term, count] for term, count in ranked]


def _top_posts(posts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    unique: dict[str, dict[str, Any]] = {}
    for post in posts:
        key = str(post.get("id", ""))
        if key not in unique or post.get("reach", 0) > unique[key].get("reach", 0):
            unique[key] = post
    ranked = sorted(unique.values(), key=lambda x: (-float(x.get("reach", 0.0)), str(x.get("id", ""))))
    return ranked[:TOP_POSTS]


def _top_dict(terms: dict[str, int], limit: int) -> dict[str, int]:
    if len(terms) <= limit:
        return dict(terms)
    ranked = sorted(terms.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return dict(ranked)


