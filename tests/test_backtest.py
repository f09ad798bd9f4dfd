"""``koubei backtest POSTS.jsonl``: the stream's code over a file, with the real scorer."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from streams.backtest import (
    NON_NEGATIVE_SIGNALS,
    PostFile,
    backtest_posts,
    config_from_labels,
    format_report,
    load_configured_scorer,
    read_posts,
    run_backtest,
)
from streams.brands import BrandMatcher
from streams.cli import main as koubei_main
from streams.models import Post
from streams.scenario import generate, labels_path, plan_scenario, write_scenario


@pytest.fixture(scope="module")
def small_crisis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One day, three brands at half the default volume; chenguang has a sudden crisis at 10:23."""
    out = tmp_path_factory.mktemp("scenario") / "sudden.jsonl"
    spec = plan_scenario("sudden", seed=3, days=1, brands=["chenguang", "qinghe", "yunfan"], scale=0.5)
    write_scenario(generate(spec), out, config_out=out.with_name("koubei.yaml"))
    return out


def _args(posts: Path, **extra: object) -> argparse.Namespace:
    values: dict[str, object] = {"posts": str(posts), "config": None, "plot": None, "json": None}
    values.update(extra)
    return argparse.Namespace(**values)


def test_finds_the_crisis_brand_and_no_calm_brand(small_crisis: Path) -> None:
    labels = json.loads(labels_path(small_crisis).read_text(encoding="utf-8"))
    config = config_from_labels(labels)
    result = backtest_posts(read_posts(small_crisis), config, load_configured_scorer(config), labels=labels)
    negative_brands = {r.event.brand for r in result.alerts if r.new and r.negative}
    assert negative_brands == {"chenguang"}
    (window,) = result.outcomes
    assert window.passed and window.delay_seconds is not None
    assert 0 <= window.delay_seconds <= 15 * 60
    # The stream sends it once the watermark passes the bucket: never earlier.
    assert window.emitted_delay_seconds is not None and window.emitted_delay_seconds >= window.delay_seconds
    assert result.brands["chenguang"].negative_share > result.brands["qinghe"].negative_share + 0.1
    assert sum(b.false_alerts for b in result.brands.values()) == 0
    # Every brand got a bucket for every minute after its first mention.
    assert len(result.series["chenguang"]) > 1300


def test_command_prints_timeline_and_summary_and_writes_json_and_plots(
        small_crisis: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alerts_out = tmp_path / "alerts.jsonl"
    plots = tmp_path / "plots"
    code = run_backtest(_args(small_crisis, config=str(small_crisis.with_name("koubei.yaml")),
                              json=str(alerts_out), plot=str(plots)))
    assert code == 0
    captured = capsys.readouterr()
    assert "alert timeline" in captured.out and "per brand" in captured.out
    assert "chenguang" in captured.out and "firing" in captured.out
    assert "crisis" in captured.out and "OK" in captured.out  # the labels sidecar was used
    assert "followers):" in captured.out and "risk terms:" in captured.out  # the evidence of a new alert
    assert "scoring" in captured.err  # the progress bar
    events = [json.loads(line) for line in alerts_out.read_text(encoding="utf-8").splitlines()]
    assert events and all(e["brand"] == "chenguang" for e in events if e["signal"] not in NON_NEGATIVE_SIGNALS)
    assert {p.name for p in plots.iterdir()} == {"chenguang.png", "qinghe.png", "yunfan.png"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in plots.iterdir())


def test_the_koubei_command_line_reaches_the_posts_mode(small_crisis: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert koubei_main(["backtest", str(small_crisis)]) == 0
    assert "labeled windows" in capsys.readouterr().out


def test_invalid_lines_are_counted_with_reasons_and_the_rest_is_used(
        small_crisis: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = small_crisis.read_bytes().splitlines()[:300]
    bad = [
        b"{not json",
        b'{"source": "x", "id": "1", "text": "hi"}',  # no author
        b'{"source": "x", "id": "2", "author": {"id": "a"}, "text": 5, "created_at": "2026-03-02T00:00:00+08:00"}',
        # A naive time is Beijing time now (crawler exports); a time years ahead is refused.
        b'{"source": "x", "id": "3", "author": {"id": "a"}, "text": "t", "created_at": "9999-03-02T00:00:00"}',
        b"\xff\xfe broken utf-8",
        b"",
    ]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(b"\n".join(good[:100] + bad + good[100:]) + b"\n")
    file = read_posts(mixed)
    assert len(file.posts) == 300 and file.lines == 306
    assert file.reasons == {"malformed_json": 1, "missing_field": 1, "wrong_type": 1, "future_time": 1,
                            "invalid_utf8": 1, "empty_record": 1}
    assert [i.line_no for i in file.invalid] == [101, 102, 103, 104, 105, 106]
    config = mixed.with_name("koubei.yaml")
    config.write_text(small_crisis.with_name("koubei.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert run_backtest(_args(mixed, config=str(config))) == 0
    out = capsys.readouterr().out
    assert "6 invalid" in out and "malformed_json 1" in out and "line 105: invalid_utf8" in out


def test_without_config_or_labels_it_says_what_to_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lonely = tmp_path / "posts.jsonl"
    lonely.write_text("", encoding="utf-8")
    assert run_backtest(_args(lonely)) == 2
    assert "--config" in capsys.readouterr().err


def test_a_missing_file_and_a_file_without_posts_are_clear_errors(
        small_crisis: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(small_crisis.with_name("koubei.yaml"))
    assert run_backtest(_args(tmp_path / "nope.jsonl", config=config)) == 2
    assert "not found" in capsys.readouterr().err
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(b"garbage\n[1, 2]\n")
    assert run_backtest(_args(junk, config=config)) == 1
    err = capsys.readouterr().err
    assert "no valid post" in err and "not_an_object" in err


def test_memoised_scores_equal_direct_scores(small_crisis: Path) -> None:
    """The backtest scores each distinct text once; the mentions must not change."""
    labels = json.loads(labels_path(small_crisis).read_text(encoding="utf-8"))
    config = config_from_labels(labels)
    scorer = load_configured_scorer(config)
    file = read_posts(small_crisis)
    posts: list[Post] = sorted(file.posts, key=lambda p: p.event_time)[:400]
    counting = _CountingScorer(scorer)
    result = backtest_posts(PostFile(posts + posts, [], 800), config, counting)
    matcher = BrandMatcher(config.brands)
    # The scorer reads each post with the tracked brands' names masked (streams.scoring).
    direct = scorer.score_many([matcher.mask(p.text) for p in posts])
    negatives = sum(len(matcher.match(p.text)) for p, s in zip(posts, direct, strict=True)
                    if s.negative >= config.sentiment.negative_threshold)
    assert negatives > 0
    assert sum(b.negative for b in result.brands.values()) == 2 * negatives
    assert counting.texts <= len({p.text for p in posts})


def test_report_without_labels_has_no_verdicts(small_crisis: Path) -> None:
    labels = json.loads(labels_path(small_crisis).read_text(encoding="utf-8"))
    config = config_from_labels(labels)
    result = backtest_posts(read_posts(small_crisis), config, load_configured_scorer(config))
    report = format_report(result, "x")
    assert "labeled windows" not in report
    assert result.outcomes == []


class _CountingScorer:
    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.texts = 0

    def score_many(self, texts: list[str]) -> list[object]:
        self.texts += len(texts)
        return self.inner.score_many(texts)  # type: ignore[attr-defined]

