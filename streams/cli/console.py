"""``koubei console``: the PR team's web console (alerting/console/, docs/console.md).

The composition root's part: read koubei.yaml, find the broker, build the
state, the follower, the writer and the web app, serve until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import signal
import sys
from typing import Any

from streams.cli.config import KoubeiConfig, load_koubei_config
from streams.settings import ConfigError


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    console = subparsers.add_parser(
        "console", help="serve the PR team's web console (incidents, brands, silences, acknowledgements)",
        description="Serve the PR console: brands overview, incidents, backtest reports, actions behind a login "
                    "(docs/console.md).")
    console.add_argument("-c", "--config", default="koubei.yaml", help="the configuration file (default koubei.yaml)")
    console.add_argument("--listen", default=None, metavar="HOST:PORT",
                         help="where to serve (default: console.listen, 127.0.0.1:8090)")
    console.add_argument("--hash-password", action="store_true",
                         help="print a password hash for console.users_env (reads the password from the terminal "
                              "or standard input) and exit")
    console.set_defaults(func=cmd_console)


def gap_of(config: KoubeiConfig) -> Any:
    """The detection cool-down of each brand: signals that far apart are one incident."""
    def gap(brand: str) -> float:
        return float(config.detection.for_brand(brand).params.cooldown)
    return gap


def cmd_hash_password() -> int:
    from alerting.console.auth import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if password != getpass.getpass("again: "):
            print("koubei console: the passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        print("koubei console: use a password of at least 8 characters", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    if args.hash_password:
        return cmd_hash_password()
    from aiohttp import web

    from alerting.console.app import ConsoleSettings, create_app
    from alerting.console.config import parse_listen
    from alerting.console.follower import Follower, KafkaWriter
    from alerting.console.state import ConsoleState
    from alerting.labels import Labeler
    from streams.kafka import bootstrap_servers, detect_quirks

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)  # its connection chatter would drown the console's lines
    config = load_koubei_config(args.config)
    try:
        host, port = parse_listen(args.listen or config.console.listen, "--listen")
    except ConfigError as exc:
        print(f"koubei console: {exc}", file=sys.stderr)
        return 2
    bootstrap = bootstrap_servers(config.kafka.url)
    quirks = detect_quirks(config.kafka.broker_quirks, bootstrap, security=config.kafka)
    state = ConsoleState(brands={b.id: b.name for b in config.brands}, labeler=Labeler.of(config.brands),
                         history=config.console.history, gap=gap_of(config))
    writer = KafkaWriter(config, bootstrap, quirks)
    app = create_app(ConsoleSettings(config, config.alerting, config.console), state, writer)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        access = ("read-only: no login configured" if not config.console.auth_enabled
                  else "actions need a login")
        shown = f"[{host}]" if ":" in host else host
        print(f"koubei console: serving http://{shown}:{port}/ ({access}); reading Kafka at {bootstrap}", flush=True)
        if config.console.public_url:
            print(f"koubei console: chat messages link to {config.console.public_url}", flush=True)
        follower = Follower(config, bootstrap, state, writer)
        task = asyncio.create_task(follower.run_until_stopped(stop))

        async def announce() -> None:
            await follower.ready.wait()
            stats = state.stats()
            print(f"koubei console: history read: {stats['incidents']} incidents, {stats['brands']} brands with "
                  f"buckets, {sum(stats['records'].values())} records", flush=True)

        announcer = asyncio.create_task(announce())
        try:
            await stop.wait()
        finally:
            announcer.cancel()
            await task
            await runner.cleanup()
            await asyncio.to_thread(writer.close)

    asyncio.run(main())
    return 0
