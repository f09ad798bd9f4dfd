"""``volume_long``: a rise to two or three times the usual volume that lasts hours.

No 5-60 minute window is ``min_ratio`` above its expectation then. The
baseline keeps exponentially weighted sums of mentions and of expected
mentions (half-life ``volume_long_half_life``) and the robust centre and
spread of their log ratio; this signal is hot when the robust z of the
current log ratio reaches ``volume_long_z`` and the smoothed ratio
``volume_long_ratio``, and only when the short windows are not hot already.
It reports as the ``volume`` alert (one page per episode).
"""

from __future__ import annotations

from typing import Any

from streams.detection.baseline import Frame
from streams.detection.signals.base import Description, Signal, Test
from streams.detection.signals.volume import Volume


class VolumeLong(Signal):
    name = "volume_long"
    alert = "volume"
    negative = False
    episodic = True

    def score(self, f: Frame) -> Test:
        p = self.params
        self.baseline.advance_long("volume" in f.hot)
        hot = (f.warmed and f.long_z >= p.volume_long_z > 0.0 and f.long_ratio >= p.volume_long_ratio
               and "volume" not in f.hot)
        return Test(f.long_z, len(self.baseline.windows) - 1, hot, True)

    def describe(self, f: Frame, test: Test, w: dict[str, Any]) -> Description:
        return Volume.describe(self, f, test, w)  # type: ignore[arg-type]

    def summary(self, facts: dict[str, Any], minutes: float) -> str:
        return Volume.summary(self, facts, minutes)  # type: ignore[arg-type]
