"""Brand matching throughput: 1,000 brands x 5 aliases (Chinese, English, pinyin) with exclusions.

    .venv/bin/python bench/brand_match_bench.py --data ../shared/data [--repeat 3]

Matches real Weibo posts (weibo2018 + weibo_senti_100k_split, some with a
brand alias inserted so that matches happen) with ``streams.brands.BrandMatcher``
and prints posts/s (target >= 200,000). Then masks the matched posts
(``BrandMatcher.mask``, what the scorer reads) and prints their rate.
Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import time
from pathlib import Path

from streams.brands import BrandMatcher
from streams.config import Brand

_SYLLABLES = ("xiao", "mi", "hua", "wei", "ming", "long", "tian", "jia", "bao", "kang", "shi", "mei", "le", "da", "an")


def synthetic_brands(count: int, rng: random.Random) -> list[Brand]:
    brands = []
    used: set[str] = set()
    for index in range(count):
        while True:
            chinese = "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(rng.randint(2, 4)))
            if chinese not in used:
                used.add(chinese)
                break
        pinyin = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))) + str(index)
        aliases = (
            chinese,
            chinese + "官方",
            f"Brand{index}",
            pinyin,
            f"{chinese[0]}{index}号",
        )
        brands.append(Brand(id=f"b{index}", name=chinese, aliases=aliases, exclude=(chinese + "粥",)))
    return brands


def posts(data: Path) -> list[str]:
    texts: list[str] = []
    with open(data / "sentiment" / "weibo2018_train.txt", encoding="utf-8") as handle:
        texts += [line.rstrip("\n").split(",", 2)[2] for line in handle if line.strip()]
    with open(data / "sentiment" / "weibo_senti_100k_split.csv", encoding="utf-8", newline="") as handle:
        texts += [row[1] for row in list(csv.reader(handle))[1:] if len(row) > 1]
    return texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--brands", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(5)
    brands = synthetic_brands(args.brands, rng)
    texts = posts(args.data)
    # Every tenth post mentions a brand, in one of its alias forms.
    for i in range(0, len(texts), 10):
        brand = rng.choice(brands)
        alias = rng.choice(brand.aliases)
        cut = rng.randint(0, len(texts[i]))
        texts[i] = texts[i][:cut] + alias + " " + texts[i][cut:]
    started = time.perf_counter()
    matcher = BrandMatcher(brands)
    build = time.perf_counter() - started
    rates = []
    matched = 0
    for _ in range(args.repeat):
        started = time.perf_counter()
        matched = sum(1 for text in texts if matcher.match(text))
        rates.append(len(texts) / (time.perf_counter() - started))
    hit_texts = [text for text in texts if matcher.match(text)]
    mask_rates = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        for text in hit_texts:
            matcher.mask(text)
        mask_rates.append(len(hit_texts) / (time.perf_counter() - started))
    mean_len = statistics.mean(len(t) for t in texts)
    print(f"{args.brands} brands x 5 aliases, automaton built in {build:.2f} s")
    print(f"{len(texts)} posts ({mean_len:.0f} characters on average), {matched} matched")
    print(f"posts/s: median {statistics.median(rates):,.0f} (runs: {', '.join(f'{r:,.0f}' for r in rates)})")
    print(f"mask, matched posts only: median {statistics.median(mask_rates):,.0f} posts/s "
          f"(runs: {', '.join(f'{r:,.0f}' for r in mask_rates)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
