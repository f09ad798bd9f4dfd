"""How often does ``kol``'s reaction path page for a story nobody is angry about, and how fast for one they are?

Not a test: it prints numbers. The reaction path (streams/detection/signals/kol.py)
watches the story of a big, rare account's post for two hours and opens the
alert once at least ``kol_amplify_posts`` of its reposts read negative and
``reaction_z`` (their share against the brand's usual one, exact binomial)
reaches ``AMPLIFY_Z`` (p <= 1 % at one look). The signal looks again at every
bucket while reposts arrive, so the chance that a story whose reposts read
negative at the usual share ever passes is larger than 1 %. This script
measures it by simulation, with the signal's own test, looking after *every*
repost: more looks than the signal makes (it looks once a bucket), so the
numbers are upper bounds.

It also prints, for reposts read negative at a crisis's rate (the model reads
78-98 % of a real-text crisis's posts negative: bench/real_suite.py
``--explain``), the median number of reposts before the alert opens.

And the bound that matters to a PR team: stories are watched only for
accounts whose negative posts the brand sees at most ``kol_max_per_week``
times a week, so at most about ``kol_max_per_week / usual share`` stories
(any tone) a brand-week; times the per-story chance, that bounds the
reaction path's false alerts per brand-week.

Usage::

    .venv/bin/python bench/kol_reaction_null.py [--trials 20000] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from streams.detection.params import build_params  # noqa: E402
from streams.detection.signals.kol import AMPLIFY_Z, reaction_z  # noqa: E402

USUAL_SHARES = (0.3, 0.45, 0.55, 0.65)  # calm shares read negative: reviews 30-38 %, weibo2018 44-45 %, weibo 53-54 %
STORY_SIZES = (10, 30, 100, 300)  # reposts a watched story gets in its two hours
CRISIS_SHARES = (0.8, 0.9)


def passes_table(max_reposts: int, usual_share: float, min_posts: int) -> np.ndarray:
    """``table[n, k]``: whether k negative reposts out of n pass the signal's test."""
    table = np.zeros((max_reposts + 1, max_reposts + 1), dtype=bool)
    for n in range(1, max_reposts + 1):
        # The tail only falls as k grows: find the first k that passes, the rest pass too.
        for k in range(min_posts, n + 1):
            if reaction_z(k, n, usual_share) >= AMPLIFY_Z:
                table[n, k:n + 1] = True
                break
    return table


def first_pass(reads: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Per simulated story (a row of negative/not reads), the repost at which it
    first passes (1-based), or 0 when it never does."""
    trials, size = reads.shape
    negatives = np.cumsum(reads, axis=1)
    counts = np.broadcast_to(np.arange(1, size + 1), (trials, size))
    passed = table[counts, negatives]
    first = passed.argmax(axis=1) + 1
    return np.where(passed.any(axis=1), first, 0)


def measure(trials: int, seed: int) -> tuple[list[list[str]], list[list[str]]]:
    params = build_params()
    min_posts = params.kol_amplify_posts
    rng = np.random.default_rng(seed)
    largest = max(STORY_SIZES)
    null_rows: list[list[str]] = []
    speed_rows: list[list[str]] = []
    for share in USUAL_SHARES:
        table = passes_table(largest, share, min_posts)
        reads = rng.random((trials, largest)) < share
        first = first_pass(reads, table)
        chances = [float(np.mean((first > 0) & (first <= size))) for size in STORY_SIZES]
        watched = params.kol_max_per_week / share
        null_rows.append([f"{share:.0%}", *(f"{c:.1%}" for c in chances), f"{watched:.2f}",
                          f"{watched * chances[-1]:.3f}"])
        fastest = next(k for k in range(min_posts, largest + 1) if table[k, k])
        cells = [f"{share:.0%}", str(fastest)]
        for crisis in CRISIS_SHARES:
            hits = first_pass(rng.random((trials, largest)) < crisis, table)
            cells.append(str(int(np.median(hits[hits > 0]))) if np.any(hits > 0) else "never")
        speed_rows.append(cells)
    return null_rows, speed_rows


def table_text(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20_000, help="simulated stories per cell (default 20,000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    params = build_params()
    null_rows, speed_rows = measure(args.trials, args.seed)
    print(f"# kol reaction path: kol_amplify_posts {params.kol_amplify_posts}, one-look threshold z {AMPLIFY_Z} "
          f"(p <= 1 %), kol_max_per_week {params.kol_max_per_week}, {args.trials:,} stories per cell, "
          f"a look after every repost\n")
    print("Chance that a story whose reposts read negative at the usual share ever pages, by reposts in its watch:\n")
    print(table_text(["usual share", *(f"{n} reposts" for n in STORY_SIZES), "stories watched / brand-week (at most)",
                      "false alerts / brand-week (at most)"], null_rows))
    print("\nReposts before the alert opens when the reaction is angry (median over stories that page):\n")
    print(table_text(["usual share", "fewest (all negative)", *(f"read {c:.0%} negative" for c in CRISIS_SHARES)],
                     speed_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
