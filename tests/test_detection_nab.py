"""Our NAB scorer on hand-made cases. (No test asserts a score on the shared series: the
defaults are chosen on them, docs/benchmarks.md reports held-out scores only.)"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.bench_scripts import bench_module

STANDARD = {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 1.0}
LOW_FN = {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 2.0}
nab = bench_module("nab_score")
TIMES = [1_000_000.0 + 300.0 * i for i in range(100)]  # probation: the first 15 rows
WINDOW = [(TIMES[40], TIMES[59])]  # rows 40..59, width 20


def detections(*rows: int) -> list[bool]:
    flags = [False] * len(TIMES)
    for row in rows:
        flags[row] = True
    return flags


def test_scaled_sigmoid_landmarks() -> None:
    assert nab.scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert nab.scaled_sigmoid(0.0) == pytest.approx(0.0)
    assert nab.scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert nab.scaled_sigmoid(3.0) == -1.0


def test_probation_is_15_percent_capped_at_750_rows() -> None:
    assert nab.probation_rows(100) == 15
    assert nab.probation_rows(15_902) == 750


def test_perfect_detector_scores_100_and_null_scores_0() -> None:
    perfect = nab.score_file(TIMES, detections(40), WINDOW, STANDARD)
    assert perfect.raw == pytest.approx(1.0)
    assert perfect.normalised == pytest.approx(100.0)
    null = nab.score_file(TIMES, detections(), WINDOW, STANDARD)
    assert null.raw == pytest.approx(-1.0)
    assert null.normalised == pytest.approx(0.0)
    assert (null.true_positives, null.false_negatives) == (0, 1)


def test_only_the_earliest_detection_in_a_window_counts() -> None:
    score = nab.score_file(TIMES, detections(45, 50, 58), WINDOW, STANDARD)
    expected = nab.scaled_sigmoid(-(59 - 45 + 1) / 20) / nab.scaled_sigmoid(-1.0)
    assert score.raw == pytest.approx(expected)
    assert score.true_positives == 1 and score.false_positives == 0


def test_one_false_positive_before_any_window_costs_a_full_fp_weight() -> None:
    score = nab.score_file(TIMES, detections(20, 40), WINDOW, STANDARD)
    assert score.raw == pytest.approx(1.0 - 0.11)
    assert score.normalised == pytest.approx(100 * (0.89 + 1.0) / 2.0)


def test_false_positive_after_a_window_is_discounted_by_the_sigmoid() -> None:
    just_after = nab.score_file(TIMES, detections(40, 61), WINDOW, STANDARD)
    far_after = nab.score_file(TIMES, detections(40, 99), WINDOW, STANDARD)
    assert just_after.raw == pytest.approx(1.0 + 0.11 * nab.scaled_sigmoid(2 / 19))
    assert far_after.raw == pytest.approx(1.0 + 0.11 * nab.scaled_sigmoid(40 / 19))
    assert 1.0 - 0.11 < far_after.raw < just_after.raw < 1.0


def test_detections_in_probation_are_ignored() -> None:
    score = nab.score_file(TIMES, detections(3, 40), WINDOW, STANDARD)
    assert score.raw == pytest.approx(1.0) and score.false_positives == 0


def test_window_inside_probation_is_not_scored() -> None:
    early = [(TIMES[2], TIMES[10])]
    score = nab.score_file(TIMES, detections(), early, STANDARD)
    assert (score.raw, score.perfect, score.null) == (0.0, 0.0, 0.0)


def test_profile_weights_change_the_miss_cost() -> None:
    missed = nab.score_file(TIMES, detections(), WINDOW + [(TIMES[70], TIMES[80])], LOW_FN)
    assert missed.raw == pytest.approx(-4.0) and missed.normalised == pytest.approx(0.0)
    one = nab.score_file(TIMES, detections(70), WINDOW + [(TIMES[70], TIMES[80])], LOW_FN)
    assert one.raw == pytest.approx(1.0 - 2.0)
    assert one.normalised == pytest.approx(100 * (-1.0 + 4.0) / 6.0)
    assert math.isclose(one.perfect, 2.0)


def test_a_category_score_pools_its_files_before_normalising() -> None:
    hit = nab.score_file(TIMES, detections(40), WINDOW, STANDARD)
    miss = nab.score_file(TIMES, detections(), WINDOW, STANDARD)
    assert nab._category_score({"a": hit, "b": miss}) == pytest.approx(50.0)
    assert nab._category_score({}) == 0.0


def test_series_below_zero_are_shifted_to_counts(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("timestamp,value\n2015-01-01 00:00:00,-2.5\n2015-01-01 00:05:00,1.5\n", encoding="utf-8")
    rows = nab._shifted_series(path)
    assert [r.value for r in rows] == [0.0, 4.0] and rows[0].timestamp == "2015-01-01 00:00:00"
