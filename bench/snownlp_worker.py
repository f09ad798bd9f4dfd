"""``koubei worker`` with the SnowNLP library itself as the scorer.

The foundation's pipeline scored with ``snownlp.SnowNLP(text).sentiments``;
this launcher reproduces it so bench/pipeline_bench.py can compare the same
pipeline before and after the fast scorer (``--scorer snownlp``). Bench-only:
the product always uses streams.sentiment.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streams.app  # noqa: E402
from streams.sentiment import ScoreResult  # noqa: E402


class SnowNLPLibraryPool:
    """Same interface as streams.sentiment.pool.ScoringPool, scoring with the library."""

    def __init__(self, *_: Any) -> None:
        from snownlp import SnowNLP

        self._snownlp = SnowNLP

    def score_many(self, texts: list[str]) -> list[ScoreResult]:
        out = []
        for text in texts:
            positive = float(self._snownlp(text).sentiments) if text.strip() else 0.5
            out.append(ScoreResult(negative=1.0 - positive, sentiment=positive, risk_terms=[]))
        return out

    async def score_many_async(self, texts: list[str]) -> list[ScoreResult]:
        return await asyncio.get_running_loop().run_in_executor(None, self.score_many, texts)

    def close(self) -> None:
        return None


streams.app._make_pool = lambda config: SnowNLPLibraryPool()  # type: ignore[assignment]

if __name__ == "__main__":
    from streams.cli import main

    sys.exit(main(sys.argv[1:]))
