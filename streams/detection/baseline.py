"""What every signal of a brand shares: the clock, the windows and the baselines.

One ``Baseline`` per brand, fed every closed bucket before any signal is
scored. It keeps

* a ring of the last buckets (total, negative, reach-weighted negatives,
  fresh risk stories, expected total) and running sums per test window, so
  that every signal reads a window in O(1);
* the expected posts per bucket, ``level x hour-of-day x day-of-week``
  learned online (``SeasonalRate``, multiplicative Holt-Winters without trend);
* the usual negative share ``p0`` (discounted sums with a prior), the share's
  beta-binomial intra-class correlation ``rho`` per window, and the
  negative-binomial overdispersion ``phi`` of the total and negative counts
  per window;
* the long-scale attention: exponentially weighted sums of mentions and
  expected mentions, the robust centre and spread of their log ratio (the
  long-scale volume signal tests it; the negative signals divide by the
  level it implies, see docs/detection.md "Attention level").

Everything a signal reads for the current bucket is on the ``Frame`` the
baseline fills in ``observe``; what it learns happens in ``learn``, after
the alert policy has said which signals are hot or firing (a crisis must not
teach the baseline that crises are normal).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any

from streams.detection.stats import conditional_negative, half_life_alpha
from streams.models import Bucket

# Ring entries: total, negative, reach_negative, fresh risk stories, expected
# total, fresh negative stories.
TOT, NEG, REACH, RISK, MU_TOT, NSTORY = range(6)
# Running sums per window: total, negative, expected total, risk stories,
# negative stories.
S_TOT, S_NEG, S_MU, S_RISK, S_STORY = range(5)
# Windows longer than this many buckets are shortened: the ring is part of
# the state, which must stay under 20 KB per brand.
MAX_WINDOW_BUCKETS = 240
MIN_RATE = 0.01  # expected posts per bucket never drops below this
PRIOR_SHARE = 0.2  # negative share assumed before any post is seen
PRIOR_SHARE_WEIGHT = 10.0  # ... worth this many posts
LOCAL_PRIOR_POSTS = 30.0  # the local share starts from the base share, worth this many posts
PHI_PRIOR = 0.1
PHI_MIN = 0.01
RHO_MIN, RHO_MAX, RHO_PRIOR = 0.002, 0.25, 0.01
WINSOR_SD = 4.0  # observations are clipped at this many standard deviations before learning
WINSOR_SQ = WINSOR_SD * WINSOR_SD
# Dispersion learns with the same clip: a wider one lets repost cascades
# inflate phi until real crises hide behind them (measured on NAB).
_CLIP_SQ = 16.0
# Long scale: its spread is 1 (log units) until this many ordinary buckets
# were learned, so it cannot fire on a spread learned from minutes.
LONG_MIN_LEARNED = 30
LONG_MIN_SPREAD = 0.05
LONG_MAD_TO_SD = 1.25  # mean absolute deviation x this = sd for a normal distribution
# Risk stories remembered (story key -> bucket index last seen), newest
# last; a story not seen for the longest window counts as fresh again.
MAX_RISK_SEEN = 128
# Negative stories remembered the same way. At a busy brand the oldest are
# forgotten first (64 covers ten minutes at six negative opinions a minute):
# a repost cascade matters most where it is large against the usual count,
# at a small brand, and there 64 cover the hour. The memory is part of the
# saved state, which must stay under 20 KB.
MAX_NEGATIVE_SEEN = 64
KEY_CHARS = 8  # story keys (streams.sentiment.preprocess.story_key) are 8 hex digits; others are hashed to 8


def _short_key(key: str) -> str:
    """An 8-character key for a story key of another length (a post key)."""
    return f"{zlib.crc32(key.encode('utf-8', 'surrogatepass')):08x}"


def _load_seen(stored: dict[str, Any], newest: int) -> dict[str, int]:
    """{story: bucket index last seen}, oldest first, from either stored layout."""
    out: dict[str, int] = {}
    items = list(stored.items())
    if items and isinstance(items[0][1], str):
        for age, keys in sorted(items, key=lambda kv: -int(kv[0])):
            for i in range(0, len(keys), KEY_CHARS):
                out[keys[i:i + KEY_CHARS]] = newest - int(age)
    else:
        for key, age in items:
            out[str(key) if len(str(key)) == KEY_CHARS else _short_key(str(key))] = newest - int(age)
    return out
# Fresh negative stories per negative post assumed before any is seen
# (every post its own opinion), worth this many posts.
PRIOR_STORY_WEIGHT = 10.0


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
        a = max(1.0 / n, a_level)
        level = self.level + a * (count / (h * d) - self.level)
        self.level = level
        if level < MIN_RATE:
            level = MIN_RATE
        # Counts stop at 10,000: by then the 1/n weight is far below alpha.
        seen_h = self.hour_n[hour]
        if seen_h < 10_000:
            self.hour_n[hour] = seen_h + 1
        a = max(1.0 / (seen_h + 2), a_hour)
        h += a * (count / (level * d) - h)
        hours[hour] = h if h > 0.05 else 0.05
        h = hours[hour]
        seen_d = self.dow_n[dow]
        if seen_d < 10_000:
            self.dow_n[dow] = seen_d + 1
        a = max(1.0 / (seen_d + 2), a_dow)
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


class Dispersion:
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
        sq = min(raw * raw, limit)
        self.n += 1
        a = max(1.0 / self.n, alpha)
        self.num += a * (sq - 1.0 - self.num)
        self.den += a * (expected - self.den)
        self.phi = self._phi()


class ShareDispersion:
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
        value = min(max(self.num / self.den, RHO_MIN), RHO_MAX)
        weight = self.n / 20.0 if self.n < 20 else 1.0
        return weight * value + (1.0 - weight) * RHO_PRIOR

    def learn(self, negative: float, total: float, base_share: float, keep: float) -> None:
        if total < 2:
            return
        q = base_share * (1.0 - base_share)
        spread = total * q * (1.0 + (total - 1.0) * self.rho)
        square = min((negative - total * base_share) ** 2, 9.0 * spread)
        self.num = self.num * keep + square - total * q
        self.den = self.den * keep + total * (total - 1.0) * q
        self.n += 1
        self.rho = self._rho()


class Frame:
    """The current bucket as every signal sees it (one object per brand,
    refilled in place for every bucket: no allocation on the hot path)."""

    __slots__ = ("bucket", "total", "negative", "risk", "stories", "mu_total", "hour", "dow", "day", "seen", "warmed",
                 "base_share", "count_share", "story_ratio", "level", "long_z", "long_ratio", "log_ratio", "long_spread", "firing",
                 "hot")

    def __init__(self) -> None:
        self.bucket: Bucket | None = None
        self.total = 0
        self.negative = 0
        self.risk = 0
        self.stories = 0  # fresh negative stories in this bucket
        self.mu_total = MIN_RATE
        self.hour = self.dow = self.day = 0
        self.seen = 0
        self.warmed = False
        self.base_share = PRIOR_SHARE
        # The share the negative count tests expect: the day's own share when
        # local_share_half_life is set (see Baseline.count_share), else base_share.
        self.count_share = PRIOR_SHARE
        self.story_ratio = 1.0  # usual fresh negative stories per negative post
        self.level = 1.0
        self.long_z = 0.0
        self.long_ratio = 1.0
        self.log_ratio = 0.0
        self.long_spread = 1.0
        # Alert keys firing before this bucket and signals hot in it (set by the detector).
        self.firing: frozenset[str] = frozenset()
        self.hot: set[str] = set()


@dataclass
class BaselineState:
    """The stored part of a Baseline (the JSON layout of state version 3, kept)."""

    size: float | None = None
    last_start: float | None = None
    seen: int = 0
    ring: list[list[Any]] = field(default_factory=list)
    pos: int = 0
    # stored as total, negative, reach, risk, expected, negative stories
    # (states saved before negative stories have five: stories = negative)
    sums: list[list[Any]] = field(default_factory=list)
    windows: list[int] = field(default_factory=list)
    volume: dict[str, Any] = field(default_factory=dict)
    phi_volume: list[list[Any]] = field(default_factory=list)
    phi_negative: list[list[Any]] = field(default_factory=list)
    # Overdispersion of the negative count around its mean given the
    # window's other posts (streams.detection.stats.conditional_negative).
    phi_given_others: list[list[Any]] = field(default_factory=list)
    share: list[float] = field(default_factory=lambda: [0.0, 0.0])
    share_rho: list[list[Any]] = field(default_factory=list)
    reach_per_negative: float = 0.0
    volume_long: list[Any] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0, 0])
    # Risk stories seen within the longest window, as {buckets since last
    # seen: the 8-character story keys concatenated} (states saved before
    # negative stories were counted hold {story: buckets since last seen}).
    risk_seen: dict[str, Any] = field(default_factory=dict)
    # The same for negative stories, and the discounted sums of fresh
    # negative stories and negative posts (their usual ratio).
    negative_seen: dict[str, Any] = field(default_factory=dict)
    stories: list[float] = field(default_factory=lambda: [0.0, 0.0])
    # Exponentially weighted non-negative posts and their expectation (the
    # long scale's half-life): the attention level the negative tests use.
    calm_long: list[float] = field(default_factory=lambda: [0.0, 0.0])
    # Exponentially weighted negative and all posts of ordinary buckets with
    # the local share's half-life: the brand's share of the last hours.
    local_share: list[float] = field(default_factory=lambda: [0.0, 0.0])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaselineState:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


class Baseline:
    """See the module docstring."""

    def __init__(self, windows: tuple[float, ...], baseline_half_life: float, season_half_life: float,
                 long_half_life: float, warmup: float, utc_offset_hours: float,
                 state: BaselineState | None = None, local_share_half_life: float = 0.0) -> None:
        s = state or BaselineState()
        self.window_seconds = windows
        self.baseline_half_life = baseline_half_life
        self.season_half_life = season_half_life
        self.long_half_life = long_half_life
        self.warmup = warmup
        self.local_share_half_life = local_share_half_life
        self.utc_offset = utc_offset_hours * 3600.0
        self.size: float | None = s.size
        self.last_start: float | None = s.last_start
        self.seen = int(s.seen)
        # Entries saved before negative stories were counted: each negative post its own story.
        self.ring: list[list[Any]] = [list(e) if len(e) > NSTORY else [*e, e[NEG]] for e in s.ring]
        self.pos = int(s.pos)
        self.sums: list[list[Any]] = [[x[0], x[1], x[4], x[3], x[5] if len(x) > 5 else x[1]] for x in s.sums]
        self.saved_windows = list(s.windows)
        self.volume = SeasonalRate(s.volume or None)
        self.phi_volume = [Dispersion(x) for x in s.phi_volume]
        self.phi_negative = [Dispersion(x) for x in s.phi_negative]
        self.phi_given_others = [Dispersion(x) for x in s.phi_given_others]
        self.share_neg, self.share_tot = float(s.share[0]), float(s.share[1])
        self.share_rho = [ShareDispersion(x) for x in s.share_rho]
        self.reach_per_negative = float(s.reach_per_negative)
        long = s.volume_long
        self.long_observed, self.long_expected = float(long[0]), float(long[1])
        self.long_centre, self.long_mad, self.long_learned = float(long[2]), float(long[3]), int(long[4])
        newest = int(self.last_start // self.size) if self.last_start is not None and self.size else 0
        self.risk_seen = _load_seen(s.risk_seen, newest)
        self.negative_seen = _load_seen(s.negative_seen, newest)
        self.story_neg, self.story_posts = float(s.stories[0]), float(s.stories[1])
        self.calm_observed, self.calm_expected = float(s.calm_long[0]), float(s.calm_long[1])
        self.local_neg, self.local_tot = float(s.local_share[0]), float(s.local_share[1])
        self.clock_hours = -1
        self.clock: tuple[int, int, int] = (0, 0, 0)
        self.frame = Frame()
        self._derive()

    # -- state ---------------------------------------------------------------

    def to_state(self) -> BaselineState:
        return BaselineState(
            size=self.size, last_start=self.last_start, seen=self.seen, ring=[list(e) for e in self.ring],
            pos=self.pos, sums=self._stored_sums(), windows=list(self.windows), volume=self.volume.to_state(),
            phi_volume=[d.to_state() for d in self.phi_volume], phi_negative=[d.to_state() for d in self.phi_negative],
            phi_given_others=[d.to_state() for d in self.phi_given_others],
            share=[self.share_neg, self.share_tot], share_rho=[d.to_state() for d in self.share_rho],
            reach_per_negative=self.reach_per_negative,
            volume_long=[self.long_observed, self.long_expected, self.long_centre, self.long_mad, self.long_learned],
            risk_seen=self._stored_seen(self.risk_seen),
            negative_seen=self._stored_seen(self.negative_seen),
            stories=[self.story_neg, self.story_posts],
            calm_long=[self.calm_observed, self.calm_expected],
            local_share=[self.local_neg, self.local_tot],
        )

    def _stored_seen(self, seen_at: dict[str, int]) -> dict[str, str]:
        """The remembered stories still inside the longest window, as
        {buckets since last seen: their keys concatenated}, oldest first
        (8 characters a story: the memory is a large part of the state)."""
        if self.size is None or not seen_at:
            return {}
        newest = int((self.last_start or 0.0) // self.size)
        out: dict[str, str] = {}
        for key, index in seen_at.items():
            age = newest - index
            if age < self.ring_length:
                out[str(age)] = out.get(str(age), "") + key
        return out

    def _fresh(self, stories: list[str], seen_at: dict[str, int], index: int, cap: int) -> int:
        """How many of ``stories`` are new: a story counts when it first
        appears and again only after it was not seen for the longest window."""
        horizon = self.ring_length
        fresh = 0
        for story in stories:
            key = story if len(story) == KEY_CHARS else _short_key(story)
            last = seen_at.pop(key, None)
            if last is None or index - last >= horizon:
                fresh += 1
            seen_at[key] = index  # re-inserted: the dict stays oldest first
        while len(seen_at) > cap:
            del seen_at[next(iter(seen_at))]
        return fresh

    def fresh_risk(self, bucket: Bucket) -> int:
        """The bucket's new risk stories (ten reposts of one complaint naming
        a recall are one story). A bucket without story keys (an older
        producer) counts every risk post."""
        stories = bucket.risk_stories
        if not stories:
            return min(bucket.risk_hits, bucket.total)
        fresh = self._fresh(stories, self.risk_seen, int(bucket.start // bucket.size), MAX_RISK_SEEN)
        return min(fresh, bucket.total)  # a malformed bucket: never more risk posts than posts

    def fresh_negative(self, bucket: Bucket) -> int:
        """The bucket's new negative stories: negative opinions, a repost
        cascade of one complaint counting once. A bucket without story keys
        (an older producer) counts every negative post; one that hit its cap
        counts the posts beyond it as new."""
        stories = bucket.negative_stories
        if not stories:
            return bucket.negative
        fresh = self._fresh(stories, self.negative_seen, int(bucket.start // bucket.size), MAX_NEGATIVE_SEEN)
        if len(stories) >= bucket.MAX_NEGATIVE_STORIES:
            fresh += bucket.negative - len(stories)
        return min(fresh, bucket.negative)

    def _stored_sums(self) -> list[list[Any]]:
        """Window sums in the stored layout (total, negative, reach, risk, expected)."""
        out: list[list[Any]] = []
        reach = 0.0
        back = 0
        for (total, negative, mu_total, risk, stories), width in zip(self.sums, self.windows, strict=True):
            while back < width and back < len(self.ring):
                back += 1
                reach += self.ring[(self.pos - back) % self.ring_length][REACH]
            out.append([total, negative, reach, risk, mu_total, stories])
        return out

    def _derive(self) -> None:
        """Quantities that follow from the bucket size; recomputed, never stored."""
        if self.size is None:
            self.windows: list[int] = []
            self.ring_length = 0
            return
        size = self.size
        self.windows = sorted({min(MAX_WINDOW_BUCKETS, max(1, round(w / size))) for w in self.window_seconds})
        length = self.windows[-1]
        if self.saved_windows != self.windows or len(self.sums) != len(self.windows) or len(self.ring) > length:
            self.saved_windows = list(self.windows)
            self.ring = []
            self.pos = 0
            self.sums = [[0, 0, 0.0, 0, 0] for _ in self.windows]
        if len(self.phi_volume) != len(self.windows):
            self.phi_volume = [Dispersion() for _ in self.windows]
            self.phi_negative = [Dispersion() for _ in self.windows]
        if len(self.share_rho) != len(self.windows):
            self.share_rho = [ShareDispersion() for _ in self.windows]
        if len(self.phi_given_others) != len(self.windows):
            self.phi_given_others = [Dispersion() for _ in self.windows]
        self.window_sums = list(zip(self.sums, self.windows, strict=True))
        self.ring_length = length
        self.a_level = half_life_alpha(self.baseline_half_life / size)
        self.a_long = half_life_alpha(self.long_half_life / size)
        self.keep_local = 1.0 - half_life_alpha(self.local_share_half_life / size) if self.local_share_half_life > 0 else 0.0
        self.windows_gcd = math.gcd(*self.windows)
        self.keep_rho = [1.0 - half_life_alpha(self.season_half_life / (size * w)) for w in self.windows]
        self.a_phi = [half_life_alpha(self.baseline_half_life / (size * w)) for w in self.windows]
        self.dispersions = list(zip(self.windows, self.sums, self.phi_volume, self.phi_negative, self.share_rho,
                                    self.phi_given_others, self.a_phi, self.keep_rho, strict=True))
        self.a_hour = half_life_alpha(self.season_half_life / 86400.0 * 3600.0 / size)
        self.a_dow = half_life_alpha(self.season_half_life / 604800.0 * 86400.0 / size)
        self.warmup_buckets = max(1, int(math.ceil(self.warmup / size)))

    def change_size(self, size: float) -> None:
        if self.size is not None:
            # A new bucket size (config change): rates are per bucket, so rescale
            # them and start the windows afresh rather than mix two sizes.
            ratio = size / self.size
            self.volume.level *= ratio
            self.long_observed *= ratio
            self.long_expected *= ratio
            self.calm_observed *= ratio
            self.calm_expected *= ratio
        self.size = size
        self.ring = []
        self.sums = []
        self._derive()

    # -- reading -------------------------------------------------------------

    @property
    def base_share(self) -> float:
        return (self.share_neg + PRIOR_SHARE * PRIOR_SHARE_WEIGHT) / (self.share_tot + PRIOR_SHARE_WEIGHT)

    @property
    def count_share(self) -> float:
        """The share the negative count tests expect: with a local half-life,
        the share of the last hours' ordinary posts, shrunk towards the
        base share by LOCAL_PRIOR_POSTS posts (a brand's tone moves from day
        to day: measured on the real-text scenarios, about a third of the
        calm windows' extra spread of negative counts is that move)."""
        base = self.base_share
        if self.keep_local <= 0.0:
            return base
        return (self.local_neg + base * LOCAL_PRIOR_POSTS) / (self.local_tot + LOCAL_PRIOR_POSTS)

    @property
    def story_ratio(self) -> float:
        """Usual fresh negative stories per negative post (1: no reposts)."""
        return (self.story_neg + PRIOR_STORY_WEIGHT) / (self.story_posts + PRIOR_STORY_WEIGHT)

    def ring_reach(self, width: int) -> float:
        """Reach-weighted negatives over the last ``width`` buckets (for evidence)."""
        reach = 0.0
        for back in range(1, min(width, len(self.ring)) + 1):
            reach += self.ring[(self.pos - back) % self.ring_length][REACH]
        return reach

    # -- the bucket ----------------------------------------------------------

    def observe(self, bucket: Bucket, risk: int, stories: int) -> Frame:
        """Advance the clock, the ring, the window sums and the long scale by
        one bucket; returns the frame the signals score. ``risk`` and
        ``stories`` are the bucket's fresh risk and negative stories."""
        start = bucket.start
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
        mu_rounded = round(mu_total, 4)
        reach = round(bucket.reach_negative, 3)
        ring = self.ring
        length = self.ring_length
        filled = len(ring)
        pos = self.pos
        if filled == length:
            for sums, width in self.window_sums:
                old = ring[(pos - width) % length]
                sums[0] += total - old[0]
                sums[1] += negative - old[1]
                sums[2] += mu_rounded - old[4]
                sums[3] += risk - old[3]
                sums[4] += stories - old[5]
            entry = ring[pos]
            entry[0] = total
            entry[1] = negative
            entry[2] = reach
            entry[3] = risk
            entry[4] = mu_rounded
            entry[5] = stories
        else:
            for sums, width in self.window_sums:
                if filled >= width:
                    old = ring[(pos - width) % length]
                    sums[0] += total - old[0]
                    sums[1] += negative - old[1]
                    sums[2] += mu_rounded - old[4]
                    sums[3] += risk - old[3]
                    sums[4] += stories - old[5]
                else:
                    sums[0] += total
                    sums[1] += negative
                    sums[2] += mu_rounded
                    sums[3] += risk
                    sums[4] += stories
            ring.append([total, negative, reach, risk, mu_rounded, stories])
        pos += 1
        self.pos = 0 if pos == length else pos
        self.seen += 1
        f = self.frame
        f.bucket = bucket
        f.total = total
        f.negative = negative
        f.risk = risk
        f.stories = stories
        f.mu_total = mu_total
        f.hour, f.dow, f.day = hour, dow, day
        f.seen = self.seen
        f.warmed = self.seen > self.warmup_buckets
        f.base_share = self.base_share
        f.count_share = self.count_share
        f.story_ratio = self.story_ratio
        # The brand's attention level over the last hours, as of the previous
        # bucket (centre-adjusted), never below 1: a launch or news day that
        # has run at 3x for hours makes 3x the negative posts at the usual
        # tone. Measured on the non-negative posts only: a slow burn adds
        # negative posts, and must not raise the bar it is tested against.
        level = (self.calm_observed + 1.0) / (self.calm_expected + 1.0) * math.exp(-self.long_centre)
        f.level = level if level > 1.0 else 1.0
        a = self.a_long
        self.calm_observed += a * (total - negative - self.calm_observed)
        self.calm_expected += a * (mu_total * (1.0 - f.base_share) - self.calm_expected)
        return f

    def advance_long(self, volume_hot: bool) -> None:
        """Move the long scale by the frame's bucket: smoothed mentions against
        smoothed expectation. A burst the short windows already report
        (``volume_hot``) enters winsorised (4 sd + 1), as it enters the level:
        otherwise its echo in the smoothed sum would raise a second alert
        hours later. A sustained rise that no window reports enters whole."""
        f = self.frame
        fed: float = f.total
        mu_total = f.mu_total
        if volume_hot:
            cap = mu_total + WINSOR_SD * math.sqrt(mu_total * (1.0 + self.phi_volume[0].phi * mu_total)) + 1.0
            if fed > cap:
                fed = cap
        a = self.a_long
        self.long_observed += a * (fed - self.long_observed)
        self.long_expected += a * (mu_total - self.long_expected)
        ratio = (self.long_observed + 1.0) / (self.long_expected + 1.0)
        f.long_ratio = ratio
        f.log_ratio = math.log(ratio)
        spread = LONG_MAD_TO_SD * self.long_mad if self.long_learned > LONG_MIN_LEARNED else 1.0
        f.long_spread = spread if spread > LONG_MIN_SPREAD else LONG_MIN_SPREAD
        f.long_z = (f.log_ratio - self.long_centre) / f.long_spread

    def learn(self, volume_learns: bool, long_learns: bool, tone_learns: bool) -> None:
        """Learn from the frame's bucket. The detector says what may learn:
        nothing from a bucket in which a signal that watches it is hot or
        firing (a crisis must not become the new normal)."""
        f = self.frame
        bucket = f.bucket
        assert bucket is not None
        total, negative, mu_total, warmed = f.total, f.negative, f.mu_total, f.warmed
        base_share = f.base_share
        a_level = self.a_level
        if volume_learns:
            count: float = total
            excess = total - mu_total - 1.0 if total >= mu_total else mu_total - total - 1.0
            if warmed and excess > 0.0:
                variance = mu_total * (1.0 + self.phi_volume[0].phi * mu_total)
                if excess * excess > WINSOR_SQ * variance:
                    spread = WINSOR_SD * math.sqrt(variance) + 1.0
                    count = mu_total + spread if total > mu_total else mu_total - spread
            self.volume.learn(count, f.hour, f.dow, f.day, a_level, self.a_hour, self.a_dow)
        if long_learns:
            learned = self.long_learned + 1
            self.long_learned = learned
            a = max(1.0 / learned, a_level)
            limit = WINSOR_SD * f.long_spread
            deviation = min(max(f.log_ratio - self.long_centre, -limit), limit)
            self.long_centre += a * deviation
            self.long_mad += a * (abs(deviation) - self.long_mad)
        tone = tone_learns and volume_learns
        if tone and negative > 0:
            per_post = bucket.reach_negative / negative
            if self.reach_per_negative == 0.0:
                self.reach_per_negative = per_post
            else:
                self.reach_per_negative += a_level * (per_post - self.reach_per_negative)
        share_learns = tone and total > 0
        if share_learns:
            q = base_share * (1.0 - base_share)
            kept: float = negative
            usual = total * base_share
            excess = negative - usual - 1.0 if negative >= usual else usual - negative - 1.0
            if warmed and excess > 0.0:
                variance = total * q * (1.0 + (total - 1.0) * self.share_rho[0].rho)
                if excess * excess > WINSOR_SQ * variance:
                    spread = WINSOR_SD * math.sqrt(variance) + 1.0
                    kept = usual + spread if negative > usual else usual - spread
            keep = 1.0 - a_level
            self.share_neg = self.share_neg * keep + kept
            self.share_tot = self.share_tot * keep + total
            if self.keep_local > 0.0:
                self.local_neg = self.local_neg * self.keep_local + kept
                self.local_tot = self.local_tot * self.keep_local + total
            if negative > 0:
                self.story_neg = self.story_neg * keep + f.stories
                self.story_posts = self.story_posts * keep + negative
        seen = self.seen
        if volume_learns and seen % self.windows_gcd == 0:
            # Dispersion learns once per window length, from windows that do
            # not overlap (overlapping ones would count the same burst many times).
            for width, sums, phi_volume, phi_negative, rho, given, alpha, keep_rho in self.dispersions:
                if seen % width == 0:
                    if tone:
                        phi_negative.learn(sums[S_NEG], sums[S_MU] * base_share, alpha)
                        mean, _ = conditional_negative(sums[S_TOT], sums[S_NEG], sums[S_MU], f.count_share, f.level,
                                                       phi_volume.phi, rho.rho)
                        given.learn(sums[S_STORY], mean * f.story_ratio, alpha)
                    phi_volume.learn(sums[S_TOT], sums[S_MU], alpha)
                    if share_learns:
                        rho.learn(sums[S_NEG], sums[S_TOT], base_share, keep_rho)
