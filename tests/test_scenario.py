"""``koubei scenario``: deterministic, schema-valid, varied, labeled scenarios."""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from streams import scenario_cli
from streams.brands import BrandMatcher
from streams.config import load_config
from streams.gate import Gate, InputRules
from streams.scenario import (
    DEMO_SEED,
    KINDS,
    NEGATIVE_ALERT,
    NO_NEGATIVE_ALERT,
    Scenario,
    bundled_demo,
    generate,
    labels_path,
    load_labels,
    plan_scenario,
    write_scenario,
)
from streams.scenario_texts import PROFILES


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="koubei")
    scenario_cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture(scope="module")
def demo_small() -> Scenario:
    return generate(plan_scenario("demo", seed=5, scale=0.4))


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    for path, seed in ((a, 11), (b, 11), (c, 12)):
        write_scenario(generate(plan_scenario("sudden", seed=seed, days=1, scale=0.2)), path)
    assert a.read_bytes() == b.read_bytes()
    assert labels_path(a).read_bytes() == labels_path(b).read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_every_line_parses_as_a_post_in_time_order(tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    write_scenario(generate(plan_scenario("bot_flood", seed=2, days=1, scale=0.3)), out)
    gate = Gate(InputRules(max_age=0))
    posts = [gate.post(json.loads(line)) for line in out.read_bytes().splitlines()]
    assert len(posts) > 500
    times = [p.event_time for p in posts]
    assert times == sorted(times)
    assert len({p.key for p in posts}) == len(posts)
    assert all(p.created_at.utcoffset() is not None and p.created_at.utcoffset().total_seconds() == 8 * 3600
               for p in posts)
    assert all(p.lang == "zh" and p.url.startswith("https://") and p.author.id for p in posts)


def test_labels_are_consistent_with_the_posts(tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    scenario = generate(plan_scenario("sudden", seed=4, days=1, scale=0.3, brands=["xinghe", "yunfan"]))
    write_scenario(scenario, out, config_out=tmp_path / "koubei.yaml")
    labels = load_labels(labels_path(out))
    assert labels["kind"] == "sudden" and labels["seed"] == 4 and labels["posts"] == len(scenario.posts)
    start, end = datetime.fromisoformat(labels["start"]), datetime.fromisoformat(labels["end"])
    crisis, calm = labels["brands"]
    assert crisis["id"] == "xinghe" and crisis["expected"] == NEGATIVE_ALERT
    assert calm["id"] == "yunfan" and calm["expected"] == NO_NEGATIVE_ALERT and calm["windows"] == []
    (window,) = crisis["windows"]
    onset, stop = datetime.fromisoformat(window["onset"]), datetime.fromisoformat(window["end"])
    assert start <= onset < stop <= end
    in_window = [p for p in scenario.posts if p["raw"]["role"] == "crisis"]
    assert len(in_window) == window["posts"] > 50
    assert all(onset <= datetime.fromisoformat(p["created_at"]) < stop for p in in_window)
    # Per-brand counts are what the brand matcher finds, as in the pipeline.
    matcher = BrandMatcher(load_config(tmp_path / "koubei.yaml").brands)
    counted = Counter(b for p in scenario.posts for b in matcher.match(p["text"]))
    assert counted["xinghe"] == crisis["posts"] and counted["yunfan"] == calm["posts"]


def test_demo_texts_are_varied_and_cover_the_weibo_forms(demo_small: Scenario) -> None:
    posts = demo_small.posts
    texts = [p["text"] for p in posts]
    assert len(set(texts)) > 500
    joined = "\n".join(texts)
    for form in ("//@", "回复@", "[怒]", "[哈哈]", "#", "http://t.cn/", "機"):
        assert form in joined, form
    assert any(any("a" <= ch <= "z" for ch in t) for t in texts)
    crisis_words = ("曝光", "过期", "召回", "投诉", "维权", "致癌", "退款", "翻车", "塌房", "避雷")
    crisis_texts = [p["text"] for p in posts if p["raw"]["role"] == "crisis"]
    assert sum(any(w in t for w in crisis_words) for t in crisis_texts) > len(crisis_texts) / 2


def test_exclusion_trap_posts_exist_and_do_not_match(demo_small: Scenario, tmp_path: Path) -> None:
    scenario = demo_small
    out = tmp_path / "d.jsonl"
    config_path = tmp_path / "koubei.yaml"
    write_scenario(scenario, out, config_out=config_path)
    config = load_config(config_path)
    matcher = BrandMatcher(config.brands)
    traps = [p["text"] for p in scenario.posts if p["raw"]["topic"].startswith("trap:")]
    assert len(traps) >= 10
    # Each trap contains an alias ...
    aliases = [a for b in config.brands for a in b.aliases]
    assert all(any(a in t for a in aliases) for t in traps)
    # ... and still mentions no brand.
    assert all(matcher.match(t) == [] for t in traps)
    assert matcher.match("早晨光线很好，顺手买了晨光纯牛奶") == ["chenguang"]


def test_reach_is_heavy_tailed_and_engagement_follows_it(demo_small: Scenario) -> None:
    posts = demo_small.posts
    followers = [p["author"]["followers"] for p in posts]
    assert statistics.median(followers) < 1000
    assert max(followers) > 1_000_000
    big = [p for p in posts if p["author"]["followers"] > 100_000]
    small = [p for p in posts if p["author"]["followers"] < 100]
    assert big and small
    assert statistics.mean(p["likes"] for p in big) > 10 * statistics.mean(p["likes"] for p in small)
    assert any(p["author"]["verified"] for p in big)


def test_volume_follows_the_day(demo_small: Scenario) -> None:
    hours = Counter(datetime.fromisoformat(p["created_at"]).hour for p in demo_small.posts)
    night = hours[3] + hours[4]
    noon = hours[11] + hours[12]
    assert night * 4 < noon


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_plans_its_expected_outcome(kind: str) -> None:
    spec = plan_scenario(kind, seed=1, scale=0.05, days=1 if kind == "calm_month" else None)
    scenario = generate(spec)
    labels = scenario.labels
    first = labels["brands"][0]
    if kind == "calm_month":
        assert all(b["windows"] == [] for b in labels["brands"])
    elif kind in ("positive_viral", "news_day"):
        assert first["windows"][0]["expected"] == NO_NEGATIVE_ALERT
    else:
        assert first["windows"][0]["expected"] == NEGATIVE_ALERT
    assert all(b["expected"] == NO_NEGATIVE_ALERT for b in labels["brands"][1:])
    for post in scenario.posts[:200]:
        Gate(InputRules(max_age=0)).post(post)


def test_night_crisis_is_at_night_and_calm_month_is_a_month() -> None:
    night = plan_scenario("night", seed=1)
    assert 2 <= night.events[0].onset.hour < 4
    month = plan_scenario("calm_month", seed=1)
    assert month.days == 30 and month.events == ()


def test_bot_flood_comes_from_tiny_new_accounts_with_near_identical_texts() -> None:
    scenario = generate(plan_scenario("bot_flood", seed=3, days=1, scale=0.5))
    bots = [p for p in scenario.posts if p["raw"]["account"] == "bot"]
    assert len(bots) > 100
    assert max(p["author"]["followers"] for p in bots) <= 25
    assert len({p["author"]["id"] for p in bots}) > len(bots) / 2
    # Strip the trivial variations: a handful of scripts remain.
    scripts = Counter(p["text"].rstrip("！!。 0123456789[]怒泪抓狂衰吐弱生病") for p in bots)
    assert len(scripts) <= len(PROFILES["chenguang"].bot_flood)
    assert scenario.labels["bot_accounts"] == len({p["author"]["id"] for p in bots})


def test_crisis_is_clearly_more_negative_than_calm_traffic_as_scored(demo_small: Scenario) -> None:
    from streams.sentiment import load_scorer

    scorer = load_scorer()
    posts = [p for p in demo_small.posts if p["raw"]["brand"]]
    scores = scorer.score_many([p["text"] for p in posts])
    crisis = [s.negative >= 0.5 for p, s in zip(posts, scores, strict=True) if p["raw"]["role"] == "crisis"]
    calm = [s.negative >= 0.5 for p, s in zip(posts, scores, strict=True) if p["raw"]["role"] == "background"]
    calm_share = sum(calm) / len(calm)
    crisis_share = sum(crisis) / len(crisis)
    assert 0.10 <= calm_share <= 0.35
    assert crisis_share >= calm_share + 0.35


def test_bad_arguments_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="unknown brand"):
        plan_scenario("demo", brands=["nosuch"])
    with pytest.raises(ValueError, match="unknown scenario kind"):
        plan_scenario("apocalypse")
    with pytest.raises(ValueError, match="--start"):
        plan_scenario("demo", start="yesterday")
    with pytest.raises(ValueError, match="--days"):
        plan_scenario("demo", days=0)
    with pytest.raises(ValueError, match="too short"):
        plan_scenario("demo", days=0.5)  # the demo crisis is at 13:07


def test_cli_writes_posts_labels_and_a_loadable_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "night.jsonl"
    config = tmp_path / "koubei.yaml"
    code = _cli(["scenario", "--out", str(out), "--kind", "night", "--seed", "9", "--brands", "yunfan,qinghe",
                 "--days", "1", "--scale", "0.2", "--config-out", str(config)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "yunfan" in printed and "negative_alert" in printed
    labels = json.loads(labels_path(out).read_text(encoding="utf-8"))
    assert [b["id"] for b in labels["brands"]] == ["yunfan", "qinghe"]
    loaded = load_config(config)
    assert loaded.brand_ids == ("yunfan", "qinghe")
    assert "雲帆" in loaded.brand("yunfan").aliases and loaded.brand("yunfan").exclude


def test_cli_rejects_an_unknown_brand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _cli(["scenario", "--out", str(tmp_path / "x.jsonl"), "--brands", "acme"])
    assert code == 2
    assert "unknown brand" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()


def test_bundled_demo_is_what_the_generator_makes() -> None:
    posts_path, labels_file = bundled_demo()
    labels = json.loads(labels_file.read_text(encoding="utf-8"))
    assert labels["kind"] == "demo" and labels["seed"] == DEMO_SEED
    assert 8_000 <= labels["posts"] <= 15_000
    assert [b["expected"] for b in labels["brands"]].count(NEGATIVE_ALERT) == 1
    regenerated = generate(plan_scenario("demo", seed=DEMO_SEED))
    assert regenerated.labels == labels
    lines = posts_path.read_bytes().splitlines()
    assert len(lines) == labels["posts"]
    expected_first = json.dumps(regenerated.posts[0], ensure_ascii=False, separators=(",", ":")).encode()
    expected_last = json.dumps(regenerated.posts[-1], ensure_ascii=False, separators=(",", ":")).encode()
    assert lines[0] == expected_first and lines[-1] == expected_last
