"""``koubei replay`` (and, later, ``koubei connect`` / ``koubei connectors``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from connectors.file_replay import ReplayStats, load_records, replay


def _kafka_target(args: argparse.Namespace) -> tuple[str, str, str]:
    """(bootstrap, quirks mode, topic prefix) from --kafka or the config file."""
    import os

    from streams.kafka import bootstrap_servers

    if args.config:
        from streams.config import load_config

        config = load_config(args.config)
        url = args.kafka or config.kafka.url
        return bootstrap_servers(url), config.kafka.broker_quirks, config.kafka.topic_prefix
    url = args.kafka or os.environ.get("KOUBEI_KAFKA_URL") or "kafka://127.0.0.1:9092"
    return bootstrap_servers(url), "auto", "koubei"


def _progress_line(stats: ReplayStats) -> None:
    rate = stats.sent / stats.elapsed if stats.elapsed > 0 else 0.0
    print(f"\rreplay: {stats.sent}/{stats.total} posts sent ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)


def cmd_replay(args: argparse.Namespace) -> int:
    from streams.kafka import detect_quirks, ensure_topics, make_producer

    bootstrap, quirks_mode, prefix = _kafka_target(args)
    topic = args.topic or f"{prefix}.posts"
    records = load_records(args.file)
    quirks = detect_quirks(quirks_mode, bootstrap)
    ensure_topics(bootstrap, {topic: args.partitions})
    producer = make_producer(bootstrap, quirks)
    stop = threading.Event()
    previous: Any = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stats = replay(records, producer, topic, speed=args.speed or None, stop=stop,
                       on_progress=None if args.quiet else _progress_line)
    except KeyboardInterrupt:
        stop.set()
        print("\nreplay: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        producer.close()
    if not args.quiet:
        print(file=sys.stderr)
    print(f"replayed {stats.sent} of {stats.total} records to {topic} "
          f"({stats.unreadable} unreadable lines passed through for the worker to dead-letter)")
    return 0 if stats.sent == stats.total else 1


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    p = subparsers.add_parser("replay", help="replay a JSONL file of posts into koubei.posts in event-time order")
    p.add_argument("file", help="JSONL file, one post per line")
    p.add_argument("--speed", type=float, default=None,
                   help="event-time speed-up (60 = an hour per minute); default: as fast as possible")
    p.add_argument("-c", "--config", help="koubei.yaml (for the Kafka URL and topic prefix)")
    p.add_argument("--kafka", help="Kafka URL, e.g. kafka://127.0.0.1:9092 (overrides the config)")
    p.add_argument("--topic", help="target topic (default: <prefix>.posts)")
    p.add_argument("--partitions", type=int, default=4, help="partitions if the topic must be created")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=cmd_replay)
