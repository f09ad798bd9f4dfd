"""What the PR console costs: memory per bucket and per signal episode, and
the time to render its pages, for a given number of brands and days.

Builds the console's state by hand (no broker: the follower only feeds
records into it) with one-minute buckets for every brand and day and a
number of alert episodes, then measures with tracemalloc and perf_counter.
Not a test: it prints numbers. Usage:

    .venv/bin/python bench/console_bench.py [--brands 50] [--days 7] [--episodes 500]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "alerting"))

from alert_samples import T0, alert  # noqa: E402

from alerting.console import pages  # noqa: E402
from alerting.console.state import ConsoleState  # noqa: E402
from alerting.labels import Labeler  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brands", type=int, default=50)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--episodes", type=int, default=500, help="alert episodes (three updates each)")
    args = parser.parse_args()
    minutes = args.days * 1440
    state = ConsoleState({f"b{i}": f"brand {i}" for i in range(args.brands)}, Labeler(), history=args.days * 86400.0)
    # The apply rate without tracemalloc (which slows allocation): one brand into a scratch state.
    scratch = ConsoleState({}, Labeler(), history=args.days * 86400.0)
    records = [json.dumps({"brand": "x", "start": T0 + 60 * i, "size": 60, "total": 100, "negative": 10}).encode()
               for i in range(minutes)]
    started = time.perf_counter()
    for record in records:
        scratch.apply("buckets", None, record)
    buckets_seconds = time.perf_counter() - started
    tracemalloc.start()
    for b in range(args.brands):
        for i in range(minutes):
            state.apply("buckets", None, json.dumps({"brand": f"b{b}", "start": T0 + 60 * i, "size": 60,
                                                     "total": 100, "negative": 10}).encode())
    bucket_bytes = tracemalloc.get_traced_memory()[0]
    base = bucket_bytes
    for i in range(args.episodes):
        start = T0 + 600 * i
        for seq, status in ((1, "firing"), (2, "firing"), (3, "resolved")):
            state.apply("alerts", None, alert(f"b{i % args.brands}", status, "critical" if seq > 1 else "warning",
                                              seq, start, "negative_share", posts=5, event_time=start + 60 * seq,
                                              ended_at=start + 300 if status == "resolved" else None).to_json())
    state.book.incidents()
    episode_bytes = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    ctx = pages.PageContext(language="zh", path="/", now=T0 + minutes * 60)
    started = time.perf_counter()
    html = pages.overview_page(ctx, [state.summary(b) for b in state.all_brands()], True)
    overview_seconds = time.perf_counter() - started
    incident = state.book.incidents()[0]
    started = time.perf_counter()
    page = pages.incident_page(ctx, incident, state.points(incident.brand, incident.opened_at - 3600,
                                                          incident.end + 1800), [], {}, {})
    incident_seconds = time.perf_counter() - started
    rows = [
        ("brands x days of minute buckets", f"{args.brands} x {args.days}"),
        ("bytes per bucket kept", f"{bucket_bytes / (args.brands * minutes):.0f}"),
        ("bucket state in total", f"{bucket_bytes / 1e6:.0f} MB"),
        ("bucket records applied per second", f"{minutes / buckets_seconds:,.0f}"),
        ("bytes per signal episode", f"{episode_bytes / args.episodes:,.0f}"),
        ("overview page render", f"{overview_seconds * 1000:.0f} ms ({len(html) // 1024} KB)"),
        ("incident page render", f"{incident_seconds * 1000:.0f} ms ({len(page) // 1024} KB)"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
