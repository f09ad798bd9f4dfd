"""The adaptive spike detector: seasonal robust baselines and statistical tests.

Per brand and per closed bucket it tests three signals over several windows
at once (default 5, 15 and 60 minutes):

* ``volume``: mentions in the window against the expected count, an
  overdispersed (negative-binomial) tail on Anscombe's square-root scale;
* ``negative_volume``: negative posts against their own expected count, the
  same test, and only while the negative share is also up (so a positive
  viral spike or a busy news day never raises a *negative* alert);
* ``negative_share``: negative posts out of all posts against the brand's
  usual share, a beta-binomial z plus a minimum number of negative posts and
  a minimum lift; its Wilson lower bound decides the severity.

Expected counts come from ``level x hour-of-day factor x day-of-week
factor`` learned online (multiplicative Holt-Winters without trend). The
baselines are robust: every observation is winsorised before it is learned,
and nothing is learned from a bucket in which the signal is hot or its
alert is firing, so a past crisis does not raise the bar for the next one.

Whole state is plain numbers and lists (``to_state``), O(1) work per bucket.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from streams.detection.params import SIGNALS, AdaptiveParams
from streams.detection.stats import count_z, half_life_alpha, share_z, upper_tail_p, wilson_lower
from streams.models import AlertEvent, Bucket

STATE_VERSION = 1
# Ring entries: total, negative, reach_negative, risk_hits, expected total, expected negative.
_TOT, _NEG, _REACH, _RISK, _MU_TOT, _MU_NEG = range(6)
_FIELDS = 6
# Windows longer than this many buckets are shortened: the ring is part of
# the state, which must stay under 20 KB per brand.
MAX_WINDOW_BUCKETS = 240
MIN_RATE = 0.01  # expected posts per bucket never drops below this
PRIOR_SHARE = 0.2  # negative share assumed before any post is seen
PRIOR_SHARE_WEIGHT = 10.0  # ... worth this many posts
PHI_PRIOR = 0.1
PHI_MIN = 0.01
RHO_MIN, RHO_MAX = 0.002, 0.25
WINSOR_SD = 4.0  # observations are clipped at this many standard deviations before learning
# Dispersion learns with the same clip: a wider one lets repost cascades
# inflate phi until real crises hide behind them (measured on NAB).
DISPERSION_CLIP_SD = 4.0
TOP_POSTS = 3
INCIDENT_TERMS = 20
RECENT_BUCKETS_FOR_EVIDENCE = 2


class SeasonalRate:
    """Expected posts per bucket = level x hour[local hour] x weekday[local day].

    Factors start at 1 and learn with weight ``max(alpha, 1/(n+2))`` so a new
    brand gets a usable profile after a day instead of after the half-life.
    """

    __slots__ = ("level", "n", "hour", "hour_n", "dow", "dow_n", "last_hour", "last_day")

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        s = state or {}
        self.level: float = float(s.get("level", 0.0))
        self.n: int = int(s.get("n", 0))
        self.hour: list[float] = list(s.get("hour", [1.0] * 24))
        self.hour_n: list[int] = list(s.get("hour_n", [0] * 24))
        self.dow: list[float] = list(s.get("dow", [1.0] * 7))
        self.dow_n: list[int] = list(s.get("dow_n", [0] * 7))
        self.last_hour: int = int(s.get("last_hour", -1))
        self.last_day: int = int(s.get("last_day", -1))

    def to_state(self) -> dict[str, Any]:
        return {
            "level": self.level, "n": self.n, "hour": list(self.hour), "hour_n": list(self.hour_n),
            "dow": list(self.dow), "dow_n": list(self.dow_n), "last_hour": self.last_hour,
            "last_day": self.last_day,
        }

    def expected(self, hour: int, dow: int) -> float:
        mu = self.level * self.hour[hour] * self.dow[dow]
        return mu if mu > MIN_RATE else MIN_RATE

    def learn(self, count: float, hour: int, dow: int, day: int, a_level: float, a_hour: float, a_dow: float) -> None:
        if hour != self.last_hour:
            self._renormalise(self.hour)
            self.last_hour = hour
        if day != self.last_day:
            self._renormalise(self.dow)
            self.last_day = day
        h = self.hour[hour]
        d = self.dow[dow]
        self.n += 1
        a = 1.0 / self.n if 1.0 / self.n > a_level else a_level
        self.level += a * (count / (h * d) - self.level)
        level = self.level if self.level > MIN_RATE else MIN_RATE
        n_h = self.hour_n[hour] + 1
        self.hour_n[hour] = n_h if n_h < 1_000_000 else 1_000_000
        a = 1.0 / (n_h + 1) if 1.0 / (n_h + 1) > a_hour else a_hour
        h += a * (count / (level * d) - h)
        self.hour[hour] = h if h > 0.05 else 0.05
        n_d = self.dow_n[dow] + 1
        self.dow_n[dow] = n_d if n_d < 1_000_000 else 1_000_000
        a = 1.0 / (n_d + 1) if 1.0 / (n_d + 1) > a_dow else a_dow
        d += a * (count / (level * self.hour[hour]) - d)
        self.dow[dow] = d if d > 0.05 else 0.05

    def _renormalise(self, factors: list[float]) -> None:
        """Keep the factors' mean at 1 so the level stays the mean rate;
        only the product matters, so the level absorbs the correction."""
        mean = sum(factors) / len(factors)
        if mean <= 0:
            return
        for i in range(len(factors)):
            factors[i] /= mean
        self.level *= mean

    def rescale(self, ratio: float) -> None:
        self.level *= ratio


class _Dispersion:
    """Negative-binomial overdispersion phi per window, as a ratio of EWMAs:
    on the square-root scale z**2 ~ 1 + phi * mean, so
    phi = EW(z**2 - 1) / EW(mean), which stays stable when means are tiny."""

    __slots__ = ("num", "den", "n")

    def __init__(self, state: list[Any] | None = None) -> None:
        self.num, self.den, self.n = (float(state[0]), float(state[1]), int(state[2])) if state else (0.0, 0.0, 0)

    def to_state(self) -> list[Any]:
        return [self.num, self.den, self.n]

    @property
    def phi(self) -> float:
        if self.den <= 0.0:
            return PHI_PRIOR
        value = self.num / self.den
        return value if value > PHI_MIN else PHI_MIN

    def learn(self, observed: float, expected: float, alpha: float) -> None:
        raw = 2.0 * (math.sqrt(observed + 0.375) - math.sqrt(expected + 0.375))
        limit = DISPERSION_CLIP_SD * DISPERSION_CLIP_SD * (1.0 + self.phi * expected)
        sq = raw * raw
        if sq > limit:
            sq = limit
        self.n += 1
        a = 1.0 / self.n if 1.0 / self.n > alpha else alpha
        self.num += a * (sq - 1.0 - self.num)
        self.den += a * (expected - self.den)


class AdaptiveDetector:
    """See the module docstring; ``update`` is the only entry point."""

    name = "adaptive"

    def __init__(self, brand: str, brand_name: str = "", params: AdaptiveParams | None = None,
                 state: dict[str, Any] | None = None) -> None:
        self.brand = brand
        self.brand_name = brand_name or brand
        self.params = params or AdaptiveParams()
        self.enabled = frozenset(self.params.signals)
        s = state or {}
        if s and (s.get("version") != STATE_VERSION or s.get("detector") != self.name):
            s = {}  # an incompatible state is dropped: re-learning beats mis-reading
        self.size: float | None = s.get("size")
        self.last_start: float | None = s.get("last_start")
        self.first_start: float | None = s.get("first_start")
        self.seen: int = int(s.get("seen", 0))
        self.ring: list[list[Any]] = [list(e) for e in s.get("ring", [])]
        self.pos: int = int(s.get("pos", 0))
        self.sums: list[list[Any]] = [list(x) for x in s.get("sums", [])]
        self.saved_windows: list[int] = list(s.get("windows", []))
        self.volume = SeasonalRate(s.get("volume"))
        self.negatives = SeasonalRate(s.get("negatives"))
        self.phi_volume = [_Dispersion(x) for x in s.get("phi_volume", [])]
        self.phi_negative = [_Dispersion(x) for x in s.get("phi_negative", [])]
        share = s.get("share", [0.0, 0.0, 0.0, 0.0])
        self.share_neg, self.share_tot, self.rho_num, self.rho_den = (float(x) for x in share)
        self.reach_per_negative: float = float(s.get("reach_per_negative", 0.0))
        # The volume statistic's usual daily maximum: [today's max, typical, days learned, local day].
        tail = s.get("volume_tail", [0.0, 0.0, 0, -1])
        self.tail_today, self.tail_typical = float(tail[0]), float(tail[1])
        self.tail_days, self.tail_day = int(tail[2]), int(tail[3])
        saved_alerts = s.get("alerts", {})
        self.alerts: dict[str, dict[str, Any]] = {}
        for sig in SIGNALS:
            st = dict(saved_alerts.get(sig) or {"hot": 0, "quiet": 0, "hot_since": None,
                                                "firing": None, "cooldown_until": None})
            st["firing"] = dict(st["firing"]) if st.get("firing") else None
            self.alerts[sig] = st
        n = self.params.sparkline_buckets
        self.sparkline: deque[int] = deque(s.get("sparkline", []), maxlen=n)
        self.volume_sparkline: deque[int] = deque(s.get("volume_sparkline", []), maxlen=n)
        self.recent_top: deque[list[dict[str, Any]]] = deque(s.get("recent_top", []), maxlen=RECENT_BUCKETS_FOR_EVIDENCE)
        self.recent_terms: deque[dict[str, int]] = deque(s.get("recent_terms", []), maxlen=RECENT_BUCKETS_FOR_EVIDENCE)
        self.incident_top: list[dict[str, Any]] = list(s.get("incident_top", []))
        self.incident_terms: dict[str, int] = dict(s.get("incident_terms", {}))
        self.last_statistics: dict[str, float] = {}
        self.last_warmed = False
        self.last_volume_threshold = self.params.volume_z_fire
        self._derive()

    # -- state ----------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "detector": self.name,
            "size": self.size,
            "last_start": self.last_start,
            "first_start": self.first_start,
            "seen": self.seen,
            "ring": [list(e) for e in self.ring],
            "pos": self.pos,
            "sums": [list(x) for x in self.sums],
            "windows": list(self.windows),
            "volume": self.volume.to_state(),
            "negatives": self.negatives.to_state(),
            "phi_volume": [d.to_state() for d in self.phi_volume],
            "phi_negative": [d.to_state() for d in self.phi_negative],
            "share": [self.share_neg, self.share_tot, self.rho_num, self.rho_den],
            "reach_per_negative": self.reach_per_negative,
            "volume_tail": [self.tail_today, self.tail_typical, self.tail_days, self.tail_day],
            "alerts": {sig: {**st, "firing": dict(st["firing"]) if st["firing"] else None}
                       for sig, st in self.alerts.items()},
            "sparkline": list(self.sparkline),
            "volume_sparkline": list(self.volume_sparkline),
            "recent_top": [list(x) for x in self.recent_top],
            "recent_terms": [dict(x) for x in self.recent_terms],
            "incident_top": list(self.incident_top),
            "incident_terms": dict(self.incident_terms),
        }

    def _derive(self) -> None:
        """Quantities that follow from the bucket size; recomputed, never stored."""
        p = self.params
        if self.size is None:
            self.windows: list[int] = []
            return
        size = self.size
        self.windows = sorted({min(MAX_WINDOW_BUCKETS, max(1, round(w / size))) for w in p.windows})
        length = self.windows[-1]
        if self.saved_windows != self.windows or len(self.sums) != len(self.windows) or len(self.ring) > length:
            self._reset_windows()
        if len(self.phi_volume) != len(self.windows):
            self.phi_volume = [_Dispersion() for _ in self.windows]
            self.phi_negative = [_Dispersion() for _ in self.windows]
        self.a_level = half_life_alpha(p.baseline_half_life / size)
        self.a_hour = half_life_alpha(p.season_half_life / 86400.0 * 3600.0 / size)
        self.a_dow = half_life_alpha(p.season_half_life / 604800.0 * 86400.0 / size)
        self.warmup_buckets = max(1, int(math.ceil(p.warmup / size)))
        self.relearn_buckets = max(1, int(math.ceil(p.relearn_after / size)))

    def _reset_windows(self) -> None:
        self.saved_windows = list(self.windows)
        self.ring = []
        self.pos = 0
        self.sums = [[0, 0, 0.0, 0, 0.0, 0.0] for _ in self.windows]

    # -- the entry point --------------------------------------------------------

    def update(self, bucket: Bucket) -> list[AlertEvent]:
        start = bucket.start
        if self.last_start is not None and start <= self.last_start:
            return []  # re-delivered after a crash: already counted
        if self.size != bucket.size:
            self._change_size(bucket.size)
        if self.first_start is None:
            self.first_start = start
        self.last_start = start
        p = self.params
        local = start + p.utc_offset_hours * 3600.0
        day = int(local // 86400.0)
        hour = int(local // 3600.0) % 24
        dow = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        total = bucket.total
        negative = bucket.negative
        mu_total = self.volume.expected(hour, dow)
        mu_negative = self.negatives.expected(hour, dow)
        self._push(total, negative, round(bucket.reach_negative, 3), bucket.risk_hits,
                   round(mu_total, 4), round(mu_negative, 4))
        self.seen += 1
        self.sparkline.append(negative)
        self.volume_sparkline.append(total)
        warmed = self.seen > self.warmup_buckets

        base_share = (self.share_neg + PRIOR_SHARE * PRIOR_SHARE_WEIGHT) / (self.share_tot + PRIOR_SHARE_WEIGHT)
        rho = self._rho()
        if day != self.tail_day:
            self._close_tail_day(day)
        tests = self._test_windows(base_share, rho, warmed)
        if tests["volume"]["z"] > self.tail_today:
            self.tail_today = tests["volume"]["z"]
        # Exposed for scoring a series and for plots; derived, not state.
        self.last_statistics = {sig: tests[sig]["z"] for sig in SIGNALS}
        self.last_warmed = warmed
        self.last_volume_threshold = max(p.volume_z_fire, p.volume_tail_margin * self.tail_typical)

        events: list[AlertEvent] = []
        incident_was_open = any(st["firing"] for st in self.alerts.values())
        if incident_was_open:
            self._collect_evidence(bucket)
        for sig in SIGNALS:
            events.extend(self._advance(sig, tests[sig], bucket, base_share))
        incident_open = any(st["firing"] for st in self.alerts.values())
        if not incident_was_open and incident_open:
            self._open_incident(bucket)
            # The firing events were built before the incident's evidence existed.
            for event in events:
                event.top_posts = [dict(x) for x in self.incident_top]
                event.risk_terms = self._top_terms()
        if not incident_open:
            self.incident_top = []
            self.incident_terms = {}
        self.recent_top.append([dict(x) for x in bucket.top_negative[:TOP_POSTS]])
        self.recent_terms.append(_top_dict(bucket.risk_terms, 5))

        self._learn(total, negative, bucket.reach_negative, hour, dow, day, base_share, rho, tests, warmed)
        return events

    def _close_tail_day(self, day: int) -> None:
        """Learn yesterday's largest volume statistic, winsorised so that a
        crisis day raises the bar by a few percent at most."""
        if self.tail_day >= 0 and self.seen > self.warmup_buckets:
            observed = self.tail_today
            if self.tail_days > 0:
                cap = 1.5 * self.tail_typical + 2.0
                observed = cap if observed > cap else observed
            self.tail_days += 1
            a = max(1.0 / self.tail_days, half_life_alpha(self.params.season_half_life / 86400.0))
            self.tail_typical += a * (observed - self.tail_typical)
        self.tail_day = day
        self.tail_today = 0.0

    # -- windows ------------------------------------------------------------------

    def _change_size(self, size: float) -> None:
        if self.size is not None:
            # A new bucket size (config change): rates are per bucket, so rescale
            # them and start the windows afresh rather than mix two sizes.
            ratio = size / self.size
            self.volume.rescale(ratio)
            self.negatives.rescale(ratio)
        self.size = size
        self.ring = []
        self.sums = []
        self._derive()
        self._reset_windows()

    def _push(self, *entry: Any) -> None:
        ring = self.ring
        length = self.windows[-1]
        filled = len(ring)
        pos = self.pos
        for sums, width in zip(self.sums, self.windows, strict=True):
            if filled >= width:
                old = ring[(pos - width) % length]
                for i in range(_FIELDS):
                    sums[i] += entry[i] - old[i]
            else:
                for i in range(_FIELDS):
                    sums[i] += entry[i]
        if filled < length:
            ring.append(list(entry))
        else:
            ring[pos] = list(entry)
        self.pos = (pos + 1) % length

    def _test_windows(self, base_share: float, rho: float, warmed: bool) -> dict[str, dict[str, Any]]:
        """The best window per signal (highest statistic), whether it is hot,
        and whether every window is quiet (below resolve_z)."""
        p = self.params
        z_fire = p.z_fire
        best: dict[str, dict[str, Any]] = {}
        for sig in SIGNALS:
            best[sig] = {"z": -math.inf, "hot": False, "quiet": True, "index": 0, "per_window": []}
        cold_min = 2 * p.min_negative
        volume_z = max(p.volume_z_fire, p.volume_tail_margin * self.tail_typical)
        for index, sums in enumerate(self.sums):
            total = sums[_TOT]
            negative = sums[_NEG]
            z_vol = count_z(total, sums[_MU_TOT], self.phi_volume[index].phi)
            z_neg = count_z(negative, sums[_MU_NEG], self.phi_negative[index].phi)
            z_share = share_z(negative, total, base_share, rho)
            share = negative / total if total else 0.0
            min_ratio = p.min_ratio
            hot_vol = (warmed and z_vol >= volume_z and total >= p.min_volume
                       and total >= min_ratio * sums[_MU_TOT])
            hot_neg = (warmed and z_neg >= z_fire and negative >= p.min_negative
                       and negative >= min_ratio * sums[_MU_NEG] and z_share >= p.share_gate_z)
            if warmed:
                hot_share = (z_share >= z_fire and negative >= p.min_negative
                             and share >= base_share + p.min_share_lift)
            else:
                hot_share = negative >= cold_min and wilson_lower(negative, total, z_fire) >= p.cold_start_share
            for sig, z, hot in (("volume", z_vol, hot_vol), ("negative_volume", z_neg, hot_neg),
                                ("negative_share", z_share, hot_share)):
                b = best[sig]
                b["per_window"].append(round(z, 3))
                if z >= p.resolve_z:
                    b["quiet"] = False
                if (hot and not b["hot"]) or (hot == b["hot"] and z > b["z"]):
                    b["z"] = z
                    b["index"] = index
                    b["hot"] = b["hot"] or hot
        return best

    # -- alert lifecycle -----------------------------------------------------------

    def _advance(self, sig: str, test: dict[str, Any], bucket: Bucket, base_share: float) -> list[AlertEvent]:
        p = self.params
        st = self.alerts[sig]
        hot = test["hot"]
        if hot:
            if st["hot"] == 0:
                st["hot_since"] = bucket.start
            st["hot"] += 1
        else:
            st["hot"] = 0
            st["hot_since"] = None
        if sig not in self.enabled:
            return []
        firing = st["firing"]
        end = bucket.start + bucket.size
        if firing is None:
            # Hysteresis: wait for fire_after hot buckets, unless the evidence is
            # already overwhelming (z_critical): a sudden storm should not wait.
            if st["hot"] < p.fire_after and not (hot and test["z"] >= p.z_critical):
                return []
            facts = self._facts(sig, test, base_share)
            cooling = st["cooldown_until"] is not None and end < st["cooldown_until"]
            if cooling and facts["severity"] != "critical":
                return []
            st["firing"] = {
                "started_at": st["hot_since"] if st["hot_since"] is not None else bucket.start,
                "since_bucket": self.seen, "severity": facts["severity"], "peak": facts["value"], "seq": 0,
            }
            st["quiet"] = 0
            return [self._event(sig, "firing", facts, end)]
        facts = self._facts(sig, test, base_share)
        if facts["value"] > firing["peak"]:
            firing["peak"] = facts["value"]
        st["quiet"] = st["quiet"] + 1 if test["quiet"] else 0
        if st["quiet"] >= p.resolve_after:
            event = self._event(sig, "resolved", facts, end)
            st["firing"] = None
            st["quiet"] = 0
            st["cooldown_until"] = end + p.cooldown
            return [event]
        if hot and facts["severity"] == "critical" and firing["severity"] != "critical":
            firing["severity"] = "critical"
            return [self._event(sig, "firing", facts, end)]
        return []

    def _facts(self, sig: str, test: dict[str, Any], base_share: float) -> dict[str, Any]:
        """Numbers behind one signal's best window, and the severity they imply."""
        p = self.params
        index = test["index"]
        sums = self.sums[index]
        width = self.windows[index]
        total, negative = sums[_TOT], sums[_NEG]
        mu_total, mu_negative = sums[_MU_TOT], sums[_MU_NEG]
        z = test["z"]
        share = negative / total if total else 0.0
        lower = wilson_lower(negative, total, p.z_fire)
        expected_reach = mu_negative * self.reach_per_negative
        reach_ratio = sums[_REACH] / expected_reach if expected_reach > 0 else 0.0
        volume_change = total / mu_total if mu_total > 0 else 0.0
        negative_change = negative / mu_negative if mu_negative > 0 else 0.0
        risky = sums[_RISK] >= p.risk_critical_hits
        strong = z >= p.z_critical
        if sig == "volume":
            value, baseline = float(total), mu_total
            critical = strong and volume_change >= p.critical_ratio
            test_name = "negative-binomial tail (Anscombe z) on mentions"
        elif sig == "negative_volume":
            value, baseline = float(negative), mu_negative
            critical = (strong and (negative_change >= p.critical_ratio or reach_ratio >= p.critical_ratio)) or risky
            test_name = "negative-binomial tail (Anscombe z) on negative posts, share gate"
        else:
            value, baseline = share, base_share
            critical = (strong and lower - base_share >= p.critical_share_lift) or risky
            test_name = "beta-binomial z on negative share, Wilson lower bound"
        phi = (self.phi_volume if sig == "volume" else self.phi_negative)[index].phi
        return {
            "severity": "critical" if critical else "warning",
            "value": value, "baseline": baseline, "z": z, "window_buckets": width,
            "total": total, "negative": negative, "share": share, "volume_change": volume_change,
            "evidence": {
                "test": test_name,
                "window_seconds": width * (self.size or 0.0),
                "z": round(z, 3),
                "p_value": upper_tail_p(z) if math.isfinite(z) else 1.0,
                "z_fire": p.z_fire,
                "z_critical": p.z_critical,
                "hot_buckets": self.alerts[sig]["hot"],
                "windows_seconds": [w * (self.size or 0.0) for w in self.windows],
                "z_per_window": test["per_window"],
                "observed": value,
                "expected": round(baseline, 4),
                "expected_negative": round(mu_negative, 4),
                "expected_total": round(mu_total, 4),
                "wilson_lower": round(lower, 4),
                "baseline_share": round(base_share, 4),
                "overdispersion_phi": round(phi, 4),
                "share_rho": round(self._rho(), 4),
                "negative_change": round(negative_change, 3),
                "reach_negative": round(sums[_REACH], 3),
                "reach_ratio": round(reach_ratio, 3),
                "risk_hits": sums[_RISK],
                "warmed_up": self.seen > self.warmup_buckets,
                "sensitivity": p.sensitivity,
                "volume_sparkline": list(self.volume_sparkline),
            },
        }

    def _event(self, sig: str, state: str, facts: dict[str, Any], end: float) -> AlertEvent:
        st = self.alerts[sig]
        firing = st["firing"]
        firing["seq"] += 1
        minutes = facts["window_buckets"] * (self.size or 0.0) / 60.0
        summary = _summary(sig, facts, minutes)
        if state == "resolved":
            summary = f"resolved: {summary}"
        return AlertEvent(
            key=f"{self.brand}:{sig}",
            brand=self.brand,
            brand_name=self.brand_name,
            signal=sig,
            state=state,
            severity=firing["severity"] if state == "resolved" else facts["severity"],
            started_at=firing["started_at"],
            event_time=end,
            window_seconds=facts["window_buckets"] * (self.size or 0.0),
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
            peak_severity=firing["severity"],
            risk_terms=self._top_terms(),
            top_posts=[dict(x) for x in self.incident_top],
            sparkline=[float(x) for x in self.sparkline],
            sequence=firing["seq"],
            detector=self.name,
            evidence=facts["evidence"],
        )

    # -- evidence ------------------------------------------------------------------

    def _open_incident(self, bucket: Bucket) -> None:
        """Seed the evidence with the buckets just before the alert: the posts
        that started a crisis are usually in the buckets that made it hot."""
        posts: list[dict[str, Any]] = [dict(x) for x in bucket.top_negative]
        for earlier in self.recent_top:
            posts.extend(earlier)
        self.incident_top = _top_posts(posts)
        terms: dict[str, int] = dict(bucket.risk_terms)
        for earlier_terms in self.recent_terms:
            for term, count in earlier_terms.items():
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

    # -- learning ------------------------------------------------------------------

    def _rho(self) -> float:
        if self.rho_den <= 0.0:
            return 0.01
        value = self.rho_num / self.rho_den
        return RHO_MIN if value < RHO_MIN else RHO_MAX if value > RHO_MAX else value

    def _may_learn(self, sig: str, hot: bool) -> bool:
        st = self.alerts[sig]
        firing = st["firing"]
        if firing is not None:
            return self.seen - firing["since_bucket"] >= self.relearn_buckets
        return not hot

    def _learn(self, total: int, negative: int, reach: float, hour: int, dow: int, day: int,
               base_share: float, rho: float, tests: dict[str, dict[str, Any]], warmed: bool) -> None:
        a_level = self.a_level
        if self._may_learn("volume", tests["volume"]["hot"]):
            mu = self.volume.expected(hour, dow)
            count = _winsorise(total, mu, self.phi_volume[0].phi) if warmed else total
            # Dispersion is learned before the rate so it judges this bucket by
            # the same expectation the test used.
            for disp, sums in zip(self.phi_volume, self.sums, strict=True):
                disp.learn(sums[_TOT], sums[_MU_TOT], a_level)
            self.volume.learn(count, hour, dow, day, a_level, self.a_hour, self.a_dow)
        neg_hot = tests["negative_volume"]["hot"] or tests["negative_share"]["hot"]
        if self._may_learn("negative_volume", neg_hot):
            mu = self.negatives.expected(hour, dow)
            count = _winsorise(negative, mu, self.phi_negative[0].phi) if warmed else negative
            for disp, sums in zip(self.phi_negative, self.sums, strict=True):
                disp.learn(sums[_NEG], sums[_MU_NEG], a_level)
            self.negatives.learn(count, hour, dow, day, a_level, self.a_hour, self.a_dow)
            if negative > 0:
                per_post = reach / negative
                self.reach_per_negative += max(a_level, 0.05 if self.reach_per_negative == 0 else 0.0) * (
                    per_post - self.reach_per_negative)
        if total > 0 and self._may_learn("negative_share", neg_hot):
            q = base_share * (1.0 - base_share)
            spread = total * q * (1.0 + (total - 1.0) * rho)
            ceiling = total * base_share + WINSOR_SD * math.sqrt(spread) + 1.0
            kept = negative if negative < ceiling or not warmed else ceiling
            keep = 1.0 - a_level
            self.share_neg = self.share_neg * keep + kept
            self.share_tot = self.share_tot * keep + total
            if total >= 2:
                dev = (kept - total * base_share) ** 2 - total * q
                self.rho_num = self.rho_num * keep + dev
                self.rho_den = self.rho_den * keep + total * (total - 1.0) * q


def _winsorise(count: float, mu: float, phi: float) -> float:
    spread = WINSOR_SD * math.sqrt(mu * (1.0 + phi * mu)) + 1.0
    high = mu + spread
    if count > high:
        return high
    low = mu - spread
    return low if count < low else count


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


def _summary(sig: str, facts: dict[str, Any], minutes: float) -> str:
    z = facts["z"]
    if sig == "volume":
        return (f"{int(facts['total'])} mentions in {minutes:g} min vs {facts['baseline']:.1f} expected "
                f"({facts['volume_change']:.1f}x), z={z:.1f}")
    if sig == "negative_volume":
        return (f"{int(facts['negative'])} negative posts in {minutes:g} min vs {facts['baseline']:.1f} expected, "
                f"share {facts['share']:.0%} vs {facts['evidence']['baseline_share']:.0%} usual, z={z:.1f}")
    return (f"negative share {facts['share']:.0%} over {minutes:g} min ({int(facts['negative'])} of "
            f"{int(facts['total'])} posts) vs {facts['baseline']:.0%} usual, z={z:.1f}")
