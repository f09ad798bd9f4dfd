"""sentiment.model: auto: weak labels from emoticons, the bounded sample, when it trains, persistence, corrections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config import parse_config
from streams.sentiment import SentimentScorer, load_scorer
from streams.sentiment.auto import (
    AutoModel,
    AutoSettings,
    Correction,
    apply_corrections,
    latest_corrections,
    weak_label,
)
from streams.sentiment.pool import ScoringPool
from streams.settings import ConfigError

ANGRY = ["快递丢了客服不管", "等了三个小时还没到", "质量太差用两天就坏了", "再也不买了退钱", "说好的赔偿呢没人理",
         "排队一小时服务员还摆脸色", "刚买就降价太坑了", "投诉了三次没有回复"]
HAPPY = ["今天的奶茶很好喝", "包装很用心谢谢", "物流超快第二天就到", "新品味道真不错推荐",
         "店员小姐姐很热情", "周末和朋友一起去很开心", "价格实惠分量足", "第一次买就爱上了"]


def weakly(texts: list[str], emoticon: str, copies: int, start: int = 0) -> list[str]:
    # Distinct posts: the same complaint told by different people.
    return [f"{t}{'!' * (i % 3)}第{i}次[{emoticon}]" for i in range(start, start + copies) for t in texts]


def test_weak_label_reads_the_posts_own_emoticons() -> None:
    assert weak_label("快递又丢了[怒][抓狂]") is True
    assert weak_label("奶茶真好喝[哈哈]") is False
    assert weak_label("奶茶真好喝[微笑]") is True  # Weibo's sarcastic smile (83 % negative where people labelled it)
    assert weak_label("又好又坏[怒][哈哈]") is None  # mixed
    assert weak_label("今天天气不错") is None  # no emoticon
    assert weak_label("[怒][怒]") is None  # no words to learn from
    assert weak_label("[允悲]好吧") is None  # too ambiguous to label
    # A repost without words of its own is labelled by what it passes on.
    assert weak_label("//@某人:太失望了[失望]") is True


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_weak_label_and_observe_never_raise(text: str) -> None:
    assert weak_label(text) in (True, False, None)
    AutoModel(AutoSettings(min_examples=20, max_examples=40)).observe([text, text])


def test_reposts_count_once_and_the_sample_is_bounded() -> None:
    auto = AutoModel(AutoSettings(min_examples=20, max_examples=40))
    assert auto.observe(["太差了[怒]"] * 5 + ["转发微博//@a:太差了[怒]"]) == 1
    auto.observe([f"第{i}次太差了[怒]" for i in range(100)])
    assert auto.status()["sample_negative"] == 20  # half of max_examples per class, newest kept
    assert auto.status()["seen"] == 106


def test_training_schedule_first_at_min_examples_then_doubling() -> None:
    auto = AutoModel(AutoSettings(min_examples=40, max_examples=1_000))
    auto.observe(weakly(ANGRY, "怒", 2) + weakly(HAPPY, "哈哈", 2))  # 32 posts
    assert not auto.retrain_due() and auto.maybe_retrain() is None
    auto.observe(weakly(ANGRY, "怒", 3)[16:] + weakly(HAPPY, "哈哈", 3)[16:])  # 48 in all
    model = auto.maybe_retrain()
    assert model is not None and auto.trained_on == 48 and auto.trainings == 1
    auto.observe(weakly(ANGRY, "泪", 2, 10) + weakly(HAPPY, "赞", 2, 10))  # 32 new: fewer than the 48 trained on
    assert auto.maybe_retrain() is None
    auto.observe(weakly(ANGRY, "失望", 2, 20))
    assert auto.maybe_retrain() is not None and auto.trained_on == 96


def test_one_sided_stream_never_trains() -> None:
    auto = AutoModel(AutoSettings(min_examples=20, max_examples=1_000))
    auto.observe(weakly(ANGRY, "怒", 10))
    assert not auto.retrain_due()


def test_the_learnt_model_reads_posts_without_emoticons() -> None:
    auto = AutoModel(AutoSettings(min_examples=20, max_examples=1_000))
    auto.observe(weakly(ANGRY, "怒", 4) + weakly(HAPPY, "哈哈", 4))
    model = auto.maybe_retrain()
    assert model is not None
    assert not model.knows("[怒]")  # the labels are not features
    scorer = SentimentScorer(model, lexicon=False)
    assert scorer.score("质量太差再也不买了").negative > 0.5 > scorer.score("味道不错很开心推荐").negative


def test_state_survives_a_restart(tmp_path: Path) -> None:
    auto = AutoModel(AutoSettings(min_examples=20, max_examples=1_000), state_dir=tmp_path)
    auto.observe(weakly(ANGRY, "怒", 2) + weakly(HAPPY, "哈哈", 2))
    model = auto.maybe_retrain()
    assert model is not None and auto.model_path == tmp_path / "auto.model"
    again = AutoModel(AutoSettings(min_examples=20, max_examples=1_000), state_dir=tmp_path)
    assert again.model is not None and again.status() == auto.status()
    text = "客服不理人"
    assert load_scorer(str(again.model_path)).score(text).negative == SentimentScorer(model).score(text).negative


def test_damaged_state_files_are_ignored_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "auto.model").write_bytes(b"not a model")
    (tmp_path / "auto-sample.json.gz").write_bytes(b"\x1f\x8b garbage")
    auto = AutoModel(AutoSettings(min_examples=20, max_examples=1_000), state_dir=tmp_path)
    assert auto.model is None and auto.sample_size == 0


def test_corrections_win_over_weak_labels() -> None:
    # The sample holds masked texts; a correction carries the post's own text and is masked the same way.
    positive, negative, used = apply_corrections(
        ["别的好评"], ["转发微博//@_: 的奶茶其实挺好喝[怒]", "另一条差评[怒]"],
        [Correction("weibo:1", "positive", "鹿鸣奶茶的奶茶其实挺好喝[怒]"), Correction("weibo:2", "neutral", "")],
        mask=lambda t: t.replace("鹿鸣奶茶", " "),
    )
    assert used == 1  # the one without text cannot be learnt from
    assert negative == ["另一条差评[怒]"]  # the repost of the corrected post went with it
    assert positive == ["别的好评", " 的奶茶其实挺好喝[怒]"]


def test_auto_uses_corrections(tmp_path: Path) -> None:
    auto = AutoModel(AutoSettings(min_examples=20, max_examples=1_000), state_dir=tmp_path)
    auto.observe(weakly(ANGRY, "怒", 2) + weakly(HAPPY, "哈哈", 2))
    flipped = weakly(ANGRY, "怒", 2)[0]
    assert auto.add_corrections([Correction("weibo:7", "positive", flipped, "ops", 1.0)]) == 1
    positive, negative = auto.training_texts()
    assert flipped in positive and flipped not in negative
    auto.train()
    assert AutoModel(AutoSettings(min_examples=20, max_examples=1_000), state_dir=tmp_path).status()["corrections"] == 1


def test_correction_records_round_trip_and_bad_ones_are_reasons() -> None:
    c = Correction("weibo:1", "negative", "太差了", "ops", 1_700_000_000.0)
    assert Correction.from_json(c.to_json()) == c
    for bad in (b"{", b"[]", b'{"post_id": "x"}', b'{"post_id": "x", "label": "angry"}',
                b'{"post_id": 5, "label": "negative"}', b'{"post_id": "x", "label": "negative", "at": "now"}'):
        with pytest.raises(ValueError):
            Correction.from_json(bad)
    records = [(b"a", c.to_json()), (b"b", b"junk"), (b"a", json.dumps({"post_id": "a", "label": "neutral"}).encode()),
               (b"c", Correction("c", "positive").to_json()), (b"c", None)]
    latest, bad = latest_corrections(records)
    assert bad == 1 and set(latest) == {"weibo:1", "a"} and latest["a"].label == "neutral"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80) | st.text(max_size=80).map(str.encode))
def test_any_record_is_a_correction_or_a_value_error(raw: bytes) -> None:
    try:
        Correction.from_json(raw)
    except ValueError:
        pass


def test_config_accepts_auto_and_checks_its_bounds() -> None:
    brands = [{"id": "a", "aliases": ["A"]}]
    config = parse_config({"brands": brands, "sentiment": {"model": "auto", "auto_min_examples": 500}})
    assert config.sentiment.model == "auto" and config.sentiment.auto_min_examples == 500
    assert parse_config({"brands": brands}).sentiment.model == "default"
    with pytest.raises(ConfigError, match="auto_max_examples"):
        parse_config({"brands": brands, "sentiment": {"auto_min_examples": 500, "auto_max_examples": 100}})


def test_pool_swaps_models_and_drops_cached_scores(tmp_path: Path) -> None:
    auto = AutoModel(AutoSettings(min_examples=20, max_examples=1_000), state_dir=tmp_path)
    auto.observe(weakly(ANGRY, "怒", 2) + weakly(HAPPY, "哈哈", 2))
    auto.train()
    pool = ScoringPool("auto", True, True, processes=0, cache_size=100)
    text = "质量太差再也不买了"
    before = pool.score_many([text])[0]
    assert before == load_scorer("default").score_many([text], details=False)[0]
    pool.use_model(str(auto.model_path))
    after = pool.score_many([text])[0]
    assert after == load_scorer(str(auto.model_path)).score_many([text], details=False)[0] and after != before
    with pytest.raises(Exception, match="not found"):
        pool.use_model(str(tmp_path / "missing.model"))
    assert pool.score_many([text])[0] == after  # a bad file leaves the pool as it was


def test_backtest_with_model_auto_learns_from_the_file_and_swaps() -> None:
    from datetime import datetime, timedelta, timezone

    from streams.backtest import PostFile, backtest_posts, format_report
    from streams.models import Author, Post

    config = parse_config({"brands": [{"id": "luming", "aliases": ["鹿鸣奶茶"]}],
                           "sentiment": {"model": "auto", "auto_min_examples": 40}})
    start = datetime(2026, 3, 2, tzinfo=timezone.utc)
    texts = weakly([f"鹿鸣奶茶{t}" for t in ANGRY], "怒", 40) + weakly([f"鹿鸣奶茶{t}" for t in HAPPY], "哈哈", 40)
    texts = [t for pair in zip(texts[: len(texts) // 2], texts[len(texts) // 2:], strict=True) for t in pair]
    posts = [Post(source="test", id=str(i), author=Author(id=f"u{i}", name="u"), text=text,
                  created_at=start + timedelta(seconds=10 * i)) for i, text in enumerate(texts)]
    result = backtest_posts(PostFile(posts, [], len(posts)), config, load_scorer("default"))
    assert result.sentiment_swaps and result.sentiment_swaps[0][1] >= 40
    assert "sentiment model auto: from 2026-03-02T" in format_report(result)
    static = backtest_posts(PostFile(posts, [], len(posts)), parse_config(
        {"brands": [{"id": "luming", "aliases": ["鹿鸣奶茶"]}]}), load_scorer("default"))
    assert not static.sentiment_swaps


def test_backtest_shows_each_mention_as_read_by_the_model_in_use_then() -> None:
    # bench/real_suite.py reads the crisis and calm shares from on_mentions: they must be the
    # scores the aggregator got, by the configured model before the swap and the learnt one after.
    from datetime import datetime, timedelta, timezone

    from streams.backtest import SCORE_CHUNK, PostFile, aggregate_posts
    from streams.brands import BrandMatcher
    from streams.models import Author, Mention, Post

    brands = [{"id": "luming", "aliases": ["鹿鸣奶茶"]}]
    config = parse_config({"brands": brands, "sentiment": {"model": "auto", "auto_min_examples": 40}})
    start = datetime(2026, 3, 2, tzinfo=timezone.utc)
    texts = weakly([f"鹿鸣奶茶{t}" for t in ANGRY], "怒", 40) + weakly([f"鹿鸣奶茶{t}" for t in HAPPY], "哈哈", 40)
    texts = [t for pair in zip(texts[: len(texts) // 2], texts[len(texts) // 2:], strict=True) for t in pair]
    posts = [Post(source="test", id=str(i), author=Author(id=f"u{i}", name="u"), text=text,
                  created_at=start + timedelta(seconds=10 * i)) for i, text in enumerate(texts)]
    seen: list[Mention] = []
    agg = aggregate_posts(PostFile(posts, [], len(posts)), config, load_scorer("default"), on_mentions=seen.extend)
    assert [m.post_id for m in seen] == [p.id for p in posts]
    assert sum(m.is_negative for m in seen) == agg.stats["luming"].negative
    assert agg.sentiment_swaps and len(posts) > SCORE_CHUNK
    swapped_at = agg.sentiment_swaps[0][0]
    # Replaying the same stream into a fresh AutoModel gives the model that was swapped in.
    auto = AutoModel(AutoSettings(min_examples=40))
    mask = BrandMatcher(config.brands).mask
    default = load_scorer("default")
    first = [mask(p.text) for p in posts[:SCORE_CHUNK]]
    auto.observe(first, default.score_many(first))
    learnt = SentimentScorer(auto.train(), model_name="auto")
    before = [m for m in seen if m.created_at <= swapped_at]
    after = [m for m in seen if m.created_at > swapped_at]
    assert before and after
    assert all(m.negative == default.score(mask(m.text)).negative for m in before[:20])
    assert all(m.negative == learnt.score(mask(m.text)).negative for m in after[:20])
    assert any(default.score(mask(m.text)).negative != m.negative for m in after[:20])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=300),
       st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=0.05, max_value=0.95))
def test_share_offset_gives_the_target_share_as_near_as_ties_allow(readings: list[float], target: float,
                                                                   threshold: float) -> None:
    import math

    from streams.sentiment.auto import MAX_LOGIT_OFFSET, share_offset
    from streams.sentiment.lexicon import adjust_negative

    offset = share_offset(readings, target, threshold)
    assert math.isfinite(offset) and abs(offset) <= MAX_LOGIT_OFFSET
    # What SentimentScorer does with the offset: add it to each reading's log-odds.
    shifted = [adjust_negative(1.0 - r, offset) for r in readings]
    got = sum(v >= threshold for v in shifted)
    wanted = round(target * len(readings))
    if abs(offset) < MAX_LOGIT_OFFSET:
        z = [math.log(max(min(r, 1 - 1e-9), 1e-9) / (1 - max(min(r, 1 - 1e-9), 1e-9))) for r in readings]
        ties = max(z.count(v) for v in z)
        assert abs(got - wanted) <= ties


def test_a_new_model_reads_the_recent_posts_negative_as_often_as_the_one_it_replaces(tmp_path: Path) -> None:
    from streams.sentiment import load_model

    texts = weakly(ANGRY, "怒", 15) + weakly(HAPPY, "哈哈", 15)
    calm = [f"{t}，第{i}天" for i in range(30) for t in HAPPY + ANGRY[:2]]  # a fifth of the calm posts complain
    default = load_scorer("default")
    shares = {}
    for keep in (True, False):
        auto = AutoModel(AutoSettings(min_examples=20, max_examples=1_000, keep_share=keep),
                         state_dir=tmp_path / str(keep))
        auto.observe(texts)
        auto.observe(calm, default.score_many(calm))  # the posts as the model in use read them
        model = auto.train()
        scorer = SentimentScorer(model, model_name="auto")
        shares[keep] = sum(r.negative >= 0.52 for r in scorer.score_many(calm)) / len(calm)
        # The offset travels in the model file: a worker's pool loads the file, not this object.
        reloaded = SentimentScorer(load_model(str(auto.model_path)), model_name="auto")
        assert [r.negative for r in reloaded.score_many(calm[:10])] == [r.negative for r in scorer.score_many(calm[:10])]
    before = sum(r.negative >= 0.52 for r in default.score_many(calm)) / len(calm)
    assert abs(shares[True] - before) <= 0.02
    assert abs(shares[False] - before) > 0.05  # what keep_share prevents: the share jumps at the swap


def test_readings_survive_a_restart_and_bad_ones_are_ignored(tmp_path: Path) -> None:
    auto = AutoModel(AutoSettings(min_examples=20, max_examples=1_000), state_dir=tmp_path)
    auto.observe(["还行吧", "太差了", "不错", "一般"], [0.2, float("nan"), "x", 0.9])
    auto.save()
    again = AutoModel(AutoSettings(min_examples=20, max_examples=1_000), state_dir=tmp_path)
    assert dict(again._readings) == {"还行吧": 0.2, "一般": 0.9}


def test_auto_settings_follow_the_config() -> None:
    config = parse_config({"brands": [{"id": "a", "aliases": ["鹿鸣奶茶"]}],
                           "sentiment": {"model": "auto", "negative_threshold": 0.6, "auto_keep_share": False,
                                         "lexicon": False}})
    s = AutoSettings.from_config(config.sentiment)
    assert (s.negative_threshold, s.keep_share, s.lexicon, s.min_examples) == (0.6, False, False, 2_000)
    assert AutoSettings.from_config(config.sentiment, 0.7).negative_threshold == 0.7


def test_stream_learner_matches_each_swapped_model_to_the_readings_it_was_given(tmp_path: Path) -> None:
    import asyncio

    from streams.sentiment import load_model
    from streams.sentiment.auto import StreamLearner

    default = load_scorer("default")
    calm = [f"{t}，第{i}天" for i in range(30) for t in HAPPY + ANGRY[:2]]
    swapped: list[str] = []

    async def run() -> StreamLearner:
        learner = StreamLearner(AutoModel(AutoSettings(min_examples=20, max_examples=1_000), state_dir=tmp_path),
                                swapped.append)
        await learner.observe(calm, default.score_many(calm))
        texts = weakly(ANGRY, "怒", 15) + weakly(HAPPY, "哈哈", 15)
        await learner.observe(texts, default.score_many(texts))  # due: trains on a thread
        late = ["排队太久了，第99天"]
        await learner.observe(late, [0.9])  # arrives while it trains: kept with its reading
        while learner._training is not None:
            await asyncio.sleep(0.01)
        return learner

    learner = asyncio.run(run())
    assert swapped == [str(tmp_path / "auto.model")]
    meta = load_model(swapped[0]).metadata
    before = sum(r.negative >= 0.52 for r in default.score_many(calm)) / len(calm)
    assert meta["kept_share"]["posts"] >= len(calm) and "negative_logit_offset" in meta
    assert learner.auto._readings["排队太久了，第99天"] == 0.9
    learnt = SentimentScorer(load_model(swapped[0]), model_name="auto")
    assert abs(sum(r.negative >= 0.52 for r in learnt.score_many(calm)) / len(calm) - before) <= 0.05
