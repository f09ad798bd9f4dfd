"""The labeled scenario suite: every ``koubei scenario`` kind through ``koubei backtest``.

Not a test: it prints numbers. For each kind (fixed seeds) it writes the
scenario into a temporary directory, reads it back with the backtest's own
reader, runs the backtest with default settings (the configured detector,
the stock sentiment model) and prints one row per brand:

    scenario, seed, brand, expected, alerted?, delay from onset, false alerts

Delays are in event-time minutes from the labeled onset: ``detect`` is the
end of the bucket whose closing fired the alert, ``sent`` is when the stream
would have sent it (the watermark passes a bucket ``allowed_lateness`` after
its end). Then it checks the targets of the detection issue:

* every crisis alerted within 5 minutes of its onset;
* at most 1 false negative alert per brand per simulated week of calm traffic;
* no negative alert for the positive viral spike (nor for the news day).

Usage::

    .venv/bin/python bench/scenario_suite.py                 # every kind, seed 1
    .venv/bin/python bench/scenario_suite.py --seeds 1 2 3   # more seeds
    .venv/bin/python bench/scenario_suite.py --kinds sudden night --scale 0.5
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from streams.backtest import (  # noqa: E402
    BacktestResult,
    backtest_posts,
    config_from_labels,
    load_configured_scorer,
    read_posts,
)
from streams.scenario import (  # noqa: E402
    KINDS,
    NEGATIVE_ALERT,
    ScenarioSpec,
    generate,
    load_labels,
    plan_scenario,
    write_scenario,
)

TARGET_DELAY_MINUTES = 5.0
TARGET_FALSE_PER_BRAND_WEEK = 1.0


@dataclass
class Row:
    kind: str
    seed: int
    brand: str
    expected: str
    alerted: str
    detect_min: float | None
    sent_min: float | None
    false_alerts: int
    brand_days: float
    ok: bool
    note: str = ""


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def backtest_scenario(spec: ScenarioSpec, folder: Path, scorer_cache: dict[str, object],
                      settings: dict[str, object]) -> tuple[BacktestResult, dict[str, Any], float]:
    """Write ``spec``'s posts to ``folder`` and backtest them as ``koubei
    backtest`` would: (result, labels, seconds the backtest took)."""
    path = folder / f"{spec.kind}-{spec.seed}.jsonl"
    # The generated posts are dropped once written: the backtest reads the
    # file, as `koubei backtest` would, and a month of dicts is large.
    labels = load_labels(write_scenario(generate(spec), path))
    config = config_from_labels(labels, settings)
    scorer = scorer_cache.get("scorer")
    if scorer is None:
        scorer = scorer_cache["scorer"] = load_configured_scorer(config)
    started = time.perf_counter()
    result = backtest_posts(read_posts(path), config, scorer, labels=labels)
    return result, labels, time.perf_counter() - started


def run_kind(kind: str, seed: int, scale: float, folder: Path, scorer_cache: dict[str, object],
             settings: dict[str, object]) -> tuple[list[Row], float, int]:
    result, labels, elapsed = backtest_scenario(plan_scenario(kind, seed=seed, scale=scale), folder, scorer_cache,
                                                settings)
    rows: list[Row] = []
    days = result.span_days
    for brand in labels["brands"]:
        stats = result.brands[brand["id"]]
        windows = [w for w in result.outcomes if w.brand == brand["id"]]
        if not windows:
            rate = stats.false_alerts / (days / 7.0) if days else 0.0
            rows.append(Row(kind, seed, brand["id"], "calm", "no" if stats.false_alerts == 0 else "FALSE",
                            None, None, stats.false_alerts, days, rate <= TARGET_FALSE_PER_BRAND_WEEK,
                            "" if rate <= TARGET_FALSE_PER_BRAND_WEEK else f"{rate:.1f} false alerts per week"))
            continue
        for w in windows:
            detect = w.delay_seconds / 60 if w.delay_seconds is not None else None
            sent = w.emitted_delay_seconds / 60 if w.emitted_delay_seconds is not None else None
            if w.expected == NEGATIVE_ALERT:
                ok = w.alerted and sent is not None and sent <= TARGET_DELAY_MINUTES
                note = "" if ok else ("missed" if not w.alerted else f"late ({_fmt(sent)} min)")
            else:
                ok = not w.alerted
                note = "" if ok else "negative alert on a harmless spike"
            label = next((lw for lw in brand["windows"] if lw["kind"] == w.kind), None)
            if w.kind == "slow_burn" and label and "peak" in label and w.delay_seconds is not None:
                ramp = datetime.fromisoformat(label["peak"]).timestamp() - w.onset
                note = (note + "; " if note else "") + f"{w.delay_seconds / ramp:.0%} into the 4-hour rise"
            volume_only = stats.volume_alerts and not stats.negative_alerts
            if volume_only:
                note = (note + "; " if note else "") + "volume alert only"
            rows.append(Row(kind, seed, brand["id"], f"{w.kind}: {w.expected}", "yes" if w.alerted else "no",
                            detect, sent, stats.false_alerts, days, ok, note))
    return rows, elapsed, len(result.file.posts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", nargs="+", default=[k for k in KINDS if k != "demo"], choices=KINDS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--scale", type=float, default=1.0, help="volume multiplier for every scenario")
    parser.add_argument("--lateness", default=None, help="buckets.allowed_lateness, e.g. 30s (default: the config default)")
    parser.add_argument("--sensitivity", choices=("low", "balanced", "high"), default=None,
                        help="detection.sensitivity (default: the config default)")
    args = parser.parse_args(argv)
    settings: dict[str, object] = {}
    if args.lateness:
        settings["buckets"] = {"allowed_lateness": args.lateness}
    if args.sensitivity:
        settings["detection"] = {"sensitivity": args.sensitivity}

    from streams.detection import create_detector

    detector = create_detector(None, "probe").name
    print(f"# scenario suite: {platform.python_version()} on {platform.machine()}, detector {detector}, "
          f"scale {args.scale:g}, settings {settings or 'defaults'}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    rows: list[Row] = []
    cache: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="koubei-suite-") as tmp:
        for kind in args.kinds:
            for seed in args.seeds:
                kind_rows, elapsed, posts = run_kind(kind, seed, args.scale, Path(tmp), cache, settings)
                rows.extend(kind_rows)
                print(f"  {kind} seed {seed}: {posts:,} posts backtested in {elapsed:.1f} s", file=sys.stderr)

    print()
    print("| scenario | seed | brand | expected | alerted? | delay detect (min) | delay sent (min) | false alerts | brand-days | ok |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        verdict = "yes" if r.ok else f"**no** ({r.note})"
        if r.ok and r.note:
            verdict = f"yes ({r.note})"
        print(f"| {r.kind} | {r.seed} | {r.brand} | {r.expected} | {r.alerted} | {_fmt(r.detect_min)} | "
              f"{_fmt(r.sent_min)} | {r.false_alerts} | {r.brand_days:.1f} | {verdict} |")

    crises = [r for r in rows if r.expected.endswith(NEGATIVE_ALERT) and not r.expected.endswith("no_" + NEGATIVE_ALERT)]
    harmless = [r for r in rows if r.expected.endswith("no_" + NEGATIVE_ALERT)]
    detected = [r for r in crises if r.alerted == "yes"]
    in_time_detect = [r for r in crises if r.detect_min is not None and r.detect_min <= TARGET_DELAY_MINUTES]
    in_time_sent = [r for r in crises if r.sent_min is not None and r.sent_min <= TARGET_DELAY_MINUTES]
    false_total = sum(r.false_alerts for r in rows)
    brand_weeks = sum(r.brand_days for r in rows) / 7.0
    calm_rows = [r for r in rows if r.kind == "calm_month"]
    calm_false = sum(r.false_alerts for r in calm_rows)
    calm_weeks = sum(r.brand_days for r in calm_rows) / 7.0

    print()
    print("| target | result | met? |")
    print("|---|---|---|")
    print(f"| every crisis alerted | {len(detected)}/{len(crises)} | {'yes' if len(detected) == len(crises) else 'no'} |")
    print(f"| ... within {TARGET_DELAY_MINUTES:g} min of onset (bucket that fired) | {len(in_time_detect)}/{len(crises)} | "
          f"{'yes' if len(in_time_detect) == len(crises) else 'no'} |")
    print(f"| ... within {TARGET_DELAY_MINUTES:g} min of onset (sent by the stream, + allowed lateness) | "
          f"{len(in_time_sent)}/{len(crises)} | {'yes' if len(in_time_sent) == len(crises) else 'no'} |")
    if calm_weeks:
        rate = calm_false / calm_weeks
        print(f"| <= {TARGET_FALSE_PER_BRAND_WEEK:g} false alert per brand-week, calm_month | {calm_false} in {calm_weeks:.1f} "
              f"brand-weeks = {rate:.2f} | {'yes' if rate <= TARGET_FALSE_PER_BRAND_WEEK else 'no'} |")
    if brand_weeks:
        rate = false_total / brand_weeks
        print(f"| <= {TARGET_FALSE_PER_BRAND_WEEK:g} false alert per brand-week, all scenarios | {false_total} in "
              f"{brand_weeks:.1f} brand-weeks = {rate:.2f} | {'yes' if rate <= TARGET_FALSE_PER_BRAND_WEEK else 'no'} |")
    quiet = [r for r in harmless if r.alerted == "no"]
    print(f"| no negative alert on the positive spike / news day | {len(quiet)}/{len(harmless)} quiet | "
          f"{'yes' if len(quiet) == len(harmless) else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
