"""How early can the *share* (or the count) of negative posts show a crisis of the real-text suite? Oracle bounds.

Not a test: it prints numbers. Why the share: a news day (bench/real_suite.py's
decoy) raises a brand's posts, and with them its negative posts, 2.5-fold at
the usual tone, and no alert is wanted then. What tells a crisis from it is
that the extra posts are negative more often than the brand's calm posts: the
share of negative posts among all of the brand's posts. (The count alone
cannot tell them apart; the count *given* the non-negative posts is the
share again.)

For each brand rate of the suite and each crisis kind, the generator's own
event (``streams.scenario_real._event``: extra posts per minute, ramp) is
read by a model that reads calm posts negative with probability ``p0`` and
the crisis's extra posts with probability ``q1`` (``--calm``, ``--crisis``:
what ``bench/real_suite.py --explain`` printed for the model). An oracle
that knows ``p0``, the onset and the shape gains, per minute, the
Kullback-Leibler divergence of the mixed share ``p1(t)`` from ``p0`` times
the posts of that minute. A detector with one false alarm per ``N``
one-minute buckets needs about ``log(N)`` nats (Lorden; overshoot ignored):
9.2 for a brand-week. The minute the oracle's expected statistic reaches that
is a lower bound for the delay of any share-based detector at that
false-alarm rate, on the mean path. (The detector alerts at the end of the
bucket: add a minute or two when comparing.)

``--evidence count`` is the looser bound of an oracle that also knows the
brand's exact background volume, so that the counts of negative and of
other posts are Poisson counts against known rates (per minute and count
``(l0 + d) log(1 + d / l0) - d``: negative ``l0 = p0 x posts``, ``d = q1 x
extra``; other ``l0 = (1 - p0) x posts``, ``d = (1 - q1) x extra``).
No detector has that: a news day raises the background 2.5-fold without
warning, so a real detector learns it from the non-negative posts and is
left with the share. What it bounds is every detector at that model's
readings, however it is built: when even this oracle needs more than a
target's minutes, no detector reaches the target with that model.

Usage::

    .venv/bin/python bench/share_bound.py                            # the default model on weibo2018: 45 % / 88 %
    .venv/bin/python bench/share_bound.py --calm 0.38 --crisis 0.93  # as on the review texts
    .venv/bin/python bench/share_bound.py --evidence count           # the known-background oracle
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.scenario import HOURLY, EventSpec  # noqa: E402
from streams.scenario_real import _HOURLY_MEAN, ONSET_HOURS, TEXT_BRANDS, TextBrand, _event  # noqa: E402

# The onset hours the generator draws for each kind.
KINDS = {kind: range(ONSET_HOURS[kind][0], ONSET_HOURS[kind][1] + 1)
         for kind in ("sudden", "night", "kol", "bot_flood", "slow_burn")}
# Long enough for a slow burn's four-hour rise and its hour at the top.
HORIZON_MINUTES = 300


def kl_bernoulli(p1: float, p0: float) -> float:
    return p1 * math.log(p1 / p0) + (1.0 - p1) * math.log((1.0 - p1) / (1.0 - p0))


def count_llr(background: float, extra: float) -> float:
    """Expected Poisson log-likelihood ratio of one minute with ``extra`` on a known ``background``."""
    if extra <= 0.0:
        return 0.0
    return (background + extra) * math.log1p(extra / background) - extra


def minutes_to_evidence(per_minute: float, event: EventSpec, calm: float, crisis: float, nats: float,
                        evidence: str = "share") -> int | None:
    """The first minute after onset at which the oracle's expected evidence reaches ``nats``.

    The brand's own posts follow the generator's hour-of-day curve (its day-to-day
    wander and weekday factor left out)."""
    total = 0.0
    for minute in range(HORIZON_MINUTES):
        at = event.onset + timedelta(minutes=minute)
        rate = per_minute / _HOURLY_MEAN * HOURLY[at.hour]
        more = event.rate(at)
        if evidence == "count":
            total += count_llr(calm * rate, crisis * more) + count_llr((1.0 - calm) * rate, (1.0 - crisis) * more)
        else:
            posts = rate + more
            share = (calm * rate + crisis * more) / posts
            total += kl_bernoulli(share, calm) * posts
        if total >= nats:
            return minute + 1
    return None


def event_at(brand: TextBrand, kind: str, onset: datetime) -> EventSpec:
    """The generator's event of ``kind`` for ``brand`` (size, ramp, length), started at ``onset``."""
    drawn = _event(brand, kind, onset.replace(hour=0, minute=0, second=0, microsecond=0), random.Random(0))
    return replace(drawn, onset=onset, end=onset + (drawn.end - drawn.onset))


def minutes_text(value: int | None) -> str:
    """An oracle's minutes as the tables print them (``None``: never within HORIZON_MINUTES)."""
    return "never" if value is None else str(value)


def bounds_for(brand_id: str, kind: str, onset: datetime, calm: float, crisis: float,
               nats: float = math.log(7 * 24 * 60), scale: float = 1.0) -> tuple[int | None, int | None]:
    """The count and share oracles' minutes for one crisis of the suite (its brand, kind and local onset)
    at a model's readings, for a scenario of ``scale`` (``koubei scenario --scale``); ``None``: not within
    HORIZON_MINUTES. bench/real_suite.py prints them per crisis."""
    known = next((b for b in TEXT_BRANDS if b.id == brand_id), None)
    if known is None:
        raise ValueError(f"unknown brand {brand_id!r}; the real-text suite has {', '.join(b.id for b in TEXT_BRANDS)}")
    brand = replace(known, per_minute=known.per_minute * scale)
    calm = min(max(calm, 0.01), 0.98)
    crisis = min(max(crisis, calm + 0.005), 0.995)
    event = event_at(brand, kind, onset)
    return (minutes_to_evidence(brand.per_minute, event, calm, crisis, nats, "count"),
            minutes_to_evidence(brand.per_minute, event, calm, crisis, nats, "share"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calm", type=float, default=0.45, help="share of calm posts the model reads negative")
    parser.add_argument("--crisis", type=float, default=0.88, help="share of a crisis's posts the model reads negative")
    parser.add_argument("--weeks", type=float, default=1.0, help="one false alarm per this many brand-weeks")
    parser.add_argument("--evidence", choices=("share", "count"), default="share",
                        help="share: the share of negative posts (default); count: the count of negative posts "
                             "against a known background volume (the looser bound)")
    args = parser.parse_args()
    if not (0.0 < args.calm < args.crisis < 1.0):
        print("need 0 < --calm < --crisis < 1", file=sys.stderr)
        return 2
    nats = math.log(args.weeks * 7 * 24 * 60)
    print(f"# oracle {args.evidence} bound: calm read {args.calm:.0%} negative, crisis posts {args.crisis:.0%}, "
          f"{nats:.1f} nats (one false alarm per {args.weeks:g} brand-week)\n")
    print("| brand | /min | " + " | ".join(f"{kind} (onset {hours.start}-{hours.stop - 1} h)" for kind, hours in KINDS.items())
          + " |")
    print("|---|---|" + "---|" * len(KINDS))
    day = datetime(2026, 3, 4)
    for brand in sorted(TEXT_BRANDS, key=lambda b: b.per_minute):
        cells = []
        for kind, hours in KINDS.items():
            found = [minutes_to_evidence(brand.per_minute, event_at(brand, kind, day + timedelta(hours=hour)),
                                         args.calm, args.crisis, nats, args.evidence) for hour in hours]
            reached = [m for m in found if m is not None]
            never = len(found) - len(reached)
            cell = f"{min(reached)}-{max(reached)} min" if reached else "never"
            cells.append(cell + (f" ({never} of {len(found)} hours never)" if reached and never else ""))
        print(f"| {brand.id} | {brand.per_minute:g} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
