"""``koubei sentiment score|train|eval``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

# Lines scored per batch: big enough for the batched decoder, small enough to stream.
SCORE_BATCH = 512


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "sentiment", help="score, train and evaluate the sentiment model", description="Sentiment scoring (docs/sentiment.md)."
    )
    commands = parser.add_subparsers(dest="sentiment_command", metavar="ACTION", required=True)

    score = commands.add_parser(
        "score",
        help="score stdin to stdout as JSON lines",
        description=(
            "Each input line is plain text or a JSON object with 'id' and 'text'; each output line is "
            '{"id": ..., "negative": p, "sentiment": s, "risk_terms": [...]} in input order. '
            "Plain-text lines get their 1-based line number as id. A line that cannot be scored "
            '(invalid UTF-8, a malformed JSON object) gives {"id": ..., "line": n, "error": "..."} instead.'
        ),
    )
    _model_options(score)
    score.add_argument("--details", action="store_true", help="also output own_text, reposted_text, emoticons, negated_terms")
    score.set_defaults(func=cmd_score)

    train = commands.add_parser(
        "train",
        help="train a model (NB-weighted logistic regression, or SnowNLP's naive Bayes) with the fast segmenter",
        description="Train from --pos/--neg files (one text per line) or from a labeled --data file.",
    )
    train.add_argument(
        "--classifier",
        choices=("nblr", "nb"),
        default="nblr",
        help="nblr: NB-weighted logistic regression on words + character n-grams (default, more accurate); "
        "nb: SnowNLP's naive Bayes (SnowNLP's file format)",
    )
    train.add_argument("--pos", type=Path, help="positive texts, one per line")
    train.add_argument("--neg", type=Path, help="negative texts, one per line")
    train.add_argument("--data", type=Path, help="a labeled file instead of --pos/--neg")
    train.add_argument("--format", choices=("weibo2018", "label_review_csv"), help="format of --data")
    train.add_argument("--holdout", type=float, default=0.0, help="leave out this fraction of --data (fixed seed; eval --holdout scores it)")
    train.add_argument("--out", type=Path, required=True, help="where to write the model (do not commit it)")
    train.add_argument("--no-preprocessing", action="store_true", help="train on raw text (no Weibo preprocessing)")
    train.add_argument("--keep-stopwords", action="store_true", help="nb: keep the words SnowNLP drops as stopwords (nblr keeps them)")
    train.add_argument("--no-emoticon-tokens", action="store_true", help="do not give the model [emoticon] words")
    train.set_defaults(func=cmd_train)

    prepare = commands.add_parser(
        "prepare",
        help="convert SnowNLP's segmenter model into the fast table now (else the first load does it)",
        description="Writes the cache under $KOUBEI_CACHE_DIR (default ~/.cache/koubei-sentinel); useful in image builds.",
    )
    prepare.set_defaults(func=cmd_prepare)

    evaluate = commands.add_parser(
        "eval",
        help="accuracy, negative-class precision/recall/F1, ROC AUC and posts/s on a labeled file",
    )
    _model_options(evaluate)
    evaluate.add_argument("--data", type=Path, required=True)
    evaluate.add_argument("--format", choices=("weibo2018", "label_review_csv"), required=True)
    evaluate.add_argument("--strip-emoticons", action="store_true", help="remove [xx] tokens first (for corpora labeled from them)")
    evaluate.add_argument("--holdout", type=float, default=0.0, help="evaluate only the held-out fraction train --holdout left out")
    evaluate.add_argument("--limit", type=int, default=0, help="evaluate only the first N posts")
    evaluate.add_argument("--threshold", type=float, default=0.5, help="negative >= threshold counts as negative")
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.set_defaults(func=cmd_eval)


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="stock", help="'stock' (SnowNLP's shipped model) or the path of a trained model")
    parser.add_argument("--no-lexicon", action="store_true", help="no crisis-lexicon adjustment")
    parser.add_argument("--no-preprocessing", action="store_true", help="no Weibo preprocessing (with --model stock --no-lexicon: SnowNLP's exact numbers)")


def _scorer(args: argparse.Namespace) -> Any:
    from streams.sentiment import load_scorer

    return load_scorer(model=args.model, lexicon=not args.no_lexicon, weibo_preprocessing=not args.no_preprocessing)


def parse_line(raw: bytes, number: int) -> tuple[Any, str | None, str | None]:
    """(id, text, error) for one input line; exactly one of text and error is set."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, None, f"line is not valid UTF-8 ({exc.reason} at byte {exc.start})"
    line = line.rstrip("\r\n")
    stripped = line.strip()
    # Weibo text itself can start with '{' ({%topic%}), so only '{"' marks a JSON object.
    if not stripped.startswith('{"'):
        return number, line, None
    try:
        record = json.loads(stripped)
    except json.JSONDecodeError as exc:
        return None, None, f"invalid JSON object: {exc.msg} at column {exc.colno}"
    if not isinstance(record, dict):
        return None, None, "a JSON line must be an object with 'id' and 'text'"
    record_id = record.get("id", number)
    text = record.get("text")
    if not isinstance(text, str):
        return record_id, None, "the JSON object needs a string field 'text'"
    return record_id, text, None


def _dump(record: dict[str, Any]) -> str:
    try:
        line = json.dumps(record, ensure_ascii=False)
        line.encode("utf-8")
        return line
    except UnicodeEncodeError:
        # A lone surrogate in an id cannot be written as UTF-8; escape it instead.
        return json.dumps(record, ensure_ascii=True)


def _batches(lines: Iterable[bytes], size: int) -> Iterator[list[tuple[int, bytes]]]:
    batch: list[tuple[int, bytes]] = []
    for number, raw in enumerate(lines, 1):
        batch.append((number, raw))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def score_stream(scorer: Any, source: BinaryIO, sink: TextIO, details: bool = False) -> int:
    """Score every line of ``source`` into ``sink``; returns the number of error lines."""
    errors = 0
    for batch in _batches(source, SCORE_BATCH):
        parsed = [(number, *parse_line(raw, number)) for number, raw in batch]
        texts = [text for _, _, text, error in parsed if error is None and text is not None]
        results = iter(scorer.score_many(texts))
        for number, record_id, text, error in parsed:
            if error is not None or text is None:
                errors += 1
                sink.write(_dump({"id": record_id, "line": number, "error": error}) + "\n")
                continue
            result = next(results)
            record: dict[str, Any] = {
                "id": record_id,
                "negative": result.negative,
                "sentiment": result.sentiment,
                "risk_terms": result.risk_terms,
            }
            if details:
                record.update(
                    own_text=result.own_text,
                    reposted_text=result.reposted_text,
                    emoticons=result.emoticons,
                    negated_terms=result.negated_terms,
                )
            sink.write(_dump(record) + "\n")
        sink.flush()
    return errors


def cmd_score(args: argparse.Namespace) -> int:
    from streams.sentiment import ModelFileError

    try:
        scorer = _scorer(args)
    except ModelFileError as exc:
        return _fail(str(exc))
    errors = score_stream(scorer, sys.stdin.buffer, sys.stdout, details=args.details)
    if errors:
        print(f"koubei sentiment score: {errors} line(s) could not be scored (see their 'error' field)", file=sys.stderr)
    return 0


def _fail(message: str) -> int:
    print(f"koubei sentiment: {message}", file=sys.stderr)
    return 2


def cmd_train(args: argparse.Namespace) -> int:
    from streams.sentiment.evaluation import DatasetError, holdout_split, read_dataset
    from streams.sentiment.training import read_lines, train_model

    if args.data is not None:
        if args.pos or args.neg:
            return _fail("give either --data or --pos/--neg, not both")
        if args.format is None:
            return _fail("--data needs --format")
        if not 0.0 <= args.holdout < 1.0:
            return _fail("--holdout must be in [0, 1)")
        try:
            examples = read_dataset(args.data, args.format)
        except (OSError, DatasetError) as exc:
            return _fail(str(exc))
        if args.holdout:
            examples, _ = holdout_split(examples, args.holdout)
        positive = [e.text for e in examples if e.positive]
        negative = [e.text for e in examples if not e.positive]
    else:
        if args.pos is None or args.neg is None:
            return _fail("give --pos and --neg (or --data and --format)")
        try:
            positive, negative = read_lines(args.pos), read_lines(args.neg)
        except OSError as exc:
            return _fail(str(exc))
    started = time.perf_counter()
    try:
        model = train_model(
            positive,
            negative,
            weibo_preprocessing=not args.no_preprocessing,
            filter_stopwords=not args.keep_stopwords,
            emoticon_tokens=not args.no_emoticon_tokens,
            classifier=args.classifier,
        )
    except ValueError as exc:
        return _fail(str(exc))
    model.save(args.out)
    seconds = time.perf_counter() - started
    print(
        f"trained {args.classifier} on {len(positive)} positive and {len(negative)} negative texts "
        f"in {seconds:.1f} s: {args.out}"
    )
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from streams.sentiment._snowdata import SnowDataError, load_seg_table, seg_table_path, snownlp_dir

    started = time.perf_counter()
    try:
        load_seg_table()
    except SnowDataError as exc:
        return _fail(str(exc))
    print(f"{seg_table_path(snownlp_dir() / 'seg' / 'seg.marshal.3')} ready ({time.perf_counter() - started:.1f} s)")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from streams.sentiment import ModelFileError
    from streams.sentiment.evaluation import DatasetError, evaluate, holdout_split, read_dataset

    if not 0.0 <= args.holdout < 1.0:
        return _fail("--holdout must be in [0, 1)")
    try:
        examples = read_dataset(args.data, args.format, strip_emoticon_tokens=args.strip_emoticons)
        scorer = _scorer(args)
    except (OSError, DatasetError, ModelFileError) as exc:
        return _fail(str(exc))
    if args.holdout:
        _, examples = holdout_split(examples, args.holdout)
    if args.limit > 0:
        examples = examples[: args.limit]
    if not examples:
        return _fail(f"{args.data} has no examples to evaluate")
    report = evaluate(scorer, examples, threshold=args.threshold)
    if args.json:
        print(json.dumps(report.as_dict()))
        return 0
    print(f"posts              {report.posts}")
    print(f"accuracy           {report.accuracy:.4f}")
    print(f"negative precision {report.negative_precision:.4f}")
    print(f"negative recall    {report.negative_recall:.4f}")
    print(f"negative F1        {report.negative_f1:.4f}")
    print(f"ROC AUC            {report.roc_auc:.4f}")
    print(f"posts/s            {report.posts_per_second:.0f}")
    return 0
