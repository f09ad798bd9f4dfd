"""The adaptive spike detector: seasonal robust baselines and statistical tests.

Per brand and per closed bucket it tests four signals over several windows
at once (default 5, 15 and 60 minutes):

* ``volume``: mentions in the window against the expected count, an
  overdispersed (negative-binomial) tail on Anscombe's square-root scale;
* ``negative_volume``: negative posts against expected volume x usual
  share, the same test with its own dispersion, and only while the negative
  share is also up (so a positive viral spike or a busy news day never
  raises a *negative* alert);
* ``negative_share``: negative posts out of all posts against the brand's
  usual share, a beta-binomial z plus a minimum number of negative posts and
  a minimum lift; its Wilson lower bound decides the severity;
* ``risk_terms``: posts naming a risk (the lexicon's risk terms: recall,
  carcinogen, exposé...) against expected volume x the brand's usual share
  of such posts, with the exact negative-binomial tail, and only while the
  negative share is up too. At night a crisis is a handful of posts against
  a fraction of one expected; what sets it apart from a grumpy hour is what
  the posts say.

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
from streams.detection.stats import (
    binomial_upper_tail,
    count_z,
    exact_count_z,
    half_life_alpha,
    share_z,
    upper_tail_p,
    wilson_lower,
)
from streams.models import AlertEvent, Bucket

STATE_VERSION = 3
# Ring entries: total, negative, reach_negative, fresh risk stories, expected total.
_TOT, _NEG, _REACH, _RISK, _MU_TOT = range(5)
# Running sums per window: total, negative, expected total, risk hits (what
# the tests read every bucket). Reach is summed from the ring only when an
# alert needs it: one fewer sum to move per window and bucket.
_S_TOT, _S_NEG, _S_MU, _S_RISK = range(4)
# Windows longer than this many buckets are shortened: the ring is part of
# the state, which must stay under 20 KB per brand.
MAX_WINDOW_BUCKETS = 240
MIN_RATE = 0.01  # expected posts per bucket never drops below this
PRIOR_SHARE = 0.2  # negative share assumed before any post is seen
PRIOR_SHARE_WEIGHT = 10.0  # ... worth this many posts
PRIOR_RISK_SHARE = 0.05  # share of posts with a risk term assumed before any post is seen
PRIOR_RISK_WEIGHT = 20.0  # ... worth this many posts
PHI_PRIOR = 0.1
PHI_MIN = 0.01
RHO_MIN, RHO_MAX, RHO_PRIOR = 0.002, 0.25, 0.01
WINSOR_SD = 4.0  # observations are clipped at this many standard deviations before learning
_WINSOR_SQ = WINSOR_SD * WINSOR_SD
# Dispersion learns with the same clip: a wider one lets repost cascades
# inflate phi until real crises hide behind them (measured on NAB).
DISPERSION_CLIP_SD = 4.0
_CLIP_SQ = DISPERSION_CLIP_SD * DISPERSION_CLIP_SD
# A signal's test result for one bucket: (best z, index of its window, hot, quiet).
_Z, _INDEX, _HOT, _QUIET = range(4)
_Test = tuple[float, int, bool, bool]
TOP_POSTS = 3
# Windows with at most this many posts also need the exact binomial tail (it
# is only computed for a window that already passed the z test, so rarely).
EXACT_TAIL_MAX_POSTS = 1000
INCIDENT_TERMS = 20
# Long volume scale: its spread is 1 (log units) until this many ordinary
# buckets were learned, so it cannot fire on a spread learned from minutes.
LONG_MIN_LEARNED = 30
LONG_MIN_SPREAD = 0.05  # floor of the log-ratio spread (a flat series is not infinitely sure)
LONG_MAD_TO_SD = 1.25  # mean absolute deviation x this = sd for a normal distribution
RECENT_BUCKETS_FOR_EVIDENCE = 2
RECENT_TERMS = 5  # risk terms kept per recent bucket
# Risk stories remembered (story key -> bucket index last seen), newest
# last; a story not seen for the longest window counts as fresh again.
MAX_RISK_SEEN = 128


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
        hours = self.hour
        days = self.dow
        h = hours[hour]
        d = days[dow]
        n = self.n + 1
        self.n = n
        a = 1.0 / n
        if a < a_level:
            a = a_level
        level = self.level + a * (count / (h * d) - self.level)
        self.level = level
        if level < MIN_RATE:
            level = MIN_RATE
        # Counts stop at 10,000: by then the 1/n weight is far below alpha.
        seen_h = self.hour_n[hour]
        if seen_h < 10_000:
            self.hour_n[hour] = seen_h + 1
        a = 1.0 / (seen_h + 2)
        if a < a_hour:
            a = a_hour
        h += a * (count / (level * d) - h)
        if h < 0.05:
            h = 0.05
        hours[hour] = h
        seen_d = self.dow_n[dow]
        if seen_d < 10_000:
            self.dow_n[dow] = seen_d + 1
        a = 1.0 / (seen_d + 2)
        if a < a_dow:
            a = a_dow
        d += a * (count / (level * h) - d)
        days[dow] = d if d > 0.05 else 0.05

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

    __slots__ = ("num", "den", "n", "phi")

    def __init__(self, state: list[Any] | None = None) -> None:
        self.num, self.den, self.n = (float(state[0]), float(state[1]), int(state[2])) if state else (0.0, 0.0, 0)
        self.phi = self._phi()

    def to_state(self) -> list[Any]:
        return [self.num, self.den, self.n]

    def _phi(self) -> float:
        if self.den <= 0.0:
            return PHI_PRIOR
        value = self.num / self.den
        return value if value > PHI_MIN else PHI_MIN

    def learn(self, observed: float, expected: float, alpha: float) -> None:
        raw = 2.0 * (math.sqrt(observed + 0.375) - math.sqrt(expected + 0.375))
        limit = _CLIP_SQ * (1.0 + self.phi * expected)
        sq = raw * raw
        if sq > limit:
            sq = limit
        self.n += 1
        a = 1.0 / self.n
        if a < alpha:
            a = alpha
        self.num += a * (sq - 1.0 - self.num)
        self.den += a * (expected - self.den)
        self.phi = self._phi()


class _ShareDispersion:
    """Beta-binomial intra-class correlation rho of the negative share for
    one window length: how much more a window's share wanders than binomial
    sampling explains (threads, repost chains, the share drifting within a
    day). Learned from non-overlapping windows on the slow seasonal clock,
    each window's squared deviation capped at 3 sd, so a slow burn that has
    not crossed the threshold yet cannot inflate it and hide itself. Until
    20 windows are seen the estimate is blended with a prior."""

    __slots__ = ("num", "den", "n", "rho")

    def __init__(self, state: list[Any] | None = None) -> None:
        self.num, self.den, self.n = (float(state[0]), float(state[1]), int(state[2])) if state else (0.0, 0.0, 0)
        self.rho = self._rho()

    def to_state(self) -> list[Any]:
        return [self.num, self.den, self.n]

    def _rho(self) -> float:
        if self.den <= 0.0:
            return RHO_PRIOR
        value = self.num / self.den
        value = RHO_MIN if value < RHO_MIN else RHO_MAX if value > RHO_MAX else value
        weight = self.n / 20.0 if self.n < 20 else 1.0
        return weight * value + (1.0 - weight) * RHO_PRIOR

    def learn(self, negative: float, total: float, base_share: float, keep: float) -> None:
        if total < 2:
            return
        q = base_share * (1.0 - base_share)
        spread = total * q * (1.0 + (total - 1.0) * self.rho)
        square = (negative - total * base_share) ** 2
        if square > 9.0 * spread:
            square = 9.0 * spread
        self.num = self.num * keep + square - total * q
        self.den = self.den * keep + total * (total - 1.0) * q
        self.n += 1
        self.rho = self._rho()


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
        self.seen: int = int(s.get("seen", 0))
        self.ring: list[list[Any]] = [list(e) for e in s.get("ring", [])]
        self.pos: int = int(s.get("pos", 0))
        # Stored with all five ring fields (the layout of state version 3).
        self.sums: list[list[Any]] = [[x[_TOT], x[_NEG], x[_MU_TOT], x[_RISK]] for x in s.get("sums", [])]
        self.saved_windows: list[int] = list(s.get("windows", []))
        self.volume = SeasonalRate(s.get("volume"))
        self.phi_volume = [_Dispersion(x) for x in s.get("phi_volume", [])]
        self.phi_negative = [_Dispersion(x) for x in s.get("phi_negative", [])]
        share = s.get("share", [0.0, 0.0])
        self.share_neg, self.share_tot = float(share[0]), float(share[1])
        self.share_rho = [_ShareDispersion(x) for x in s.get("share_rho", [])]
        # Usual share of posts that start a new risk story (discounted sums
        # of new risk stories and of posts, like the negative share). Absent from states saved before the risk_terms
        # signal existed: those start from the prior and keep everything else.
        risk = s.get("risk", [0.0, 0.0])
        self.risk_share_stories, self.risk_share_posts = float(risk[0]), float(risk[1])
        # Stored as {story: buckets since last seen} (small numbers, small state).
        newest = int(self.last_start // self.size) if self.last_start is not None and self.size else 0
        self.risk_seen: dict[str, int] = {str(k): newest - int(age) for k, age in s.get("risk_seen", {}).items()}
        self.reach_per_negative: float = float(s.get("reach_per_negative", 0.0))
        # The volume statistic's usual daily maximum: [today's max, typical, days learned, local day].
        tail = s.get("volume_tail", [0.0, 0.0, 0, -1])
        self.tail_today, self.tail_typical = float(tail[0]), float(tail[1])
        self.tail_days, self.tail_day = int(tail[2]), int(tail[3])
        # Long volume scale: [EW observed, EW expected, centre and mean
        # absolute deviation of log(ratio), ordinary buckets learned].
        long = s.get("volume_long", [0.0, 0.0, 0.0, 0.0, 0])
        self.long_observed, self.long_expected = float(long[0]), float(long[1])
        self.long_centre, self.long_mad, self.long_learned = float(long[2]), float(long[3]), int(long[4])
        self.last_long_z = 0.0
        self.last_long_ratio = 1.0
        self.last_short_volume_z = 0.0
        saved_alerts = s.get("alerts", {})
        self.alerts: dict[str, dict[str, Any]] = {}
        for sig in SIGNALS:
            st = dict(saved_alerts.get(sig) or {"hot": 0, "quiet": 0, "hot_since": None,
                                                "firing": None, "cooldown_until": None, "last_peak_z": 0.0})
            st["firing"] = dict(st["firing"]) if st.get("firing") else None
            self.alerts[sig] = st
        n = self.params.sparkline_buckets
        self.sparkline: deque[int] = deque(s.get("sparkline", []), maxlen=n)
        self.volume_sparkline: deque[int] = deque(s.get("volume_sparkline", []), maxlen=n)
        self.recent_top: deque[list[dict[str, Any]]] = deque(s.get("recent_top", []), maxlen=RECENT_BUCKETS_FOR_EVIDENCE)
        self.recent_terms: deque[dict[str, int]] = deque(s.get("recent_terms", []), maxlen=RECENT_BUCKETS_FOR_EVIDENCE)
        self.incident_top: list[dict[str, Any]] = list(s.get("incident_top", []))
        self.incident_terms: dict[str, int] = dict(s.get("incident_terms", {}))
        # The last bucket's test results: for scoring a series and for plots.
        self.incident_is_open = any(st["firing"] for st in self.alerts.values())
        self.was_hot = any(st["hot"] for st in self.alerts.values())
        # (volume, negative_volume, negative_share, risk_terms) test results of the last bucket.
        self._last: tuple[_Test, _Test, _Test, _Test] | None = None
        self.last_base_share = PRIOR_SHARE
        self.last_base_risk = PRIOR_RISK_SHARE
        self.negative_level = 1.0  # see update: attention level the negative count is tested against
        self.clock_hours = -1  # local hours since the epoch of the last bucket, and its (hour, dow, day)
        self.clock: tuple[int, int, int] = (0, 0, 0)
        self.last_warmed = False
        self._derive()

    @property
    def last_tests(self) -> dict[str, _Test]:
        """The last bucket's test result per signal (built on demand: the
        update path keeps a tuple)."""
        if self._last is None:
            return {}
        volume, negative_volume, negative_share, risk_terms = self._last
        return {"negative_share": negative_share, "negative_volume": negative_volume, "risk_terms": risk_terms,
                "volume": volume}

    @property
    def last_statistics(self) -> dict[str, float]:
        """The last bucket's statistic per signal (best window)."""
        return {sig: test[_Z] for sig, test in self.last_tests.items()}

    def gauges(self) -> dict[str, float]:
        """What the worker exports as metrics after each bucket: the usual
        negative share, the strongest negative statistic now, open alerts."""
        return {
            "baseline_share": (self.share_neg + PRIOR_SHARE * PRIOR_SHARE_WEIGHT) / (self.share_tot + PRIOR_SHARE_WEIGHT),
            "score": self._negative_score(),
            "firing": float(sum(1 for st in self.alerts.values() if st["firing"] is not None)),
        }

    def _negative_score(self) -> float:
        """The strongest negative statistic over the last bucket's windows.

        ``update`` does not compute the statistics of a window that cannot be
        hot (most calm windows), so the gauge computes them here, on demand,
        from the same window sums and the usual share the tests used."""
        tests = self.last_tests
        if not tests:
            return 0.0
        score = max(tests["negative_share"][_Z], tests["negative_volume"][_Z], tests["risk_terms"][_Z], 0.0)
        base_share = self.last_base_share
        min_negative = self.params.min_negative
        for index, (total, negative, mu_total, _risk) in enumerate(self.sums):
            if negative < min_negative or negative <= total * base_share:
                continue
            score = max(score, share_z(negative, total, base_share, self.share_rho[index].rho),
                        count_z(negative, mu_total * base_share * self.negative_level,
                                self.phi_negative[index].phi))
        return score

    @property
    def volume_threshold(self) -> float:
        """The z the volume signal must reach now (fixed bar or learned tail)."""
        return max(self.params.volume_z_fire, self.params.volume_tail_margin * self.tail_typical)

    # -- state ----------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "detector": self.name,
            "size": self.size,
            "last_start": self.last_start,
            "seen": self.seen,
            "ring": [list(e) for e in self.ring],
            "pos": self.pos,
            "sums": self._stored_sums(),
            "windows": list(self.windows),
            "volume": self.volume.to_state(),
            "phi_volume": [d.to_state() for d in self.phi_volume],
            "phi_negative": [d.to_state() for d in self.phi_negative],
            "share": [self.share_neg, self.share_tot],
            "share_rho": [d.to_state() for d in self.share_rho],
            "risk": [self.risk_share_stories, self.risk_share_posts],
            "risk_seen": self._stored_risk_seen(),
            "reach_per_negative": self.reach_per_negative,
            "volume_tail": [self.tail_today, self.tail_typical, self.tail_days, self.tail_day],
            "volume_long": [self.long_observed, self.long_expected, self.long_centre, self.long_mad,
                            self.long_learned],
            "alerts": {sig: {**st, "firing": dict(st["firing"]) if st["firing"] else None}
                       for sig, st in self.alerts.items()},
            "sparkline": list(self.sparkline),
            "volume_sparkline": list(self.volume_sparkline),
            "recent_top": [x[:TOP_POSTS] for x in self.recent_top],
            "recent_terms": [_top_dict(x, RECENT_TERMS) for x in self.recent_terms],
            "incident_top": list(self.incident_top),
            "incident_terms": dict(self.incident_terms),
        }

    def _derive(self) -> None:
        """Quantities that follow from the bucket size; recomputed, never stored."""
        p = self.params
        if self.size is None:
            self.windows: list[int] = []
            self.window_sums: list[tuple[list[Any], int]] = []
            self.ring_length = 0
            return
        size = self.size
        self.windows = sorted({min(MAX_WINDOW_BUCKETS, max(1, round(w / size))) for w in p.windows})
        length = self.windows[-1]
        if self.saved_windows != self.windows or len(self.sums) != len(self.windows) or len(self.ring) > length:
            self._reset_windows()
        if len(self.phi_volume) != len(self.windows):
            self.phi_volume = [_Dispersion() for _ in self.windows]
            self.phi_negative = [_Dispersion() for _ in self.windows]
        if len(self.share_rho) != len(self.windows):
            self.share_rho = [_ShareDispersion() for _ in self.windows]
        self.window_sums = list(zip(self.sums, self.windows, strict=True))
        self.ring_length = length
        self.a_level = half_life_alpha(p.baseline_half_life / size)
        self.a_long = half_life_alpha(p.volume_long_half_life / size)
        # Read by _test_windows for every bucket: one tuple unpack instead of
        # a dozen attribute lookups (and the firing p-value computed once).
        self.test_constants = (
            p.z_fire, p.resolve_z, p.min_negative, p.min_volume, p.min_ratio, p.negative_min_ratio,
            p.share_gate_z, p.min_share_lift, 2 * p.min_negative, p.cold_start_share, upper_tail_p(p.z_fire),
            p.volume_z_fire, p.volume_tail_margin, p.volume_confirm_z,
            p.risk_z_fire, p.risk_min_hits, p.risk_min_ratio, p.risk_min_negative,
            # The share z both negative hot tests need, squared, a hair low so
            # rounding can never skip a window the exact test would pass.
            min(p.share_gate_z, p.z_fire) ** 2 * (1.0 - 1e-9) if min(p.share_gate_z, p.z_fire) > 0.0 else 0.0)
        self.long_fire = p.volume_long_z
        self.long_ratio_min = p.volume_long_ratio
        self.longest_index = len(self.windows) - 1
        self.windows_gcd = math.gcd(*self.windows)
        self.keep_rho = [1.0 - half_life_alpha(p.season_half_life / (size * w)) for w in self.windows]
        self.utc_offset = p.utc_offset_hours * 3600.0
        self.a_phi = [half_life_alpha(p.baseline_half_life / (size * w)) for w in self.windows]
        self.dispersions = list(zip(self.windows, self.sums, self.phi_volume, self.phi_negative, self.share_rho,
                                    self.a_phi, self.keep_rho, strict=True))
        self.a_hour = half_life_alpha(p.season_half_life / 86400.0 * 3600.0 / size)
        self.a_dow = half_life_alpha(p.season_half_life / 604800.0 * 86400.0 / size)
        self.warmup_buckets = max(1, int(math.ceil(p.warmup / size)))
        self.relearn_buckets = max(1, int(math.ceil(p.relearn_after / size)))

    def _ring_reach(self, width: int) -> float:
        """Reach-weighted negatives over the last ``width`` buckets, summed
        from the ring (only alerts and the state need them)."""
        ring = self.ring
        length = self.ring_length
        pos = self.pos
        reach: float = 0.0
        for back in range(1, min(width, len(ring)) + 1):
            reach += ring[(pos - back) % length][_REACH]
        return reach

    def _stored_sums(self) -> list[list[Any]]:
        """The window sums in the stored layout (total, negative, reach,
        risk, expected total): reach for every window in one walk back
        through the ring, since the windows are nested."""
        out: list[list[Any]] = []
        ring = self.ring
        length = self.ring_length
        pos = self.pos
        reach: float = 0.0
        back = 0
        for (total, negative, mu_total, risk), width in self.window_sums:
            while back < width and back < len(ring):
                back += 1
                reach += ring[(pos - back) % length][_REACH]
            out.append([total, negative, reach, risk, mu_total])
        return out

    def _stored_risk_seen(self) -> dict[str, int]:
        """The remembered risk stories still inside the longest window, as
        {story: buckets since it was last seen}, oldest first."""
        if self.size is None or not self.risk_seen:
            return {}
        horizon = self.ring_length
        newest = int((self.last_start or 0.0) // self.size)
        return {k: newest - v for k, v in self.risk_seen.items() if newest - v < horizon}

    def _fresh_risk_stories(self, stories: list[str], index: int) -> int:
        """How many of a bucket's risk stories were not already seen within
        the longest window: a repost cascade of one post naming a recall is
        one story, counted when it starts."""
        seen_at = self.risk_seen
        horizon = self.ring_length
        fresh = 0
        for key in stories:
            last = seen_at.pop(key, None)
            if last is None or index - last >= horizon:
                fresh += 1
            seen_at[key] = index  # re-inserted: the dict stays oldest first
        while len(seen_at) > MAX_RISK_SEEN:
            del seen_at[next(iter(seen_at))]
        return fresh

    def _reset_windows(self) -> None:
        self.saved_windows = list(self.windows)
        self.ring = []
        self.pos = 0
        self.sums = [[0, 0, 0.0, 0] for _ in self.windows]
        self.window_sums = list(zip(self.sums, self.windows, strict=True))

    # -- the entry point --------------------------------------------------------

    def update(self, bucket: Bucket) -> list[AlertEvent]:
        start = bucket.start
        if self.last_start is not None and start <= self.last_start:
            return []  # re-delivered after a crash: already counted
        if self.size != bucket.size:
            self._change_size(bucket.size)
        self.last_start = start
        local_hours = int((start + self.utc_offset) // 3600.0)
        if local_hours != self.clock_hours:
            # The calendar changes once an hour: computed then, not per bucket.
            self.clock_hours = local_hours
            day = local_hours // 24
            self.clock = (local_hours % 24, (day + 3) % 7, day)  # 1970-01-01 was a Thursday; Monday = 0
        hour, dow, day = self.clock
        total = bucket.total
        negative = bucket.negative
        volume = self.volume
        mu_total = volume.level * volume.hour[hour] * volume.dow[dow]
        if mu_total < MIN_RATE:
            mu_total = MIN_RATE
        # The ring and the window sums, inline (this runs for every bucket).
        mu_rounded = round(mu_total, 4)
        reach = round(bucket.reach_negative, 3)
        # Risk is counted in stories (a repost cascade is one); a producer
        # without story keys sends none, and then every post counts.
        stories = bucket.risk_stories
        risk = self._fresh_risk_stories(stories, int(start // bucket.size)) if stories else bucket.risk_hits
        if risk > total:
            risk = total  # a malformed bucket: never more risk posts than posts
        ring = self.ring
        length = self.ring_length
        filled = len(ring)
        pos = self.pos
        if filled == length:
            # Every window full (all but the first hours): no size check.
            for sums, width in self.window_sums:
                old = ring[(pos - width) % length]
                sums[0] += total - old[0]
                sums[1] += negative - old[1]
                sums[2] += mu_rounded - old[4]
                sums[3] += risk - old[3]
        else:
            for sums, width in self.window_sums:
                if filled >= width:
                    old = ring[(pos - width) % length]
                    sums[0] += total - old[0]
                    sums[1] += negative - old[1]
                    sums[2] += mu_rounded - old[4]
                    sums[3] += risk - old[3]
                else:
                    sums[0] += total
                    sums[1] += negative
                    sums[2] += mu_rounded
                    sums[3] += risk
        if filled < length:
            ring.append([total, negative, reach, risk, mu_rounded])
        else:
            # The slot leaving the longest window is overwritten in place: no
            # allocation per bucket once the ring is full.
            entry = ring[pos]
            entry[0] = total
            entry[1] = negative
            entry[2] = reach
            entry[3] = risk
            entry[4] = mu_rounded
        pos += 1
        self.pos = 0 if pos == length else pos
        seen = self.seen + 1
        self.seen = seen
        self.sparkline.append(negative)
        self.volume_sparkline.append(total)
        warmed = seen > self.warmup_buckets

        base_share = (self.share_neg + PRIOR_SHARE * PRIOR_SHARE_WEIGHT) / (self.share_tot + PRIOR_SHARE_WEIGHT)
        self.last_base_share = base_share
        base_risk = (self.risk_share_stories + PRIOR_RISK_SHARE * PRIOR_RISK_WEIGHT) / (self.risk_share_posts + PRIOR_RISK_WEIGHT)
        self.last_base_risk = base_risk
        if day != self.tail_day:
            self._close_tail_day(day)
        # The brand's level of attention over the last hours: the long scale's
        # smoothed mentions over smoothed expectation as of the previous
        # bucket (centre-adjusted), never below 1. A launch or news day that
        # has run at 3x for hours makes 3x as many negative posts at the usual
        # tone, so the negative count is tested against that level; a burst
        # of minutes moves it by a fraction of a percent per bucket.
        level = (self.long_observed + 1.0) / (self.long_expected + 1.0) * math.exp(-self.long_centre)
        if level < 1.0:
            level = 1.0
        self.negative_level = level
        volume_test, negative_volume_test, negative_share_test, risk_test = self._test_windows(
            base_share, base_risk, warmed, level)
        volume_hot = volume_test[_HOT]
        self.last_short_volume_z = volume_test[_Z]
        # Long scale: smoothed mentions against smoothed expectation.
        a = self.a_long
        observed = self.long_observed
        fed: float = total
        if volume_hot:
            # A burst the windows already report enters the long scale
            # winsorised, as it enters the level: otherwise its echo in the
            # smoothed sum would raise a second alert hours later.
            cap = mu_total + WINSOR_SD * math.sqrt(mu_total * (1.0 + self.phi_volume[0].phi * mu_total)) + 1.0
            if fed > cap:
                fed = cap
        observed += a * (fed - observed)
        self.long_observed = observed
        expected = self.long_expected
        expected += a * (mu_total - expected)
        self.long_expected = expected
        ratio = (observed + 1.0) / (expected + 1.0)
        log_ratio = math.log(ratio)
        spread = LONG_MAD_TO_SD * self.long_mad if self.long_learned > LONG_MIN_LEARNED else 1.0
        if spread < LONG_MIN_SPREAD:
            spread = LONG_MIN_SPREAD
        long_z = (log_ratio - self.long_centre) / spread
        self.last_long_z = long_z
        self.last_long_ratio = ratio
        long_hot = False
        if (warmed and long_z >= self.long_fire > 0.0 and not volume_hot
                and ratio >= self.long_ratio_min):
            # A sustained rise no window makes significant: reported with the
            # long scale's statistic, against the longest window's counts.
            long_hot = True
            volume_test = (long_z, self.longest_index, True, volume_test[_QUIET])
        volume_z = self.last_short_volume_z
        if volume_z > self.tail_today:
            self.tail_today = volume_z
        self._last = (volume_test, negative_volume_test, negative_share_test, risk_test)
        self.last_warmed = warmed

        events: list[AlertEvent] = []
        alerts = self.alerts
        incident_was_open = self.incident_is_open
        if incident_was_open:
            self._collect_evidence(bucket)
        risk_hot = risk_test[_HOT]
        negative_hot = negative_volume_test[_HOT] or negative_share_test[_HOT] or risk_hot
        any_hot = volume_hot or long_hot or negative_hot
        # The common case (nothing hot now or in the previous bucket, nothing
        # firing) has nothing to advance.
        if any_hot or incident_was_open or self.was_hot:
            for sig, test in zip(SIGNALS, (negative_share_test, negative_volume_test, risk_test, volume_test),
                                 strict=True):
                events.extend(self._advance(sig, test, bucket, base_share))
        self.was_hot = any_hot
        incident_open = any(st["firing"] for st in alerts.values()) if events or incident_was_open else False
        self.incident_is_open = incident_open
        if not incident_was_open and incident_open:
            self._open_incident(bucket)
            # The firing events were built before the incident's evidence existed.
            for event in events:
                event.top_posts = [dict(x) for x in self.incident_top]
                event.risk_terms = self._top_terms()
        elif incident_was_open and not incident_open:
            self.incident_top = []
            self.incident_terms = {}
        # Kept by reference; cut to size only when used or saved (rarely).
        self.recent_top.append(bucket.top_negative)
        self.recent_terms.append(bucket.risk_terms)

        self._learn(total, negative, bucket.reach_negative, risk, hour, dow, day, mu_total,
                    base_share, base_risk, volume_hot, negative_hot, warmed, log_ratio, spread, long_hot)
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
            self.long_observed *= ratio
            self.long_expected *= ratio
        self.size = size
        self.ring = []
        self.sums = []  # no sums: _derive starts the windows afresh (and binds them)
        self._derive()

    def _test_windows(self, base_share: float, base_risk: float, warmed: bool,
                      level: float) -> tuple[_Test, _Test, _Test, _Test]:
        """Per signal: the best window (hot first, then highest statistic),
        whether it is hot, and whether every window is quiet (below resolve_z).

        Written out flat because it runs for every bucket of every brand."""
        sqrt = math.sqrt
        (z_fire, resolve_z, min_negative, min_volume, min_ratio, negative_ratio, share_gate, min_share_lift,
         cold_min, cold_share, p_fire, volume_z_fire, tail_margin, confirm_z, risk_z_fire, risk_min_hits,
         risk_ratio, risk_min_negative, gate_sq) = self.test_constants
        share_floor = base_share + min_share_lift
        volume_z = tail_margin * self.tail_typical
        if volume_z < volume_z_fire:
            volume_z = volume_z_fire
        q = base_share * (1.0 - base_share)
        phi_v = self.phi_volume
        phi_n = self.phi_negative
        alerts = self.alerts
        rhos = self.share_rho
        negatives_firing = (alerts["negative_volume"]["firing"] is not None
                            or alerts["negative_share"]["firing"] is not None)
        bv, iv, hv, qv = -math.inf, 0, False, True
        # While no negative alert is open a negative statistic is only
        # reported, and windows skipped below count as 0: start there.
        start = -math.inf if negatives_firing else 0.0
        bn, in_, hn, qn = start, 0, False, True
        bs, is_, hs, qs = start, 0, False, True
        risk_firing = alerts["risk_terms"]["firing"] is not None
        br, ir, hr, qr = -math.inf if risk_firing else 0.0, 0, False, True
        risk_level = base_risk * level  # expected posts with a risk term per expected post
        gate_skip = warmed and gate_sq > 0.0
        share_level = base_share * level  # expected negative posts per expected post
        index = -1
        z_longest = 0.0
        volume_firing = alerts["volume"]["firing"] is not None
        # Shortcuts for the common calm bucket. A window at or below its
        # expected volume has z <= 0, and one whose share is at or below the
        # usual share (or with fewer than min_negative negatives) can make
        # neither negative signal hot; unless an alert needs the quiet flags,
        # such a statistic is not computed and counts as 0.
        for total, negative, mu_t, risk in self.sums:
            index += 1
            if total <= mu_t and not volume_firing:
                z = 0.0
            else:
                z = 2.0 * (sqrt(total + 0.375) - sqrt(mu_t + 0.375)) / sqrt(1.0 + phi_v[index].phi * mu_t)
            z_longest = z  # the windows are sorted: the last one is the longest
            if z >= resolve_z:
                qv = False
                if z >= volume_z and warmed and total >= min_volume and total >= min_ratio * mu_t:
                    if not hv or z > bv:
                        bv, iv, hv = z, index, True
                elif not hv and z > bv:
                    bv, iv = z, index
            elif not hv and z > bv:
                bv, iv = z, index
            if risk_firing or (risk >= risk_min_hits and negative >= risk_min_negative and warmed):
                # Rare: a window with several risk-term posts (or an open
                # risk alert, which needs every window's statistic to resolve).
                mu_r = mu_t * risk_level
                if risk_firing or risk >= risk_ratio * mu_r:
                    z = exact_count_z(risk, mu_r, phi_n[index].phi)
                    if z >= resolve_z:
                        qr = False
                    hot = False
                    if (z >= risk_z_fire and warmed and risk >= risk_min_hits and risk >= risk_ratio * mu_r
                            and negative >= risk_min_negative and total > 0):
                        z_share = (negative - total * base_share - 0.5) / sqrt(
                            total * q * (1.0 + (total - 1.0) * rhos[index].rho))
                        hot = z_share >= share_gate
                    if hot:
                        if not hr or z > br:
                            br, ir, hr = z, index, True
                    elif not hr and z > br:
                        br, ir = z, index
            if not negatives_firing:
                # Neither negative signal can be hot here: too few negative
                # posts, a share at or below the usual one, or (warmed up) a
                # share z below min(share_gate_z, z_fire), which both hot
                # tests require; compared in squares, so no square root. Most
                # calm windows stop here and their statistics count as 0.
                if negative < min_negative:
                    continue
                excess = negative - total * base_share - 0.5
                if excess <= -0.5 or (gate_skip and (
                        excess <= 0.0 or excess * excess < gate_sq * total * q * (1.0 + (total - 1.0) * rhos[index].rho))):
                    continue
            z_share = (negative - total * base_share - 0.5) / sqrt(
                total * q * (1.0 + (total - 1.0) * rhos[index].rho)) if total > 0 else 0.0
            mu_n = mu_t * share_level
            z = 2.0 * (sqrt(negative + 0.375) - sqrt(mu_n + 0.375)) / sqrt(1.0 + phi_n[index].phi * mu_n)
            if z >= resolve_z:
                qn = False
                if (z >= z_fire and warmed and negative >= min_negative and negative >= negative_ratio * mu_n
                        and z_share >= share_gate):
                    if not hn or z > bn:
                        bn, in_, hn = z, index, True
                elif not hn and z > bn:
                    bn, in_ = z, index
            elif not hn and z > bn:
                bn, in_ = z, index
            if warmed:
                hot = (z_share >= z_fire and negative >= min_negative and negative >= share_floor * total
                       and (total > EXACT_TAIL_MAX_POSTS
                            or binomial_upper_tail(int(negative), int(total), base_share) <= p_fire))
            else:
                # Cold start: an absolute bar, raised above what this brand has
                # shown so far (a brand whose normal tone is 50 % negative must
                # not fire at 52 % just because it is new).
                hot = negative >= cold_min and wilson_lower(negative, total, z_fire) >= max(cold_share, share_floor)
            if z_share >= resolve_z:
                qs = False
            if hot:
                if not hs or z_share > bs:
                    bs, is_, hs = z_share, index, True
            elif not hs and z_share > bs:
                bs, is_ = z_share, index
        if hv and z_longest < confirm_z:
            # A burst the longest window does not confirm is a blip (one
            # repost cascade), not a volume event.
            hv = False
        return (bv, iv, hv, qv), (bn, in_, hn, qn), (bs, is_, hs, qs), (br, ir, hr, qr)

    def _z_per_window(self, sig: str, base_share: float) -> list[float]:
        out: list[float] = []
        for index, (total, negative, mu_total, risk) in enumerate(self.sums):
            if sig == "volume":
                z = count_z(total, mu_total, self.phi_volume[index].phi)
            elif sig == "risk_terms":
                mu_risk = mu_total * self.last_base_risk * self.negative_level
                z = exact_count_z(risk, mu_risk, self.phi_negative[index].phi)
            elif sig == "negative_volume":
                z = count_z(negative, mu_total * base_share * self.negative_level, self.phi_negative[index].phi)
            else:
                z = share_z(negative, total, base_share, self.share_rho[index].rho)
            out.append(round(z, 3))
        return out

    # -- alert lifecycle -----------------------------------------------------------

    def _advance(self, sig: str, test: tuple[float, int, bool, bool], bucket: Bucket,
                 base_share: float) -> list[AlertEvent]:
        p = self.params
        st = self.alerts[sig]
        hot = test[_HOT]
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
            if st["hot"] < p.fire_after and not (hot and test[_Z] >= p.z_critical):
                return []
            # Cool-down: right after an alert resolved, the same signal re-fires
            # only for something bigger than that alert's peak; volume not at
            # all (checked before the evidence is built: a bursty brand spends
            # much of its volume cool-down hot).
            cooling = st["cooldown_until"] is not None and end < st["cooldown_until"]
            if cooling and (sig == "volume" or test[_Z] <= st.get("last_peak_z", 0.0)):
                return []
            facts = self._facts(sig, test, base_share)
            st["firing"] = {
                "started_at": st["hot_since"] if st["hot_since"] is not None else bucket.start,
                "since_bucket": self.seen, "severity": facts["severity"], "peak": facts["value"], "seq": 0,
                "peak_z": test[_Z],
            }
            st["quiet"] = 0
            if sig == "volume":
                # One volume page per episode: the cool-down runs from the opening.
                st["cooldown_until"] = end + p.volume_cooldown
            return [self._event(sig, "firing", facts, end)]
        facts = self._facts(sig, test, base_share)
        if facts["value"] > firing["peak"]:
            firing["peak"] = facts["value"]
        if test[_Z] > firing.get("peak_z", 0.0):
            firing["peak_z"] = test[_Z]
        st["quiet"] = st["quiet"] + 1 if test[_QUIET] else 0
        if st["quiet"] >= p.resolve_after:
            event = self._event(sig, "resolved", facts, end)
            st["firing"] = None
            st["quiet"] = 0
            if sig != "volume":
                st["cooldown_until"] = end + p.cooldown
            st["last_peak_z"] = firing.get("peak_z", 0.0)
            return [event]
        if hot and facts["severity"] == "critical" and firing["severity"] != "critical":
            firing["severity"] = "critical"
            return [self._event(sig, "firing", facts, end)]
        return []

    def _facts(self, sig: str, test: tuple[float, int, bool, bool], base_share: float) -> dict[str, Any]:
        """Numbers behind one signal's best window, and the severity they imply."""
        p = self.params
        index = test[_INDEX]
        total, negative, mu_total, risk_sum = self.sums[index]
        width = self.windows[index]
        reach_sum = self._ring_reach(width)
        mu_negative = mu_total * base_share * self.negative_level
        mu_risk = mu_total * self.last_base_risk * self.negative_level
        risk_change = risk_sum / mu_risk if mu_risk > 0 else 0.0
        z = test[_Z]
        share = negative / total if total else 0.0
        lower = wilson_lower(negative, total, p.z_fire)
        expected_reach = mu_negative * self.reach_per_negative
        reach_ratio = reach_sum / expected_reach if expected_reach > 0 else 0.0
        volume_change = total / mu_total if mu_total > 0 else 0.0
        negative_change = negative / mu_negative if mu_negative > 0 else 0.0
        risky = risk_sum >= p.risk_critical_hits
        strong = z >= p.z_critical
        if sig == "volume":
            value, baseline = float(total), mu_total
            critical = strong and volume_change >= p.critical_ratio
            test_name = ("negative-binomial tail (Anscombe z) on mentions, or robust z of the log ratio "
                         "of smoothed to expected mentions (long scale)")
        elif sig == "negative_volume":
            value, baseline = float(negative), mu_negative
            critical = (strong and (negative_change >= p.critical_ratio or reach_ratio >= p.critical_ratio)) or risky
            test_name = "negative-binomial tail (Anscombe z) on negative posts, share gate"
        elif sig == "risk_terms":
            value, baseline = float(risk_sum), mu_risk
            critical = (strong and (risk_change >= p.critical_ratio or reach_ratio >= p.critical_ratio)) or risky
            test_name = "exact negative-binomial tail on new stories with risk terms, share gate"
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
                "z_per_window": self._z_per_window(sig, base_share),
                "observed": value,
                "expected": round(baseline, 4),
                "expected_negative": round(mu_negative, 4),
                "expected_total": round(mu_total, 4),
                "wilson_lower": round(lower, 4),
                "baseline_share": round(base_share, 4),
                "overdispersion_phi": round(phi, 4),
                "share_rho": round(self.share_rho[index].rho, 4),
                "negative_change": round(negative_change, 3),
                "reach_negative": round(reach_sum, 3),
                "reach_ratio": round(reach_ratio, 3),
                "risk_stories": risk_sum,
                "expected_risk_stories": round(mu_risk, 4),
                "baseline_risk_share": round(self.last_base_risk, 4),
                "warmed_up": self.seen > self.warmup_buckets,
                "sensitivity": p.sensitivity,
                "volume_sparkline": list(self.volume_sparkline),
                "long_scale_z": round(self.last_long_z, 3),
                "long_scale_ratio": round(self.last_long_ratio, 3),
                "long_scale_half_life_seconds": p.volume_long_half_life,
                "negative_level": round(self.negative_level, 3),
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
            posts.extend(earlier[:TOP_POSTS])
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

    # -- learning ------------------------------------------------------------------

    def _learn(self, total: int, negative: int, reach: float, risk: int, hour: int, dow: int, day: int,
               mu_total: float, base_share: float, base_risk: float, volume_hot: bool, neg_hot: bool,
               warmed: bool, log_ratio: float, long_spread: float, long_hot: bool) -> None:
        a_level = self.a_level
        seen = self.seen
        if self.incident_is_open:
            # Some alert is firing: each baseline pauses while its own alert
            # fires, unless that alert has lasted relearn_after (the level is
            # probably the new normal; learning resumes, still winsorised).
            alerts = self.alerts
            relearn = self.relearn_buckets
            firing = alerts["volume"]["firing"]
            # A long-scale rise alone does not stop the level learning: it is
            # a slow change the level is meant to follow, and the long
            # scale's own statistics below do pause.
            volume_learns = ((seen - firing["since_bucket"] >= relearn) if firing is not None
                             else not volume_hot or long_hot)
            long_learns = volume_learns and not long_hot and firing is None
            # The tone baselines learn only from ordinary traffic: not while a
            # negative signal is hot or firing, and not during a volume event
            # either (a viral wave of praise would otherwise lower the usual
            # share and make the next ordinary hour look like a crisis).
            firing = alerts["negative_volume"]["firing"]
            negative_learns = volume_learns and (
                (seen - firing["since_bucket"] >= relearn) if firing is not None else not neg_hot)
            firing = alerts["negative_share"]["firing"]
            share_learns = volume_learns and (
                (seen - firing["since_bucket"] >= relearn) if firing is not None else not neg_hot)
            firing = alerts["risk_terms"]["firing"]
            risk_learns = volume_learns and (
                (seen - firing["since_bucket"] >= relearn) if firing is not None else not neg_hot)
        else:
            # Nothing firing (the common case): the same rules without lookups.
            volume_learns = not volume_hot or long_hot
            long_learns = volume_learns and not long_hot
            negative_learns = share_learns = risk_learns = volume_learns and not neg_hot
        if volume_learns:
            count: float = total
            excess = total - mu_total - 1.0 if total >= mu_total else mu_total - total - 1.0
            if warmed and excess > 0.0:
                # Clip at WINSOR_SD sd (+1): compared in squares, so the square
                # root is only taken for the rare bucket that is clipped.
                variance = mu_total * (1.0 + self.phi_volume[0].phi * mu_total)
                if excess * excess > _WINSOR_SQ * variance:
                    spread = WINSOR_SD * math.sqrt(variance) + 1.0
                    count = mu_total + spread if total > mu_total else mu_total - spread
            self.volume.learn(count, hour, dow, day, a_level, self.a_hour, self.a_dow)
        if long_learns:
            # The long scale's centre and spread, from ordinary buckets only
            # and winsorised, like the level.
            learned = self.long_learned + 1
            self.long_learned = learned
            a = 1.0 / learned
            if a < a_level:
                a = a_level
            deviation = log_ratio - self.long_centre
            limit = WINSOR_SD * long_spread
            if deviation > limit:
                deviation = limit
            elif deviation < -limit:
                deviation = -limit
            self.long_centre += a * deviation
            self.long_mad += a * ((deviation if deviation >= 0.0 else -deviation) - self.long_mad)
        if negative_learns and negative > 0:
            per_post = reach / negative
            if self.reach_per_negative == 0.0:
                self.reach_per_negative = per_post
            else:
                self.reach_per_negative += a_level * (per_post - self.reach_per_negative)
        share_learns = share_learns and total > 0
        if share_learns:
            q = base_share * (1.0 - base_share)
            kept: float = negative
            usual = total * base_share
            excess = negative - usual - 1.0 if negative >= usual else usual - negative - 1.0
            if warmed and excess > 0.0:
                variance = total * q * (1.0 + (total - 1.0) * self.share_rho[0].rho)
                if excess * excess > _WINSOR_SQ * variance:
                    spread = WINSOR_SD * math.sqrt(variance) + 1.0
                    kept = usual + spread if negative > usual else usual - spread
            keep = 1.0 - a_level
            self.share_neg = self.share_neg * keep + kept
            self.share_tot = self.share_tot * keep + total
        if risk_learns and total > 0:
            # The usual share of risk-term posts, clipped like the negative
            # share: one cascade of reposts naming a recall must not make the
            # next recall look ordinary.
            kept_risk: float = risk
            usual = total * base_risk
            if warmed and risk > usual + 1.0:
                variance = total * base_risk * (1.0 - base_risk)
                if (risk - usual - 1.0) ** 2 > _WINSOR_SQ * variance:
                    kept_risk = usual + WINSOR_SD * math.sqrt(variance) + 1.0
            keep = 1.0 - a_level
            self.risk_share_stories = self.risk_share_stories * keep + kept_risk
            self.risk_share_posts = self.risk_share_posts * keep + total
        if volume_learns and seen % self.windows_gcd == 0:
            # Dispersion learns once per window length, from windows that do
            # not overlap (overlapping ones would count the same burst many
            # times): at most every windows_gcd buckets, after the clipping
            # above used the values it had.
            for width, sums, phi_volume, phi_negative, rho, alpha, keep_rho in self.dispersions:
                if seen % width == 0:
                    phi_volume.learn(sums[_S_TOT], sums[_S_MU], alpha)
                    if negative_learns:
                        phi_negative.learn(sums[_S_NEG], sums[_S_MU] * base_share, alpha)
                    if share_learns:
                        rho.learn(sums[_S_NEG], sums[_S_TOT], base_share, keep_rho)


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
    if sig == "risk_terms":
        return (f"{int(facts['value'])} new stories with risk terms in {minutes:g} min vs {facts['baseline']:.2f} "
                f"expected, "
                f"{int(facts['negative'])} of {int(facts['total'])} posts negative "
                f"({facts['share']:.0%} vs {facts['evidence']['baseline_share']:.0%} usual), z={z:.1f}")
    return (f"negative share {facts['share']:.0%} over {minutes:g} min ({int(facts['negative'])} of "
            f"{int(facts['total'])} posts) vs {facts['baseline']:.0%} usual, z={z:.1f}")
