"""Throughput and state size of the spike detectors.

Usage::

    .venv/bin/python bench/detector_bench.py [--brands 20] [--days 2] [--repeat 5]

Feeds pre-built one-minute buckets (daily cycle, Poisson noise, one crisis
per brand) to one detector per brand, in event-time order, and prints bucket
updates per second (best and median of the repeats) for the adaptive
detector and, in the same run, for the foundation's simple rule as a
reference point, plus the JSON size of ``to_state()`` and the cost of a
save/restore round trip. Each rate is given twice: by wall clock and by
the process's CPU time (``time.process_time``). On a shared machine the wall
clock also counts the time another job held the core; the CPU-time rate is
the one to compare across runs (it still moves a little when a neighbour
shares the core's caches).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from typing import Any

from streams.detection import AdaptiveDetector, SimpleSpikeDetector, create_detector
from streams.models import TONE_BINS, Bucket

T0 = 1772380800.0 - 8 * 3600.0


def make_buckets(brands: int, days: float, seed: int = 1) -> list[Bucket]:
    rng = random.Random(seed)
    minutes = int(days * 1440)
    out: list[Bucket] = []
    for minute in range(minutes):
        t = T0 + minute * 60.0
        hour = ((t + 8 * 3600) % 86400) / 3600
        for b in range(brands):
            rate = (5 + 3 * b) * (1 + 0.7 * math.sin(2 * math.pi * (hour - 14) / 24))
            if minute % 1440 in range(600 + b * 7, 640 + b * 7) and minute > 1440:
                rate *= 4
            total = max(0, int(rng.gauss(rate, math.sqrt(rate + 1))))
            negative = sum(1 for _ in range(total) if rng.random() < 0.15)
            top = [{"id": f"p{minute}-{b}-{k}", "author": "u", "followers": 10, "excerpt": "差评",
                    "url": "", "negative": 0.9, "reach": 2.0 + k, "created_at": t} for k in range(min(negative, 3))]
            # Every negative post its own words and its own opinion, as ordinary traffic is.
            own = [f"{minute % 2**24:06x}{k % 256:02x}" for k in range(negative)]
            # Every post read by the model: negative ones in the top bins, the others spread below.
            tones = [0] * TONE_BINS
            for k in range(total):
                tones[rng.randrange(11, TONE_BINS) if k < negative else rng.randrange(0, 11)] += 1
            out.append(Bucket(brand=f"b{b}", start=t, size=60.0, total=total, negative=negative,
                              reach_negative=2.0 * negative, risk_hits=negative // 4,
                              risk_terms={"投诉": negative // 4} if negative >= 4 else {}, top_negative=top,
                              negative_stories=own[:Bucket.MAX_NEGATIVE_STORIES],
                              copies=dict.fromkeys(own[:Bucket.MAX_COPIES], 1), tones=tones if total else []))
    return out


def throughput(factory: Any, buckets: list[Bucket], brands: int) -> tuple[float, float, int, dict[str, Any]]:
    """Updates per second by wall clock and by CPU time, events, the detectors."""
    detectors = {f"b{b}": factory(f"b{b}") for b in range(brands)}
    events = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    for bucket in buckets:
        events += len(detectors[bucket.brand].update(bucket))
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    return len(buckets) / elapsed, len(buckets) / max(cpu, 1e-9), events, detectors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brands", type=int, default=20)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    buckets = make_buckets(args.brands, args.days)
    print(f"{len(buckets)} bucket updates ({args.brands} brands x {args.days:g} days of 1-min buckets), "
          f"{args.repeat} repeats")
    print("| detector | wall: best updates/s | wall: median | CPU time: best updates/s | CPU time: median "
          "| alert events |")
    print("|---|---|---|---|---|---|")
    rows: dict[str, Any] = {}
    for name, factory in (("adaptive", lambda b: AdaptiveDetector(b)), ("simple", lambda b: SimpleSpikeDetector(b))):
        rates: list[float] = []
        cpu_rates: list[float] = []
        events = 0
        detectors: dict[str, Any] = {}
        for _ in range(args.repeat):
            rate, cpu_rate, events, detectors = throughput(factory, buckets, args.brands)
            rates.append(rate)
            cpu_rates.append(cpu_rate)
        rows[name] = detectors
        print(f"| {name} | {max(rates):,.0f} | {statistics.median(rates):,.0f} | {max(cpu_rates):,.0f} | "
              f"{statistics.median(cpu_rates):,.0f} | {events} |")
    sizes = [len(json.dumps(d.to_state()).encode()) for d in rows["adaptive"].values()]
    print(f"\nadaptive state: mean {statistics.mean(sizes):,.0f} B, max {max(sizes):,} B per brand (JSON)")
    states = [d.to_state() for d in rows["adaptive"].values()]
    start = time.perf_counter()
    rounds = 0
    while time.perf_counter() - start < 1.0:
        for state in states:
            create_detector(None, "b0", state=json.loads(json.dumps(state)))
            rounds += 1
    per = (time.perf_counter() - start) / rounds
    print(f"state round trip (to JSON and back through create_detector): {per * 1e6:,.0f} us per brand")
    detector = next(iter(rows["adaptive"].values()))
    start = time.perf_counter()
    rounds = 0
    while time.perf_counter() - start < 1.0:
        detector.to_state()
        rounds += 1
    print(f"to_state() alone (what the worker calls after every bucket): "
          f"{(time.perf_counter() - start) / rounds * 1e6:,.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
