"""Where should the verdict threshold cut for *detection*? The oracles of bench/share_bound.py per threshold.

Not a test: it prints numbers. ``sentiment.negative_threshold`` (0.52) was
chosen for the best negative F1 on the tune half of weibo2018
(docs/sentiment.md). Detection cares about something else: how far apart the
share a calm brand's posts read negative and the share a crisis's posts read
negative are. For each threshold this script scores the tune half of
weibo2018 with the configured default model (where the model's settings may
be chosen; the report half is not read), takes the share of negative texts
read negative (a crisis's posts) and of positive ones, mixes them as the
real-text suite mixes a calm brand (``--calm-negative``: the share of
negative texts in calm traffic, about 0.2 in ``streams.scenario_real``) and
prints the minutes the count and share oracles need for a sudden crisis at
three brand rates and onset hours.

Usage::

    .venv/bin/python bench/threshold_bound.py --data ../shared/data/sentiment
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from share_bound import bounds_for, minutes_text  # noqa: E402

from streams.sentiment import load_scorer  # noqa: E402
from streams.sentiment.evaluation import read_dataset, tune_report_split  # noqa: E402

THRESHOLDS = (0.4, 0.45, 0.5, 0.52, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
BRANDS = ("qingshan", "yunqi", "haitang")  # 0.3, 1 and 5 mentions a minute
HOURS = (10, 14, 18)
BEIJING = timezone(timedelta(hours=8))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the shared sentiment folder (weibo2018_train.txt)")
    parser.add_argument("--calm-negative", type=float, default=0.2, help="share of negative texts in calm traffic")
    args = parser.parse_args(argv)
    source = args.data / "weibo2018_train.txt"
    if not source.is_file():
        print(f"no {source}", file=sys.stderr)
        return 2
    tune, _ = tune_report_split(read_dataset(source, "weibo2018"))
    scorer = load_scorer(model="default", lexicon=True, weibo_preprocessing=True)
    print(f"scoring the tune half of weibo2018 ({len(tune):,} posts) ...", file=sys.stderr, flush=True)
    scores = scorer.score_many([e.text for e in tune], details=False)
    negative = [r.negative for r, e in zip(scores, tune, strict=True) if not e.positive]
    positive = [r.negative for r, e in zip(scores, tune, strict=True) if e.positive]
    print(f"# sudden crisis: oracle minutes count / share, onset {', '.join(f'{h}:00' for h in HOURS)} local; "
          f"calm traffic {args.calm_negative:.0%} negative texts\n")
    print("| threshold | negative texts read negative | positive texts read negative | calm share | "
          + " | ".join(BRANDS) + " |")
    print("|---|---|---|---|" + "---|" * len(BRANDS))
    for t in THRESHOLDS:
        crisis = sum(p >= t for p in negative) / len(negative)
        false = sum(p >= t for p in positive) / len(positive)
        calm = (1.0 - args.calm_negative) * false + args.calm_negative * crisis
        cells = []
        for brand in BRANDS:
            found = [bounds_for(brand, "sudden", datetime(2026, 3, 4, h, 0, tzinfo=BEIJING), calm, crisis) for h in HOURS]
            cells.append(", ".join("/".join(minutes_text(m) for m in pair) for pair in found))
        print(f"| {t:.2f} | {crisis:.1%} | {false:.1%} | {calm:.1%} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
