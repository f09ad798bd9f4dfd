"""``negative_volume``: negative opinions against what the window's other posts imply.

Counted are negative *stories* (Baseline.fresh_negative): ten reposts of one
complaint within the hour are one opinion told ten times, and ordinary
traffic has such cascades every day. A crisis adds negative posts; a news
day or a viral hour adds posts of every tone. So the count is tested *given
the window's non-negative posts*, under a model with one latent attention
factor per window (streams.detection.stats.conditional_negative):
``L ~ Gamma(mean 1, variance phi)``, negative posts ``~ Poisson(mu p0 l L)``
and the others ``~ Poisson(mu (1 - p0) l L)``, where ``mu`` is the expected
volume, ``p0`` the usual negative share, ``l`` the attention level of the
last hours (streams/detection/baseline.py) and ``phi`` the volume's learned
overdispersion for that window length (how much attention wanders on an
ordinary day), never below ``attention_phi_floor``. Given ``N`` non-negative
posts the negative count is negative-binomial with mean
``m = mu p0 l (a + N) / (a + mu l (1 - p0))``, ``a = 1/phi``; negative
stories are expected at ``m`` times the brand's usual stories per negative
post. The dispersion is the larger of the model's (shape ``a + N`` plus the
share's own wobble ``rho``) and what the brand's calm windows showed
around that mean (learned like the other dispersions). The test is the
exact tail, reported as a normal z.

What this buys: a brand whose attention is steady is tested almost against
its expected count (a crisis is seen through its volume even when the model
reads its posts only somewhat more negatively than calm ones), while a
window with many more non-negative posts than usual raises the expectation
with them (a news day, a positive viral hour, a seasonal profile that is
still young). The model's imperfection is designed for: the test needs
crisis posts to be read negative *more often* than calm ones, not always.

Hot when ``z >= z_fire`` with ``min_negative`` negative stories and
``negative_min_ratio`` times the expected.
"""

from __future__ import annotations

import math
from typing import Any

from streams.detection.baseline import Frame
from streams.detection.signals.base import Description, Signal, Test
from streams.detection.stats import conditional_negative, exact_count_z


class NegativeCount(Signal):
    name = "negative_volume"

    def null(self, f: Frame, index: int) -> tuple[float, float]:
        """Mean and inverse shape of window ``index``'s negative stories under the null."""
        b = self.baseline
        total, negative, mu_t, _risk, _stories = b.sums[index]
        phi = b.phi_volume[index].phi
        floor = self.params.attention_phi_floor
        mean, inverse_shape = conditional_negative(total, negative, mu_t, f.count_share, f.level,
                                                   phi if phi > floor else floor, b.share_rho[index].rho)
        given = b.phi_given_others[index].phi
        return mean * f.story_ratio, inverse_shape if inverse_shape > given else given

    def score(self, f: Frame) -> Test:
        p = self.params
        firing = self.key in f.firing
        warmed = f.warmed
        if not warmed and not firing:
            return Test(0.0, 0, False, True)  # off during the warm-up
        base = f.count_share
        min_negative, z_fire, resolve_z, ratio = p.min_negative, p.z_fire, p.resolve_z, p.negative_min_ratio
        best = -math.inf if firing else 0.0
        index, hot_any, quiet = 0, False, True
        i = -1
        for total, negative, _mu, _risk, stories in self.baseline.sums:
            i += 1
            # Most calm windows stop here, before any exact tail is computed.
            if not firing and (stories < min_negative or negative <= total * base):
                continue
            mean, inverse_shape = self.null(f, i)
            if not firing and stories < ratio * mean:
                continue
            z = exact_count_z(stories, mean, inverse_shape)
            hot = False
            if z >= resolve_z:
                quiet = False
                hot = z >= z_fire and warmed and stories >= min_negative and stories >= ratio * mean
            if hot:
                if not hot_any or z > best:
                    best, index, hot_any = z, i, True
            elif not hot_any and z > best:
                best, index = z, i
        return Test(best, index, hot_any, quiet)

    def describe(self, f: Frame, test: Test, w: dict[str, Any]) -> Description:
        p = self.params
        mean = self.null(f, w["index"])[0]
        change = w["stories"] / mean if mean > 0 else 0.0
        critical = test.z >= p.z_critical and (change >= p.critical_ratio or w["reach_ratio"] >= p.critical_ratio)
        return Description(float(w["stories"]), mean, critical,
                           "negative-binomial tail of negative stories given the window's other posts "
                           "(attention learned as the volume's overdispersion)",
                           {"negative_stories": int(w["stories"]), "expected_negative_stories": round(mean, 4),
                            "stories_per_negative_post": round(f.story_ratio, 4)})

    def summary(self, facts: dict[str, Any], minutes: float) -> str:
        return (f"{int(facts['value'])} negative stories ({int(facts['negative'])} posts) in {minutes:g} min vs "
                f"{facts['baseline']:.1f} expected, share {facts['share']:.0%} vs "
                f"{facts['evidence']['baseline_share']:.0%} usual, z={facts['z']:.1f}")

    def z_per_window(self, f: Frame) -> list[float]:
        return [round(exact_count_z(stories, *self.null(f, i)), 3)
                for i, (_total, _negative, _mu, _risk, stories) in enumerate(self.baseline.sums)]
