"""End-to-end throughput of the running pipeline on the embedded broker.

Starts the embedded broker and one worker, pushes N synthetic posts (every
one mentions a tracked brand, so every post is scored) as fast as the
producer goes, and measures:

* posts/s end to end: from the first post sent until the aggregate stage
  has counted the last mention into its bucket;
* the worker's peak resident memory (VmHWM).

Not a test: it prints numbers. Usage:

    .venv/bin/python bench/pipeline_bench.py --posts 20000 [--processes 0] [--runs 1] [--scorer fast|snownlp]

``--scorer snownlp`` runs the same pipeline with the SnowNLP library as the
scorer (the foundation's baseline, bench/snownlp_worker.py).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.file_replay import load_records, replay  # noqa: E402
from streams import topics  # noqa: E402
from streams.broker import EmbeddedBroker, free_port  # noqa: E402
from streams.cli.config import load_koubei_config  # noqa: E402
from streams.kafka import detect_quirks, ensure_topics, make_producer  # noqa: E402
from tests.harness import WorkerProcess, format_table, metric_sum  # noqa: E402

BRANDS = [("xinghe", "星河手机"), ("chenguang", "晨光牛奶"), ("yunfan", "云帆航空"), ("qinghe", "青禾咖啡")]
TEMPLATES = [
    "{b}用了一个月，体验很好，推荐给大家[赞]",
    "//@数码君: {b}的电池续航太差了，充一次电用不到半天[怒]",
    "#{b}# 新款发布，价格比上一代便宜了不少",
    "回复@小李: {b}的售后还行，换货挺快的",
    "{b}被曝光使用过期原料，消费者要求退款 https://news.example/a/1",
    "周末去了{b}门店，排队的人好多，服务员态度一般",
]


def write_posts(path: Path, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    start = datetime(2026, 5, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            _, name = rng.choice(BRANDS)
            # Unique texts (a counter suffix) so the scorer's cache does not flatter the result.
            text = rng.choice(TEMPLATES).format(b=name) + f" 第{i}条"
            post = {
                "source": "bench", "id": str(i),
                "author": {"id": f"u{rng.randint(1, 10**6)}", "name": "用户", "followers": int(rng.paretovariate(1.2) * 30)},
                "text": text,
                "created_at": (start + timedelta(seconds=i * 86400 / n)).isoformat(),
                "reposts": rng.randint(0, 30), "comments": rng.randint(0, 10), "likes": rng.randint(0, 99),
            }
            fh.write(json.dumps(post, ensure_ascii=False) + "\n")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_once(n: int, processes: int, workdir: Path, scorer: str = "fast") -> dict[str, float]:
    posts = workdir / "posts.jsonl"
    write_posts(posts, n)
    with EmbeddedBroker(log_path=str(workdir / "broker.log")) as broker:
        web_port = free_port()
        config = {
            "kafka": {"url": broker.url, "partitions": 4},
            "worker": {"app_id": "koubei-bench", "data_dir": str(workdir / "state"), "web_port": web_port},
            "scoring": {"processes": processes},
            "brands": [{"id": bid, "name": name, "aliases": [name]} for bid, name in BRANDS],
        }
        config_path = workdir / "koubei.yaml"
        config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        loaded = load_koubei_config(config_path)
        ensure_topics(broker.bootstrap, loaded.topics.plan(topics.PIPELINE))
        launcher = (sys.executable, str(Path(__file__).with_name("snownlp_worker.py"))) if scorer == "snownlp" else None
        worker = WorkerProcess(config_path, workdir / "worker.log", web_port, extra_args=("--no-notifier",),
                               launcher=launcher).start()
        try:
            worker.wait_ready()
            producer = make_producer(broker.bootstrap, detect_quirks("auto", broker.bootstrap))
            records = load_records(posts)
            started = time.perf_counter()
            replay(records, producer, loaded.topic("posts"))
            sent_at = time.perf_counter() - started
            producer.close()
            last_print = 0.0
            while True:
                samples = worker.metrics()
                # Every mention ends up counted, late or (after a redelivery) skipped.
                done = sum(metric_sum(samples, name) for name in (
                    "koubei_mentions_aggregated_total", "koubei_late_mentions_total"))
                now = time.perf_counter() - started
                if now - last_print > 2:
                    print(f"\r  aggregated {done:,.0f}/{n:,} mentions after {now:.1f}s", end="", file=sys.stderr, flush=True)
                    last_print = now
                if done >= n:
                    break
                if now > 1800:
                    raise RuntimeError("benchmark did not finish in 30 minutes")
                time.sleep(0.2)
            elapsed = time.perf_counter() - started
            print(file=sys.stderr)
            assert worker.process is not None
            return {"posts": n, "seconds": elapsed, "posts_per_s": n / elapsed, "produce_s": sent_at,
                    "peak_rss_mb": peak_rss_mb(worker.process.pid)}
        finally:
            worker.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=0, help="scoring.processes for the worker")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--scorer", choices=("fast", "snownlp"), default="fast",
                        help="fast: streams.sentiment (the product); snownlp: the SnowNLP library (baseline)")
    args = parser.parse_args()

    def _interrupt(*_: object) -> None:
        raise KeyboardInterrupt  # unwinds through the finally blocks that stop the broker and worker

    signal.signal(signal.SIGTERM, _interrupt)
    rows = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="koubei-bench-") as tmp:
            print(f"run {run + 1}/{args.runs}: {args.posts:,} posts, scorer={args.scorer}, "
                  f"scoring.processes={args.processes}", file=sys.stderr)
            result = run_once(args.posts, args.processes, Path(tmp), args.scorer)
            rows.append([str(run + 1), args.scorer, f"{result['posts']:,}", f"{result['seconds']:.1f}",
                         f"{result['posts_per_s']:,.0f}", f"{result['produce_s']:.1f}", f"{result['peak_rss_mb']:.0f}"])
    print(format_table(["run", "scorer", "posts", "end-to-end s", "posts/s", "produce s", "worker peak RSS MB"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
