"""``negative_sequential``: sequential evidence of extra negative posts (CUSUM).

Fixed windows wait for a window to fill; at a few mentions an hour the
evidence arrives a post at a time, and a detector should alert as soon as
it suffices. Per bucket, with ``k`` negative posts of ``n`` and the
baseline's expectation ``mu = expected posts x p0 x attention level``:

* expected negative posts ``mu = p0/(1-p0) x max(non-negative posts,
  expected posts x attention level x (1-p0))``: at the usual tone a bucket
  with more posts of every kind (a news day, a viral hour) expects more
  negative ones too, while a crisis adds negative posts only;
* two count CUSUMs ``S = max(0, S + (k log(1 + d/mu) - d) / (1 + phi mu))``
  for extra negative posts ``d = max(sequential_min_shift per minute,
  c mu)``, c = 1 and 4 (a doubling and a five-fold rise): the Poisson
  log-likelihood ratio, divided by the negative count's learned
  overdispersion per bucket (quasi-likelihood: a bursty brand's evidence
  counts for less);
* a share CUSUM ``T = max(0, T + (k log(p1/p0) + (n-k) log((1-p1)/(1-p0))) /
  (1 + (n-1) rho))`` with ``p1`` at odds ``sequential_odds`` times ``p0``'s.

Hot when ``max S >= h`` and ``T >= sequential_gate`` (the share must be up
too: a news day at the usual tone raises the counts, not the share), with
``h = log(2 x sequential_arl_weeks x buckets a week)``. By Lorden's bound a
CUSUM with threshold h has an average run length to a false alarm of at
least e**h buckets, so under the model this signal raises at most one false
alarm per ``sequential_arl_weeks`` brand-weeks (two CUSUMs: the factor 2).
It runs only after the warm-up, and its evidence reports the run since the
count CUSUM last left zero (negative posts against expected, minutes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from streams.detection.baseline import Frame
from streams.detection.signals.base import Description, Signal, Test

SHIFTS = (1.0, 4.0)
WEEK = 7 * 86400.0


@dataclass
class SequentialState:
    counts: list[float] = field(default_factory=lambda: [0.0] * len(SHIFTS))  # count CUSUMs (nats)
    share: float = 0.0  # share CUSUM (nats)
    # The current run of the count CUSUM: buckets, negative posts, expected negative posts, posts.
    run: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])


class NegativeSequential(Signal):
    name = "negative_sequential"
    State = SequentialState

    def derive(self) -> None:
        p = self.params
        size = self.baseline.size or 60.0
        self.h = math.log(2.0 * p.sequential_arl_weeks * WEEK / size)
        self.min_shift = p.sequential_min_shift * size / 60.0
        if len(self.state.counts) != len(SHIFTS):
            self.state.counts = [0.0] * len(SHIFTS)

    def score(self, f: Frame) -> Test:
        s = self.state
        if not f.warmed:
            s.counts = [0.0] * len(SHIFTS)
            s.share = 0.0
            s.run = [0.0, 0.0, 0.0, 0.0]
            return Test(0.0, 0, False, True)
        p = self.params
        b = self.baseline
        k = f.negative
        n = f.total
        p0 = f.base_share
        # Expected negative posts at the usual tone: from the expected volume
        # (times the attention level), or from this bucket's own non-negative
        # posts when there are more of them (a news day or a viral hour
        # brings more posts of every tone; a crisis brings negative ones).
        attention = f.mu_total * f.level * (1.0 - p0)
        others = n - k
        mu = p0 / (1.0 - p0) * (others if others > attention else attention)
        width = b.windows[0] if b.windows else 1
        phi = b.phi_negative[0].phi * width if b.phi_negative else 0.1
        scale = 1.0 + phi * mu
        best = 0.0
        counts = s.counts
        for i, c in enumerate(SHIFTS):
            d = c * mu
            if d < self.min_shift:
                d = self.min_shift
            value = counts[i] + (k * math.log1p(d / mu) - d) / scale
            value = value if value > 0.0 else 0.0
            counts[i] = value
            if value > best:
                best = value
        run = s.run
        if best > 0.0:
            run[0] += 1
            run[1] += k
            run[2] += mu
            run[3] += n
        else:
            s.run = [0.0, 0.0, 0.0, 0.0]
        if n > 0:
            odds = p.sequential_odds * p0 / (1.0 - p0)
            p1 = odds / (1.0 + odds)
            rho = b.share_rho[0].rho if b.share_rho else 0.01
            llr = (k * math.log(p1 / p0) + (n - k) * math.log((1.0 - p1) / (1.0 - p0))) / (1.0 + (n - 1) * rho)
            share = s.share + llr
            s.share = share if share > 0.0 else 0.0
        z = math.sqrt(2.0 * best)
        hot = best >= self.h and s.share >= p.sequential_gate
        quiet = best < 0.5 * self.h or s.share <= 0.0
        return Test(z, 0, hot, quiet)

    def describe(self, f: Frame, test: Test, w: dict[str, Any]) -> Description:
        s = self.state
        buckets, negative, expected, posts = s.run
        critical = test.z >= self.params.z_critical and negative >= self.params.critical_ratio * max(expected, 1.0)
        return Description(negative, expected, critical,
                           "CUSUM of the negative count's log-likelihood ratio (quasi-Poisson) "
                           "gated by a CUSUM of the negative share",
                           {"window_buckets": max(1, int(buckets)), "cusum_nats": round(max(s.counts), 3),
                            "cusum_threshold_nats": round(self.h, 3), "share_cusum_nats": round(s.share, 3),
                            "run_posts": int(posts), "false_alarms_per_brand_week_bound":
                            round(1.0 / self.params.sequential_arl_weeks, 4)})

    def summary(self, facts: dict[str, Any], minutes: float) -> str:
        return (f"{int(facts['value'])} negative posts over {minutes:g} min vs {facts['baseline']:.1f} expected "
                f"(sequential evidence {facts['evidence']['cusum_nats']:.1f} nats, "
                f"threshold {facts['evidence']['cusum_threshold_nats']:.1f})")
