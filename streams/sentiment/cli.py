"""``koubei sentiment score|train|eval|prepare|correct``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from streams.corpus import TEXT_FORMATS

# Lines scored per batch: big enough for the batched decoder, small enough to stream.
SCORE_BATCH = 512
DATA_FORMAT_HELP = ("format of --data: weibo2018 'mid,label,text' and label_review_csv 'label,review' are read "
                    "strictly; csv, tsv, jsonl, json, online_shopping_zip and auto as koubei scenario --texts reads "
                    "them (a header naming label and text columns, emotion labels; rows without a usable label "
                    "skipped and counted, neutral texts left out)")


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
            '{"id": ..., "negative": p, "is_negative": true|false, "sentiment": s, "risk_terms": [...]} in input '
            "order (is_negative: negative >= the threshold). Plain-text lines get their 1-based line number as id. "
            "A line that cannot be scored (invalid UTF-8, a malformed JSON object) gives "
            '{"id": ..., "line": n, "error": "..."} instead. With -c koubei.yaml the config\'s brands are masked '
            "before scoring, as the pipeline does. --model auto learns from the input's own emoticons as it goes."
        ),
    )
    _model_options(score)
    score.add_argument("--details", action="store_true", help="also output own_text, reposted_text, emoticons, negated_terms")
    score.add_argument("--state-dir", type=Path, help="--model auto: keep the learnt model and sample here (default: in memory)")
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
    train.add_argument("--weak", type=Path, help="unlabelled posts (one per line, plain or JSON with 'text'), "
                       "labelled by their own emoticons, which are then left out of what the model learns; trained "
                       "as model: auto trains (next to the tone words, its own L2 strength)")
    train.add_argument("--data", type=Path, help="a labeled file instead of --pos/--neg")
    train.add_argument("--format", choices=TEXT_FORMATS, help=DATA_FORMAT_HELP)
    train.add_argument("--holdout", type=float, default=0.0, help="leave out this fraction of --data (fixed seed; eval --holdout scores it)")
    train.add_argument("--out", type=Path, required=True, help="where to write the model (do not commit it)")
    train.add_argument("--no-preprocessing", action="store_true", help="train on raw text (no Weibo preprocessing)")
    train.add_argument("--keep-stopwords", action="store_true", help="nb: keep the words SnowNLP drops as stopwords (nblr keeps them)")
    train.add_argument("--no-emoticon-tokens", action="store_true", help="do not give the model [emoticon] words")
    train.add_argument("-c", "--config", help="koubei.yaml: its brands are masked in the training texts; "
                       "--with-corrections reads its Kafka")
    train.add_argument("--with-corrections", action="store_true",
                       help="add people's corrections (koubei sentiment correct) from Kafka; they win over other labels")
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
    evaluate.add_argument("--format", choices=TEXT_FORMATS, required=True, help=DATA_FORMAT_HELP)
    evaluate.add_argument("--strip-emoticons", action="store_true", help="remove [xx] tokens first (for corpora labeled from them)")
    evaluate.add_argument("--holdout", type=float, default=0.0, help="evaluate only the held-out fraction train --holdout left out")
    evaluate.add_argument("--limit", type=int, default=0, help="evaluate only the first N posts")
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.set_defaults(func=cmd_eval)

    correct = commands.add_parser(
        "correct",
        help="record a person's sentiment label for a post (used by train --with-corrections and model: auto)",
        description="Writes to the compacted topic <prefix>.sentiment.corrections, keyed by the post id: "
        "a later correction of the same post replaces the earlier one.",
    )
    correct.add_argument("post_id", help="the post's id (as the pipeline shows it, e.g. weibo:4890123456789012)")
    correct.add_argument("--label", required=True, choices=("negative", "positive", "neutral"))
    correct.add_argument("--text", default="", help="the post's text (needed for the correction to be learnt from)")
    correct.add_argument("--by", default=None, help="who corrects (default: the login name)")
    correct.add_argument("-c", "--config", required=True, help="koubei.yaml (Kafka and topic prefix)")
    correct.set_defaults(func=cmd_correct)


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", help="koubei.yaml: its sentiment settings, and its brands masked before scoring")
    parser.add_argument("--model", default=None, help="'default' (shipped), 'stock' (SnowNLP's), 'auto' or a model file "
                        "(default: the config's sentiment.model, else 'default'; 'auto' learns from its input only in "
                        "`score`, elsewhere it is the default model)")
    parser.add_argument("--no-lexicon", action="store_true", help="no crisis-lexicon adjustment")
    parser.add_argument("--no-preprocessing", action="store_true", help="no Weibo preprocessing (with --model stock --no-lexicon: SnowNLP's exact numbers)")
    parser.add_argument("--threshold", type=float, default=None, help="negative >= threshold counts as negative "
                        "(default: the config's sentiment.negative_threshold)")


@dataclass
class _Settings:
    """What a scoring command runs with: the config's sentiment section, overridden by the options."""

    model: str
    lexicon: bool
    weibo_preprocessing: bool
    threshold: float
    mask: Callable[[str], str] | None
    config: Any
    sentiment: Any


def _settings(args: argparse.Namespace) -> _Settings:
    from streams.config import SentimentConfig, load_config

    config = load_config(args.config) if getattr(args, "config", None) else None
    sentiment = config.sentiment if config is not None else SentimentConfig()
    mask = None
    if config is not None:
        from streams.brands import BrandMatcher

        mask = BrandMatcher(config.brands).mask
    threshold = sentiment.negative_threshold if getattr(args, "threshold", None) is None else args.threshold
    return _Settings(
        model=getattr(args, "model", None) or sentiment.model,
        lexicon=sentiment.lexicon and not getattr(args, "no_lexicon", False),
        weibo_preprocessing=sentiment.weibo_preprocessing and not getattr(args, "no_preprocessing", False),
        threshold=threshold,
        mask=mask,
        config=config,
        sentiment=sentiment,
    )


def _scorer(settings: _Settings) -> Any:
    from streams.sentiment import load_scorer

    return load_scorer(model=settings.model, lexicon=settings.lexicon, weibo_preprocessing=settings.weibo_preprocessing)


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
    except RecursionError:
        return None, None, "invalid JSON object: nested too deeply"
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


def score_stream(
    scorer: Any,
    source: BinaryIO,
    sink: TextIO,
    details: bool = False,
    threshold: float = 0.5,
    mask: Callable[[str], str] | None = None,
    auto: Any = None,
    log: TextIO | None = None,
) -> int:
    """Score every line of ``source`` into ``sink``; returns the number of error lines.

    ``mask`` (``BrandMatcher.mask``) is applied to each text before scoring.
    ``auto`` (an ``AutoModel``) observes each batch's texts and, when it trains
    a model, the following batches are scored with it (a line on ``log`` says so).
    """
    errors = 0
    for batch in _batches(source, SCORE_BATCH):
        parsed = [(number, *parse_line(raw, number)) for number, raw in batch]
        texts = [text for _, _, text, error in parsed if error is None and text is not None]
        if mask is not None:
            texts = [mask(text) for text in texts]
        scores = scorer.score_many(texts)
        results = iter(scores)
        for number, record_id, text, error in parsed:
            if error is not None or text is None:
                errors += 1
                sink.write(_dump({"id": record_id, "line": number, "error": error}) + "\n")
                continue
            result = next(results)
            record: dict[str, Any] = {
                "id": record_id,
                "negative": result.negative,
                "is_negative": result.negative >= threshold,
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
        if auto is not None:
            auto.observe(texts, scores)
            model = auto.maybe_retrain()
            if model is not None:
                scorer = auto.scorer(model)
                if log is not None:
                    print(f"koubei sentiment score: model auto: trained on {auto.trained_on:,} weakly labelled posts; "
                          f"scoring from line {batch[-1][0] + 1} on with it", file=log)
    return errors


def cmd_score(args: argparse.Namespace) -> int:
    from streams.sentiment import ModelFileError

    settings = _settings(args)
    auto = None
    try:
        scorer = _scorer(settings)
        if settings.model == "auto":
            auto = _auto_model(settings, args.state_dir)
            if auto.model is not None:
                scorer = auto.scorer(auto.model)
    except (ModelFileError, OSError, ValueError) as exc:
        return _fail(str(exc))
    errors = score_stream(scorer, sys.stdin.buffer, sys.stdout, details=args.details, threshold=settings.threshold,
                          mask=settings.mask, auto=auto, log=sys.stderr)
    if errors:
        print(f"koubei sentiment score: {errors} line(s) could not be scored (see their 'error' field)", file=sys.stderr)
    return 0


def _note(message: str) -> None:
    print(f"koubei sentiment: {message}", file=sys.stderr)


def _fail(message: str) -> int:
    _note(message)
    return 2


def _auto_model(settings: _Settings, state_dir: Path | None) -> Any:
    """An AutoModel with the config's auto settings and the command's own scoring
    options (threshold, lexicon, preprocessing: a new model is matched and
    swapped in as the command scores); it reloads ``state_dir`` when given."""
    from dataclasses import replace

    from streams.sentiment.auto import AutoModel, AutoSettings

    auto_settings = replace(AutoSettings.from_config(settings.sentiment, settings.threshold), lexicon=settings.lexicon,
                            weibo_preprocessing=settings.weibo_preprocessing)
    return AutoModel(auto_settings, state_dir=state_dir, mask=settings.mask)


def read_posts_lines(path: Path) -> tuple[list[str], int]:
    """Texts of a posts file in ``score``'s input format (plain or JSON lines); and the count of bad lines."""
    texts: list[str] = []
    bad = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            _, text, error = parse_line(raw, number)
            if error is not None or text is None:
                bad += 1
            else:
                texts.append(text)
    return texts, bad


def cmd_train(args: argparse.Namespace) -> int:
    from streams.sentiment.evaluation import DatasetError, holdout_split, read_dataset
    from streams.sentiment.progress import StageProgress
    from streams.sentiment.training import read_lines, train_model

    settings = _settings(args)
    if args.with_corrections and settings.config is None:
        return _fail("--with-corrections needs -c koubei.yaml (where the corrections topic is)")
    sources = sum(1 for given in (args.data is not None, args.pos is not None or args.neg is not None,
                                  args.weak is not None) if given)
    if sources > 1:
        return _fail("give one of --data, --pos/--neg or --weak")
    if args.weak is not None:
        # --weak trains exactly what sentiment.model: auto trains; options it cannot honour are refused, not ignored.
        ignored = [flag for flag, given in (("--classifier nb", args.classifier != "nblr"),
                                            ("--no-preprocessing", args.no_preprocessing),
                                            ("--keep-stopwords", args.keep_stopwords),
                                            ("--no-emoticon-tokens", args.no_emoticon_tokens),
                                            ("--format", args.format is not None),
                                            ("--holdout", bool(args.holdout))) if given]
        if ignored:
            return _fail(f"--weak trains what model: auto trains and does not take {', '.join(ignored)}")
    elif args.data is None and (args.format is not None or args.holdout):
        return _fail("--format and --holdout go with --data")
    positive: list[str] = []
    negative: list[str] = []
    emoticon_tokens = not args.no_emoticon_tokens
    if args.data is not None:
        if args.format is None:
            return _fail("--data needs --format")
        if not 0.0 <= args.holdout < 1.0:
            return _fail("--holdout must be in [0, 1)")
        try:
            examples = read_dataset(args.data, args.format, report=_note)
        except (OSError, DatasetError) as exc:
            return _fail(str(exc))
        if args.holdout:
            examples, _ = holdout_split(examples, args.holdout)
        positive = [e.text for e in examples if e.positive]
        negative = [e.text for e in examples if not e.positive]
    elif args.weak is not None:
        from streams.sentiment.auto import AutoModel, AutoSettings

        try:
            texts, bad = read_posts_lines(args.weak)
        except OSError as exc:
            return _fail(str(exc))
        weak = AutoModel(AutoSettings(min_examples=20, max_examples=max(20, len(texts))))
        weak.observe([settings.mask(t) for t in texts] if settings.mask else texts)
        positive, negative = weak.training_texts()
        print(f"{args.weak}: {len(texts):,} posts ({bad} unreadable lines), {len(positive) + len(negative):,} distinct "
              f"ones labelled by their emoticons ({len(negative):,} negative, {len(positive):,} not)", file=sys.stderr)
    elif args.pos is not None and args.neg is not None:
        try:
            positive, negative = read_lines(args.pos), read_lines(args.neg)
        except OSError as exc:
            return _fail(str(exc))
    elif not args.with_corrections:
        return _fail("give --pos and --neg (or --data and --format, or --weak)")
    if settings.mask is not None and args.weak is None:
        positive = [settings.mask(t) for t in positive]
        negative = [settings.mask(t) for t in negative]
    if args.with_corrections:
        from streams.sentiment.auto import apply_corrections
        from streams.sentiment.corrections import read_corrections

        bootstrap = _bootstrap(settings.config)
        corrections, unreadable = read_corrections(settings.config, bootstrap)
        positive, negative, used = apply_corrections(positive, negative, corrections.values(), settings.mask)
        print(f"corrections: {used:,} with text used, {len(corrections) - used:,} without text skipped"
              + (f", {unreadable} unreadable records" if unreadable else ""), file=sys.stderr)
    started = time.perf_counter()
    try:
        if args.weak is not None:
            # The same training as sentiment.model: auto (weak labels next to the tone words).
            from streams.sentiment.auto import train_weak_model

            model = train_weak_model(positive, negative, progress=StageProgress("koubei sentiment train"))
        else:
            model = train_model(
                positive,
                negative,
                weibo_preprocessing=not args.no_preprocessing,
                filter_stopwords=not args.keep_stopwords,
                emoticon_tokens=emoticon_tokens,
                classifier=args.classifier,
                progress=StageProgress("koubei sentiment train"),
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


def _bootstrap(config: Any) -> str:
    from streams.kafka import bootstrap_servers

    return bootstrap_servers(config.kafka.url)


def cmd_correct(args: argparse.Namespace) -> int:
    import getpass

    from streams.kafka import detect_quirks
    from streams.sentiment.auto import Correction
    from streams.sentiment.corrections import corrections_topic, publish_correction

    settings = _settings(args)
    try:
        correction = Correction(args.post_id.strip(), args.label, args.text, args.by or getpass.getuser(), time.time())
    except ValueError as exc:
        return _fail(str(exc))
    bootstrap = _bootstrap(settings.config)
    try:
        kafka = settings.config.kafka
        publish_correction(settings.config, bootstrap, detect_quirks(kafka.broker_quirks, bootstrap, security=kafka),
                           correction)
    except Exception as exc:  # noqa: BLE001 - any broker failure is reported, never a traceback
        return _fail(f"could not write the correction to {corrections_topic(settings.config)}: {exc}")
    note = "" if correction.text else " (no --text: recorded, but nothing to learn from until the text is known)"
    print(f"post {correction.post_id}: {correction.label}, recorded in {corrections_topic(settings.config)}{note}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from streams.sentiment._snowdata import SnowDataError, load_seg_table, seg_table_path, snownlp_dir
    from streams.sentiment.progress import StageProgress

    started = time.perf_counter()
    try:
        load_seg_table(progress=StageProgress("koubei sentiment prepare"))
    except SnowDataError as exc:
        return _fail(str(exc))
    print(f"{seg_table_path(snownlp_dir() / 'seg' / 'seg.marshal.3')} ready ({time.perf_counter() - started:.1f} s)")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from streams.sentiment import ModelFileError
    from streams.sentiment.evaluation import DatasetError, evaluate, holdout_split, read_dataset
    from streams.sentiment.progress import StageProgress

    if not 0.0 <= args.holdout < 1.0:
        return _fail("--holdout must be in [0, 1)")
    settings = _settings(args)
    try:
        examples = read_dataset(args.data, args.format, strip_emoticon_tokens=args.strip_emoticons, report=_note)
        scorer = _scorer(settings)
    except (OSError, DatasetError, ModelFileError) as exc:
        return _fail(str(exc))
    if args.holdout:
        _, examples = holdout_split(examples, args.holdout)
    if args.limit > 0:
        examples = examples[: args.limit]
    if not examples:
        return _fail(f"{args.data} has no examples to evaluate")
    report = evaluate(scorer, examples, threshold=settings.threshold, progress=StageProgress("koubei sentiment eval"),
                      mask=settings.mask)
    if args.json:
        print(json.dumps(report.as_dict()))
        return 0
    print(f"posts              {report.posts}")
    print(f"threshold          {settings.threshold:g}")
    print(f"accuracy           {report.accuracy:.4f}")
    print(f"negative precision {report.negative_precision:.4f}")
    print(f"negative recall    {report.negative_recall:.4f}")
    print(f"negative F1        {report.negative_f1:.4f}")
    print(f"ROC AUC            {report.roc_auc:.4f}")
    print(f"posts/s            {report.posts_per_second:.0f}")
    return 0
