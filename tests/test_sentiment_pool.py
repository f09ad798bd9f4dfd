"""ScoringPool: cache in front, in-process or process-pool scoring, same results."""

from __future__ import annotations

import asyncio

import pytest

from streams.sentiment import load_scorer
from streams.sentiment.pool import ScoringPool

TEXTS = ["太差了，投诉", "很好用[哈哈]", "太差了，投诉", "", "转发微博//@a:召回过期奶粉", "很好用[哈哈]"]


def test_in_process_pool_matches_the_scorer_and_caches_repeats() -> None:
    pool = ScoringPool("stock", True, True, processes=0, cache_size=100)
    expected = load_scorer("stock", True, True).score_many(TEXTS, details=False)
    assert pool.score_many(TEXTS) == expected
    assert (pool.hits, pool.misses) == (0, 6)
    assert pool.score_many(TEXTS) == expected
    assert pool.hits == 6
    pool.close()


def test_slim_results_keep_every_field_the_pipeline_reads() -> None:
    # The pool keeps and returns results without the --details fields; the
    # scores, risk terms and story key are those of the full result.
    scorer = load_scorer("default", True, True)
    texts = [*TEXTS, "#召回# 这家的奶粉被曝光了，要求退款[怒]", "不是投诉，挺好的[赞]", "\ud800 孤立代理"]
    full, slim = scorer.score_many(texts), scorer.score_many(texts, details=False)
    for f, s in zip(full, slim, strict=True):
        assert (s.negative, s.sentiment, s.risk_terms, s.story) == (f.negative, f.sentiment, f.risk_terms, f.story)
        assert (s.own_text, s.reposted_text, s.emoticons, s.negated_terms) == ("", "", [], [])
    assert any(f.own_text for f in full) and any(f.risk_terms for f in full)
    pool = ScoringPool("default", True, True, processes=0, cache_size=100)
    assert pool.score_many(texts) == slim
    assert pool.score_many(texts) == slim  # from the cache: the same
    assert pool.hits == len(texts)


def test_cache_is_bounded_lru() -> None:
    pool = ScoringPool("stock", True, True, processes=0, cache_size=2)
    pool.score_many(["一", "二", "三"])
    pool.score_many(["三"])
    assert pool.hits == 1
    pool.score_many(["一"])
    assert pool.hits == 1  # evicted


def test_zero_cache_still_scores() -> None:
    pool = ScoringPool("stock", True, True, processes=0, cache_size=0)
    assert len(pool.score_many(TEXTS)) == len(TEXTS)


def test_invalid_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="processes"):
        ScoringPool("stock", True, True, processes=-1, cache_size=0)
    with pytest.raises(ValueError, match="cache_size"):
        ScoringPool("stock", True, True, processes=0, cache_size=-5)


def test_async_in_process() -> None:
    pool = ScoringPool("stock", False, True, processes=0, cache_size=10)
    assert asyncio.run(pool.score_many_async(TEXTS)) == pool.score_many(TEXTS)


@pytest.mark.slow
def test_process_pool_gives_the_same_results_sync_and_async() -> None:
    expected = load_scorer("stock", True, True).score_many(TEXTS * 20, details=False)
    pool = ScoringPool("stock", True, True, processes=2, cache_size=0)
    try:
        assert pool.score_many(TEXTS * 20) == expected

        async def run() -> list:
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)

            task = asyncio.create_task(ticker())
            results = await pool.score_many_async(TEXTS * 20)
            task.cancel()
            assert ticks > 0  # the loop kept running while the workers scored
            return results

        assert asyncio.run(run()) == expected
    finally:
        pool.close()
    with pytest.raises(RuntimeError, match="after close"):
        pool.score_many(["x"])
