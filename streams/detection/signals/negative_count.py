"""``negative_volume``: negative posts against ``expected volume x p0 x attention level``.

Anscombe z ``2(sqrt(k + 3/8) - sqrt(mu + 3/8)) / sqrt(1 + phi mu)`` per
window with the negative count's learned overdispersion ``phi``; hot when
it reaches ``z_fire`` with ``min_negative`` posts, ``negative_min_ratio``
times the expected, and the share z at least ``share_gate_z`` (so a positive
viral spike or a busy news day never raises it). The attention level
(streams/detection/baseline.py) makes a day at 3x volume expect 3x the
negative posts at the usual tone.
"""

from __future__ import annotations

import math
from typing import Any

from streams.detection.baseline import Frame
from streams.detection.signals.base import Description, Signal, Test
from streams.detection.stats import count_z


class NegativeCount(Signal):
    name = "negative_volume"

    def score(self, f: Frame) -> Test:
        p = self.params
        sqrt = math.sqrt
        firing = self.key in f.firing
        warmed = f.warmed
        if not warmed and not firing:
            return Test(0.0, 0, False, True)  # off during the warm-up
        base = f.base_share
        q = base * (1.0 - base)
        share_gate = p.share_gate_z
        gate_sq = share_gate * share_gate * (1.0 - 1e-9) if share_gate > 0.0 else 0.0
        min_negative, z_fire, resolve_z, ratio = p.min_negative, p.z_fire, p.resolve_z, p.negative_min_ratio
        share_level = base * f.level
        rhos = self.baseline.share_rho
        phis = self.baseline.phi_negative
        best = -math.inf if firing else 0.0
        index, hot_any, quiet = 0, False, True
        i = -1
        for total, negative, mu_t, _risk in self.baseline.sums:
            i += 1
            excess = negative - total * base - 0.5
            if not firing:
                if negative < min_negative or excess <= -0.5:
                    continue
                if gate_sq and (excess <= 0.0 or excess * excess < gate_sq * total * q * (
                        1.0 + (total - 1.0) * rhos[i].rho)):
                    continue
            mu_n = mu_t * share_level
            z = 2.0 * (sqrt(negative + 0.375) - sqrt(mu_n + 0.375)) / sqrt(1.0 + phis[i].phi * mu_n)
            hot = False
            if z >= resolve_z:
                quiet = False
                if z >= z_fire and warmed and negative >= min_negative and negative >= ratio * mu_n and total > 0:
                    hot = excess / sqrt(total * q * (1.0 + (total - 1.0) * rhos[i].rho)) >= share_gate
            if hot:
                if not hot_any or z > best:
                    best, index, hot_any = z, i, True
            elif not hot_any and z > best:
                best, index = z, i
        return Test(best, index, hot_any, quiet)

    def describe(self, f: Frame, test: Test, w: dict[str, Any]) -> Description:
        p = self.params
        critical = test.z >= p.z_critical and (w["negative_change"] >= p.critical_ratio
                                               or w["reach_ratio"] >= p.critical_ratio)
        return Description(float(w["negative"]), w["mu_negative"], critical,
                           "negative-binomial tail (Anscombe z) on negative posts, share gate", {})

    def summary(self, facts: dict[str, Any], minutes: float) -> str:
        return (f"{int(facts['negative'])} negative posts in {minutes:g} min vs {facts['baseline']:.1f} expected, "
                f"share {facts['share']:.0%} vs {facts['evidence']['baseline_share']:.0%} usual, z={facts['z']:.1f}")

    def z_per_window(self, f: Frame) -> list[float]:
        phis = self.baseline.phi_negative
        return [round(count_z(neg, mu * f.base_share * f.level, phis[i].phi), 3)
                for i, (_tot, neg, mu, _risk) in enumerate(self.baseline.sums)]
