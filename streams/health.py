"""Is every stage of the worker alive and making progress?

A stage handles each record on its own: a record that fails goes to a
dead-letter topic with its reason and the stream goes on. What is left for
this module is the case that should never happen, a stage that dies anyway
(a bug outside the per-record guard): then ``/healthz`` and ``/readyz``
answer 503, ``koubei_stage_up{stage}`` drops to 0, and after ``grace``
seconds the process exits non-zero so that its supervisor (systemd,
Kubernetes) restarts it. A worker that keeps answering 200 while ingesting
nothing is the failure this prevents.

The exit runs on a thread of its own, so it happens even when the event
loop is blocked.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from streams import metrics

log = logging.getLogger(__name__)

# Exit status of a worker stopped because a stage died (EX_SOFTWARE).
STAGE_FAILED_EXIT = 70


@dataclass
class StageState:
    up: bool = True
    error: str = ""
    failed_at: float | None = None


class StageHealth:
    """Liveness of the worker's stages; ``exit`` is what ends the process."""

    def __init__(self, stages: Iterable[tuple[str, str]], *, grace: float = 30.0,
                 clock: Callable[[], float] = time.time,
                 exit: Callable[[int], None] = os._exit) -> None:  # noqa: A002 - what it does
        """``stages``: (stage name, the topic it reads)."""
        self.topics = dict(stages)
        self.states = {name: StageState() for name in self.topics}
        self.grace = grace
        self.clock = clock
        self._exit = exit
        self._timer: threading.Timer | None = None
        for name, topic in self.topics.items():
            metrics.STAGE_UP.labels(name).set(1)
            metrics.STAGE_PROGRESS.labels(name, topic).set(clock())

    @property
    def healthy(self) -> bool:
        return all(state.up for state in self.states.values())

    def progressed(self, stage: str) -> None:
        """The stage finished a batch."""
        metrics.STAGE_PROGRESS.labels(stage, self.topics[stage]).set(self.clock())

    def failed(self, stage: str, exc: BaseException) -> None:
        """The stage died: report it and exit after the grace period."""
        state = self.states[stage]
        if not state.up:
            return
        state.up, state.error, state.failed_at = False, f"{type(exc).__name__}: {exc}"[:500], self.clock()
        metrics.STAGE_UP.labels(stage).set(0)
        log.critical("stage %s died (%s); the worker exits in %.0fs so that it is restarted",
                     stage, state.error, self.grace)
        if self._timer is None:
            self._timer = threading.Timer(self.grace, self._exit_now)
            self._timer.daemon = True
            self._timer.start()

    def _exit_now(self) -> None:
        log.critical("exiting with status %d: stages down: %s", STAGE_FAILED_EXIT,
                     ", ".join(n for n, s in self.states.items() if not s.up))
        logging.shutdown()
        self._exit(STAGE_FAILED_EXIT)

    def report(self) -> dict[str, object]:
        return {name: ("up" if s.up else f"down: {s.error}") for name, s in self.states.items()}
