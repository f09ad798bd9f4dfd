"""Crisis detection on scenarios made of real, human-labelled posts: tune on some corpora, report on others.

Not a test: it prints numbers. For each corpus group and seed it writes a
``koubei scenario --texts ... --kind mix`` scenario (five brands from about
0.3 to 10 mentions a minute over ten days; each brand one crisis of a
different kind: sudden, night, slow_burn, kol, bot_flood; positive viral
hours and news days as decoys), scores and buckets it once with the
stream's own stages (``streams.backtest.aggregate_posts``), then replays
the detector over the buckets (``detect_buckets``) for each setting tried.

Protocol (docs/benchmarks.md): ``--tune GROUP`` tries every setting of the
grid on that group's scenarios and picks one by the rule below; ``--report
GROUP`` prints the picked setting (and the defaults) on the other group's
scenarios only. The picking rule, in order: at most 1 false negative alert
per brand-week and no decoy alert; then most crises alerted; then the
smallest mean of min(delay, 120 min). Groups (``--data`` is the shared
``sentiment/`` folder):

* ``reviews``: waimai_10k + ChnSentiCorp_htl_all + online_shopping_10_cats;
* ``weibo``: weibo2018_train + weibo_senti_100k_split (``[xx]`` emoticons stripped).

Delays are minutes from the labelled onset to the end of the bucket whose
closing fired the first negative alert (add ``allowed_lateness`` for when
the stream sends it). The slow burn's oracle bound is computed per window
as in bench/slow_burn_bound.py: the first minute at which an oracle that
knows the onset and the labelled shape reaches log-likelihood ratio 9.2
(one false alarm a week) on the negative-post count.

Usage::

    .venv/bin/python bench/real_suite.py --data ../shared/data/sentiment --tune reviews --report weibo --seeds 1 2 3
    .venv/bin/python bench/real_suite.py --data ../shared/data/sentiment --report weibo --model /tmp/weibo2018.model
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from streams.backtest import (  # noqa: E402
    Aggregated,
    aggregate_posts,
    config_from_labels,
    detect_buckets,
    load_configured_scorer,
    read_posts,
)
from streams.scenario import NEGATIVE_ALERT, NO_NEGATIVE_ALERT, labels_path, load_labels, write_scenario  # noqa: E402
from streams.scenario_real import CRISIS_KINDS, LabelledTexts, generate_real, plan_real, read_labelled_texts  # noqa: E402

GROUPS: dict[str, list[tuple[str, bool]]] = {
    "reviews": [("waimai_10k.csv", False), ("ChnSentiCorp_htl_all.csv", False), ("online_shopping_10_cats.zip", False)],
    "weibo": [("weibo2018_train.txt", False), ("weibo_senti_100k_split.csv", True)],
}
# The grid: the sequential signal's stated false-alarm rate and design, the
# window tests' threshold. Small on purpose: every point is a claim to check.
GRID: dict[str, list[Any]] = {
    "sequential_arl_weeks": [2.0, 4.0, 8.0],
    "sequential_min_shift": [0.1, 0.2, 0.4],
    "z_fire": [3.5, 4.0],
}
ORACLE_LLR = 9.2  # log of one week of one-minute buckets
DELAY_CAP = 120.0


@dataclass
class Case:
    group: str
    seed: int
    labels: dict[str, Any]
    agg: Aggregated


@dataclass
class Outcome:
    kind: str
    brand: str
    per_minute: float
    alerted: bool
    delay: float | None
    signals: list[str]
    bound: float | None = None


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)
    decoys: int = 0
    decoy_alerts: int = 0
    false_alerts: int = 0
    false_signals: dict[str, int] = field(default_factory=dict)
    brand_weeks: float = 0.0

    @property
    def false_rate(self) -> float:
        return self.false_alerts / self.brand_weeks if self.brand_weeks else 0.0

    def key(self) -> tuple[float, ...]:
        feasible = self.false_rate <= 1.0 and self.decoy_alerts == 0
        detected = sum(o.alerted for o in self.outcomes)
        delays = [min(o.delay, DELAY_CAP) if o.delay is not None else DELAY_CAP for o in self.outcomes]
        return (0.0 if feasible else 1.0, -detected, statistics.mean(delays) if delays else 0.0)


def load_group(data: Path, group: str) -> LabelledTexts:
    texts = LabelledTexts()
    for name, strip in GROUPS[group]:
        read_labelled_texts(data / name, strip_emoticons=strip, into=texts)
    return texts


def build_cases(data: Path, group: str, seeds: list[int], model: str | None, folder: Path,
                days: float) -> list[Case]:
    texts = load_group(data, group)
    settings: dict[str, Any] = {"sentiment": {"model": model}} if model else {}
    cases = []
    scorer = None
    for seed in seeds:
        started = time.perf_counter()
        out = folder / f"{group}-{seed}.jsonl"
        write_scenario(generate_real(plan_real("mix", seed=seed, days=days), texts), out)
        labels = load_labels(labels_path(out))
        config = config_from_labels(labels, settings)
        if scorer is None:
            scorer = load_configured_scorer(config)
        agg = aggregate_posts(read_posts(out), config, scorer)
        out.unlink()
        cases.append(Case(group, seed, labels, agg))
        print(f"  {group} seed {seed}: {len(agg.file.posts):,} posts scored and bucketed in "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return cases


def oracle_bound(points: dict[float, tuple[int, int]], window: dict[str, Any], size: float) -> float | None:
    """Minutes after onset at which the oracle reaches ORACLE_LLR on the negative count."""
    onset = datetime.fromisoformat(window["onset"]).timestamp()
    peak_at = datetime.fromisoformat(window["peak"]).timestamp()
    end = datetime.fromisoformat(window["end"]).timestamp()
    minutes = int((end - onset) // size)
    day_before = [points.get(onset - 86400.0 + size * m, (0, 0)) for m in range(minutes)]
    during = [points.get(onset + size * m, (0, 0)) for m in range(minutes)]
    background = max(sum(n for _, n in day_before) / max(minutes, 1), 1e-3)
    extra_negative = max(sum(n for _, n in during) - sum(n for _, n in day_before), 1.0)
    ramp = max((peak_at - onset) / size, 1.0)
    shape = [((m + 1.0) / (ramp + 1.0)) ** 2 if m < ramp else 1.0 for m in range(minutes)]
    scale = extra_negative / sum(shape)
    total = 0.0
    for minute, s in enumerate(shape, start=1):
        d = s * scale
        total += (background + d) * math.log1p(d / background) - d
        if total >= ORACLE_LLR:
            return minute * size / 60.0
    return None


def evaluate(cases: list[Case], overrides: dict[str, Any], model: str | None) -> Summary:
    out = Summary()
    settings: dict[str, Any] = {"detection": dict(overrides)} if overrides else {}
    if model:
        settings["sentiment"] = {"model": model}
    for case in cases:
        config = config_from_labels(case.labels, settings)
        result = detect_buckets(case.agg, config, case.labels)
        size = config.buckets.size_seconds
        per_minute = {b["id"]: float(b.get("per_minute", 0.0)) for b in case.labels["brands"]}
        for window in result.outcomes:
            label = next(w for b in case.labels["brands"] if b["id"] == window.brand for w in b["windows"]
                         if w["kind"] == window.kind)
            if window.expected == NEGATIVE_ALERT:
                bound = None
                if window.kind == "slow_burn":
                    points = {p.start: (p.total, p.negative) for p in result.series[window.brand]}
                    bound = oracle_bound(points, label, size)
                delay = window.delay_seconds / 60.0 if window.delay_seconds is not None else None
                out.outcomes.append(Outcome(window.kind, window.brand, per_minute[window.brand], window.alerted,
                                            delay, [a.event.signal for a in window.alerts[:3]], bound))
            elif window.expected == NO_NEGATIVE_ALERT:
                out.decoys += 1
                out.decoy_alerts += window.alerted
        out.false_alerts += sum(s.false_alerts for s in result.brands.values())
        out.brand_weeks += result.span_days / 7.0 * len(result.brands)
        explained = {id(a) for w in result.outcomes for a in w.alerts}
        for record in result.alerts:
            if record.new and record.negative and id(record) not in explained:
                t = record.event.event_time
                inside = any(w.brand == record.event.brand and w.onset <= t <= w.end + 3600.0 for w in result.outcomes)
                if not inside:
                    out.false_signals[record.event.signal] = out.false_signals.get(record.event.signal, 0) + 1
    return out


def fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_summary(title: str, s: Summary) -> None:
    print(f"\n#### {title}\n")
    print("| kind | crises | alerted | median delay (min) | worst delay (min) | delays (min) | oracle bound (min) |")
    print("|---|---|---|---|---|---|---|")
    for kind in CRISIS_KINDS:
        rows = [o for o in s.outcomes if o.kind == kind]
        if not rows:
            continue
        delays = [o.delay for o in rows if o.delay is not None]
        bounds = [o.bound for o in rows if o.bound is not None]
        listed = ", ".join(f"{fmt(o.delay)}@{o.per_minute:g}/min" for o in rows)
        print(f"| {kind} | {len(rows)} | {sum(o.alerted for o in rows)} | "
              f"{fmt(statistics.median(delays)) if delays else '-'} | {fmt(max(delays)) if delays else '-'} | "
              f"{listed} | {', '.join(fmt(b) for b in bounds) or '-'} |")
    total = len(s.outcomes)
    alerted = sum(o.alerted for o in s.outcomes)
    print(f"\ncrises alerted: {alerted}/{total} ({100.0 * alerted / max(total, 1):.0f} %); "
          f"false negative alerts: {s.false_alerts} in {s.brand_weeks:.1f} brand-weeks = {s.false_rate:.2f} per "
          f"brand-week (by signal: {json.dumps(s.false_signals, sort_keys=True)}); "
          f"decoy windows with a negative alert: {s.decoy_alerts}/{s.decoys}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared sentiment/ folder")
    parser.add_argument("--tune", choices=tuple(GROUPS), help="pick a setting from the grid on this group")
    parser.add_argument("--report", choices=tuple(GROUPS), required=True, help="report on this group")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--days", type=float, default=10.0)
    parser.add_argument("--model", default=None, help="sentiment.model (default: the stock model)")
    args = parser.parse_args(argv)
    if args.tune == args.report:
        parser.error("--tune and --report must be different groups: never report on the data that chose")
    print(f"# real-text suite: report on {args.report}, tune on {args.tune or '-'}, seeds {args.seeds}, "
          f"model {args.model or 'stock'}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    with tempfile.TemporaryDirectory(prefix="koubei-real-") as tmp:
        chosen: dict[str, Any] = {}
        if args.tune:
            tune_cases = build_cases(args.data, args.tune, args.seeds, args.model, Path(tmp), args.days)
            names = list(GRID)
            results = []
            for values in itertools.product(*(GRID[n] for n in names)):
                overrides = dict(zip(names, values, strict=True))
                summary = evaluate(tune_cases, overrides, args.model)
                results.append((summary.key(), overrides, summary))
                print(f"  tune {overrides}: key {tuple(round(x, 2) for x in summary.key())}", file=sys.stderr)
            results.sort(key=lambda r: r[0])
            chosen = results[0][1]
            print(f"\nchosen on {args.tune}: {chosen}")
            print_summary(f"tuning group {args.tune} (in-sample, for reference only)", results[0][2])
            print_summary(f"tuning group {args.tune}, defaults (in-sample)", evaluate(tune_cases, {}, args.model))
            del tune_cases
        report_cases = build_cases(args.data, args.report, args.seeds, args.model, Path(tmp), args.days)
        print_summary(f"held-out group {args.report}, defaults", evaluate(report_cases, {}, args.model))
        if chosen:
            print_summary(f"held-out group {args.report}, setting chosen on {args.tune}",
                          evaluate(report_cases, chosen, args.model))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
