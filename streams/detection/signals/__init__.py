"""The detector's signals, one module each; ``REGISTRY`` is the order they are scored in.

Adding a signal: a module here with a ``Signal`` subclass (see
``streams.detection.signals.base``) and one line below. Order matters only
where a signal reads another's result from the frame (``volume_long`` is
hot only when ``volume`` is not).
"""

from __future__ import annotations

from streams.detection.signals.base import Signal
from streams.detection.signals.copies import CopyFlood
from streams.detection.signals.kol import Kol
from streams.detection.signals.negative_count import NegativeCount
from streams.detection.signals.negative_share import NegativeShare
from streams.detection.signals.risk_stories import RiskStories
from streams.detection.signals.sequential import NegativeSequential
from streams.detection.signals.tone import NegativeTone
from streams.detection.signals.volume import Volume
from streams.detection.signals.volume_long import VolumeLong

REGISTRY: dict[str, type[Signal]] = {
    cls.name: cls
    for cls in (
        NegativeShare,
        NegativeCount,
        RiskStories,
        Volume,
        VolumeLong,
        Kol,
        NegativeSequential,
        CopyFlood,
        NegativeTone,
    )
}
