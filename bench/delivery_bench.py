"""Delivery latency: alert event produced -> request received by a webhook.

Produces alert events at a fixed rate (default 100/s) onto the alerts topic
of an embedded broker (or --kafka-url), runs the real Notifier with a
generic-webhook channel pointing at a receiver on 127.0.0.1, and prints
p50/p90/p99/max of (receive time - produce time). Every alert is its own
group with group_wait 0 so the number measures the delivery path, not the
grouping policy (which waits 30 s by design).

    .venv/bin/python bench/delivery_bench.py --rate 100 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for tests.alerting.fake_platforms

from alerting.notifier import Notifier  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.cli.config import parse_koubei_config  # noqa: E402
from streams.kafka import bootstrap_servers, detect_quirks  # noqa: E402
from streams.models import AlertEvent  # noqa: E402
from tests.alerting.fake_platforms import LocalKeepAliveHandler  # noqa: E402


def serve_receiver(out_path: str, ready: Any) -> None:
    """The webhook receiver, in its own process so that its threads do not
    compete with the notifier for the GIL (that would be measuring ourselves)."""

    out = open(out_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    lock = threading.Lock()

    class Handler(LocalKeepAliveHandler):
        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            now = time.time()
            data = json.loads(body)
            with lock:
                for alert in data["alerts"]:
                    out.write(f"{alert['key']}\t{alert['evidence']['produced_at']}\t{now}\n")
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ready.put(server.server_address[1])
    server.serve_forever(poll_interval=0.05)


def read_samples(path: str) -> list[tuple[str, float, float]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3:
                rows.append((parts[0], float(parts[1]), float(parts[2])))
    return rows


def event(i: int, produced_at: float) -> AlertEvent:
    brand = "acme"
    return AlertEvent(
        key=f"{brand}:bench-{i}", brand=brand, brand_name="艾克美", signal="negative_share", state="firing",
        severity="critical" if i % 5 == 0 else "warning", started_at=produced_at - 900, event_time=produced_at,
        window_seconds=900, value=0.4, baseline=0.1, statistic=5.0, negative=80, total=200, negative_share=0.4,
        baseline_share=0.1, volume_change=2.0, risk_terms=[["异物", 10]], sparkline=[1, 2, 3, 5, 8],
        top_posts=[{"id": f"w:{i}", "author": "用户", "followers": 1000, "excerpt": "奶茶里喝出异物，客服不理人",
                    "url": "https://weibo.example/1", "negative": 0.9, "reach": 3.0, "created_at": produced_at}],
        sequence=1, detector="bench", evidence={"produced_at": produced_at},
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run(args: argparse.Namespace, kafka_url: str) -> list[tuple[str, float, float]]:
    from aiokafka import AIOKafkaProducer

    bootstrap = bootstrap_servers(kafka_url)
    quirks = detect_quirks("auto", bootstrap)
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Queue()
    out_path = tempfile.mktemp(prefix="koubei-bench-", suffix=".tsv")
    receiver = ctx.Process(target=serve_receiver, args=(out_path, ready), daemon=True)
    receiver.start()
    receiver_url = f"http://127.0.0.1:{ready.get(timeout=30)}/hook"
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    cfg = parse_koubei_config({
        "brands": [{"id": "acme", "name": "艾克美", "aliases": ["艾克美"]}],
        "kafka": {"url": kafka_url, "topic_prefix": prefix, "partitions": args.partitions},
        "worker": {"app_id": prefix},
        "alerting": {
            "channels": [{"name": "hook", "type": "webhook", "url": receiver_url, "secret_env": "BENCH_SECRET",
                          "rate_per_minute": 600_000, "burst": 1000}],
            "routes": {"receiver": "hook", "group_by": ["..."], "group_wait": 0, "group_interval": "1h"},
            "delivery": {"concurrency": args.concurrency},
        },
    }, environ={"BENCH_SECRET": "bench"})
    stop = asyncio.Event()
    notifier = Notifier(cfg, cfg.alerting, bootstrap, quirks)
    task = asyncio.create_task(notifier.run(stop))
    await asyncio.wait_for(notifier.ready.wait(), 60)
    producer_args: dict[str, Any] = {"max_batch_size": 1} if quirks.single_record_batches else {}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, **producer_args)
    await producer.start()
    total = int(args.rate * args.seconds)
    start = time.monotonic()
    try:
        for i in range(total):
            due = start + i / args.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            ev = event(i, time.time())
            await producer.send(cfg.topic("alerts"), key=ev.key.encode(), value=ev.to_json())
        await producer.flush()
        deadline = time.monotonic() + 60
        while len(read_samples(out_path)) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        await producer.stop()
        stop.set()
        await task
        receiver.terminate()
        receiver.join(10)
    samples = read_samples(out_path)
    os.unlink(out_path)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="alert events per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=1, help="delivery.concurrency (parallel requests)")
    parser.add_argument("--kafka-url", default=None, help="use this broker instead of starting the embedded one")
    args = parser.parse_args()
    broker = None
    cpu_start = time.process_time()
    if args.kafka_url is None:
        broker = EmbeddedBroker().start()
    try:
        samples = asyncio.run(run(args, args.kafka_url or broker.url))  # type: ignore[union-attr]
    finally:
        if broker is not None:
            broker.stop()
    cpu = time.process_time() - cpu_start
    expected = int(args.rate * args.seconds)
    keys = [k for k, _, _ in samples]
    latencies = [(received - produced) * 1000 for _, produced, received in samples]
    if not latencies:
        print("no deliveries received", file=sys.stderr)
        return 1
    print(f"alerts produced: {expected}, delivered: {len(set(keys))}, duplicates: {len(keys) - len(set(keys))}")
    print(f"rate {args.rate:g}/s for {args.seconds:g}s, partitions {args.partitions}, concurrency {args.concurrency}")
    print("latency ms (produce -> webhook received): "
          f"p50 {percentile(latencies, 0.5):.1f}  p90 {percentile(latencies, 0.9):.1f}  "
          f"p99 {percentile(latencies, 0.99):.1f}  max {max(latencies):.1f}  mean {statistics.fmean(latencies):.1f}")
    print(f"CPU of the notifier process (incl. the producer and start-up): {cpu:.1f} s, "
          f"{cpu / max(1, len(samples)) * 1000:.2f} ms per alert")
    return 0 if len(set(keys)) == expected else 1


if __name__ == "__main__":
    sys.exit(main())
