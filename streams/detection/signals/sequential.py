"""``negative_sequential``: sequential evidence of extra negative opinions (CUSUM), confirmed over its run.

Fixed windows wait for a window to fill; at a few mentions an hour the
evidence arrives a post at a time, and a detector should alert as soon as
it suffices. Per bucket, with ``k`` fresh negative stories
(Baseline.fresh_negative):

* expected negative stories ``m = expected posts x l x p0 x A x s0``: ``l``
  the attention level of the last hours, ``p0`` the usual negative share,
  ``s0`` the usual stories per negative post and ``A`` the attention the
  last 15 minutes' non-negative posts imply (the posterior mean of the
  Gamma-Poisson model of streams.detection.stats.conditional_negative): a
  news day or a viral hour brings posts of every tone, a crisis brings
  negative ones;
* two count CUSUMs ``S = max(0, S + (k log(1 + d/m) - d) / (1 + phi m))``
  for extra stories ``d = max(sequential_min_shift per minute, c m)``,
  c = 1 and 4 (a doubling and a five-fold rise): the Poisson log-likelihood
  ratio, divided by the learned overdispersion per bucket (quasi-likelihood).

By Lorden's bound a CUSUM with threshold ``h`` has an average run length to
a false alarm of at least ``e**h`` buckets, so with
``h = log(2 x sequential_arl_weeks x buckets a week)`` (two CUSUMs: the
factor 2) it raises at most one false alarm per ``sequential_arl_weeks``
brand-weeks *if the bucket's expectation were exact*. It is not: the
expected volume of an ordinary hour is off by 20-40 % for hours at a time
(measured on the real-text scenarios), and a CUSUM adds such an error up
bucket after bucket. So the CUSUM only says *when* a change may have
started; the signal is hot when, in addition, the whole run of a CUSUM
(from where that CUSUM last left zero; each keeps its own, and the one
that tests best counts) passes the exact test of negative_volume at
``z_fire - sequential_z_margin``: its negative stories against what its
own non-negative posts imply, with the volume's overdispersion for a
window of the run's length. The margin (0.25, chosen on the review-corpus
scenarios: docs/benchmarks.md "A run past the CUSUM") is there because
the two tests together are the filter: a run that has already crossed
the CUSUM's threshold needs less from its own test than any window.
That test is a window chosen by the data (the run) instead of a fixed one:
a sudden crisis is tested over exactly its own minutes, a slow burn over
its whole rise.

It runs only after the warm-up; its evidence reports the run (negative
stories against expected, minutes, the CUSUM and its threshold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from streams.detection.baseline import Frame
from streams.detection.signals.base import Description, Signal, Test
from streams.detection.stats import conditional_negative, exact_count_z

SHIFTS = (1.0, 4.0)
ATTENTION_MINUTES = 15.0  # the non-negative posts of about this long say what attention is
WEEK = 7 * 86400.0
# The run: buckets, negative stories, their expectation (per bucket), posts,
# negative posts, expected posts x level.
RUN_FIELDS = 6


def _empty_runs() -> list[list[float]]:
    return [[0.0] * RUN_FIELDS for _ in SHIFTS]


@dataclass
class SequentialState:
    counts: list[float] = field(default_factory=lambda: [0.0] * len(SHIFTS))  # count CUSUMs (nats)
    run: list[float] = field(default_factory=lambda: [0.0] * RUN_FIELDS)  # the run tested best (reported)
    run_z: float = 0.0  # the run's exact test, as a normal z
    runs: list[list[float]] = field(default_factory=_empty_runs)  # each CUSUM's own run


class NegativeSequential(Signal):
    name = "negative_sequential"
    State = SequentialState

    def derive(self) -> None:
        p = self.params
        b = self.baseline
        size = b.size or 60.0
        self.h = math.log(2.0 * p.sequential_arl_weeks * WEEK / size)
        self.min_shift = p.sequential_min_shift * size / 60.0
        windows = b.windows or [1]
        target = ATTENTION_MINUTES * 60.0 / size
        self.attention_index = min(range(len(windows)), key=lambda i: abs(windows[i] - target))
        if len(self.state.counts) != len(SHIFTS):
            self.state.counts = [0.0] * len(SHIFTS)
        if len(self.state.run) != RUN_FIELDS:
            self.state.run = [0.0] * RUN_FIELDS
        if len(self.state.runs) != len(SHIFTS) or any(len(run) != RUN_FIELDS for run in self.state.runs):
            self.state.runs = _empty_runs()

    def _reset(self) -> None:
        s = self.state
        s.counts = [0.0] * len(SHIFTS)
        s.run = [0.0] * RUN_FIELDS
        s.run_z = 0.0
        s.runs = _empty_runs()

    def _phi_floor(self, phi: float) -> float:
        floor = self.params.attention_phi_floor
        return phi if phi > floor else floor

    def score(self, f: Frame) -> Test:
        if not f.warmed:
            self._reset()
            return Test(0.0, 0, False, True)
        s = self.state
        b = self.baseline
        if not b.sums:
            return Test(0.0, 0, False, True)
        k = f.stories
        p0 = f.count_share
        j = self.attention_index if self.attention_index < len(b.sums) else 0
        total_w, negative_w, mu_w, _risk, _stories = b.sums[j]
        a = 1.0 / self._phi_floor(b.phi_volume[j].phi)
        attention = (a + total_w - negative_w) / (a + mu_w * f.level * (1.0 - p0))
        mu = f.mu_total * f.level * p0 * attention * f.story_ratio
        if mu < 1e-6:
            mu = 1e-6
        scale = 1.0 + b.phi_given_others[0].phi * b.windows[0] * mu
        best = 0.0
        counts = s.counts
        runs = s.runs
        expected_posts = f.mu_total * f.level
        for i, c in enumerate(SHIFTS):
            d = c * mu
            if d < self.min_shift:
                d = self.min_shift
            value = counts[i] + (k * math.log1p(d / mu) - d) / scale
            run = runs[i]
            if value > 0.0:
                run[0] += 1
                run[1] += k
                run[2] += mu
                run[3] += f.total
                run[4] += f.negative
                run[5] += expected_posts
            else:
                value = 0.0
                runs[i] = [0.0] * RUN_FIELDS
            counts[i] = value
            if value > best:
                best = value
        if best <= 0.0:
            s.run = [0.0] * RUN_FIELDS
            s.run_z = 0.0
        hot = False
        if best >= self.h or (best > 0.0 and self.key in f.firing):
            # Each CUSUM's run starts where that CUSUM last left zero, its own
            # estimate of the change point: the five-fold CUSUM's run is a
            # sudden crisis's own minutes, the doubling one's may hold an hour
            # of calm before it, which would dilute the test. The run tested
            # best is the evidence (two candidate starts instead of one).
            s.run_z = -math.inf
            for i in range(len(SHIFTS)):
                if counts[i] > 0.0:
                    z_i = self._run_z(f, runs[i])
                    if z_i > s.run_z:
                        s.run_z, s.run = z_i, list(runs[i])
            hot = best >= self.h and s.run_z >= self.params.z_fire - self.params.sequential_z_margin
        z = math.sqrt(2.0 * best)
        return Test(z, 0, hot, best < 0.5 * self.h)

    def _run_z(self, f: Frame, run: list[float]) -> float:
        """The run's negative stories against what its non-negative posts imply."""
        b = self.baseline
        buckets, stories, _expected, posts, negative, mu_total = run
        # The overdispersion of the window nearest the run's length.
        i = min(range(len(b.windows)), key=lambda x: abs(b.windows[x] - buckets))
        mean, inverse_shape = conditional_negative(posts, negative, mu_total, f.count_share, 1.0,
                                                   self._phi_floor(b.phi_volume[i].phi), b.share_rho[i].rho)
        given = b.phi_given_others[i].phi
        return exact_count_z(stories, mean * f.story_ratio, inverse_shape if inverse_shape > given else given)

    def describe(self, f: Frame, test: Test, w: dict[str, Any]) -> Description:
        s = self.state
        buckets, stories, expected, posts, negative, _mu = s.run
        critical = test.z >= self.params.z_critical and stories >= self.params.critical_ratio * max(expected, 1.0)
        return Description(stories, expected, critical,
                           "CUSUM of the negative stories' log-likelihood ratio (quasi-Poisson), confirmed by the "
                           "exact test of the run's negative stories given its other posts",
                           {"window_buckets": max(1, int(buckets)), "cusum_nats": round(max(s.counts), 3),
                            "cusum_threshold_nats": round(self.h, 3), "run_z": round(s.run_z, 3),
                            "run_z_threshold": round(self.params.z_fire - self.params.sequential_z_margin, 3),
                            "run_posts": int(posts), "run_negative_posts": int(negative),
                            "false_alarms_per_brand_week_bound": round(1.0 / self.params.sequential_arl_weeks, 4)})

    def summary(self, facts: dict[str, Any], minutes: float) -> str:
        return (f"{int(facts['value'])} negative stories over {minutes:g} min vs {facts['baseline']:.1f} expected "
                f"(sequential evidence {facts['evidence']['cusum_nats']:.1f} nats, "
                f"threshold {facts['evidence']['cusum_threshold_nats']:.1f}; run z={facts['evidence']['run_z']:.1f})")
