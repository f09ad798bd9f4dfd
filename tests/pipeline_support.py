"""A small labeled scenario and a pipeline harness for the integration tests."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from streams.broker import free_port
from tests.harness import WebhookReceiver, WorkerProcess
from tests.hostile_records import bad_records, sloppy

CST = timezone(timedelta(hours=8))
START = datetime(2026, 3, 14, 9, 0, tzinfo=CST)
MINUTES = 240
CRISIS_START, CRISIS_END = 95, 110  # minutes after START

BRANDS = [
    {"id": "xinghe", "name": "星河手机", "aliases": ["星河手机", "xinghe"], "exclude": ["星河灿烂"]},
    {"id": "chenguang", "name": "晨光乳业", "aliases": ["晨光乳业", "晨光牛奶"]},
    {"id": "yunfan", "name": "云帆航空", "aliases": ["云帆航空"]},
]
CALM_TEXTS = [
    "{b}用了一个月，体验很好，推荐给大家",
    "今天收到{b}的快递，包装很精美，很满意",
    "{b}的客服态度不错，耐心解答问题",
    "{b}新品发布会看了，挺期待的",
    "周末和朋友聊起{b}，大家都说还不错",
    "{b}这次活动优惠力度很大，开心[哈哈]",
    "{b}有点贵，不过质量可以",
    "#{b}# 新款颜色很好看",
    "{b}门店排队的人好多",
    "{b}的售后有点慢，等了三天",
]
CRISIS_TEXTS = [
    "{b}电池爆炸了！太可怕了，质量差到极点，必须退款[怒]",
    "曝光：{b}被查出严重质量问题，消费者集体投诉维权",
    "{b}彻底翻车，垃圾产品，再也不买了，气死我了",
    "//@消费者之声: {b}出事了，大家避雷！坑人的东西",
    "{b}售后拒绝退款，态度恶劣，我要去315投诉",
]


@dataclass
class SmallScenario:
    posts: list[dict[str, Any]]
    bad_records: list[tuple[bytes, str]]  # (payload, expected reason)
    lines: list[bytes] = field(default_factory=list)

    @property
    def valid(self) -> int:
        return len(self.posts)


def build_small_scenario(seed: int = 7) -> SmallScenario:
    """~3,600 posts over 240 minutes: xinghe has a crisis at minutes 95-110."""
    rng = random.Random(seed)
    posts: list[dict[str, Any]] = []
    n = 0
    for minute in range(MINUTES):
        for brand in BRANDS:
            for _ in range(rng.randint(3, 6)):
                n += 1
                posts.append(_post(rng, n, brand["name"], rng.choice(CALM_TEXTS), minute))
        if CRISIS_START <= minute < CRISIS_END:
            for _ in range(rng.randint(22, 28)):
                n += 1
                posts.append(_post(rng, n, "星河手机", rng.choice(CRISIS_TEXTS), minute))
        for _ in range(rng.randint(0, 2)):  # chatter that mentions no tracked brand
            n += 1
            posts.append(_post(rng, n, "", "今天天气不错，出去走走" if rng.random() < 0.5 else "星河灿烂的夜晚", minute))
    posts.sort(key=lambda p: p["created_at"])
    bad = bad_records()
    # Every tenth post is written the sloppy way some real producer writes
    # it (epoch ms, naive Beijing time, "1.5万", control characters, a lone
    # surrogate, NaN ...): the gate must read each as the same post.
    lines = [sloppy(p, i // 10) if i % 10 == 0 else json.dumps(p, ensure_ascii=False).encode()
             for i, p in enumerate(posts)]
    # Bad records are spread through the middle of the stream: everything after them must still flow.
    step = max(1, len(lines) // (2 * len(bad)))
    for i, (payload, _) in enumerate(bad):
        lines.insert(len(lines) // 4 + i * step, payload)
    return SmallScenario(posts, bad, lines)


def end_of_stream_lines(count: int = 8) -> list[bytes]:
    """Chatter naming no tracked brand, dated five minutes after the scenario.

    Without it the last buckets close by idle close only, which advances
    event time with the wall clock once every source is silent
    (streams/aggregate.py, ``event_clock``): about two minutes of waiting
    for the last two buckets (allowed lateness + the bucket). With it the
    watermark passes the scenario's end by event time, as it would with a
    live source that keeps posting. Several posts, so that every posts
    partition's clock is likely to get one (they are keyed by post)."""
    rng = random.Random(99)
    return [json.dumps(_post(rng, 900_000 + i, "", "今天天气不错，出去走走", MINUTES + 5), ensure_ascii=False).encode()
            for i in range(count)]


def _post(rng: random.Random, n: int, brand_name: str, template: str, minute: int) -> dict[str, Any]:
    followers = int(rng.paretovariate(1.2) * 50)
    created = START + timedelta(minutes=minute, seconds=rng.randint(0, 59))
    return {
        "source": "weibo",
        "id": str(100000 + n),
        "author": {"id": f"u{rng.randint(1, 5000)}", "name": f"用户{rng.randint(1, 5000)}",
                   "followers": followers, "verified": followers > 100000},
        "text": template.format(b=brand_name),
        "created_at": created.isoformat(),
        "url": f"https://weibo.example/{100000 + n}",
        "reposts": rng.randint(0, 20),
        "comments": rng.randint(0, 10),
        "likes": rng.randint(0, 50),
        "lang": "zh",
        "raw": {},
    }


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def pipeline_config(path: Path, kafka_url: str, prefix: str, receiver_url: str, web_port: int) -> Path:
    config = {
        "kafka": {"url": kafka_url, "partitions": 2, "topic_prefix": prefix},
        "worker": {"app_id": f"{prefix}-app", "data_dir": str(path.parent / "state"), "web_port": web_port,
                   "tick_seconds": 1},
        # idle_close: short so the last buckets close soon after a replay ends,
        # long enough that a worker busy scoring a batch on a loaded machine
        # is not taken for an idle source.
        "buckets": {"size": "1m", "allowed_lateness": "1m", "idle_close": "8s"},
        "input": {"max_age": 0},  # the scenario is dated March 2026, whatever today is
        "brands": BRANDS,
        "alerting": {
            "channels": [{"name": "pr-team", "type": "webhook", "url": receiver_url}],
            "routes": {"receiver": "pr-team", "group_by": ["brand"], "group_wait": "0s",
                       "group_interval": "2s", "repeat_interval": "4h"},
        },
    }
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


class Pipeline:
    """A worker and a receiver for one test, on its own topics."""

    def __init__(self, tmp: Path, kafka_url: str, prefix: str) -> None:
        self.tmp = tmp
        self.prefix = prefix
        self.receiver = WebhookReceiver().start()
        self.web_port = free_port()
        self.config_path = pipeline_config(tmp / "koubei.yaml", kafka_url, prefix, self.receiver.url, self.web_port)
        self.worker: WorkerProcess | None = None

    def start_worker(self) -> WorkerProcess:
        self.worker = WorkerProcess(self.config_path, self.tmp / "worker.log", self.web_port).start()
        self.worker.wait_ready(timeout=120)
        return self.worker

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.receiver.stop()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.5,
             on_timeout: Callable[[], str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    detail = on_timeout() if on_timeout else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{detail}")


def buckets_of(records: list[Any]) -> list[dict[str, Any]]:
    """The buckets in koubei.buckets records, in order (a record holds one
    brand's buckets closed together; records of earlier versions one bucket)."""
    from streams.models import read_bucket_record

    return [bucket.to_dict() for record in records for bucket in read_bucket_record(json.loads(record.value))]


def bucket_counts(records: list[Any]) -> dict[tuple[str, float], tuple[int, int, int, tuple[str, ...]]]:
    """(brand, start) -> (total, negative, risk hits, sorted risk stories)
    from koubei.buckets records (stories sorted: their order follows the
    interleaving of posts partitions, which may differ between runs)."""
    out: dict[tuple[str, float], tuple[int, int, int, tuple[str, ...]]] = {}
    for bucket in buckets_of(records):
        out[(bucket["brand"], float(bucket["start"]))] = (
            bucket["total"], bucket["negative"], bucket["risk_hits"], tuple(sorted(bucket["risk_stories"])))
    return out
