"""``volume``: mentions in the window against the expected count.

Anscombe z with the volume's learned overdispersion. Raw volume is
heavy-tailed (one repost cascade is a 10x bucket), so it is hot only at
``max(volume_z_fire, volume_tail_margin x the brand's typical daily maximum
of z)``, with ``min_volume`` posts, ``min_ratio`` times the expected, and
the longest window at ``volume_confirm_z`` (a five-minute cascade is a
blip). Informational, not a crisis: at most one volume alert opens per
``volume_cooldown``. The typical daily maximum is this signal's own state,
learned once per local day and capped (``1.5 x typical + 2``) so one crisis
day moves it by a few per cent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from streams.detection.baseline import Frame
from streams.detection.signals.base import Description, Signal, Test
from streams.detection.stats import count_z, half_life_alpha


@dataclass
class VolumeState:
    today: float = 0.0  # today's largest z
    typical: float = 0.0  # the usual daily maximum
    days: int = 0
    day: int = -1  # local day of ``today``


class Volume(Signal):
    name = "volume"
    negative = False
    episodic = True
    State = VolumeState

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.short_z = 0.0

    @property
    def threshold(self) -> float:
        """The z the windows must reach now (fixed bar or learned tail)."""
        return max(self.params.volume_z_fire, self.params.volume_tail_margin * self.state.typical)

    def _close_day(self, day: int, seen_warm: bool) -> None:
        s = self.state
        if s.day >= 0 and seen_warm:
            observed = s.today
            if s.days > 0:
                observed = min(observed, 1.5 * s.typical + 2.0)
            s.days += 1
            a = max(1.0 / s.days, half_life_alpha(self.params.season_half_life / 86400.0))
            s.typical += a * (observed - s.typical)
        s.day = day
        s.today = 0.0

    def score(self, f: Frame) -> Test:
        p = self.params
        sqrt = math.sqrt
        s = self.state
        if f.day != s.day:
            self._close_day(f.day, f.warmed)
        firing = self.key in f.firing
        threshold = self.threshold
        warmed = f.warmed
        phis = self.baseline.phi_volume
        best, index, hot_any, quiet = -math.inf, 0, False, True
        z = 0.0
        i = -1
        for total, _neg, mu_t, _risk, _stories in self.baseline.sums:
            i += 1
            if total <= mu_t and not firing:
                z = 0.0
            else:
                z = 2.0 * (sqrt(total + 0.375) - sqrt(mu_t + 0.375)) / sqrt(1.0 + phis[i].phi * mu_t)
            if z >= p.resolve_z:
                quiet = False
                if z >= threshold and warmed and total >= p.min_volume and total >= p.min_ratio * mu_t:
                    if not hot_any or z > best:
                        best, index, hot_any = z, i, True
                    continue
            if not hot_any and z > best:
                best, index = z, i
        # z is now the longest window's (the windows are sorted).
        if hot_any and z < p.volume_confirm_z:
            hot_any = False  # a burst the longest window does not confirm is a blip
        self.short_z = best
        if best > s.today:
            s.today = best
        return Test(best, index, hot_any, quiet)

    def describe(self, f: Frame, test: Test, w: dict[str, Any]) -> Description:
        p = self.params
        critical = test.z >= p.z_critical and w["volume_change"] >= p.critical_ratio
        return Description(float(w["total"]), w["mu_total"], critical,
                           "negative-binomial tail (Anscombe z) on mentions, or robust z of the log ratio "
                           "of smoothed to expected mentions (long scale)", {})

    def summary(self, facts: dict[str, Any], minutes: float) -> str:
        return (f"{int(facts['total'])} mentions in {minutes:g} min vs {facts['baseline']:.1f} expected "
                f"({facts['volume_change']:.1f}x), z={facts['z']:.1f}")

    def z_per_window(self, f: Frame) -> list[float]:
        phis = self.baseline.phi_volume
        return [round(count_z(tot, mu, phis[i].phi), 3) for i, (tot, _neg, mu, _risk, _stories) in enumerate(self.baseline.sums)]
