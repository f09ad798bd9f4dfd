"""``negative_share``: negative posts out of all posts against the brand's usual share.

Beta-binomial z ``(k - n p0 - 0.5) / sqrt(n p0 (1-p0) (1 + (n-1) rho))`` per
window, hot when it reaches ``z_fire`` with at least ``min_negative``
negative posts, a share ``min_share_lift`` above ``p0`` and (windows of at
most 1,000 posts) the exact binomial tail as small as the normal tail of
``z_fire``. Inside the warm-up the cold-start rule applies instead (Wilson
lower bound of the share at least ``cold_start_share``). Critical when the
Wilson lower bound is ``critical_share_lift`` above ``p0``.
"""

from __future__ import annotations

import math
from typing import Any

from streams.detection.baseline import Frame
from streams.detection.signals.base import Description, Signal, Test
from streams.detection.stats import binomial_upper_tail, share_z, upper_tail_p, wilson_lower

EXACT_TAIL_MAX_POSTS = 1000


class NegativeShare(Signal):
    name = "negative_share"

    def derive(self) -> None:
        self.p_fire = upper_tail_p(self.params.z_fire)

    def score(self, f: Frame) -> Test:
        p = self.params
        sqrt = math.sqrt
        base = f.base_share
        q = base * (1.0 - base)
        z_fire, resolve_z, min_negative = p.z_fire, p.resolve_z, p.min_negative
        share_floor = base + p.min_share_lift
        warmed = f.warmed
        firing = self.key in f.firing
        gate_sq = z_fire * z_fire * (1.0 - 1e-9) if warmed else 0.0
        best = -math.inf if firing else 0.0
        index, hot_any, quiet = 0, False, True
        rhos = self.baseline.share_rho
        i = -1
        for total, negative, _mu, _risk, _stories in self.baseline.sums:
            i += 1
            excess = negative - total * base - 0.5
            if not firing:
                # Most calm windows stop here: too few negative posts, or a
                # share z below z_fire (compared in squares, no square root).
                if negative < min_negative or excess <= -0.5:
                    continue
                if gate_sq and (excess <= 0.0 or excess * excess < gate_sq * total * q * (
                        1.0 + (total - 1.0) * rhos[i].rho)):
                    continue
            z = excess / sqrt(total * q * (1.0 + (total - 1.0) * rhos[i].rho)) if total > 0 else 0.0
            if warmed:
                hot = (z >= z_fire and negative >= min_negative and negative >= share_floor * total
                       and (total > EXACT_TAIL_MAX_POSTS
                            or binomial_upper_tail(int(negative), int(total), base) <= self.p_fire))
            else:
                # Cold start: an absolute bar, raised above what this brand has
                # shown so far (a brand whose normal tone is 50 % negative must
                # not fire at 52 % just because it is new).
                hot = (negative >= 2 * min_negative
                       and wilson_lower(negative, total, z_fire) >= max(p.cold_start_share, share_floor))
            if z >= resolve_z:
                quiet = False
            if hot:
                if not hot_any or z > best:
                    best, index, hot_any = z, i, True
            elif not hot_any and z > best:
                best, index = z, i
        return Test(best, index, hot_any, quiet)

    def describe(self, f: Frame, test: Test, w: dict[str, Any]) -> Description:
        p = self.params
        critical = test.z >= p.z_critical and w["wilson_lower"] - f.base_share >= p.critical_share_lift
        return Description(w["share"], f.base_share, critical,
                           "beta-binomial z on negative share, Wilson lower bound", {})

    def summary(self, facts: dict[str, Any], minutes: float) -> str:
        return (f"negative share {facts['share']:.0%} over {minutes:g} min ({int(facts['negative'])} of "
                f"{int(facts['total'])} posts) vs {facts['baseline']:.0%} usual, z={facts['z']:.1f}")

    def z_per_window(self, f: Frame) -> list[float]:
        rhos = self.baseline.share_rho
        return [round(share_z(neg, tot, f.base_share, rhos[i].rho), 3)
                for i, (tot, neg, _mu, _risk, _stories) in enumerate(self.baseline.sums)]
