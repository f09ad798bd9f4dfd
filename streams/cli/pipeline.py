"""Sub-commands of the pipeline itself: broker, worker, check-config, demo."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from typing import Any

from streams import topics
from streams.cli.config import load_koubei_config


def cmd_broker(args: argparse.Namespace) -> int:
    from streams.broker import EmbeddedBroker

    broker = EmbeddedBroker(port=args.port)
    broker.start()
    print(f"embedded broker (Tansu) ready: {broker.url}", flush=True)
    print(f"  export KOUBEI_KAFKA_URL={broker.url}", flush=True)
    print("  storage is in memory: everything is gone when it stops. Ctrl-C to stop.", flush=True)
    stopping = {"flag": False}

    def _stop(*_: Any) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopping["flag"]:
            if broker.process is None or broker.process.poll() is not None:
                print("koubei broker: the broker process exited", file=sys.stderr)
                return 1
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
        print("embedded broker stopped", flush=True)
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    from streams.kafka import describe_security, ssl_context

    config = load_koubei_config(args.config)
    # Loads the CA bundle and the client certificate, so a bad PEM file or a
    # wrong key password fails here rather than at the worker's first connection.
    ssl_context(config.kafka)
    print(f"{args.config}: OK")
    print(f"  kafka: {config.kafka.url} ({config.kafka.partitions} partitions, quirks: {config.kafka.broker_quirks})")
    print(f"  kafka security: {describe_security(config.kafka)}")
    print(f"  brands: {', '.join(b.id for b in config.brands)}")
    print(f"  buckets: {config.buckets.size_seconds:g}s, lateness {config.buckets.allowed_lateness_seconds:g}s")
    print(f"  sentiment: model={config.sentiment.model} lexicon={config.sentiment.lexicon}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from faust.worker import Worker

    from streams.cli.worker import build_worker_app
    from streams.faust_app import setup_faust_sensors
    from streams.kafka import bootstrap_servers, describe_security, detect_quirks, ensure_topics
    from streams.metrics import BUILD_INFO, publish_brand_info

    config = load_koubei_config(args.config)
    if args.data_dir:
        from dataclasses import replace

        config = replace(config, worker=replace(config.worker, data_dir=args.data_dir))
    bootstrap = bootstrap_servers(config.kafka.url)
    quirks = detect_quirks(config.kafka.broker_quirks, bootstrap, security=config.kafka)
    logging.basicConfig(level=args.loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("koubei.worker")
    log.info("broker %s (%s; %s)", config.kafka.url,
             "embedded Tansu: workarounds on" if quirks.embedded else "Apache Kafka", describe_security(config.kafka))
    ensure_topics(bootstrap, config.topics.plan(topics.PIPELINE), config.kafka.replication_factor,
                  security=config.kafka)
    app = build_worker_app(config, quirks, web_port=args.web_port, with_notifier=not args.no_notifier)
    from streams import __version__

    BUILD_INFO.labels(__version__).set(1)
    publish_brand_info((brand.id, brand.name) for brand in config.brands)
    setup_faust_sensors(app, name_prefix="koubei_faust")
    worker = Worker(app, loglevel=args.loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.cli.demo import run_demo

    return run_demo(args)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    p = subparsers.add_parser("broker", help="run the embedded Kafka-compatible broker (Tansu) on 127.0.0.1")
    p.add_argument("--port", type=int, default=9092, help="port to listen on (default 9092)")
    p.set_defaults(func=cmd_broker)

    p = subparsers.add_parser("check-config", help="validate a koubei.yaml and print a summary")
    p.add_argument("config", help="path to koubei.yaml")
    p.set_defaults(func=cmd_check_config)

    p = subparsers.add_parser("worker", help="run the stream worker (score, aggregate, detect, notify)")
    p.add_argument("-c", "--config", required=True, help="path to koubei.yaml")
    p.add_argument("--web-port", type=int, default=None,
                   help="port for /metrics, /healthz and /readyz (default: worker.web_port)")
    p.add_argument("--data-dir", default=None, help="table state directory (default: worker.data_dir)")
    p.add_argument("--no-notifier", action="store_true", help="do not deliver alerts in this process")
    p.add_argument("--loglevel", default=os.environ.get("KOUBEI_LOGLEVEL", "warning"),
                   choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=cmd_worker)

    p = subparsers.add_parser("demo", help="broker + worker + receiver + replay of the bundled scenario")
    p.add_argument("--speed", type=float, default=None, help="replay speed-up (default: fit into about a minute)")
    p.add_argument("--scenario", default=None, help="a scenario JSONL (default: the bundled one)")
    p.add_argument("--language", choices=("zh", "en"), default="zh", help="alert language")
    p.add_argument("--keep", action="store_true", help="keep the demo's work directory")
    p.set_defaults(func=cmd_demo)
