"""How early could anything see the slow burn? The detection-theory bound, measured.

Not a test: it prints numbers. For each seed it generates the ``slow_burn``
scenario, runs it through ``koubei backtest``'s own code (default settings)
and reads the crisis brand's one-minute buckets. From the same four hours
of the day before it takes the background rates (posts, negative posts,
distinct stories with a risk term, per minute), and from the event's hours
the share of the extra posts that are negative or start a risk story. The
extra posts follow the labeled shape (``EventSpec.rate``: a quadratic rise
from zero to 8 a minute over four hours).

An oracle that knows the onset and the shape gains, in expectation,
``(l0 + d) log(1 + d / l0) - d`` of log-likelihood ratio per minute on a
Poisson count with background ``l0`` and extra ``d``. A detector with one
false alarm per ``N`` one-minute buckets needs about ``log(N)`` (Lorden):
9.2 for a week, 10.3 for three weeks. The minute at which the oracle's
expected statistic reaches that is a lower bound for any detector's delay
at that false-alarm rate, on the mean path. Printed next to the adaptive
detector's actual delay on the same seed.

Usage::

    .venv/bin/python bench/slow_burn_bound.py --seeds 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(REPO / "bench"))

from scenario_suite import backtest_scenario  # noqa: E402

from streams.scenario import plan_scenario  # noqa: E402

RISE_MINUTES = 240
THRESHOLDS = (6.9, 9.2, 10.3)  # log of: 17 hours, one week, three weeks of one-minute buckets


def crossing(background: float, extra: list[float], threshold: float) -> int | None:
    """First minute (1-based) at which the oracle's expected LLR reaches ``threshold``."""
    total = 0.0
    for minute, d in enumerate(extra, start=1):
        if d > 0.0:
            total += (background + d) * math.log1p(d / background) - d
        if total >= threshold:
            return minute
    return None


def measure(seed: int, scorer_cache: dict[str, object], folder: Path) -> dict[str, object]:
    spec = plan_scenario("slow_burn", seed=seed)
    event = spec.events[0]
    result, _, _ = backtest_scenario(spec, folder, scorer_cache, {})
    points = {p.start: p for p in result.series[event.brand]}
    onset = event.onset.timestamp()

    def sums(begin: float) -> tuple[float, float, float]:
        minutes = [points.get(begin + 60.0 * m) for m in range(RISE_MINUTES)]
        return (sum(p.total for p in minutes if p), sum(p.negative for p in minutes if p),
                sum(p.risk_stories for p in minutes if p))

    base_total, base_negative, base_risk = sums(onset - 86400.0)
    event_total, event_negative, event_risk = sums(onset)
    extra = [event.rate(datetime.fromtimestamp(onset + 60.0 * m, event.onset.tzinfo)) for m in range(RISE_MINUTES)]
    extra_posts = max(event_total - base_total, 1.0)
    out: dict[str, object] = {
        "seed": seed,
        "posts_per_min": base_total / RISE_MINUTES,
        "negative_per_min": base_negative / RISE_MINUTES,
        "risk_per_min": base_risk / RISE_MINUTES,
        "negative_fraction": (event_negative - base_negative) / extra_posts,
        "risk_fraction": (event_risk - base_risk) / extra_posts,
    }
    channels = {
        "posts": (out["posts_per_min"], 1.0),
        "negative": (out["negative_per_min"], out["negative_fraction"]),
        "risk": (out["risk_per_min"], out["risk_fraction"]),
    }
    for name, (background, fraction) in channels.items():
        for h in THRESHOLDS:
            out[f"{name}@{h}"] = crossing(max(float(background), 1e-3), [float(fraction) * d for d in extra], h)
    window = next(w for w in result.outcomes if w.brand == event.brand)
    out["detector"] = window.delay_seconds / 60.0 if window.delay_seconds is not None else None
    out["extra_at_5"] = sum(extra[:5])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    args = parser.parse_args(argv)
    rows = []
    cache: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="koubei-slowburn-") as tmp:
        for seed in args.seeds:
            print(f"  slow_burn seed {seed}: generating, scoring, bucketing ...", file=sys.stderr, flush=True)
            rows.append(measure(seed, cache, Path(tmp)))

    def fmt(value: object) -> str:
        return "-" if value is None else (f"{value:.0f}" if isinstance(value, (int, float)) else str(value))

    print("\n| seed | background per min: posts / negative / risk stories | extra posts negative / new risk story "
          "| oracle minute, posts | negative | risk stories (LLR 6.9 / 9.2 / 10.3) | detector (detect, min) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        oracle = [" / ".join(fmt(r[f"{c}@{h}"]) for h in THRESHOLDS) for c in ("posts", "negative", "risk")]
        print(f"| {r['seed']} | {r['posts_per_min']:.2f} / {r['negative_per_min']:.2f} / {r['risk_per_min']:.3f} "
              f"| {r['negative_fraction']:.0%} / {r['risk_fraction']:.0%} | {oracle[0]} | {oracle[1]} | {oracle[2]} "
              f"| {fmt(r['detector'])} |")
    print(f"\nExtra posts in the first 5 minutes of the rise: {rows[0]['extra_at_5']:.3f} (same shape every seed).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
