"""The ``koubei`` command line.

Each area registers its own sub-commands (``register(subparsers)``) so the
command line is one tool while the code stays in the package that owns it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from streams import __version__
from streams.settings import ConfigError

# Modules that add sub-commands; each defines register(subparsers).
COMMAND_MODULES = (
    "streams.commands",
    "streams.scenario_cli",
    "streams.sentiment.cli",
    "streams.detection.cli",
    "alerting.cli",
    "connectors.cli",
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
        return int(func(args) or 0)
    except ConfigError as exc:
        print(f"koubei: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
