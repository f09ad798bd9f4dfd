"""``koubei replay``, ``koubei connect NAME`` and ``koubei connectors``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from typing import Any

from connectors._state import StateError
from connectors.base import SourceError
from connectors.config import common_fields
from connectors.csv_source import CsvOptions
from connectors.file_replay import ReplayStats, SortedRecords, dry_run_summary, replay, stream_records
from connectors.registry import TYPES
from connectors.runtime import KafkaTarget, SinkError, run_connector
from streams.cli.config import KoubeiConfig, load_koubei_config
from streams.config import KafkaConfig
from streams.gate import Gate
from streams.kafka import bootstrap_servers, detect_quirks, ensure_topics, make_producer
from streams.readers import FORMATS, FieldMapping, MappingError
from streams.settings import ConfigError, FieldDoc


def _kafka_target(args: argparse.Namespace,
                  config: KoubeiConfig | None) -> tuple[str, str, str, KafkaConfig | None]:
    """(bootstrap, quirks mode, topic prefix, security) from --kafka or the config file.
    Without a config file the connection is PLAINTEXT (TLS and SASL are set in the kafka section)."""
    if config is not None:
        url = args.kafka or config.kafka.url
        return bootstrap_servers(url), config.kafka.broker_quirks, config.kafka.topic_prefix, config.kafka
    url = args.kafka or os.environ.get("KOUBEI_KAFKA_URL") or "kafka://127.0.0.1:9092"
    return bootstrap_servers(url), "auto", "koubei", None


def _progress_line(stats: ReplayStats) -> None:
    rate = stats.sent / stats.elapsed if stats.elapsed > 0 else 0.0
    print(f"\rreplay: {stats.sent}/{stats.total} posts sent ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)


def cmd_replay(args: argparse.Namespace) -> int:
    config = load_koubei_config(args.config) if args.config else None
    gate = Gate(config.input) if config is not None else Gate()
    if args.default_timezone:
        gate = Gate(replace(gate.rules, default_timezone=args.default_timezone), gate.clock)
    try:
        csv_options, source = _csv_options(args)
        mapping = FieldMapping.parse(args.map) if args.map else None
        records = stream_records(args.path, fmt=args.format, mapping=mapping, source=source,
                                 csv_options=csv_options, gate=gate)
    except MappingError as exc:
        print(f"koubei replay: --map: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"koubei replay: {exc}", file=sys.stderr)
        return 2
    try:
        return _replay_sorted(args, config, records)
    finally:
        records.close()


def _replay_sorted(args: argparse.Namespace, config: KoubeiConfig | None, records: SortedRecords) -> int:
    if args.dry_run:
        print(json.dumps(dry_run_summary(records), ensure_ascii=False))
        return 0
    bootstrap, quirks_mode, prefix, security = _kafka_target(args, config)
    topic = args.topic or f"{prefix}.posts"
    quirks = detect_quirks(quirks_mode, bootstrap, security=security)
    ensure_topics(bootstrap, {topic: args.partitions}, security=security)
    producer = make_producer(bootstrap, quirks, security=security)
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
          f"({stats.unreadable} unreadable records passed through for the worker to dead-letter)")
    if stats.failed:
        print(f"koubei replay: Kafka did not confirm {stats.failed} records, even sent twice "
              f"(first: {stats.first_error}); replay the file again: posts already counted are recognised by their key", file=sys.stderr)
    return 0 if stats.sent == stats.total else 1


def _csv_options(args: argparse.Namespace) -> tuple[CsvOptions | None, str | None]:
    """CSV settings from --connector (a csv connector in the config), and the post source."""
    if not args.connector:
        return None, args.source
    if not args.config:
        raise ConfigError("--connector", "needs -c koubei.yaml")
    spec = load_koubei_config(args.config).connectors.get(args.connector)
    if not isinstance(spec.options, CsvOptions):
        raise ConfigError(f"connectors.{args.connector}.type", f"is {spec.type}, --connector needs a csv connector")
    return replace(spec.options, path=str(args.path)), args.source or spec.source


def cmd_connect(args: argparse.Namespace) -> int:
    config = load_koubei_config(args.config)
    connectors = config.connectors
    spec = connectors.get(args.name)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    bootstrap = bootstrap_servers(args.kafka or config.kafka.url)
    quirks = detect_quirks(config.kafka.broker_quirks, bootstrap, security=config.kafka)
    target = KafkaTarget(bootstrap, quirks, config.kafka.topic_prefix, config.kafka.partitions,
                         config.kafka.replication_factor, security=config.kafka)
    if args.state_dir:
        connectors = replace(connectors, state_dir=args.state_dir)
    port = spec.metrics_port if args.metrics_port is None else args.metrics_port
    if port:
        from prometheus_client import start_http_server

        start_http_server(port)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_connector(spec, connectors, target, stop=stop, gate=Gate(config.input))

    print(f"koubei connect: {spec.name} ({spec.type}) -> {target.posts_topic}, "
          f"checkpoint in {connectors.state_dir}", file=sys.stderr)
    try:
        asyncio.run(main())
    except (StateError, SourceError, OSError) as exc:
        # A taken port, a missing file, a second instance: say so without a traceback.
        print(f"koubei connect: {exc}", file=sys.stderr)
        return 2
    except SinkError as exc:
        print(f"koubei connect: {exc}; the checkpoint was not advanced, restart to resume", file=sys.stderr)
        return 1
    print(f"koubei connect: {spec.name} stopped cleanly", file=sys.stderr)
    return 0


def _print_fields(docs: tuple[FieldDoc, ...]) -> None:
    for doc in docs:
        print(f"    {doc.name:<18} {doc.kind:<14} default {doc.default:<22} {doc.help}")


def cmd_connectors(args: argparse.Namespace) -> int:
    if args.config:
        configured = load_koubei_config(args.config).connectors
        print(f"Configured in {args.config} (checkpoints in {configured.state_dir}):")
        for name, spec in sorted(configured.instances.items()):
            print(f"  {name:<16} {spec.type:<12} source={spec.source}")
        if not configured.instances:
            print("  (none)")
        print()
    for ctype in TYPES.values():
        print(f"{ctype.name}: {ctype.summary}")
        _print_fields(ctype.fields)
        print()
    print("Fields every connector accepts (rate_limit to backoff_max only where the connector calls a source: "
          + ", ".join(t.name for t in TYPES.values() if t.polls) + "):")
    _print_fields(common_fields())
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    c = subparsers.add_parser("connect", help="run one configured connector (koubei connect NAME -c koubei.yaml)")
    c.add_argument("name", help="connector name under connectors: in the config")
    c.add_argument("-c", "--config", required=True, help="koubei.yaml")
    c.add_argument("--kafka", help="Kafka URL (overrides the config)")
    c.add_argument("--metrics-port", type=int, default=None, help="Prometheus port (overrides metrics_port; 0 = off)")
    c.add_argument("--state-dir", help="checkpoint directory (overrides connectors.state_dir)")
    c.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    c.set_defaults(func=cmd_connect)

    ls = subparsers.add_parser("connectors", help="list connector types and their config fields")
    ls.add_argument("-c", "--config", help="also list the connectors configured in this file")
    ls.set_defaults(func=cmd_connectors)

    p = subparsers.add_parser("replay", help="replay crawler files (or JSONL of posts) into koubei.posts in event-time order")
    p.add_argument("path", help="a file, or a folder of .csv/.json/.jsonl files (e.g. MediaCrawler's data/)")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="file format; default: told apart per file (" + ", ".join(FORMATS) + ")")
    p.add_argument("--dry-run", action="store_true",
                   help='read and validate without sending; print {"valid", "duplicates", "invalid", "by_reason"}')
    p.add_argument("--speed", type=float, default=None,
                   help="event-time speed-up (60 = an hour per minute); default: as fast as possible")
    p.add_argument("-c", "--config", help="koubei.yaml (for the Kafka URL and topic prefix)")
    p.add_argument("--kafka", help="Kafka URL, e.g. kafka://127.0.0.1:9092 (overrides the config)")
    p.add_argument("--topic", help="target topic (default: <prefix>.posts)")
    p.add_argument("--partitions", type=int, default=4, help="partitions if the topic must be created")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    p.add_argument("--map", help="field mapping for csv/json/jsonl records: FIELD=COLUMN,... (needs id, text, "
                                 "created_at; text=title+desc joins; user.name reads nested JSON)")
    p.add_argument("--connector", help="take the CSV mapping from this csv connector in -c CONFIG")
    p.add_argument("--source", default=None, help="Post.source (default: the crawler's platform, file for mapped records)")
    p.add_argument("--default-timezone", default="",
                   help="zone of times without an offset (default: input.default_timezone, Asia/Shanghai)")
    p.set_defaults(func=cmd_replay)
