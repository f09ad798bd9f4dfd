"""A stage that dies is reported, and the worker exits so that it is restarted."""

from __future__ import annotations

import threading

from streams import metrics
from streams.health import STAGE_FAILED_EXIT, StageHealth


def test_a_dead_stage_makes_the_worker_unhealthy_and_exit_after_the_grace_period() -> None:
    exited = threading.Event()
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        exited.set()

    health = StageHealth([("score", "t.posts"), ("detect", "t.buckets")], grace=0.05, exit=fake_exit)
    assert health.healthy
    health.progressed("score")
    health.failed("score", RuntimeError("boom"))
    health.failed("score", RuntimeError("again"))  # reported once
    assert not health.healthy
    assert health.report()["score"] == "down: RuntimeError: boom"
    assert health.report()["detect"] == "up"
    assert metrics.STAGE_UP.labels("score")._value.get() == 0
    assert exited.wait(2.0)
    assert codes == [STAGE_FAILED_EXIT]
