"""What Faust costs per message before any of the worker's own work.

One embedded broker; N posts-sized records preloaded into a 4-partition
topic; then, per variant, a fresh process runs a Faust app whose only agent
reads the topic with ``take_events(1000)`` and does nothing else. Printed:
CPU per record of that process (user + system) and records/s, for

* ``stock``: ``faust.App`` as it comes;
* ``stock + prometheus``: with ``faust.sensors.prometheus.setup_prometheus_sensors``
  (what the worker used before issue 16);
* ``worker``: ``streams.faust_app.WorkerApp`` (direct hand-off, no settings
  lookup per message) with raw topics (``RawSchema``);
* ``worker + batched sensors``: with ``streams.faust_app.setup_faust_sensors``;
* ``worker + batch reader``: the agent takes its batches with
  ``streams.faust_app.BatchReader`` and acknowledges each message itself
  (what the worker's stages run now).

Not a test: it prints numbers. Usage:

    .venv/bin/python bench/faust_overhead_bench.py [--records 40000] [--runs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.broker import EmbeddedBroker  # noqa: E402
from streams.kafka import BrokerQuirks, ensure_topics  # noqa: E402
from tests.harness import format_table  # noqa: E402

VARIANTS = ("stock", "stock + prometheus", "worker", "worker + batched sensors", "worker + batch reader")
BATCH = 1000


async def preload(bootstrap: str, topic: str, n: int) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        value = json.dumps({"source": "bench", "id": "1", "text": "星河手机" * 20, "author": {"id": "u"},
                            "created_at": "2026-05-01T08:00:00+08:00"}, ensure_ascii=False).encode()
        for i in range(n):
            await producer.send(topic, key=f"bench:{i}".encode(), value=value)
        await producer.flush()
        for partition in range(4):  # a single-record batch last: end offsets right on the embedded broker
            await (await producer.send(topic, key=b"end", value=value, partition=partition))
    finally:
        await producer.stop()


def consume(url: str, topic: str, n: int, variant: str) -> None:
    """Run in a child process: read ``n`` records, print one JSON line, exit."""
    import faust
    from faust.worker import Worker

    from streams.broker import free_port
    from streams.faust_app import BatchReader, RawSchema, WorkerApp, setup_faust_sensors

    settings = {"broker": url, "store": "memory://", "topic_partitions": 4, "web_port": free_port(),
                "web_bind": "127.0.0.1", "consumer_auto_offset_reset": "earliest",
                **BrokerQuirks.for_embedded().faust_settings()}
    name = f"overhead-{variant.replace(' ', '').replace('+', '-')}-{os.getpid()}"
    if variant.startswith("worker"):
        app = WorkerApp(name, fetch_max_wait=BrokerQuirks.for_embedded().fetch_max_wait, **settings)
        source = app.topic(topic, schema=RawSchema())
    else:
        app = faust.App(name, **settings)
        source = app.topic(topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    if variant == "stock + prometheus":
        from faust.sensors.prometheus import setup_prometheus_sensors

        setup_prometheus_sensors(app, name_prefix="bench")
    elif variant in ("worker + batched sensors", "worker + batch reader"):
        setup_faust_sensors(app, name_prefix="bench")
    seen = {"n": 0, "wall": 0.0, "cpu": 0.0}

    async def batches(stream: object) -> AsyncIterator[list[object]]:
        if variant != "worker + batch reader":
            async for events in stream.take_events(BATCH, within=0.2):  # type: ignore[attr-defined]
                yield events
            return
        consumer = app.consumer
        async for events in BatchReader(stream).batches(BATCH, 0.2):
            yield events
            for event in events:
                event.message.ack(consumer)

    @app.agent(source)
    async def read(stream: object) -> None:
        async for events in batches(stream):
            if not seen["n"]:
                seen["wall"], seen["cpu"] = time.perf_counter(), time.process_time()
            seen["n"] += len(events)
            if seen["n"] >= n:
                wall, cpu = time.perf_counter() - seen["wall"], time.process_time() - seen["cpu"]
                print(json.dumps({"variant": variant, "records": seen["n"], "per_s": seen["n"] / wall,
                                  "cpu_us": cpu / seen["n"] * 1e6}), flush=True)
                os._exit(0)

    Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False).execute_from_commandline()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=40_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--child", nargs=3, metavar=("URL", "TOPIC", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        consume(args.child[0], args.child[1], args.records, args.child[2])
        return 0
    rows = []
    with EmbeddedBroker() as broker:
        for run in range(args.runs):
            for variant in VARIANTS:
                topic = f"overhead-{run}-{VARIANTS.index(variant)}"
                ensure_topics(broker.bootstrap, {topic: 4})
                asyncio.run(preload(broker.bootstrap, topic, args.records))
                load = os.getloadavg()[0]
                out = subprocess.run([sys.executable, __file__, "--records", str(args.records), "--child", broker.url,
                                      topic, variant], capture_output=True, text=True, timeout=600)
                # (Faust's worker writes terminal control codes before it.)
                line = next((x[x.index("{"):] for x in out.stdout.splitlines() if '{"variant"' in x), None)
                if line is None:
                    print(out.stdout[-2000:], out.stderr[-2000:], file=sys.stderr)
                    raise RuntimeError(f"variant {variant!r} printed no result")
                result = json.loads(line)
                rows.append([str(run + 1), f"{load:.2f}", variant, f"{result['cpu_us']:.1f}", f"{result['per_s']:,.0f}"])
                print(f"  {variant}: {result['cpu_us']:.1f} us/record", file=sys.stderr)
    print(format_table(["run", "load", "variant", "CPU us/record", "records/s"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
