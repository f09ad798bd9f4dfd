"""Small closed-form tests used by the adaptive detector.

Everything here is O(1) and dependency-free: the detector runs once per
bucket per brand and must stay far below 10 microseconds, so no scipy and
no iteration.
"""

from __future__ import annotations

import math
from statistics import NormalDist

_SQRT2 = math.sqrt(2.0)
_NORMAL = NormalDist()
# z of a p-value too small for a float (P(X >= k) below ~1e-300).
MAX_TAIL_Z = 37.0


def count_z(observed: float, expected: float, overdispersion: float) -> float:
    """Upper-tail z for a count against its expected value.

    Uses Anscombe's square-root transform, under which a Poisson count has
    unit variance whatever its mean; the negative-binomial extra variance
    ``phi * mean**2`` becomes a factor ``1 + phi * mean`` there. The
    transform is conservative for tiny means (three posts at night against
    0.1 expected gives z ~ 2.3 where the exact Poisson tail is ~ 3.6), which
    is what a night shift wants.
    """
    raw = 2.0 * (math.sqrt(observed + 0.375) - math.sqrt(expected + 0.375))
    return raw / math.sqrt(1.0 + overdispersion * expected)


def share_z(negative: float, total: float, base_share: float, rho: float) -> float:
    """Beta-binomial z for ``negative`` out of ``total`` against ``base_share``.

    ``rho`` is the intra-class correlation: the share of a brand wanders more
    than binomial sampling explains, and with thousands of posts a plain
    binomial test would call a 2-point wobble significant. The half-post
    continuity correction keeps tiny windows honest.
    """
    if total <= 0:
        return 0.0
    variance = total * base_share * (1.0 - base_share) * (1.0 + (total - 1.0) * rho)
    if variance <= 0.0:
        return 0.0
    return (negative - total * base_share - 0.5) / math.sqrt(variance)


def wilson_lower(successes: float, trials: float, z: float) -> float:
    """Lower end of the Wilson score interval: the share we are confident of."""
    if trials <= 0:
        return 0.0
    phat = successes / trials
    z2 = z * z
    centre = phat + z2 / (2.0 * trials)
    margin = z * math.sqrt(phat * (1.0 - phat) / trials + z2 / (4.0 * trials * trials))
    return max(0.0, (centre - margin) / (1.0 + z2 / trials))


EXACT_BINOMIAL_MAX_TRIALS = 100_000


def binomial_upper_tail(successes: int, trials: int, p: float) -> float:
    """Exact P(X >= successes) for X ~ Binomial(trials, p), for small windows
    where the normal approximation behind ``share_z`` is too generous (six
    negative posts out of six is z = 4.3 but p = 6e-5 at a 20 % share)."""
    if successes <= 0:
        return 1.0
    if successes > trials or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    q = 1.0 - p
    if trials > EXACT_BINOMIAL_MAX_TRIALS:
        # The walk below is one step per trial; this many trials are normal
        # (continuity-corrected), and a count off the wire cannot stall a stage.
        return 0.5 * math.erfc((successes - 0.5 - trials * p) / math.sqrt(2.0 * trials * p * q))
    # Start at the pmf of `successes` (in logs: no overflow) and walk up.
    term = math.exp(math.lgamma(trials + 1) - math.lgamma(successes + 1) - math.lgamma(trials - successes + 1)
                    + successes * math.log(p) + (trials - successes) * math.log(q))
    total = 0.0
    for i in range(successes, trials + 1):
        total += term
        term *= (trials - i) / (i + 1) * p / q
    return min(1.0, total)


def count_upper_tail(observed: int, expected: float, overdispersion: float) -> float:
    """Exact P(X >= observed) for a negative-binomial count with mean
    ``expected`` and variance ``expected * (1 + overdispersion * expected)``
    (Poisson when the overdispersion is 0).

    For the small expected counts of a night shift this is the honest tail:
    seven posts against 0.1 expected is p ~ 2e-11, where Anscombe's
    transform (``count_z``) says z ~ 4.3. Only called for the rare window
    that already passed a cheap ratio check.
    """
    if observed <= 0:
        return 1.0
    if expected <= 0.0:
        return 0.0
    k = int(observed)
    if overdispersion <= 1e-9:
        log_pmf = k * math.log(expected) - expected - math.lgamma(k + 1)

        def ratio(i: int) -> float:
            return expected / (i + 1)
    else:
        r = 1.0 / overdispersion
        q = expected / (r + expected)  # success probability per trial, in the NB(r, q) sense
        log_pmf = (math.lgamma(k + r) - math.lgamma(r) - math.lgamma(k + 1)
                   + r * math.log1p(-q) + k * math.log(q))

        def ratio(i: int) -> float:
            return (i + r) / (i + 1) * q
    if log_pmf < -745.0:
        return 0.0
    term = math.exp(log_pmf)
    total = 0.0
    i = k
    # Walk up the tail until the terms stop mattering (they shrink
    # geometrically once i is past the mean).
    while term > total * 1e-12 and i < k + 10_000:
        total += term
        term *= ratio(i)
        i += 1
    return min(1.0, total)


def tail_z(p: float) -> float:
    """The normal z with upper tail ``p``: the scale every other statistic
    of the detector is reported on."""
    if p >= 0.5:
        return 0.0
    if p <= 0.0:
        return MAX_TAIL_Z
    return min(-_NORMAL.inv_cdf(p), MAX_TAIL_Z)


def exact_count_z(observed: float, expected: float, overdispersion: float) -> float:
    """``count_upper_tail`` on the z scale, 0 for a count at or below its
    expectation: the statistic the ``risk_terms`` signal tests and reports."""
    if observed <= expected:
        return 0.0
    return tail_z(count_upper_tail(int(observed), expected, overdispersion))


PHI_FLOOR = 1e-3  # attention is never taken as perfectly steady


def conditional_negative(total: float, negative: float, mu_total: float, base: float, level: float, phi: float,
                         rho: float) -> tuple[float, float]:
    """Mean and inverse shape of a window's negative count given its
    non-negative posts, under one latent attention factor per window.

    Attention ``L ~ Gamma(mean 1, variance phi)`` (``phi``: the volume's
    overdispersion for the window length); negative posts
    ``~ Poisson(mu p0 l L)``, the others ``~ Poisson(mu (1 - p0) l L)``
    (``mu`` expected posts, ``p0`` = ``base`` the usual negative share,
    ``l`` = ``level`` the attention level of the last hours). Given ``N``
    non-negative posts, ``L ~ Gamma(a + N, a + mu l (1 - p0))`` with
    ``a = 1/phi``, so the negative count is negative-binomial with mean
    ``mu p0 l (a + N) / (a + mu l (1 - p0))`` and shape ``a + N``. The
    share's own wobble ``rho`` (threads, repost chains) adds
    ``rho (1 - p0) / p0`` to the inverse shape."""
    a = 1.0 / (phi if phi > PHI_FLOOR else PHI_FLOOR)
    expected = mu_total * level
    shape = a + total - negative
    mean = expected * base * shape / (a + expected * (1.0 - base))
    return mean, 1.0 / shape + rho * (1.0 - base) / base


def upper_tail_p(z: float) -> float:
    """One-sided normal p-value, reported as evidence next to the z."""
    return 0.5 * math.erfc(z / _SQRT2)


def half_life_alpha(half_life_updates: float) -> float:
    """EWMA weight whose influence halves after ``half_life_updates`` updates."""
    if half_life_updates <= 0:
        return 1.0
    return 1.0 - math.exp(-math.log(2.0) / half_life_updates)
