"""Progress of long sentiment commands (train, eval, prepare) on stderr.

A bar redrawn in place on a terminal; otherwise one line per stage start,
per quarter of a stage and per stage end, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

# What each stage counts, for the line shown to people.
STAGE_TEXT = {
    "read": ("reading", "lines"),
    "words": ("segmenting", "texts"),
    "fit": ("fitting", "steps"),
    "score": ("scoring", "posts"),
    "convert": ("converting SnowNLP's segmenter", "parts"),
}
_REDRAW_SECONDS = 0.1


class StageProgress:
    """``progress(stage, done, total)`` callback; stages may follow each other."""

    def __init__(self, command: str, stream: TextIO | None = None) -> None:
        self.command = command
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._stage = ""
        self._stage_started = self.started
        self._last_draw = 0.0
        self._last_quarter = -1

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage != self._stage:
            if self.tty and self._stage:
                self.stream.write("\n")
            self._stage, self._stage_started, self._last_quarter, self._last_draw = stage, now, -1, 0.0
        verb, unit = STAGE_TEXT.get(stage, (stage, "items"))
        fraction = min(1.0, done / total) if total > 0 else 1.0
        elapsed = now - self._stage_started
        if self.tty:
            if done < total and now - self._last_draw < _REDRAW_SECONDS:
                return
            self._last_draw = now
            filled = int(20 * fraction)
            self.stream.write(f"\r{self.command}: {verb} [{'#' * filled}{'-' * (20 - filled)}] "
                              f"{done:,}/{total:,} {unit} {elapsed:5.1f}s")
            if done >= total:
                self.stream.write("\n")
                self._stage = ""
        else:
            quarter = int(fraction * 4)
            if quarter == self._last_quarter:
                return
            self._last_quarter = quarter
            self.stream.write(f"{self.command}: {verb} {done:,}/{total:,} {unit} ({fraction:.0%}, {elapsed:.1f}s)\n")
        self.stream.flush()
