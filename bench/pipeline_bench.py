"""End-to-end throughput of the running pipeline on the embedded broker, and
what each piece of the work costs alone, in the same run.

Starts the embedded broker and ``--workers`` worker processes (4 partitions),
waits until they are ready, then pushes N synthetic posts (every one
mentions a tracked brand, texts unique so the scorer's cache cannot help,
created_at spread over ``--span`` of event time) as fast as a batching
producer goes, and measures:

* posts/s end to end: from the first post sent until the aggregate stage has
  counted the last mention into its bucket;
* post-to-bucket latency p50/p99 (``koubei_post_to_bucket_seconds``: from the
  post's record timestamp, the wall clock when it was sent, to its count in
  a bucket), for the saturated run and for a paced phase after it
  (``--paced-posts`` at ``--paced-rate`` posts/s, below capacity);
* the workers' CPU time per post (user + system, from /proc) and their peak
  resident memory (VmHWM);
* the CPU per post of each piece of the work alone, measured in this process
  on the same posts after the run, with the stages' own code: fetching and
  decoding the posts records, the input gate, brand matching, sentiment
  scoring, combining mentions into counts records, producing those records
  (batched), aggregating (decode, count, close, store), detecting; their sum
  is the per-core ceiling of a worker that did nothing else. "of ceiling"
  is posts/s end to end over that ceiling; "pieces/CPU" is the pieces' sum
  over the worker's measured CPU per post (what is not framework, waiting
  for the broker or bookkeeping).

The load average is printed with each run: the numbers are only comparable
between runs at similar load. Not a test: it prints numbers. Usage:

    .venv/bin/python bench/pipeline_bench.py --posts 20000 [--workers 1|2] [--runs 3] [--span SECONDS]
        [--paced-posts N --paced-rate R] [--broker-quirks auto|none] [--no-pieces] [--scorer fast|snownlp]

``--scorer snownlp`` runs the same pipeline with the SnowNLP library as the
scorer (the foundation's baseline, bench/snownlp_worker.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import signal
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams import topics  # noqa: E402
from streams.app import SCORE_BATCH  # noqa: E402
from streams.broker import EmbeddedBroker, free_port  # noqa: E402
from streams.cli.config import load_koubei_config  # noqa: E402
from streams.kafka import ensure_topics  # noqa: E402
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
START = datetime(2026, 5, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
PARTITIONS = 4


def make_posts(n: int, span: float, seed: int = 1, first_id: int = 0, start: datetime = START) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(first_id, first_id + n):
        _, name = rng.choice(BRANDS)
        # Unique texts (a counter suffix) so the scorer's cache does not flatter the result.
        text = rng.choice(TEMPLATES).format(b=name) + f" 第{i}条"
        post = {
            "source": "bench", "id": str(i),
            "author": {"id": f"u{rng.randint(1, 10**6)}", "name": "用户", "followers": int(rng.paretovariate(1.2) * 30)},
            "text": text,
            "created_at": (start + timedelta(seconds=(i - first_id) * span / n)).isoformat(),
            "reposts": rng.randint(0, 30), "comments": rng.randint(0, 10), "likes": rng.randint(0, 99),
        }
        out.append(json.dumps(post, ensure_ascii=False).encode())
    return out


def post_key(value: bytes) -> bytes:
    data = json.loads(value)
    return f"{data['source']}:{data['id']}".encode()


async def produce(bootstrap: str, topic: str, values: list[bytes], rate: float | None = None) -> float:
    """Send ``values`` keyed source:id with the send time as record timestamp;
    batched, then one single-record batch per partition so that the embedded
    broker's end offsets are right. Returns seconds spent."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024,
                                max_request_size=4 * 1024 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        last: dict[int, tuple[bytes, bytes]] = {}
        pending = []
        for i, value in enumerate(values):
            if rate:
                due = started + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            key = post_key(value)
            partition = producer._partition(topic, None, None, None, key, None)  # noqa: SLF001 - to hold the tail back
            if partition in last:
                k, v = last[partition]
                pending.append(await producer.send(topic, key=k, value=v, partition=partition))
            last[partition] = (key, value)
            if len(pending) > 5000:
                await asyncio.gather(*pending)
                pending = []
        await producer.flush()
        await asyncio.gather(*pending)
        for partition, (k, v) in last.items():
            await (await producer.send(topic, key=k, value=v, partition=partition))
    finally:
        await producer.stop()
    return time.perf_counter() - started


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def histogram(samples_list: list[dict[str, float]], name: str) -> list[tuple[float, float]]:
    """Cumulative (upper bound, count) of a histogram, summed over workers."""
    counts: dict[float, float] = {}
    for samples in samples_list:
        for key, value in samples.items():
            if key.startswith(f"{name}_bucket{{"):
                bound = key.split('le="', 1)[1].split('"', 1)[0]
                le = math.inf if bound == "+Inf" else float(bound)
                counts[le] = counts.get(le, 0.0) + value
    return sorted(counts.items())


def quantile(q: float, cumulative: list[tuple[float, float]]) -> float:
    """Like PromQL histogram_quantile: linear within the bucket."""
    if not cumulative or cumulative[-1][1] <= 0:
        return float("nan")
    rank = q * cumulative[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in cumulative:
        if count >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * ((rank - below) / (count - below) if count > below else 0.0)
        lower, below = upper, count
    return lower


def diff(after: list[tuple[float, float]], before: list[tuple[float, float]]) -> list[tuple[float, float]]:
    old = dict(before)
    return [(le, count - old.get(le, 0.0)) for le, count in after]


def counted(workers: list[WorkerProcess]) -> tuple[float, list[dict[str, float]]]:
    samples = [w.metrics() for w in workers]
    # Every mention ends up counted, late or (after a redelivery) skipped.
    done = sum(metric_sum(s, name) for s in samples for name in (
        "koubei_mentions_aggregated_total", "koubei_late_mentions_total"))
    return done, samples


def wait_counted(workers: list[WorkerProcess], target: float, started: float, what: str) -> list[dict[str, float]]:
    last_print = 0.0
    while True:
        done, samples = counted(workers)
        now = time.perf_counter() - started
        if now - last_print > 2:
            print(f"\r  {what}: counted {done:,.0f}/{target:,.0f} mentions after {now:.1f}s", end="",
                  file=sys.stderr, flush=True)
            last_print = now
        if done >= target:
            print(file=sys.stderr)
            return samples
        if now > 1800:
            raise RuntimeError("benchmark did not finish in 30 minutes")
        time.sleep(0.2)


def run_once(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    n = args.posts
    values = make_posts(n, args.span)
    with EmbeddedBroker(log_path=str(workdir / "broker.log")) as broker:
        config = {
            "kafka": {"url": broker.url, "partitions": PARTITIONS, "broker_quirks": args.broker_quirks},
            "worker": {"app_id": "koubei-bench", "data_dir": str(workdir / "state")},
            "scoring": {"processes": args.processes},
            "brands": [{"id": bid, "name": name, "aliases": [name]} for bid, name in BRANDS],
            "input": {"max_age": 0},
        }
        config_path = workdir / "koubei.yaml"
        config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        loaded = load_koubei_config(config_path)
        ensure_topics(broker.bootstrap, loaded.topics.plan(topics.PIPELINE))
        launcher = (sys.executable, str(Path(__file__).with_name("snownlp_worker.py"))) if args.scorer == "snownlp" else None
        workers = [WorkerProcess(config_path, workdir / f"worker{i}.log", free_port(), launcher=launcher,
                                 extra_args=("--no-notifier", "--data-dir", str(workdir / f"state{i}"),
                                             "--loglevel", "warning"))
                   for i in range(args.workers)]
        try:
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.wait_ready(timeout=180)
            for worker in workers:  # a rebalance when the second joined
                worker.wait_ready(timeout=180)
            topic = loaded.topic("posts")
            pids = [w.process.pid for w in workers if w.process is not None]
            cpu_before = sum(cpu_seconds(pid) for pid in pids)
            started = time.perf_counter()
            produce_s = asyncio.run(produce(broker.bootstrap, topic, values))
            samples = wait_counted(workers, n, started, "saturated")
            elapsed = time.perf_counter() - started
            worker_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
            saturated = histogram(samples, "koubei_post_to_bucket_seconds")
            paced: list[tuple[float, float]] = []
            if args.paced_posts:
                more = make_posts(args.paced_posts, args.span * args.paced_posts / n, seed=2, first_id=n,
                                  start=START + timedelta(seconds=args.span))
                paced_started = time.perf_counter()
                asyncio.run(produce(broker.bootstrap, topic, more, rate=args.paced_rate))
                samples = wait_counted(workers, n + args.paced_posts, paced_started, "paced")
                paced = diff(histogram(samples, "koubei_post_to_bucket_seconds"), saturated)
            rss = [peak_rss_mb(w.process.pid) for w in workers if w.process is not None]
            return {"posts": n, "seconds": elapsed, "posts_per_s": n / elapsed, "produce_s": produce_s,
                    "worker_cpu_us": worker_cpu / n * 1e6,
                    "peak_rss_mb": max(rss), "p50": quantile(0.5, saturated), "p99": quantile(0.99, saturated),
                    "paced_p50": quantile(0.5, paced), "paced_p99": quantile(0.99, paced),
                    "pieces": pieces(broker.bootstrap, topic, values, loaded) if args.pieces else []}
        finally:
            for worker in workers:
                worker.stop()


def pieces(bootstrap: str, topic: str, values: list[bytes], config: Any) -> list[tuple[str, float]]:
    """CPU microseconds per post of each piece of the worker's work, alone: the
    same code the stages run, on the same posts, in batches of 1,000 posts
    covering every posts partition as the worker's do, without Faust and Kafka
    (except where the piece is Kafka's: fetching posts, producing records)."""
    import orjson
    from aiokafka.partitioner import DefaultPartitioner
    from faust.utils import json as faust_json

    from streams.aggregate import Aggregator, AggregatorState
    from streams.app import BrandBucketStore
    from streams.brands import BrandMatcher
    from streams.detection import create_detector
    from streams.gate import Gate
    from streams.ledger import LedgerBatch
    from streams.models import Bucket, MentionCounts, bucket_record, read_bucket_record
    from streams.repeats import remember
    from streams.scoring import MentionCounter, PostScorer, mentions_for
    from streams.sentiment.pool import ScoringPool

    n = len(values)
    batch = SCORE_BATCH
    out: list[tuple[str, float]] = []

    def per_post(seconds: float) -> float:
        return seconds / n * 1e6

    consumed = asyncio.run(_consume(bootstrap, topic, n))
    out.append(("fetch + decode the posts records (aiokafka)", per_post(consumed)))
    gate = Gate(config.input)
    t = time.process_time()
    posts = [gate.admit(v) for v in values]
    out.append(("input gate (parse + validate)", per_post(time.process_time() - t)))
    partitioner = DefaultPartitioner()
    everyone = list(range(PARTITIONS))
    partition_of = {id(p): partitioner(post_key(v), everyone, everyone) for p, v in zip(posts, values, strict=True)}
    offsets: dict[int, int] = {}
    offset_of = {}
    for p in posts:
        part = partition_of[id(p)]
        offset_of[id(p)] = offsets.get(part, 0)
        offsets[part] = offsets.get(part, 0) + 1
    matcher = BrandMatcher(config.brands)
    scorer = PostScorer(matcher, None, config.sentiment.negative_threshold)
    t = time.process_time()
    matched = scorer.match(posts)  # type: ignore[arg-type]
    out.append(("brand matching", per_post(time.process_time() - t)))
    s = config.sentiment
    pool = ScoringPool(s.model, s.lexicon, s.weibo_preprocessing, 0, config.scoring.cache_size)
    t = time.process_time()
    texts = scorer.scoring_texts(matched)
    results = []
    for i in range(0, len(texts), batch):
        results.extend(pool.score_many(texts[i:i + batch]))
    out.append((f"sentiment scoring (batches of {batch:,}, brand masking included)", per_post(time.process_time() - t)))
    size = config.buckets.size_seconds
    t = time.process_time()
    batches: list[list[bytes]] = []
    for i in range(0, len(matched), batch):
        chunk = list(zip(matched[i:i + batch], results[i:i + batch], strict=True))
        ranges: dict[int, tuple[int, int]] = {}
        for (post, _), _ in chunk:
            part, offset = partition_of[id(post)], offset_of[id(post)]
            first, last = ranges.get(part, (offset, offset))
            ranges[part] = (min(first, offset), max(last, offset))
        counter = MentionCounter(size)
        for (post, brands), result in chunk:
            part = partition_of[id(post)]
            for mention in mentions_for(post, brands, result, scorer.negative_threshold, (part, offset_of[id(post)])):
                counter.add(mention, "fresh", 5)
        fresh = {"fresh": [(part, first, last) for part, (first, last) in ranges.items()]}
        batches.append([r.to_json() for r in counter.records(fresh, time.time())])
    out.append(("mentions combined into counts records + JSON", per_post(time.process_time() - t)))
    records = [r for b in batches for r in b]
    t = time.process_time()
    for i in range(0, len(matched), batch):
        remembered: dict[int, dict[str, Any]] = {}
        for (post, brands), result in zip(matched[i:i + batch], results[i:i + batch], strict=True):
            part = partition_of[id(post)]
            story = getattr(result, "story", None) or post.key
            remembered.setdefault(part, {})[post.key] = remember(
                post, offset_of[id(post)], brands, result.negative, result.negative >= scorer.negative_threshold, story)
        for part, posts_of in remembered.items():
            faust_json.dumps(LedgerBatch(part, 0, 0, 0.0, posts_of).to_dict())  # the ledger table's codec
    out.append(("remember the counted posts (ledger records + JSON)", per_post(time.process_time() - t)))
    out.append(("produce the counts records (batched)", per_post(asyncio.run(_produce_cpu(bootstrap, records)))))

    class Table(dict):  # a table whose writes are encoded, as a changelog's are
        def __setitem__(self, key: str, value: Any) -> None:
            orjson.dumps(value)
            super().__setitem__(key, value)

    b = config.buckets
    state = AggregatorState()
    table: Table = Table()
    decoded: dict = {}
    closed: list[list[bytes]] = []
    t = time.process_time()
    for batch_records in batches:
        store = BrandBucketStore(table, None, decoded)
        aggregator = Aggregator(size, b.allowed_lateness_seconds, b.idle_close_seconds, store, state)
        newest = 0.0
        for value in batch_records:
            counts = MentionCounts.from_dict(orjson.loads(value), size)
            aggregator.add_counts(counts, 0.0)
            newest = max([newest] + [part.start + size for part in counts.buckets])
        aggregator.observe_time(newest, 0.0, clock="bench")
        by_brand: dict[str, list[Bucket]] = {}
        for bucket in aggregator.close_ready(0.0):
            by_brand.setdefault(bucket.brand, []).append(bucket)
        closed.append([bucket_record(buckets) for buckets in by_brand.values()])
        store.flush(state.next_close)
    out.append(("aggregate: decode, count, close and store the buckets", per_post(time.process_time() - t)))
    t = time.process_time()
    states: dict[str, Any] = {}
    n_buckets = 0
    for batch_records in closed:
        detectors: dict[str, Any] = {}
        for value in batch_records:
            for bucket in read_bucket_record(orjson.loads(value)):
                n_buckets += 1
                if bucket.brand not in detectors:
                    detectors[bucket.brand] = create_detector(config, bucket.brand, state=states.get(bucket.brand))
                detectors[bucket.brand].update(bucket)
        for brand, detector in detectors.items():
            states[brand] = detector.to_state()
            orjson.dumps(states[brand])
    out.append((f"detect: {n_buckets:,} buckets decoded, detectors updated, states stored",
                per_post(time.process_time() - t)))
    return out


async def _consume(bootstrap: str, topic: str, n: int) -> float:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        t = time.process_time()
        while seen < n:
            batch = await consumer.getmany(timeout_ms=2000, max_records=2000)
            if not batch:
                break
            seen += sum(len(records) for records in batch.values())
        return time.process_time() - t
    finally:
        await consumer.stop()


async def _produce_cpu(bootstrap: str, records: list[bytes]) -> float:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=512 * 1024,
                                max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        t = time.process_time()
        futures = [await producer.send("koubei-bench-produce", value=r, key=b"x") for r in records]
        await asyncio.gather(*futures)
        return time.process_time() - t
    finally:
        await producer.stop()


class _Keep:
    def __init__(self, path: str) -> None:
        self.path = path
        Path(path).mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> str:
        return self.path

    def __exit__(self, *exc: object) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes in one consumer group")
    parser.add_argument("--span", type=float, default=86400.0, help="event time the posts cover, seconds")
    parser.add_argument("--processes", type=int, default=0, help="scoring.processes for the worker")
    parser.add_argument("--paced-posts", type=int, default=5000, help="posts of the paced latency phase (0: none)")
    parser.add_argument("--paced-rate", type=float, default=1000.0, help="posts/s of the paced phase")
    parser.add_argument("--broker-quirks", choices=("auto", "tansu", "none"), default="auto",
                        help="kafka.broker_quirks of the workers (none: the embedded broker's workarounds off)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-pieces", dest="pieces", action="store_false",
                        help="skip measuring the pieces alone (e.g. to run this script against an older version)")
    parser.add_argument("--scorer", choices=("fast", "snownlp"), default="fast",
                        help="fast: streams.sentiment (the product); snownlp: the SnowNLP library (baseline)")
    args = parser.parse_args()

    def _interrupt(*_: object) -> None:
        raise KeyboardInterrupt  # unwinds through the finally blocks that stop the broker and workers

    signal.signal(signal.SIGTERM, _interrupt)
    rows = []
    piece_rows: list[list[str]] = []
    for run in range(args.runs):
        load = os.getloadavg()
        with (tempfile.TemporaryDirectory(prefix="koubei-bench-") if not os.environ.get("BENCH_DIR")
              else _Keep(os.environ["BENCH_DIR"])) as tmp:
            print(f"run {run + 1}/{args.runs}: {args.posts:,} posts, {args.workers} worker(s), scorer={args.scorer}, "
                  f"load {load[0]:.2f}", file=sys.stderr)
            r = run_once(args, Path(tmp))
        total = sum(us for _, us in r["pieces"]) or math.nan
        ceiling = 1e6 / total
        rows.append([str(run + 1), f"{load[0]:.2f}", str(args.workers), f"{r['posts']:,}", f"{r['seconds']:.1f}",
                     f"{r['posts_per_s']:,.0f}", f"{r['worker_cpu_us']:.0f}", f"{ceiling:,.0f}",
                     f"{100 * r['posts_per_s'] / ceiling:.0f} %", f"{100 * total / r['worker_cpu_us']:.0f} %",
                     f"{r['produce_s']:.1f}", f"{r['peak_rss_mb']:.0f}", f"{r['p50']:.2f} / {r['p99']:.2f}",
                     f"{r['paced_p50']:.2f} / {r['paced_p99']:.2f}"])
        piece_rows = [[name, f"{us:.1f}"] for name, us in r["pieces"]] + [["sum: one core's ceiling", f"{total:.1f}"]]
        print(format_table([f"piece (run {run + 1})", "CPU us/post"], piece_rows), file=sys.stderr)
    print(format_table(["run", "load", "workers", "posts", "end-to-end s", "posts/s", "worker CPU us/post",
                        "ceiling posts/s", "of ceiling", "pieces/CPU", "produce s", "peak RSS MB", "latency p50/p99 s (saturated)",
                        f"p50/p99 s at {args.paced_rate:,.0f}/s"], rows))
    print()
    print(format_table(["piece (last run)", "CPU us/post"], piece_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
