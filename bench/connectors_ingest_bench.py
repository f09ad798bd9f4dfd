"""HTTP ingest throughput, end to end: POST /ingest -> validated -> confirmed by Kafka -> 202.

    .venv/bin/python bench/connectors_ingest_bench.py [--posts 10000] [--batch 500] [--repeat 3]
    KOUBEI_KAFKA_URL=kafka://host:9092 .venv/bin/python bench/connectors_ingest_bench.py   # a real cluster

Baseline in the same run: the same posts sent straight through a producer
from ``streams.kafka.make_producer`` (send + flush per batch), so the ratio
shows what the HTTP layer, validation and the queue cost on top of Kafka.
Numbers, not assertions. Starts the embedded broker unless KOUBEI_KAFKA_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from typing import Any

import httpx

from connectors.config import parse_connectors
from connectors.runtime import KafkaTarget, run_connector
from streams.broker import EmbeddedBroker
from streams.gate import Gate
from streams.kafka import bootstrap_servers, detect_quirks, ensure_topics, make_producer

TOKEN = "bench-token"


def make_posts(count: int) -> list[dict[str, Any]]:
    return [{"source": "bench", "id": f"p{i}", "text": f"某品牌 第{i}条 客服太慢了，退款也不给处理", "lang": "zh",
             "created_at": f"2026-11-03T10:{(i // 60) % 60:02d}:{i % 60:02d}+08:00",
             "author": {"id": f"u{i % 997}", "name": "网友", "followers": i % 5000}} for i in range(count)]


async def ingest_run(bootstrap: str, quirks: Any, posts: list[dict[str, Any]], batch: int) -> float:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as state:
        config = parse_connectors({"state_dir": state, "ingest": {
            "type": "http_ingest", "listen": "127.0.0.1:0", "token_env": "T", "max_records": batch,
            "max_body_bytes": 50_000_000}}, "connectors", environ={})
        spec = config.get("ingest")
        stop = asyncio.Event()
        started: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(run_connector(spec, config, KafkaTarget(bootstrap, quirks, prefix, 4), stop=stop,
                                                 environ={"T": TOKEN}, on_started=started.set_result))
        connector = await started
        await connector.ready.wait()
        url = f"http://127.0.0.1:{connector.port}/ingest"
        bodies = [json.dumps(posts[i:i + batch], ensure_ascii=False).encode() for i in range(0, len(posts), batch)]
        async with httpx.AsyncClient(timeout=120) as http:
            t0 = time.perf_counter()
            for body in bodies:
                response = await http.post(url, content=body, headers={"Authorization": f"Bearer {TOKEN}",
                                                                        "Content-Type": "application/json"})
                assert response.status_code == 202 and response.json()["rejected"] == 0, response.text
            elapsed = time.perf_counter() - t0
        stop.set()
        await task
    return len(posts) / elapsed


def producer_run(bootstrap: str, quirks: Any, posts: list[dict[str, Any]], batch: int) -> float:
    topic = f"bench{uuid.uuid4().hex[:8]}.posts"
    ensure_topics(bootstrap, {topic: 4})
    producer = make_producer(bootstrap, quirks)
    try:
        producer.partitions_for(topic)  # metadata fetched before timing, as the connector does at start
        t0 = time.perf_counter()
        for start in range(0, len(posts), batch):
            for data in posts[start:start + batch]:
                post = Gate().post(data)
                producer.send(topic, key=post.key.encode(), value=post.to_json(),
                              timestamp_ms=int(post.event_time * 1000))
            producer.flush()
        return len(posts) / (time.perf_counter() - t0)
    finally:
        producer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    external = os.environ.get("KOUBEI_KAFKA_URL")
    broker = None if external else EmbeddedBroker().start()
    try:
        bootstrap = bootstrap_servers(external or broker.url)  # type: ignore[union-attr]
        quirks = detect_quirks("auto", bootstrap)
        posts = make_posts(args.posts)
        ingest, direct = [], []
        for _ in range(args.repeat):
            direct.append(producer_run(bootstrap, quirks, posts, args.batch))
            ingest.append(asyncio.run(ingest_run(bootstrap, quirks, posts, args.batch)))
        print(f"broker: {'external ' + external if external else 'embedded (Tansu)'}; quirks: {quirks}")
        print(f"{args.posts} posts, {args.batch} per request/flush, {args.repeat} runs (median, min-max)")
        print("| path | posts/s | ratio |")
        print("|---|---|---|")
        base = statistics.median(direct)
        for name, values in (("producer only (baseline)", direct), ("POST /ingest -> 202", ingest)):
            print(f"| {name} | {statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f}) "
                  f"| {statistics.median(values) / base:.2f} |")
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
