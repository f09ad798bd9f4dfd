"""``koubei notify``, ``koubei silence add|list|expire`` and ``koubei test-alert``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import signal
import sys
import time
from datetime import datetime
from typing import Any

from alerting.console.links import link_provider
from alerting.labels import Labeler
from alerting.policy.silences import Silence, SilenceStore
from streams.cli.config import KoubeiConfig, load_koubei_config
from streams.kafka import BrokerQuirks
from streams.models import AlertEvent
from streams.settings import ConfigError, parse_duration


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default="koubei.yaml", help="the configuration file (default koubei.yaml)")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    notify = subparsers.add_parser("notify", help="run alert delivery on its own (without the stream worker)")
    _add_config(notify)
    notify.add_argument("--metrics-port", type=int, default=None,
                        help="serve Prometheus metrics on this port (default: worker.metrics_port; 0 = off)")
    notify.set_defaults(func=cmd_notify)

    silence = subparsers.add_parser("silence", help="mute alerts for a while (stored durably, honoured by every worker)")
    actions = silence.add_subparsers(dest="silence_command", metavar="ACTION")
    add = actions.add_parser("add", help="add a silence, e.g. `koubei silence add brand=acme --for 2h --comment ...`")
    add.add_argument("matchers", nargs="+", metavar="MATCHER",
                     help="brand=ID, severity!=critical, 'signal=~\"negative_.*\"', team=east (any brand label); "
                          "all must match, several = values of one label mean any of them")
    add.add_argument("--for", dest="duration", required=True, help="how long, e.g. 30m, 2h, 1d")
    add.add_argument("--comment", required=True, help="why (shown in `silence list`)")
    add.add_argument("--author", default=None, help="who (default: your login name)")
    _add_config(add)
    add.set_defaults(func=cmd_silence_add)
    lst = actions.add_parser("list", help="list silences in effect")
    lst.add_argument("--all", action="store_true", help="include expired silences")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    _add_config(lst)
    lst.set_defaults(func=cmd_silence_list)
    expire = actions.add_parser("expire", help="end a silence now")
    expire.add_argument("id", help="the silence id (a unique prefix is enough)")
    _add_config(expire)
    expire.set_defaults(func=cmd_silence_expire)
    silence.set_defaults(func=lambda args: (silence.print_help(), 2)[1])

    test = subparsers.add_parser("test-alert", help="send a rendered sample alert to the channels, to check a robot's setup")
    _add_config(test)
    test.add_argument("--channel", default=None, help="only this channel (default: all)")
    test.add_argument("--resolved", action="store_true", help="send a 'resolved' sample instead of 'firing'")
    test.set_defaults(func=cmd_test_alert)


def _load(args: argparse.Namespace) -> KoubeiConfig:
    return load_koubei_config(args.config)


def _kafka(config: KoubeiConfig) -> tuple[str, BrokerQuirks]:
    from streams.kafka import bootstrap_servers, detect_quirks

    bootstrap = bootstrap_servers(config.kafka.url)
    return bootstrap, detect_quirks(config.kafka.broker_quirks, bootstrap, security=config.kafka)


def cmd_notify(args: argparse.Namespace) -> int:
    from alerting.notifier import Notifier

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = _load(args)
    bootstrap, quirks = _kafka(config)
    port = args.metrics_port if args.metrics_port is not None else config.worker.metrics_port
    if port:
        from prometheus_client import start_http_server

        start_http_server(port)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await Notifier(config, config.alerting, bootstrap, quirks, links=link_provider(config.console)).run(stop)

    asyncio.run(main())
    return 0


def _silence_store(config: KoubeiConfig, bootstrap: str) -> SilenceStore:
    from alerting.notifier import ensure_notifier_topics, topic_names
    from streams.kafka import read_topic

    ensure_notifier_topics(config, bootstrap)
    store = SilenceStore()
    for record in read_topic(bootstrap, topic_names(config)["silences"], security=config.kafka):
        store.apply_record(record.value)
    return store


def _publish(config: KoubeiConfig, bootstrap: str, quirks: BrokerQuirks, silence: Silence) -> None:
    from alerting.notifier import topic_names
    from streams.kafka import make_producer

    producer = make_producer(bootstrap, quirks, security=config.kafka)
    try:
        producer.send(topic_names(config)["silences"], key=silence.id.encode(), value=silence.to_json()).get(timeout=30)
    finally:
        producer.close()


def _fmt(epoch: float, tz: str) -> str:
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(epoch, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def cmd_silence_add(args: argparse.Namespace) -> int:
    from alerting.policy.silences import SilenceError, new_silence, parse_matchers

    config = _load(args)
    acfg = config.alerting
    try:
        duration = parse_duration(args.duration, "--for")
    except ConfigError as exc:
        print(f"koubei silence add: {exc.message}", file=sys.stderr)
        return 2
    if duration > acfg.silences.max_duration:
        print(f"koubei silence add: --for is longer than alerting.silences.max_duration "
              f"({acfg.silences.max_duration / 86400:g} days)", file=sys.stderr)
        return 2
    try:
        matchers = parse_matchers(args.matchers, config.brand_ids, Labeler.of(config.brands).names())
        silence = new_silence(matchers, time.time(), duration, args.comment, args.author or getpass.getuser())
    except SilenceError as exc:
        print(f"koubei silence add: {exc}", file=sys.stderr)
        return 2
    bootstrap, quirks = _kafka(config)
    _publish(config, bootstrap, quirks, silence)
    print(f"silence {silence.id} added until {_fmt(silence.ends_at, acfg.timezone)}")
    return 0


def cmd_silence_list(args: argparse.Namespace) -> int:
    config = _load(args)
    acfg = config.alerting
    bootstrap, _ = _kafka(config)
    store = _silence_store(config, bootstrap)
    now = time.time()
    rows = sorted(store.silences.values(), key=lambda s: s.ends_at) if args.all else store.active(now)
    if args.json:
        print(json.dumps([s.to_dict() for s in rows], ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("no silences in effect" if not args.all else "no silences")
        return 0
    print(f"{'ID':<12}  {'MATCHERS':<32}  {'ENDS':<16}  {'STATE':<7}  BY / COMMENT")
    for s in rows:
        matchers = " ".join(m.display() for m in s.matchers)
        state = "active" if s.active(now) else ("pending" if s.starts_at > now else "expired")
        print(f"{s.id:<12}  {matchers:<32}  {_fmt(s.ends_at, acfg.timezone):<16}  {state:<7}  {s.created_by}: {s.comment}")
    return 0


def cmd_silence_expire(args: argparse.Namespace) -> int:
    from alerting.policy.silences import SilenceError, expired

    config = _load(args)
    bootstrap, quirks = _kafka(config)
    store = _silence_store(config, bootstrap)
    try:
        silence = store.find(args.id)
    except SilenceError as exc:
        print(f"koubei silence expire: {exc}", file=sys.stderr)
        return 2
    _publish(config, bootstrap, quirks, expired(silence, time.time()))
    print(f"silence {silence.id} expired")
    return 0


def sample_alert(config: KoubeiConfig, state: str, now: float) -> AlertEvent:
    """A realistic alert for the first configured brand, clearly marked as a test."""
    from alerting.message import sample_alert as make_sample
    from alerting.notifier import make_renderer

    brand = config.brands[0]
    return make_sample(brand.id, brand.name, state, now, make_renderer(config, config.alerting).strings["test_summary"])


def cmd_test_alert(args: argparse.Namespace) -> int:
    import httpx

    from alerting.channels import Outcome, make_channel
    from alerting.message import Notification
    from alerting.notifier import make_renderer

    config = _load(args)
    acfg = config.alerting
    channels = [c for c in acfg.channels if args.channel in (None, c.name)]
    if not channels:
        known = ", ".join(c.name for c in acfg.channels) or "none configured"
        print(f"koubei test-alert: no channel {args.channel!r} (channels: {known})", file=sys.stderr)
        return 2
    renderer = make_renderer(config, config.alerting, link_provider(config.console))
    now = time.time()
    alert = sample_alert(config, "resolved" if args.resolved else "firing", now)

    async def send_all() -> int:
        failures = 0
        async with httpx.AsyncClient() as client:
            for cfg in channels:
                note = Notification(cfg.name, "test", {}, [alert], "test", now)
                result = await make_channel(cfg, renderer).send(client, note, time.time())
                ok = result.outcome is Outcome.DELIVERED
                failures += 0 if ok else 1
                print(f"{cfg.name} ({cfg.type}): {'delivered' if ok else result.outcome.value + ' - ' + result.detail}")
        return failures

    return 1 if asyncio.run(send_all()) else 0
