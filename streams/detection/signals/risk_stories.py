"""``risk_terms``: new stories naming a risk (召回, 致癌, 曝光, 维权...) against the usual.

At night a crisis is a handful of posts against a fraction of one expected;
what sets it apart from a grumpy hour is what the posts say. The count of
*new* risk stories in the window (Baseline.fresh_risk: a repost cascade is
one story) is tested against ``expected volume x r0 x attention level`` with
the exact negative-binomial tail (the square-root transform is far too
conservative at tiny means), hot at ``risk_z_fire`` with ``risk_min_hits``
stories, ``risk_min_ratio`` times the expected, ``risk_min_negative``
negative posts and the share z at least ``share_gate_z``. ``r0`` is the
brand's usual share of posts that start a risk story, learned from ordinary
buckets (discounted sums with the baseline's half-life, prior 5 % worth 20
posts, winsorised).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from streams.detection.baseline import WINSOR_SQ, Frame
from streams.detection.signals.base import Description, Signal, Test
from streams.detection.stats import exact_count_z

PRIOR_RISK_SHARE = 0.05
PRIOR_RISK_WEIGHT = 20.0


@dataclass
class RiskState:
    stories: float = 0.0  # discounted new risk stories
    posts: float = 0.0  # discounted posts


class RiskStories(Signal):
    name = "risk_terms"
    State = RiskState

    @property
    def base_risk(self) -> float:
        s = self.state
        return (s.stories + PRIOR_RISK_SHARE * PRIOR_RISK_WEIGHT) / (s.posts + PRIOR_RISK_WEIGHT)

    def score(self, f: Frame) -> Test:
        p = self.params
        firing = self.key in f.firing
        if not firing and not f.warmed:
            return Test(0.0, 0, False, True)
        base = f.base_share
        q = base * (1.0 - base)
        risk_level = self.base_risk * f.level
        min_hits, min_negative, ratio = p.risk_min_hits, p.risk_min_negative, p.risk_min_ratio
        rhos = self.baseline.share_rho
        phis = self.baseline.phi_negative
        best = -math.inf if firing else 0.0
        index, hot_any, quiet = 0, False, True
        i = -1
        for total, negative, mu_t, risk, _stories in self.baseline.sums:
            i += 1
            if not firing and (risk < min_hits or negative < min_negative):
                continue
            mu_r = mu_t * risk_level
            if not firing and risk < ratio * mu_r:
                continue
            z = exact_count_z(risk, mu_r, phis[i].phi)
            if z >= p.resolve_z:
                quiet = False
            hot = False
            if (z >= p.risk_z_fire and f.warmed and risk >= min_hits and risk >= ratio * mu_r
                    and negative >= min_negative and total > 0):
                hot = (negative - total * base - 0.5) / math.sqrt(
                    total * q * (1.0 + (total - 1.0) * rhos[i].rho)) >= p.share_gate_z
            if hot:
                if not hot_any or z > best:
                    best, index, hot_any = z, i, True
            elif not hot_any and z > best:
                best, index = z, i
        return Test(best, index, hot_any, quiet)

    def learn(self, f: Frame, tone_learns: bool, volume_learns: bool) -> None:
        if not (tone_learns and volume_learns) or f.total <= 0:
            return
        # Clipped like the negative share: one cascade of reposts naming a
        # recall must not make the next recall look ordinary.
        base = self.base_risk
        total = f.total
        kept: float = f.risk
        usual = total * base
        if f.warmed and kept > usual + 1.0:
            variance = total * base * (1.0 - base)
            if (kept - usual - 1.0) ** 2 > WINSOR_SQ * variance:
                kept = usual + 4.0 * math.sqrt(variance) + 1.0
        keep = 1.0 - self.baseline.a_level
        s = self.state
        s.stories = s.stories * keep + kept
        s.posts = s.posts * keep + total

    def describe(self, f: Frame, test: Test, w: dict[str, Any]) -> Description:
        p = self.params
        mu_risk = w["mu_total"] * self.base_risk * f.level
        risk_change = w["risk"] / mu_risk if mu_risk > 0 else 0.0
        critical = test.z >= p.z_critical and (risk_change >= p.critical_ratio or w["reach_ratio"] >= p.critical_ratio)
        return Description(float(w["risk"]), mu_risk, critical,
                           "exact negative-binomial tail on new stories with risk terms, share gate",
                           {"expected_risk_stories": round(mu_risk, 4), "baseline_risk_share": round(self.base_risk, 4)})

    def summary(self, facts: dict[str, Any], minutes: float) -> str:
        return (f"{int(facts['value'])} new stories with risk terms in {minutes:g} min vs {facts['baseline']:.2f} "
                f"expected, {int(facts['negative'])} of {int(facts['total'])} posts negative "
                f"({facts['share']:.0%} vs {facts['evidence']['baseline_share']:.0%} usual), z={facts['z']:.1f}")

    def z_per_window(self, f: Frame) -> list[float]:
        phis = self.baseline.phi_negative
        level = self.base_risk * f.level
        return [round(exact_count_z(risk, mu * level, phis[i].phi), 3)
                for i, (_tot, _neg, mu, risk, _stories) in enumerate(self.baseline.sums)]
