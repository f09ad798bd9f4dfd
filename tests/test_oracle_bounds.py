"""bench/share_bound.py's oracles: the known-background count oracle is never slower than the share oracle.

bench/real_suite.py --explain prints both next to every crisis, and docs/benchmarks.md
reads the detector's delays against them, so the two must keep their order: the
pair of Poisson counts (negative, other) with known backgrounds is the total
count times the binomial split, so its evidence per minute is the share's plus
the total volume's, never less.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.bench_scripts import bench_module

BOUND = bench_module("share_bound")
BEIJING = timezone(timedelta(hours=8))


def test_count_evidence_is_the_share_evidence_plus_the_volume_evidence() -> None:
    posts, extra, calm, crisis = 4.0, 3.0, 0.45, 0.88
    share = (calm * posts + crisis * extra) / (posts + extra)
    pair = BOUND.count_llr(calm * posts, crisis * extra) + BOUND.count_llr((1 - calm) * posts, (1 - crisis) * extra)
    split = BOUND.kl_bernoulli(share, calm) * (posts + extra) + BOUND.count_llr(posts, extra)
    assert math.isclose(pair, split, rel_tol=1e-9)
    assert BOUND.count_llr(2.0, 0.0) == 0.0


@settings(max_examples=60, deadline=None)
@given(brand=st.sampled_from([b.id for b in BOUND.TEXT_BRANDS]), kind=st.sampled_from(sorted(BOUND.KINDS)),
       hour=st.integers(0, 23), calm=st.floats(0.05, 0.9), lift=st.floats(0.01, 0.9))
def test_the_count_oracle_is_never_slower_than_the_share_oracle(brand: str, kind: str, hour: int, calm: float,
                                                                  lift: float) -> None:
    crisis = min(calm + lift, 0.99)
    onset = datetime(2026, 3, 4, hour, 17, tzinfo=BEIJING)
    count, share = BOUND.bounds_for(brand, kind, onset, calm, crisis)
    if share is not None:
        assert count is not None and count <= share


def test_a_model_that_reads_the_crisis_like_the_calm_posts_leaves_only_the_volume() -> None:
    onset = datetime(2026, 3, 4, 14, 5, tzinfo=BEIJING)
    count, share = BOUND.bounds_for("haitang", "sudden", onset, 0.45, 0.45)
    assert share is None  # no share evidence at all (the readings are clipped a hair apart)
    assert count is not None  # the known background still sees the extra posts
    sharp_count, sharp_share = BOUND.bounds_for("haitang", "sudden", onset, 0.2, 0.99)
    assert sharp_share is not None and sharp_count is not None and sharp_count <= count
    with pytest.raises(ValueError, match="unknown brand 'nobody'"):
        BOUND.bounds_for("nobody", "sudden", onset, 0.45, 0.88)


def test_a_scaled_scenario_is_bounded_at_its_own_volume() -> None:
    # koubei scenario --scale 0.5 halves haitang (5 a minute) and its crisis
    # (0.8 x the rate): both oracles need longer to see half the posts.
    onset = datetime(2026, 3, 4, 14, 5, tzinfo=BEIJING)
    assert BOUND.bounds_for("haitang", "sudden", onset, 0.45, 0.88, scale=1.0) == BOUND.bounds_for(
        "haitang", "sudden", onset, 0.45, 0.88)
    full = BOUND.bounds_for("haitang", "sudden", onset, 0.45, 0.88)
    half = BOUND.bounds_for("haitang", "sudden", onset, 0.45, 0.88, scale=0.5)
    assert full[0] is not None and half[0] is not None and half[0] > full[0]
    assert full[1] is not None and (half[1] is None or half[1] > full[1])


def test_threshold_bound_prints_a_row_per_threshold_and_refuses_a_missing_corpus(tmp_path: Path,
                                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    module = bench_module("threshold_bound")
    assert module.main(["--data", str(tmp_path)]) == 2
    lines = [f"{i},0,太差了，客服不理人，再也不买了{i}" for i in range(20)]
    lines += [f"{100 + i},1,很好用，推荐大家买，开心[哈哈]{i}" for i in range(20)]
    (tmp_path / "weibo2018_train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert module.main(["--data", str(tmp_path)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 0.")]
    assert len(rows) == len(module.THRESHOLDS)
    assert all(row.count("|") == 8 for row in rows)


def test_real_suite_reads_each_crisis_against_the_calm_posts_of_the_model_that_read_it() -> None:
    module = bench_module("real_suite")
    tone = {"haitang": {"calm": [1000, 450], "sudden": [200, 176], "slow_burn": [300, 260],
                        # model auto: the night crisis was read by swapped model #2, whose calm reading differs
                        "night": [100, 90], "model@night": [2], "calm@2": [500, 100], "positive_viral": [300, 60]},
            "qingshan": {"calm": [0, 0], "sudden": [50, 40]}}
    case = module.Case("weibo2018", 1, {"brands": []}, None, tone)
    onset = "2026-03-04T14:05:00+08:00"
    assert module.readings(case, "haitang", "night") == ((100, 90), (500, 100))
    assert module.readings(case, "haitang", "sudden") == ((200, 176), (1000, 450))
    sudden = module.oracle_minutes(case, "haitang", "sudden", onset)
    expected = BOUND.bounds_for("haitang", "sudden", datetime.fromisoformat(onset), 0.45, 0.88)
    assert sudden == expected and sudden[0] is not None
    night = module.oracle_minutes(case, "haitang", "night", "2026-03-04T02:10:00+08:00")
    assert night == BOUND.bounds_for("haitang", "night", datetime(2026, 3, 4, 2, 10, tzinfo=BEIJING), 0.2, 0.9)
    slow = module.oracle_minutes(case, "haitang", "slow_burn", "2026-03-04T09:30:00+08:00")
    assert slow is not None and slow[0] is not None and slow[1] is not None and 60 < slow[0] <= slow[1] <= 300
    assert module.oracle_minutes(case, "haitang", "positive_viral", onset) is None  # a decoy: no oracle
    assert module.oracle_minutes(case, "qingshan", "sudden", onset) is None  # no calm posts read
    assert module.oracle_minutes(case, "beiji", "sudden", onset) is None  # nothing of that brand
