"""Parameters of the adaptive detector and the sensitivity presets.

``sensitivity`` picks a preset (``low | balanced | high``); any field set
explicitly in the configuration (globally or per brand) overrides the
preset's value. The mapping is documented in docs/detection.md; keep the two
in step.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

SENSITIVITIES = ("low", "balanced", "high")
# Alert keys (what ``AlertEvent.signal`` says and ``signals:`` selects); the
# long-scale volume signal reports as ``volume``.
SIGNALS = ("negative_share", "negative_volume", "risk_terms", "volume", "kol", "negative_sequential", "copy_flood",
           "negative_tone")


@dataclass(frozen=True)
class AdaptiveParams:
    sensitivity: str = "balanced"
    # Windows tested at once (seconds); converted to whole buckets, at least 1.
    windows: tuple[float, ...] = (300.0, 900.0, 3600.0)
    signals: tuple[str, ...] = SIGNALS
    # A window is "hot" when its test statistic reaches z_fire (4.25, one
    # false crossing in ~100,000 tests; chosen on the real-text scenarios of
    # the review corpora, bench/real_suite.py; docs/benchmarks.md says why
    # the grid's more sensitive 3.75 was not adopted) ...
    z_fire: float = 4.25
    # Mention volume alone is heavy-tailed on social media (one repost
    # cascade is a 10x bucket), so the volume signal needs a higher bar.
    volume_z_fire: float = 6.0
    # ... and must also beat the brand's usual daily maximum of that
    # statistic times this margin (learned, capped so one crisis day moves it
    # little): "more surprising than an ordinary day's biggest burst".
    volume_tail_margin: float = 1.2
    # ... and the longest window must reach this z too: a five-minute repost
    # cascade is a blip, an hour of unusual attention is a volume event (0 = off).
    volume_confirm_z: float = 0.0
    # ... and the alert is critical when it reaches z_critical together with
    # the effect-size condition of its signal (below).
    z_critical: float = 6.0
    # A bucket is "quiet" for an alert when every window is below resolve_z.
    resolve_z: float = 2.0
    # negative_volume tests negative stories given the window's non-negative
    # posts, with attention varying like the volume's learned overdispersion
    # phi, but never less than this (a young seasonal profile, a day unlike
    # the last ones): the larger, the more a window's own non-negative posts
    # say what to expect.
    attention_phi_floor: float = 0.1
    # Fewest negative posts in a window before a negative signal may fire.
    min_negative: int = 5
    # Fewest posts in a window before the volume signal may fire.
    min_volume: int = 10
    # Effect size: observed / expected count at least this for the volume
    # and negative_volume signals (a significant +30 % is not a crisis).
    min_ratio: float = 5.0
    # The same floor for negative_volume: lower, because the share gate
    # already rules out "just more posts".
    negative_min_ratio: float = 2.0
    # Negative share must exceed the baseline by this many points (0.10 = 10 %).
    min_share_lift: float = 0.10
    # Wilson lower bound above baseline by this many points -> critical.
    critical_share_lift: float = 0.25
    # Observed / expected count ratio -> critical (volume, negative volume, reach).
    critical_ratio: float = 5.0
    # negative_volume also needs the share to be at least this far up (z),
    # so that a positive viral spike or a news day never raises it.
    share_gate_z: float = 2.5
    fire_after: int = 1  # consecutive hot buckets (or one, when z reaches z_critical)
    resolve_after: int = 10  # consecutive quiet buckets
    cooldown: float = 1800.0  # seconds after a resolve before the same signal may re-fire
    # Volume alerts are informational and bursty: at most one volume alert
    # opens per volume_cooldown, counted from the moment it opened (one page
    # per episode; a bigger burst inside it does not page again).
    volume_cooldown: float = 24 * 3600.0
    # Long scale of the volume signal: an exponentially weighted sum of
    # mentions (half-life volume_long_half_life) against the same sum of
    # expected mentions, as a robust z of the log ratio against its own
    # learned centre and spread. It catches a sustained 2-3x rise over hours
    # that no single window makes significant. Hot when the robust z reaches
    # volume_long_z and the smoothed ratio reaches volume_long_ratio (0 = off).
    volume_long_half_life: float = 4 * 3600.0
    volume_long_z: float = 3.5
    volume_long_ratio: float = 1.5
    warmup: float = 6 * 3600.0  # seconds of history before baseline tests run
    # Cold start (inside warm-up): fire on share alone when the Wilson lower
    # bound of the share reaches this, with twice min_negative posts.
    cold_start_share: float = 0.4
    baseline_half_life: float = 3 * 86400.0  # level of the rates and shares
    # The negative count tests (negative_volume, negative_sequential) expect
    # the share of the last hours' ordinary posts, with this half-life
    # (0 = the base share, whose half-life is baseline_half_life): a brand's
    # tone moves from day to day, and a count tested against last week's
    # tone is noisier than one tested against this morning's.
    local_share_half_life: float = 6 * 3600.0
    season_half_life: float = 14 * 86400.0  # hour-of-day and day-of-week profile
    # If an alert has been firing this long the level is probably the new
    # normal: the baseline learns again (clipped) so the alert can resolve.
    relearn_after: float = 12 * 3600.0
    utc_offset_hours: float = 8.0  # local time of the audience (Beijing) for the daily/weekly profile
    sparkline_buckets: int = 30
    # Risk-term hits in the window that make a negative alert critical.
    risk_critical_hits: int = 20
    # risk_terms: posts naming a risk (recall, carcinogen, exposé, rights
    # defence...) against expected volume x the brand's usual share of such
    # posts x its attention level, with the exact negative-binomial tail
    # (at night the expected count is a fraction of a post, where the
    # square-root transform of the other count tests is far too
    # conservative). Hot when the tail's z reaches risk_z_fire (higher than
    # z_fire: an exact tail believes its null model, and real traffic is
    # burstier; 4.75 is p ~ 1e-6), with at least risk_min_hits such posts,
    # risk_min_ratio times the expected, risk_min_negative negative posts
    # and the negative share up by share_gate_z.
    risk_z_fire: float = 4.75
    risk_min_hits: int = 4
    risk_min_ratio: float = 3.0
    risk_min_negative: int = 3
    # kol: a negative post from an account far above the brand's usual reach.
    # It opens an alert when the brand's own history (half-life 28 days) says
    # negative posts from accounts at least this big (in half-decades of
    # followers, a verified account counting ~3x) come at most
    # kol_max_per_week times a week: by construction at most that many
    # false KOL alerts per brand-week on a stationary stream. Accounts below
    # kol_min_followers never count as KOLs.
    kol_max_per_week: float = 0.25
    kol_min_followers: int = 100_000
    # kol, when the model misreads the KOL's post: a post of any tone from
    # an account that big and rare is watched for two hours, and opens the
    # alert once at least kol_amplify_posts of its reposts read negative and
    # their share beats the usual one (binomial, p <= 1 %).
    kol_amplify_posts: int = 5
    # negative_sequential: CUSUMs of the per-bucket log-likelihood ratio of
    # the negative stories (shifts of +1x and +4x the expected, at least
    # sequential_min_shift extra a minute; quasi-Poisson, divided by the
    # learned overdispersion). Threshold h = log(2 x sequential_arl_weeks x
    # buckets a week): by Lorden's bound at most one false alarm per
    # sequential_arl_weeks brand-weeks were the expectation exact; the run
    # must also pass the exact test of negative_volume at z_fire.
    sequential_arl_weeks: float = 4.0
    sequential_min_shift: float = 0.2
    # How far below z_fire the run's exact test may be once the CUSUM has
    # crossed its threshold (the two tests together are the filter).
    sequential_z_margin: float = 0.25
    # negative_tone: the same CUSUM-and-run test on how negative the brand's
    # own posts read (streams/detection/signals/tone.py): during a crisis a
    # share tone_mixture of the posts is the calm distribution of the
    # model's probability tilted by p**tone_power. Both chosen on the review
    # texts (docs/benchmarks.md, "How negative, not only whether").
    tone_mixture: float = 0.44
    tone_power: float = 3.0
    # How far below z_fire its run's own test may be once its CUSUM crossed.
    tone_z_margin: float = 0.25
    # copy_flood: recent negative posts repeating the words of an earlier one
    # (not reposts), against the chance copies that many posts make
    # (streams/detection/signals/copies.py). Hot at z_fire with at least
    # copy_min_posts copies and copy_min_ratio times the expected.
    copy_min_posts: int = 10
    copy_min_ratio: float = 5.0


SENSITIVITY_PRESETS: dict[str, dict[str, Any]] = {
    "low": {
        "z_fire": 5.0, "z_critical": 7.0, "resolve_z": 2.5, "min_negative": 8, "min_volume": 20,
        "volume_z_fire": 10.0, "min_ratio": 8.0, "negative_min_ratio": 3.0,
        "min_share_lift": 0.15, "critical_share_lift": 0.30, "critical_ratio": 8.0,
        "fire_after": 2, "resolve_after": 10, "cooldown": 3600.0,
        "volume_confirm_z": 6.0, "volume_cooldown": 48 * 3600.0, "volume_long_z": 4.0,
        "risk_z_fire": 5.5, "risk_min_hits": 6, "risk_min_negative": 5,
        "kol_max_per_week": 0.1, "sequential_arl_weeks": 12.0, "copy_min_posts": 15, "kol_amplify_posts": 8,
    },
    "balanced": {},
    "high": {
        "z_fire": 3.5, "z_critical": 5.0, "resolve_z": 1.5, "min_negative": 3, "min_volume": 5,
        "volume_z_fire": 5.0, "min_ratio": 3.0, "negative_min_ratio": 1.5,
        "min_share_lift": 0.05, "critical_share_lift": 0.20, "critical_ratio": 4.0,
        "fire_after": 1, "resolve_after": 15, "cooldown": 900.0,
        "volume_confirm_z": 0.0, "volume_cooldown": 6 * 3600.0, "volume_long_z": 3.0,
        "risk_z_fire": 4.25, "risk_min_hits": 3, "risk_min_negative": 2,
        "kol_max_per_week": 0.5, "sequential_arl_weeks": 1.0, "copy_min_posts": 6, "kol_amplify_posts": 3,
    },
}

TUNABLE_FIELDS = tuple(f.name for f in fields(AdaptiveParams) if f.name != "sensitivity")


def build_params(sensitivity: str = "balanced", overrides: dict[str, Any] | None = None) -> AdaptiveParams:
    """The preset for ``sensitivity`` with explicit ``overrides`` on top."""
    if sensitivity not in SENSITIVITY_PRESETS:
        raise ValueError(f"sensitivity must be one of {', '.join(SENSITIVITIES)}, got {sensitivity!r}")
    values: dict[str, Any] = dict(SENSITIVITY_PRESETS[sensitivity])
    values.update(overrides or {})
    unknown = set(values) - set(TUNABLE_FIELDS)
    if unknown:
        raise ValueError(f"unknown detector parameter(s): {', '.join(sorted(unknown))}")
    return replace(AdaptiveParams(), sensitivity=sensitivity, **values)
