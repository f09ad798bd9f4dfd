"""The files connector's throughput: crawler files -> reader -> gate -> Kafka confirmed.

    .venv/bin/python bench/connectors_files_bench.py [--posts 20000] [--files 4] [--repeat 3]
    KOUBEI_KAFKA_URL=kafka://host:9092 .venv/bin/python bench/connectors_files_bench.py   # a real cluster

Writes MediaCrawler-shaped Weibo CSV files (utf-8-sig, the crawler's column
names; text and counts from this script's own generator) into a temporary
``data/weibo/csv/`` folder and measures, per run:

* reader only: ``streams.readers`` parsing, mapping and gating every row (no Kafka);
* producer only (baseline): the same posts sent with ``make_producer`` (send + flush per 500);
* files connector: ``koubei connect``'s runtime following the folder from an empty
  checkpoint until Kafka confirmed every post (the catch-up rate after a restart
  or a crawler's backlog).

Numbers, not assertions. Starts the embedded broker unless KOUBEI_KAFKA_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY

from connectors.config import parse_connectors
from connectors.runtime import KafkaTarget, run_connector
from streams.broker import EmbeddedBroker
from streams.gate import Gate
from streams.kafka import bootstrap_servers, detect_quirks, ensure_topics, make_producer
from streams.models import Post
from streams.readers import file_reader

COLUMNS = ["note_id", "content", "create_time", "create_date_time", "liked_count", "comments_count", "shared_count",
           "last_modify_ts", "note_url", "ip_location", "user_id", "nickname", "gender", "profile_url", "avatar",
           "source_keyword"]
PHRASES = ["客服太慢了，退款也不给处理", "新品发布会还挺期待", "电池鼓包，售后推来推去", "拍照效果不错", "屏幕闪烁，已经第二台了"]


def write_files(folder: Path, posts: int, files: int) -> list[Path]:
    """MediaCrawler Weibo contents CSVs with ``posts`` rows over ``files`` files."""
    now = int(time.time()) - 86_400
    out = []
    per_file = -(-posts // files)
    for f in range(files):
        path = folder / "data" / "weibo" / "csv" / f"search_contents_2026-11-{10 + f:02d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for i in range(f * per_file, min(posts, (f + 1) * per_file)):
            writer.writerow([f"51{i:014d}", f"某品牌 第{i}条 {PHRASES[i % len(PHRASES)]}", now + i, "", f"{i % 900}",
                             str(i % 50), "None" if i % 7 == 0 else str(i % 30), now * 1000, f"https://m.weibo.cn/detail/51{i:014d}",
                             "发布于 广东", f"60{i % 997:04d}", f"网友{i % 997}", "m", "", "", "某品牌"])
        path.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8"))
        out.append(path)
    return out


def reader_run(paths: list[Path]) -> tuple[float, list[Post]]:
    reader = file_reader(None, Gate())
    t0 = time.perf_counter()
    posts = []
    for path in paths:
        records, _ = reader.read(path)
        posts += [r.result for r in records if isinstance(r.result, Post)]
    return len(posts) / (time.perf_counter() - t0), posts


def producer_run(bootstrap: str, quirks: Any, posts: list[Post]) -> float:
    topic = f"bench{uuid.uuid4().hex[:8]}.posts"
    ensure_topics(bootstrap, {topic: 4})
    producer = make_producer(bootstrap, quirks)
    try:
        producer.partitions_for(topic)
        t0 = time.perf_counter()
        for start in range(0, len(posts), 500):
            for post in posts[start:start + 500]:
                producer.send(topic, key=post.key.encode(), value=post.to_json(), timestamp_ms=int(post.event_time * 1000))
            producer.flush()
        return len(posts) / (time.perf_counter() - t0)
    finally:
        producer.close()


async def connector_run(bootstrap: str, quirks: Any, folder: Path, expected: int) -> float:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    name = f"files{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as state:
        config = parse_connectors({"state_dir": state, name: {"type": "files", "path": str(folder / "data"),
                                                              "interval": "0.05s"}}, "connectors", environ={})
        stop = asyncio.Event()
        t0 = time.perf_counter()
        task = asyncio.create_task(run_connector(config.get(name), config, KafkaTarget(bootstrap, quirks, prefix, 4),
                                                 stop=stop, environ={}))
        while (REGISTRY.get_sample_value("koubei_connector_posts_fetched_total", {"connector": name}) or 0) < expected:
            if task.done():
                task.result()
                raise RuntimeError("the connector stopped early")
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - t0
        stop.set()
        await task
    return expected / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    external = os.environ.get("KOUBEI_KAFKA_URL")
    broker = None if external else EmbeddedBroker().start()
    try:
        bootstrap = bootstrap_servers(external or broker.url)  # type: ignore[union-attr]
        quirks = detect_quirks("auto", bootstrap)
        results: dict[str, list[float]] = {"reader": [], "producer": [], "connector": []}
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            paths = write_files(folder, args.posts, args.files)
            size = sum(p.stat().st_size for p in paths)
            for run in range(args.repeat):
                rate, posts = reader_run(paths)
                assert len(posts) == args.posts, len(posts)
                results["reader"].append(rate)
                results["producer"].append(producer_run(bootstrap, quirks, posts))
                results["connector"].append(asyncio.run(connector_run(bootstrap, quirks, folder, args.posts)))
                print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in results.items()), flush=True)
        print(f"broker: {'external ' + external if external else 'embedded (Tansu)'}; quirks: {quirks}")
        print(f"{args.posts} posts in {args.files} MediaCrawler CSV files ({size / 1e6:.1f} MB), "
              f"{args.repeat} runs (median, min-max)")
        print("| path | posts/s | ratio to producer |")
        print("|---|---|---|")
        base = statistics.median(results["producer"])
        for label, key in (("reader only (parse, map, gate; no Kafka)", "reader"),
                           ("producer only (baseline: send + flush per 500)", "producer"),
                           ("files connector, catch-up until Kafka confirmed", "connector")):
            values = results[key]
            print(f"| {label} | {statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f}) "
                  f"| {statistics.median(values) / base:.2f} |")
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
