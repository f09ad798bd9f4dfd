"""Labelled text corpora: file formats, label schemes, cleaning.

For ``koubei scenario --texts`` (posts made of real texts) and ``koubei
sentiment train/eval --data`` (a model trained or measured on them). A PR
team's or a researcher's own labelled posts come in whatever shape the
corpus was published in. Read here:

* ``weibo2018``: lines ``mid,label,text`` without a header (split on the
  first two commas: the text may hold commas);
* ``label_review_csv``: a CSV with the header ``label,review``;
* ``online_shopping_zip``: a zip holding a CSV (``cat,label,review``);
* ``csv`` / ``tsv``: any comma- or tab-separated table whose header names a
  label column and a text column (``TEXT_COLUMNS``, ``LABEL_COLUMNS``, e.g.
  ``text,label`` or ``content<TAB>sentiment``), or, without a header, two or
  more columns of which the first or the last holds labels;
* ``jsonl``: one JSON object a line; ``json``: a list of such objects (or an
  object holding one), each with a text field and a label field named as
  above.

``auto`` tells them apart by extension and first line. Labels are 1 =
positive and 0 = negative; a file with any -1 label is read -1 / 0 / 1 =
negative / neutral / positive; label words (positive, neg, 中性, 负面, and the
emotion words of emotion corpora: happy, angry, sad, 喜悦, 愤怒, ...) are
read too; ``labels`` (the ``--texts-labels`` option) says what any other
scheme means. A row without a usable label or text is skipped and counted
(with its label, so that the command can say which labels it did not know),
never fatal; a file with no usable row is an error that names the file.
Files are UTF-8 (with or without a BOM), UTF-16 with a BOM, or GBK/GB18030
(Excel's CSV on a Chinese Windows), told apart from their first bytes the
way crawler files are (``streams.readers.text``).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from streams.readers.split import JSONL, json_container
from streams.readers.text import SAMPLE_BYTES, decode, detect_encoding, file_encoding

TEXT_FORMATS = ("auto", "weibo2018", "label_review_csv", "online_shopping_zip", "csv", "tsv", "jsonl", "json")
MAX_TEXT_CHARS = 300  # real reviews run to a thousand characters; a post is shorter
# Column (or JSON field) names, compared lower-cased; the first one present wins.
TEXT_COLUMNS = ("text", "review", "content", "sentence", "comment", "post", "weibo", "text_a", "微博内容", "微博",
                "内容", "文本", "评论", "句子")
LABEL_COLUMNS = ("label", "sentiment", "polarity", "emotion", "class", "标签", "情感", "情绪", "极性", "类别")
# Lines looked at to tell a headerless file's label column (or weibo2018 lines) apart.
SNIFF_LINES = 50

POSITIVE, NEGATIVE, NEUTRAL = "positive", "negative", "neutral"
# Label words corpora write (compared lower-cased, stripped). Emotion corpora
# label feelings: joy and liking read as positive; anger, sadness, fear and
# disgust as negative. Surprise goes either way and is left to --texts-labels.
LABEL_WORDS: dict[str, str] = {
    **dict.fromkeys(("positive", "pos", "正面", "积极", "正向", "好评",
                     "happy", "happiness", "joy", "like", "喜悦", "高兴", "快乐", "开心", "喜好", "喜欢"), POSITIVE),
    **dict.fromkeys(("negative", "neg", "负面", "消极", "负向", "差评",
                     "angry", "anger", "sad", "sadness", "fear", "disgust", "愤怒", "生气", "悲伤", "难过",
                     "恐惧", "害怕", "厌恶", "低落"), NEGATIVE),
    **dict.fromkeys(("neutral", "neu", "none", "中性", "中立", "中评", "无情绪"), NEUTRAL),
}
# Numeric labels: 1 positive and 0 negative (every shared corpus), or, in a
# file that has any -1 label, -1 negative, 0 neutral, 1 positive.
BINARY = {"1": POSITIVE, "0": NEGATIVE}
SIGNED = {"1": POSITIVE, "0": NEUTRAL, "-1": NEGATIVE}
# Share of a file's rows with a numeric label other than -1, 0, 1 (say 0-1-2)
# from which the reader refuses to guess what the numbers mean.
UNKNOWN_NUMERIC_SHARE = 0.01


class TextCorpusError(ValueError):
    """A corpus that cannot be used; the message names the file and line."""


@dataclass
class LabelledTexts:
    positive: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)
    neutral: list[str] = field(default_factory=list)  # only from corpora with a neutral class
    skipped: int = 0  # rows without a usable label or text
    # Skipped rows whose label was read but means nothing known, by label.
    unknown_labels: Counter[str] = field(default_factory=Counter)
    sources: list[str] = field(default_factory=list)
    # (class, text) in the order of the files, when asked for (``keep_order``).
    in_order: list[tuple[str, str]] = field(default_factory=list)

    def unknown_label_names(self) -> str:
        """The commonest labels skipped as not known, quoted, for a message ("" when none)."""
        return ", ".join(repr(label) for label, _ in self.unknown_labels.most_common(5))


def corpus_text(text: str, max_chars: int | None = MAX_TEXT_CHARS) -> str:
    """One line, at most ``max_chars`` characters (None: any length), cut at a sentence end when one is near."""
    text = " ".join(text.split())
    if max_chars is not None and len(text) > max_chars:
        cut = max(text.rfind(mark, 0, max_chars) for mark in "。！？!?；")
        text = text[: cut + 1] if cut > max_chars // 3 else text[:max_chars]
    return text


def parse_label_map(text: str) -> dict[str, str]:
    """``--texts-labels`` (e.g. ``0=negative,1=neutral,2=positive``) as {label: class}."""
    out: dict[str, str] = {}
    for item in text.split(","):
        label, sep, name = item.partition("=")
        label, name = label.strip().lower(), name.strip().lower()
        if not sep or not label:
            raise TextCorpusError(f"--texts-labels: expected LABEL=CLASS items separated by commas, got {item!r}")
        if name not in (POSITIVE, NEGATIVE, NEUTRAL):
            raise TextCorpusError(f"--texts-labels: {label!r} maps to {name!r}; the classes are positive, negative "
                                  "and neutral")
        out[label] = name
    if not out:
        raise TextCorpusError("--texts-labels is empty")
    return out


def _numeric(value: str) -> bool:
    digits = value[1:] if value[:1] in "+-" else value
    return digits.isascii() and digits.isdigit()  # not "²": str.isdigit takes it, int() does not


def _label_like(value: str) -> bool:
    """Whether a cell looks like a label (a small number or a label word), for headerless files."""
    v = value.strip().lstrip("\ufeff").lower()
    return (_numeric(v) and len(v) <= 3) or v in LABEL_WORDS


def _classes(labels: Sequence[str], mapping: dict[str, str] | None, file: Path) -> dict[str, str]:
    """What each label of the file means: ``mapping`` if given, else the label
    words, plus 0/1 (or -1/0/1 when any -1 occurs)."""
    if mapping is not None:
        return mapping
    seen = set(labels)
    numeric = SIGNED if "-1" in seen else BINARY
    unknown = sum(1 for x in labels if _numeric(x) and x not in numeric)
    if labels and unknown > UNKNOWN_NUMERIC_SHARE * len(labels):
        values = sorted({x for x in seen if _numeric(x)}, key=int)
        raise TextCorpusError(f"{file}: numeric labels {', '.join(values)}: which is positive, negative or neutral is "
                              "not known; say it with --texts-labels, e.g. 0=negative,1=neutral,2=positive")
    return {**LABEL_WORDS, **numeric}


Keep = Callable[[str | None, str], None]


def read_labelled_texts(path: str | Path, fmt: str = "auto", strip_emoticons: bool = False,
                        into: LabelledTexts | None = None, labels: dict[str, str] | None = None,
                        max_chars: int | None = MAX_TEXT_CHARS, keep_order: bool = False) -> LabelledTexts:
    """Positive, negative and (when the corpus has them) neutral texts of one
    corpus file (formats and labels: the module docstring), added to ``into``
    when given. ``strip_emoticons`` removes ``[xx]`` tokens (for corpora
    labelled from them); texts are cut to ``max_chars`` (a post is shorter
    than a review; None keeps them whole, for training); ``keep_order`` also
    lists them in the order of the file (``in_order``)."""
    file = Path(path)
    if fmt not in TEXT_FORMATS:
        raise TextCorpusError(f"unknown text format {fmt!r}; expected one of {', '.join(TEXT_FORMATS)}")
    if not file.is_file():
        raise TextCorpusError(f"{file}: file not found")
    out = into if into is not None else LabelledTexts()
    try:
        kind = detect_format(file) if fmt == "auto" else fmt
    except OSError as exc:
        raise TextCorpusError(f"{file}: cannot read it ({exc})") from None
    before = len(out.positive) + len(out.negative) + len(out.neutral)
    rows: list[tuple[str, str]] = []  # (label, text): the scheme is known once the whole file was read

    def keep(label: str | None, text: str) -> None:
        if label is None:
            out.skipped += 1
        else:
            rows.append((label.strip().lower(), text))

    try:
        if kind == "weibo2018":
            with open_text(file) as handle:
                for line in handle:
                    if not line.strip():
                        continue
                    parts = line.rstrip("\r\n").split(",", 2)
                    keep(parts[1] if len(parts) == 3 else None, parts[-1] if len(parts) == 3 else "")
        elif kind == "label_review_csv":
            with open_text(file, newline="") as handle:
                _read_table(handle, ",", keep, file, header=("label", "review"))
        elif kind in ("csv", "tsv"):
            with open_text(file, newline="") as handle:
                _read_table(handle, "," if kind == "csv" else "\t", keep, file)
        elif kind == "jsonl":
            with open_text(file) as handle:
                _read_records(_json_lines(handle, out), keep)
        elif kind == "json":
            with open_text(file) as handle:
                _read_records(_json_document(handle, file), keep)
        else:
            with zipfile.ZipFile(file) as archive:
                names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
                if not names:
                    raise TextCorpusError(f"{file}: the zip holds no .csv file")
                with archive.open(names[0]) as raw:
                    encoding = detect_encoding(raw.read(SAMPLE_BYTES))
                with archive.open(names[0]) as raw:
                    handle = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
                    _read_table(handle, ",", keep, file)
    except (OSError, zipfile.BadZipFile, csv.Error, RecursionError, UnicodeError) as exc:
        raise TextCorpusError(f"{file}: cannot read it as {kind} ({exc})") from None
    classes = _classes([label for label, _ in rows], labels, file)
    into_class = {POSITIVE: out.positive, NEGATIVE: out.negative, NEUTRAL: out.neutral}
    if strip_emoticons:
        from streams.sentiment.preprocess import strip_emoticons as strip
    for label, raw in rows:
        text = corpus_text(strip(raw) if strip_emoticons else raw, max_chars)
        name = classes.get(label)
        if name is None or len(text) < 2:
            out.skipped += 1
            if name is None and label:
                out.unknown_labels[label[:40]] += 1
        else:
            into_class[name].append(text)
            if keep_order:
                out.in_order.append((name, text))
    if len(out.positive) + len(out.negative) + len(out.neutral) == before:
        unknown = out.unknown_label_names()
        known = f"; labels not known: {unknown} (say what they mean with --texts-labels)" if unknown else ""
        raise TextCorpusError(f"{file}: no labelled text found (read as {kind}; {out.skipped} rows skipped{known})")
    out.sources.append(file.name)
    return out


# ---------------------------------------------------------------- formats

def open_text(file: Path, newline: str | None = None) -> IO[str]:
    """``file`` as text in the encoding its first bytes show; bytes it cannot read become U+FFFD."""
    return file.open(encoding=file_encoding(file), errors="replace", newline=newline)


def detect_format(path: Path) -> str:
    """The format of a corpus file, by extension and its first lines."""
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return "online_shopping_zip"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    with path.open("rb") as raw:
        sample = raw.read(SAMPLE_BYTES)
    text = decode(sample, detect_encoding(sample))
    container = json_container(text.encode("utf-8", "surrogatepass"))
    if suffix == ".json" or container:
        return "jsonl" if container == JSONL else "json"
    # Lines as a file reads them (str.splitlines would also cut at U+2028 and other breaks inside a post).
    head = [line.rstrip("\r\n") for _, line in zip(range(SNIFF_LINES), io.StringIO(text, newline=None), strict=False)]
    lines = [line.lstrip("\ufeff") for line in head if line.strip()]
    first = lines[0].strip() if lines else ""
    if suffix == ".tsv" or ("\t" in first and "," not in first.split("\t")[0]):
        return "tsv"
    if first.split(",")[:2] == ["label", "review"]:
        return "label_review_csv"
    if _header_columns(next(csv.reader([first]), [])) is not None:
        return "csv"
    weibo2018 = sum(1 for line in lines if len(parts := line.split(",", 2)) == 3 and _label_like(parts[1]))
    if lines and weibo2018 >= 0.8 * len(lines):
        return "weibo2018"
    return "csv"


def _header_columns(row: Sequence[str]) -> tuple[int, int] | None:
    """(label column, text column) named by a header row, or None when the row is no such header."""
    names = [cell.strip().lstrip("\ufeff").lower() for cell in row]
    label = next((names.index(n) for n in LABEL_COLUMNS if n in names), None)
    text = next((names.index(n) for n in TEXT_COLUMNS if n in names), None)
    if label is None or text is None or label == text:
        return None
    return label, text


def _read_table(handle: Any, delimiter: str, keep: Keep, file: Path, header: tuple[str, ...] | None = None) -> None:
    """A CSV or TSV table: with a header naming its label and text columns, or
    without one (two or more columns, the labels in the first or the last)."""
    # Tab-separated corpora rarely quote their texts; a stray quote must not swallow the lines after it.
    quoting = csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
    reader = csv.reader(handle, delimiter=delimiter, quoting=quoting)
    first = next(reader, None)
    if first is None:
        return
    names = [h.strip().lstrip("\ufeff") for h in first]
    if header is not None and [n.lower() for n in names[: len(header)]] != list(header):
        raise TextCorpusError(f"{file}: expected a header {','.join(header)}, got {first!r}")
    columns = _header_columns(first)
    rows: Iterable[list[str]] = reader
    if columns is None:
        if any(n.lower() in LABEL_COLUMNS or n.lower() in TEXT_COLUMNS for n in names):
            raise TextCorpusError(f"{file}: the header {first!r} needs a label column ({', '.join(LABEL_COLUMNS[:5])}, "
                                  f"...) and a text column ({', '.join(TEXT_COLUMNS[:5])}, ...)")
        sample = [first] + [row for _, row in zip(range(SNIFF_LINES), reader, strict=False)]
        columns = _label_column(sample, file)
        rows = itertools.chain(sample, reader)
    label_at, text_at = columns
    last = text_at == max(label_at, text_at)
    width = len(first)
    for row in rows:
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(label_at, text_at):
            keep(None, "")
        elif len(row) > width and not last:
            keep(None, "")  # unquoted separators in a text that is not the last column: which cells are it?
        else:
            # The text is the last column: a text with unquoted separators spans the rest of the row.
            keep(row[label_at], delimiter.join(row[text_at:]) if last else row[text_at])


def _label_column(sample: list[list[str]], file: Path) -> tuple[int, int]:
    """A headerless table's (label column, text column): the first or the last column, whichever holds labels."""
    rows = [row for row in sample if any(cell.strip() for cell in row)]
    if rows and all(len(row) >= 2 for row in rows):
        for label_at, text_at in ((0, 1), (-1, 0)):
            if sum(1 for row in rows if _label_like(row[label_at])) >= 0.9 * len(rows):
                if label_at == -1:
                    width = len(rows[0])
                    return width - 1, max(0, width - 2)
                return label_at, text_at
    raise TextCorpusError(f"{file}: no header naming a label and a text column, and neither the first nor the last "
                          "column holds labels (0/1, -1/0/1 or label words); add a header such as label,text")


def _json_lines(handle: Any, out: LabelledTexts) -> Iterable[Any]:
    for line in handle:
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except (ValueError, RecursionError):
            out.skipped += 1  # a broken line is one bad row, not a bad file


def _json_document(handle: Any, file: Path) -> Iterable[Any]:
    try:
        data = json.load(handle)
    except ValueError as exc:
        raise TextCorpusError(f"{file}: not a JSON document ({exc})") from None
    if isinstance(data, dict):
        if _record_fields(data) is not None:
            return [data]  # one record alone (a JSON-lines file of one line)
        # {"data": [...]} and the like: the first value that is a list of records.
        data = next((v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)), None)
    if not isinstance(data, list):
        raise TextCorpusError(f"{file}: expected a JSON list of records (or an object holding one)")
    return data


def _record_fields(record: dict[Any, Any]) -> tuple[Any, Any] | None:
    """A record's (label, text) by the column names, or None when it names neither."""
    fields = {str(k).strip().lower(): v for k, v in record.items()}
    text = next((fields[n] for n in TEXT_COLUMNS if n in fields), None)
    label = next((fields[n] for n in LABEL_COLUMNS if n in fields), None)
    return None if text is None and label is None else (label, text)


def _read_records(records: Iterable[Any], keep: Keep) -> None:
    for record in records:
        found = _record_fields(record) if isinstance(record, dict) else None
        if found is None:
            keep(None, "")
            continue
        label, text = found
        if isinstance(label, bool) or not isinstance(label, (str, int, float)) or not isinstance(text, str):
            keep(None, "")
        elif isinstance(label, float):
            keep(str(int(label)) if label.is_integer() else None, text)
        else:
            keep(str(label), text)
