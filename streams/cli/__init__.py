"""The ``koubei`` command line: the composition root.

This package is the only code that imports every layer (``streams``,
``alerting``, ``connectors``) and wires them together: the whole
configuration file (``streams.cli.config``), the worker with alert delivery
attached (``streams.cli.worker``), and the commands. Each area registers its
own sub-commands (``register(subparsers)``); the pure stream tools
(sentiment, detection, scenarios) keep theirs beside their code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from streams import __version__
from streams.settings import ConfigError

# Modules that add sub-commands; each defines register(subparsers).
COMMAND_MODULES = (
    "streams.cli.pipeline",
    "streams.scenario_cli",
    "streams.sentiment.cli",
    "streams.detection.cli",
    "streams.cli.alerts",
    "streams.cli.connect",
    "streams.cli.console",
    "streams.cli.incidents",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="koubei",
        description="Koubei Sentinel (口碑哨兵): streaming crisis alerts for brand reputation.",
    )
    parser.add_argument("--version", action="version", version=f"koubei-sentinel {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        _validate_whole_config(args)
        return int(func(args) or 0)
    except ConfigError as exc:
        print(f"koubei: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # A broker that cannot be reached (or refuses) at start-up is a
        # one-line message for every command, not a traceback.
        from kafka.errors import KafkaError

        if not isinstance(exc, KafkaError):
            raise
        command = getattr(args, "command", None)
        override = " or --kafka" if hasattr(args, "kafka") else ""
        # kafka-python's errors name their kind in their text.
        print(f"{'koubei ' + command if command else 'koubei'}: cannot use Kafka ({exc}); check kafka.url in the "
              f"config, KOUBEI_KAFKA_URL{override}", file=sys.stderr)
        return 1


def _validate_whole_config(args: argparse.Namespace) -> None:
    """Every command that reads koubei.yaml validates all of it first, so a
    bad field in any section fails the same way, naming the field, even for
    a command that uses only the pipeline's part."""
    path = getattr(args, "config", None)
    if isinstance(path, str) and Path(path).is_file():
        from streams.cli.config import load_koubei_config

        load_koubei_config(path)


if __name__ == "__main__":
    sys.exit(main())
