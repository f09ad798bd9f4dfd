"""What a detector signal is: a small object with its own state that scores
every bucket and learns from the ordinary ones.

A signal reads the brand's shared ``Frame`` (streams/detection/baseline.py:
the windows, the expected counts, the usual share) and returns a ``Test``:
its statistic on the best window, which window that is, whether it is *hot*
(passes its test now) and whether it is *quiet* (every window below
``resolve_z``, for the alert to resolve). The alert policy
(streams/detection/policy.py) turns hot and quiet into firing, escalating
and resolved events; the signal only explains itself (``describe``,
``summary``) when an event needs it.

A signal's state is a dataclass (``State``) stored under its name in the
detector's state, so adding a signal is one new module in this package and
one line in ``REGISTRY`` (streams/detection/signals/__init__.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, NamedTuple

from streams.detection.baseline import Baseline, Frame
from streams.detection.params import AdaptiveParams


class Test(NamedTuple):
    z: float  # the statistic on the best window (hot first, then highest)
    index: int  # which window (index into Baseline.windows)
    hot: bool
    quiet: bool


QUIET = Test(0.0, 0, False, True)


@dataclass
class Description:
    """What an alert on this signal reports: value against baseline, severity, the test."""

    value: float
    baseline: float
    critical: bool
    test: str
    evidence: dict[str, Any]


@dataclass
class NoState:
    """For a signal that learns nothing of its own (it reads the shared baseline)."""


class Signal:
    name: ClassVar[str] = ""
    # The alert key's suffix; signals that share one are one alert (the
    # long-scale volume reports as ``volume``).
    alert: ClassVar[str] = ""
    # A negative signal's alert is a crisis alert; the others (volume) are news.
    negative: ClassVar[bool] = True
    # At most one alert opens per ``episode_cooldown`` (params field name),
    # counted from its opening, bigger or not (see docs/detection.md).
    episodic: ClassVar[bool] = False
    # One bucket holds the whole evidence (one post): ``fire_after`` (hot
    # buckets in a row) cannot apply, or a preset that asks for two would
    # never open this alert.
    single_bucket: ClassVar[bool] = False
    State: ClassVar[type] = NoState

    def __init__(self, params: AdaptiveParams, baseline: Baseline, state: dict[str, Any] | None = None) -> None:
        self.params = params
        self.baseline = baseline
        known = {f.name for f in fields(self.State)}
        self.state = self.State(**{k: v for k, v in (state or {}).items() if k in known})
        self.last: Test = QUIET
        self.derive()

    @property
    def key(self) -> str:
        return self.alert or self.name

    def to_state(self) -> dict[str, Any]:
        return asdict(self.state)

    def derive(self) -> None:
        """Recompute what follows from the bucket size (called when it changes)."""

    def score(self, frame: Frame) -> Test:
        raise NotImplementedError

    def learn(self, frame: Frame, tone_learns: bool, volume_learns: bool) -> None:
        """Learn from an ordinary bucket (the flags say whether this one is)."""

    def describe(self, frame: Frame, test: Test) -> Description:
        raise NotImplementedError

    def summary(self, facts: dict[str, Any], minutes: float) -> str:
        raise NotImplementedError

    def z_per_window(self, frame: Frame) -> list[float]:
        return []
