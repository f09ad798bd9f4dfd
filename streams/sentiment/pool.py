"""Scoring for the pipeline: an LRU cache of repeated texts in front of a scorer or a process pool.

Reposts repeat the same text many times, so identical texts are scored once.
The cache is what a worker's memory grows with first (50,000 texts by
default), so it keeps little per text: the key is the text's hash rather
than the text, and the value only the fields the pipeline reads
(``score_many(details=False)``). On bench/pipeline_bench.py's posts that is
about 330 bytes per text instead of 650. Every result the pool returns is
such a slim one, cached or not; the preprocessed texts are for ``koubei
sentiment score --details``, which uses the scorer itself.
With ``processes > 0`` the texts are scored in a ``ProcessPoolExecutor``
whose workers each load the scorer once (initializer), so one pipeline
worker uses all its cores and ``score_many_async`` never blocks the event
loop. Workers are started with ``spawn``: forking a process that runs an
event loop and threads (Faust) is unsafe.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from streams.sentiment import ScoreResult, SentimentScorer, load_scorer

# Fewer texts than this per worker call costs more in pickling than it saves.
_MIN_CHUNK = 32

_worker_scorer: SentimentScorer | None = None


def _cache_key(text: str) -> int:
    # 64 bits (Python's str hash, salted per process, computed once per str)
    # instead of the text: two texts of a 50,000-entry cache share one with
    # probability 50,000 / 2**64 per look-up, about one wrong score in 3.7e14
    # look-ups. A digest would cost a copy and ~1 us per text.
    return hash(text)


def _init_worker(model: str, lexicon: bool, weibo_preprocessing: bool) -> None:
    global _worker_scorer
    _worker_scorer = load_scorer(model=model, lexicon=lexicon, weibo_preprocessing=weibo_preprocessing)


def _score_in_worker(texts: list[str]) -> list[ScoreResult]:
    if _worker_scorer is None:
        raise RuntimeError("scoring worker used before its initializer ran")
    return _worker_scorer.score_many(texts, details=False)


class ScoringPool:
    def __init__(self, model: str, lexicon: bool, weibo_preprocessing: bool, processes: int, cache_size: int) -> None:
        if processes < 0:
            raise ValueError(f"processes must be >= 0, got {processes}")
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        self.processes = processes
        self.cache_size = cache_size
        self.lexicon = lexicon
        self.weibo_preprocessing = weibo_preprocessing
        self.model = model
        self._cache: OrderedDict[int, ScoreResult] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self._scorer: SentimentScorer | None = None
        self._executor: ProcessPoolExecutor | None = None
        self._start(model)

    def _start(self, model: str) -> None:
        if self.processes == 0:
            self._scorer = load_scorer(model=model, lexicon=self.lexicon, weibo_preprocessing=self.weibo_preprocessing)
        else:
            # Load once here first: a bad model path fails now with a clear error, not inside a worker.
            load_scorer(model=model, lexicon=self.lexicon, weibo_preprocessing=self.weibo_preprocessing)
            self._executor = ProcessPoolExecutor(
                max_workers=self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(model, self.lexicon, self.weibo_preprocessing),
            )

    def use_model(self, model: str) -> None:
        """Score with ``model`` (a name or a file path) from now on: the hot swap of ``sentiment.model: auto``.

        The new model is loaded before the old one is let go, so a bad file raises
        ``ModelFileError`` and leaves the pool scoring as before. Cached scores are
        dropped (they came from the old model); worker processes are replaced, and
        calls already running on the old ones finish there."""
        old_executor = self._executor
        old_scorer = self._scorer
        self._executor, self._scorer = None, None
        try:
            self._start(model)
        except Exception:
            self._executor, self._scorer = old_executor, old_scorer
            raise
        self.model = model
        self._cache.clear()
        if old_executor is not None:
            old_executor.shutdown(wait=False)

    def _split(self, texts: Sequence[str]) -> tuple[list[ScoreResult | None], list[str]]:
        """Cached results in input order (None where missing) and the distinct missing texts."""
        found: list[ScoreResult | None] = []
        missing: dict[str, None] = {}
        cache = self._cache
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"a post text must be str, got {type(text).__name__}")
            key = _cache_key(text)
            result = cache.get(key) if cache else None
            if result is not None:
                cache.move_to_end(key)
                self.hits += 1
            else:
                missing[text] = None
                self.misses += 1
            found.append(result)
        return found, list(missing)

    def _merge(self, texts: Sequence[str], found: list[ScoreResult | None], missing: list[str], scored: list[ScoreResult]) -> list[ScoreResult]:
        fresh = dict(zip(missing, scored, strict=True))
        if self.cache_size:
            for text, result in fresh.items():
                self._cache[_cache_key(text)] = result
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return [result if result is not None else fresh[text] for text, result in zip(texts, found, strict=True)]

    def _chunks(self, texts: list[str]) -> list[list[str]]:
        size = max(_MIN_CHUNK, -(-len(texts) // max(1, self.processes)))
        return [texts[i : i + size] for i in range(0, len(texts), size)]

    def score_many(self, texts: list[str]) -> list[ScoreResult]:
        found, missing = self._split(texts)
        if not missing:
            scored: list[ScoreResult] = []
        elif self._scorer is not None:
            scored = self._scorer.score_many(missing, details=False)
        else:
            if self._executor is None:
                raise RuntimeError("ScoringPool used after close()")
            scored = [r for part in self._executor.map(_score_in_worker, self._chunks(missing)) for r in part]
        return self._merge(texts, found, missing, scored)

    async def score_many_async(self, texts: list[str]) -> list[ScoreResult]:
        """Like ``score_many``; with ``processes > 0`` the event loop keeps running while workers score."""
        if self._executor is None:
            return self.score_many(texts)
        found, missing = self._split(texts)
        loop = asyncio.get_running_loop()
        parts = await asyncio.gather(
            *(loop.run_in_executor(self._executor, _score_in_worker, chunk) for chunk in self._chunks(missing))
        )
        return self._merge(texts, found, missing, [r for part in parts for r in part])

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
