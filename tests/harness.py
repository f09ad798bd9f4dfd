"""Test and benchmark harness: a worker process and an alert inbox.

Built on the demo's own pieces (streams/cli/demo.py) so the tests drive the
worker exactly as `koubei demo` does; what only tests and benchmarks need
(another launcher, extra arguments, a changed environment) is added here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from streams.cli.demo import AlertInbox, WorkerRunner, format_table, metric_sum

__all__ = ["WebhookReceiver", "WorkerProcess", "format_table", "metric_sum"]

WebhookReceiver = AlertInbox


class WorkerProcess(WorkerRunner):
    """``koubei worker`` in a child process with test-specific arguments.

    ``launcher`` replaces ``python -m streams.cli`` (benchmarks run a
    variant); ``extra_args`` are appended to the worker's arguments."""

    def __init__(self, config_path: Path, log_path: Path, web_port: int, env: dict[str, str] | None = None,
                 extra_args: tuple[str, ...] = (), launcher: tuple[str, ...] | None = None) -> None:
        super().__init__(config_path, log_path, web_port)
        self.launcher = launcher or (sys.executable, "-m", "streams.cli")
        self.env = env
        self.extra_args = extra_args

    def argv(self) -> list[str]:
        base = super().argv()
        return [*self.launcher, *base[3:], *self.extra_args]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env
