"""``negative_tone``: sequential evidence from *how* negative the brand's own posts read (CUSUM), confirmed over its run.

The other negative signals count posts the model reads negative (probability
at least the threshold, 0.52): a post read at 0.55 and one read at 0.98 count
the same, and a calm post read at 0.6 counts as much as a complaint. The
model's probability says more than its verdict. Measured on 4,000 labelled
posts per corpus (the default model; a sudden crisis adding 0.8 negative
posts per calm post, calm posts 20 % negative), the evidence a post carries
(nats per calm-post minute, the oracle that knows both distributions):
review texts 0.20 from the verdict, 0.26 from the probability; weibo2018
0.14 and 0.22; weibo_senti_100k 0.04 and 0.07. A detector that uses it
needs a third less time for the same evidence.

The test, per post, is a likelihood ratio: calm posts' probabilities follow
the brand's learned distribution ``c`` (twenty bins of the probability,
``Bucket.tones``); during a crisis a share ``tone_mixture`` of the posts
comes from ``c`` tilted towards the negative end, ``q_b = c_b x m_b**g / G``
(``m_b`` the bin's middle, ``g = tone_power``, ``G`` the calm mean of
``m**g``, so ``q`` sums to one). A post in bin ``b`` adds
``log(1 - tone_mixture + tone_mixture x m_b**g / G)``; its mean under ``c``
is below zero whatever the model (Jensen), so an ordinary stream drifts
down. The tilt's two values (0.44 and 3) were chosen on the review texts
(docs/benchmarks.md, "How negative, not only whether"); the default model is
not calibrated (it reads negative weibo2018 posts 0.70 on average, positive
ones 0.38), and the tilt is what makes its top bins count.

Only a brand's own posts count, not reposts: a repost cascade of one post
would otherwise be many posts of one opinion (the count signals count
stories for the same reason).

As in ``negative_sequential``, the CUSUM (threshold
``log(sequential_arl_weeks x buckets a week)``) says when a change may have
begun, and the signal is hot only when the whole run since the CUSUM last
left zero also passes its own test at ``z_fire - tone_z_margin``: the
run's summed log-likelihood ratio against its mean and variance under the
calm distribution, the variance inflated by the ratio's own intra-window
correlation: learned, per window length of the baseline, from the brand's
calm non-overlapping windows (how much more their summed ratio wanders
than independent posts would make it), because a brand's tone moves from
hour to hour and a CUSUM adds such a move up bucket after bucket. Until
``RHO_MIN_LEARNED`` windows of a length were seen, the negative share's
correlation (``Baseline.share_rho``) stands in. (Borrowing the share's for
good gave the same delays and twice the false alerts on the review scenarios:
docs/benchmarks.md, "How negative, not only whether".)

The calm distribution is learnt like the count share (Baseline.count_share):
the last hours' ordinary posts (``local_share_half_life``) shrunk towards
the last days' (``baseline_half_life``), only from buckets in which no
negative signal is hot or firing. Buckets from an older producer carry no
tones and add no evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from streams.detection.baseline import LOCAL_PRIOR_POSTS, Frame
from streams.detection.signals.base import QUIET, Description, Signal, Test
from streams.models import TONE_BINS

WEEK = 7 * 86400.0
MIDDLES = tuple((i + 0.5) / TONE_BINS for i in range(TONE_BINS))
# Before a brand's own posts say otherwise, the calm distribution is flat,
# worth this many posts (the warm-up keeps the signal off meanwhile).
PRIOR_POSTS = 10.0
# Calm windows of a length learned before the ratio's own correlation is used.
RHO_MIN_LEARNED = 20
# The run: buckets, posts, summed log-likelihood ratio, summed probability.
RUN_FIELDS = 4


@dataclass
class ToneState:
    base: list[float] = field(default_factory=lambda: [0.0] * TONE_BINS)  # last days' ordinary posts per bin
    local: list[float] = field(default_factory=lambda: [0.0] * TONE_BINS)  # last hours' ordinary posts per bin
    cusum: float = 0.0  # nats
    run: list[float] = field(default_factory=lambda: [0.0] * RUN_FIELDS)
    run_z: float = 0.0
    # Per baseline window: the current non-overlapping calm window
    # [posts, ratio sum minus its calm mean, its calm variance], and the
    # learned intra-window correlation of the ratio [rho, windows learned].
    windows: list[list[float]] = field(default_factory=list)
    rho: list[list[float]] = field(default_factory=list)


class NegativeTone(Signal):
    name = "negative_tone"
    State = ToneState

    def derive(self) -> None:
        p = self.params
        size = self.baseline.size or 60.0
        self.h = math.log(p.sequential_arl_weeks * WEEK / size)
        s = self.state
        for name in ("base", "local"):
            if len(getattr(s, name)) != TONE_BINS:
                setattr(s, name, [0.0] * TONE_BINS)
        if len(s.run) != RUN_FIELDS:
            s.run = [0.0] * RUN_FIELDS
        self._resize()
        # The bucket just scored, for learn: posts, summed ratio, the ratio's calm mean and variance per post.
        self._last: tuple[int, float, float, float] | None = None
        self._weights: list[float] = [m ** p.tone_power for m in MIDDLES]

    def _resize(self) -> None:
        n = len(self.baseline.windows)
        s = self.state
        if len(s.windows) != n or any(len(w) != 3 for w in s.windows):
            s.windows = [[0.0, 0.0, 0.0] for _ in range(n)]
        if len(s.rho) != n or any(len(r) != 2 for r in s.rho):
            s.rho = [[0.0, 0.0] for _ in range(n)]

    def _reset(self) -> None:
        s = self.state
        s.cusum = 0.0
        s.run = [0.0] * RUN_FIELDS
        s.run_z = 0.0

    def calm(self) -> list[float]:
        """The calm distribution over the bins (sums to one)."""
        s = self.state
        base_total = sum(s.base)
        prior = PRIOR_POSTS / TONE_BINS
        base = [(x + prior) / (base_total + PRIOR_POSTS) for x in s.base]
        local_total = sum(s.local)
        return [(x + LOCAL_PRIOR_POSTS * c) / (local_total + LOCAL_PRIOR_POSTS) for x, c in zip(s.local, base, strict=True)]

    def ratios(self, calm: list[float]) -> list[float]:
        """Each bin's log-likelihood ratio, crisis against calm."""
        lam = self.params.tone_mixture
        weights = self._weights
        mean = sum(c * w for c, w in zip(calm, weights, strict=True))
        mean = mean if mean > 1e-12 else 1e-12  # only a damaged saved state gets here
        return [math.log(1.0 - lam + lam * w / mean) for w in weights]

    @staticmethod
    def moments(calm: list[float], llr: list[float]) -> tuple[float, float]:
        """The ratio's mean and variance per post under the calm distribution."""
        mean = sum(c * r for c, r in zip(calm, llr, strict=True))
        return mean, sum(c * (r - mean) ** 2 for c, r in zip(calm, llr, strict=True))

    def score(self, f: Frame) -> Test:
        self._last = None
        if not f.warmed:
            self._reset()
            return QUIET
        s = self.state
        tones = f.bucket.tones if f.bucket is not None else []
        if not tones and s.cusum == 0.0:
            return QUIET  # nothing to add and no run to carry: skip the arithmetic (most buckets of a small brand)
        calm = self.calm()
        llr = self.ratios(calm)
        step = 0.0
        posts = 0
        tone = 0.0
        for n, r, m in zip(tones, llr, MIDDLES, strict=False):
            if n:
                step += n * r
                posts += n
                tone += n * m
        mean, variance = self.moments(calm, llr)
        self._last = (posts, step, mean, variance)
        value = s.cusum + step
        s.cusum = value if value > 0.0 else 0.0
        run = s.run
        if s.cusum > 0.0:
            run[0] += 1
            run[1] += posts
            run[2] += step
            run[3] += tone
        else:
            s.run = [0.0] * RUN_FIELDS
            s.run_z = 0.0
        hot = False
        if s.cusum >= self.h or (s.cusum > 0.0 and self.key in f.firing):
            s.run_z = self._run_z(mean, variance)
            hot = s.cusum >= self.h and s.run_z >= self.params.z_fire - self.params.tone_z_margin
        return Test(math.sqrt(2.0 * s.cusum), 0, hot, s.cusum < 0.5 * self.h)

    def _run_z(self, mean: float, variance: float) -> float:
        """The run's summed log-likelihood ratio against its calm ``mean`` and ``variance`` per post."""
        buckets, posts, total, _tone = self.state.run
        if posts < 1:
            return 0.0
        rho = self._rho(buckets)
        spread = math.sqrt(max(posts * variance * (1.0 + (posts - 1.0) * rho), 1e-12))
        return (total - posts * mean) / spread

    def _rho(self, buckets: float) -> float:
        """The ratio's intra-window correlation for a run of ``buckets``: learned
        from the brand's calm windows once ``RHO_MIN_LEARNED`` of that length
        were seen, the negative share's before."""
        b = self.baseline
        if not b.windows:
            return 0.0
        i = min(range(len(b.windows)), key=lambda x: abs(b.windows[x] - buckets))
        s = self.state
        if i < len(s.rho) and s.rho[i][1] >= RHO_MIN_LEARNED:
            value = s.rho[i][0]
        else:
            value = b.share_rho[i].rho if i < len(b.share_rho) else 0.0
        return value if value > 0.0 else 0.0

    def _learn_dispersion(self, learns: bool) -> None:
        """Non-overlapping calm windows of each baseline length: how much more
        their summed ratio wanders than independent posts would make it."""
        b = self.baseline
        s = self.state
        last = self._last
        posts = deviation = variance = 0.0
        if learns and last is not None and last[0] > 0:
            posts, step, mean, per_post = last
            deviation = step - posts * mean
            variance = posts * per_post
        for i, width in enumerate(b.windows):
            window = s.windows[i]
            if not learns:
                window[0] = window[1] = window[2] = 0.0  # a window with a crisis in it teaches nothing
            elif posts:
                window[0] += posts
                window[1] += deviation
                window[2] += variance
            if b.seen % width == 0:
                if window[0] >= 2.0 and window[2] > 0.0:
                    sample = (window[1] * window[1] / window[2] - 1.0) / (window[0] - 1.0)
                    rho = s.rho[i]
                    rho[1] += 1.0
                    a = max(1.0 / rho[1], 1.0 - b.keep_rho[i])
                    rho[0] += a * (sample - rho[0])
                window[0] = window[1] = window[2] = 0.0

    def learn(self, frame: Frame, tone_learns: bool, volume_learns: bool) -> None:
        learns = tone_learns and volume_learns
        self._learn_dispersion(learns)
        if not learns or frame.bucket is None or not frame.bucket.tones:
            return
        b = self.baseline
        s = self.state
        keep_base = 1.0 - b.a_level
        keep_local = b.keep_local
        # A bucket's tones are all TONE_BINS bins (Bucket.add, and _check_part for one off the wire).
        for i, n in enumerate(frame.bucket.tones):
            s.base[i] = s.base[i] * keep_base + n
            s.local[i] = s.local[i] * keep_local + n if keep_local > 0.0 else 0.0

    def describe(self, f: Frame, test: Test, w: dict[str, Any]) -> Description:
        s = self.state
        buckets, posts, _total, tone = s.run
        calm = self.calm()
        usual = sum(c * m for c, m in zip(calm, MIDDLES, strict=True))
        mean = tone / posts if posts else 0.0
        critical = s.run_z >= self.params.z_critical
        return Description(round(mean, 4), round(usual, 4), critical,
                           "CUSUM of the brand's own posts' log-likelihood ratio from the model's negative "
                           "probability (calm distribution against a tilt towards negative), confirmed by the "
                           "run's own test with the ratio's learned overdispersion",
                           {"window_buckets": max(1, int(buckets)), "cusum_nats": round(s.cusum, 3),
                            "cusum_threshold_nats": round(self.h, 3), "run_z": round(s.run_z, 3),
                            "run_z_threshold": round(self.params.z_fire - self.params.tone_z_margin, 3),
                            "run_posts": int(posts), "run_mean_negative": round(mean, 4),
                            "usual_mean_negative": round(usual, 4),
                            "false_alarms_per_brand_week_bound": round(1.0 / self.params.sequential_arl_weeks, 4)})

    def summary(self, facts: dict[str, Any], minutes: float) -> str:
        e = facts["evidence"]
        return (f"{e['run_posts']} own posts over {minutes:g} min read {e['run_mean_negative']:.0%} negative on average "
                f"vs {e['usual_mean_negative']:.0%} usual (sequential evidence {e['cusum_nats']:.1f} nats, "
                f"threshold {e['cusum_threshold_nats']:.1f}; run z={e['run_z']:.1f})")
