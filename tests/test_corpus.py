"""Corpora in the shapes people publish them: generic CSV, TSV, JSON lines and JSON, headers or none.

``koubei scenario --texts`` is how a team measures the detector on labelled
posts of its own; these are the formats such corpora come in (emotion corpora
label feelings, Baidu-style TSVs have no quotes, crawler dumps are JSON). The
shared corpora's own formats are tested in tests/test_scenario_real.py.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams import scenario_cli
from streams.corpus import (
    LabelledTexts,
    TextCorpusError,
    corpus_text,
    detect_format,
    parse_label_map,
    read_labelled_texts,
)

GOOD = ["服务很好，下次还来", "味道不错，推荐", "物流很快，包装完整"]
BAD = ["等了两个小时，饭都凉了", "客服不理人，太差了", "质量太差，退货也不给退"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_csv_whose_header_names_text_then_label(tmp_path: Path) -> None:
    rows = [["text", "label"]] + [[t, "1"] for t in GOOD] + [[t, "0"] for t in BAD]
    path = tmp_path / "mine.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    assert detect_format(path) == "csv"
    texts = read_labelled_texts(path)
    assert texts.positive == GOOD and texts.negative == BAD and texts.skipped == 0


def test_a_tsv_with_a_header_and_label_words(tmp_path: Path) -> None:
    lines = ["content\tsentiment"] + [f"{t}\tpositive" for t in GOOD] + [f"{t}\t负面" for t in BAD]
    lines.append('说"今天"出门\t中性')  # a stray quote in a TSV is a character, not the start of a field
    path = _write(tmp_path / "mine.tsv", "\n".join(lines) + "\n")
    assert detect_format(path) == "tsv"
    texts = read_labelled_texts(path)
    assert texts.positive == GOOD and texts.negative == BAD and texts.neutral == ['说"今天"出门']


@pytest.mark.parametrize("label_first", [True, False])
def test_a_headerless_tsv_finds_its_label_column(tmp_path: Path, label_first: bool) -> None:
    rows = [("1", t) for t in GOOD] + [("0", t) for t in BAD]
    lines = [f"{a}\t{b}" if label_first else f"{b}\t{a}" for a, b in rows]
    path = _write(tmp_path / "baidu.txt", "\n".join(lines) + "\n")
    assert detect_format(path) == "tsv"
    texts = read_labelled_texts(path)
    assert texts.positive == GOOD and texts.negative == BAD


def test_a_headerless_csv_with_the_label_first_keeps_the_commas_of_its_texts(tmp_path: Path) -> None:
    path = _write(tmp_path / "plain.csv", "".join(f"1,{t}\n" for t in GOOD) + "".join(f"0,{t}\n" for t in BAD))
    assert detect_format(path) == "csv"
    texts = read_labelled_texts(path)
    assert texts.positive == GOOD and texts.negative == BAD


def test_weibo2018_lines_are_still_told_apart_from_a_headerless_csv(tmp_path: Path) -> None:
    path = _write(tmp_path / "train.txt", "".join(f"{i},1,{t}\n" for i, t in enumerate(GOOD))
                  + "".join(f"{10 + i},0,{t}\n" for i, t in enumerate(BAD)))
    assert detect_format(path) == "weibo2018"
    assert read_labelled_texts(path).negative == BAD
    # Posts hold line and paragraph separators that are not line ends of the file.
    odd = [f"{t}\u2028第二段\x0c\x1c" for t in BAD]
    path = _write(tmp_path / "odd.txt", "".join(f"{i},0,{t}\n" for i, t in enumerate(odd)))
    assert detect_format(path) == "weibo2018"
    assert read_labelled_texts(path).negative == [corpus_text(t) for t in odd]


def test_an_emotion_corpus_in_json_lines(tmp_path: Path) -> None:
    records = ([{"id": i, "content": t, "label": "happy"} for i, t in enumerate(GOOD)]
               + [{"id": 9, "content": BAD[0], "label": "angry"}, {"id": 10, "content": BAD[1], "label": "sad"},
                  {"id": 11, "content": BAD[2], "label": "fear"},
                  {"id": 12, "content": "居然还有这种操作", "label": "surprise"},
                  {"id": 13, "content": "今天下雨了", "label": "neutral"}])
    lines = [json.dumps(r, ensure_ascii=False) for r in records] + ["{broken", "", "[1, 2]"]
    path = _write(tmp_path / "ewect.jsonl", "\n".join(lines) + "\n")
    texts = read_labelled_texts(path)
    assert texts.positive == GOOD and texts.negative == BAD and texts.neutral == ["今天下雨了"]
    # surprise can go either way: skipped and named, the broken line and the list skipped too.
    assert texts.unknown_labels == {"surprise": 1} and texts.skipped == 3
    assert read_labelled_texts(path, labels=parse_label_map("happy=positive,surprise=neutral,angry=negative"),
                               ).neutral == ["居然还有这种操作"]


@pytest.mark.parametrize("wrap", [False, True])
def test_a_json_document_is_a_list_of_records_or_holds_one(tmp_path: Path, wrap: bool) -> None:
    records: list[dict[str, object]] = [{"text": t, "polarity": 1} for t in GOOD]
    records += [{"text": t, "polarity": 0.0} for t in BAD]
    records += [{"text": "布尔不是标签", "polarity": True}, {"text": 5, "polarity": 1}, {"text": "多标签", "polarity": [0]}]
    document: object = {"meta": {"n": 6}, "data": records} if wrap else records
    path = _write(tmp_path / "corpus.json", json.dumps(document, ensure_ascii=False, indent=2))
    assert detect_format(path) == "json"
    texts = read_labelled_texts(path)
    assert texts.positive == GOOD and texts.negative == BAD and texts.skipped == 3


def test_a_json_file_of_one_record_a_line_is_json_lines(tmp_path: Path) -> None:
    # Many published corpora (CLUE's among them) name JSON lines ".json".
    lines = [json.dumps({"sentence": t, "label": "1"}, ensure_ascii=False) for t in GOOD]
    lines += [json.dumps({"sentence": t, "label": "0"}, ensure_ascii=False) for t in BAD]
    path = _write(tmp_path / "train.json", "\n".join(lines) + "\n")
    assert detect_format(path) == "jsonl"
    texts = read_labelled_texts(path)
    assert texts.positive == GOOD and texts.negative == BAD


@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "utf-8-sig", "utf-16"])
@pytest.mark.parametrize(("name", "content"), [
    ("excel.csv", "标签,评论\n" + "".join(f"1,{t}\n" for t in GOOD) + "".join(f"0,{t}\n" for t in BAD)),
    ("baidu.tsv", "".join(f"1\t{t}\n" for t in GOOD) + "".join(f"0\t{t}\n" for t in BAD)),
    ("train.txt", "".join(f"{i},1,{t}\n" for i, t in enumerate(GOOD)) + "".join(f"9{i},0,{t}\n" for i, t in enumerate(BAD))),
    ("lines.jsonl", "".join(json.dumps({"text": t, "label": 1}, ensure_ascii=False) + "\n" for t in GOOD)
     + "".join(json.dumps({"text": t, "label": 0}, ensure_ascii=False) + "\n" for t in BAD)),
])
def test_a_corpus_in_gbk_or_utf16_reads_as_in_utf8(tmp_path: Path, encoding: str, name: str, content: str) -> None:
    utf8 = tmp_path / "utf8" / name
    utf8.parent.mkdir()
    utf8.write_text(content, encoding="utf-8")
    other = tmp_path / encoding / name
    other.parent.mkdir()
    other.write_bytes(content.encode(encoding))
    assert detect_format(other) == detect_format(utf8)
    mine, theirs = read_labelled_texts(utf8), read_labelled_texts(other)
    assert (theirs.positive, theirs.negative) == (mine.positive, mine.negative) == (GOOD, BAD)


def test_strict_formats_and_line_files_read_gbk_too(tmp_path: Path) -> None:
    from streams.sentiment.evaluation import read_dataset
    from streams.sentiment.training import read_lines
    path = tmp_path / "weibo2018.txt"
    path.write_bytes(("".join(f"{i},1,{t}\n" for i, t in enumerate(GOOD)) + f"7,0,{BAD[0]}\n").encode("gbk"))
    assert [(e.text, e.positive) for e in read_dataset(path, "weibo2018")] == [(t, True) for t in GOOD] + [(BAD[0], False)]
    review = tmp_path / "label_review.csv"
    review.write_bytes(("label,review\n" + "".join(f"0,{t}\n" for t in BAD)).encode("gb18030"))
    assert [e.text for e in read_dataset(review, "label_review_csv")] == BAD
    pos = tmp_path / "pos.txt"
    pos.write_bytes("\n".join(GOOD).encode("gbk"))
    assert read_lines(pos) == GOOD


def test_one_damaged_byte_costs_one_text_not_the_file(tmp_path: Path) -> None:
    # A UTF-8 corpus with a bad byte must not be read as GBK (every other text would be mojibake).
    rows = [f"1,{t}" for t in GOOD * 20] + [f"0,{t}" for t in BAD * 20]
    data = ("label,text\n" + "\n".join(rows) + "\n").encode("utf-8")
    cut = data.index(BAD[1].encode("utf-8")) + 1  # inside the first character of a negative text
    path = tmp_path / "damaged.csv"
    path.write_bytes(data[:cut] + b"\xff" + data[cut:])
    texts = read_labelled_texts(path)
    assert texts.positive == GOOD * 20
    assert sum(1 for t in texts.negative if t not in BAD) == 1 and len(texts.negative) == 60


@pytest.mark.parametrize(("name", "content", "message"), [
    ("a.csv", "label,author\n1,张三\n", r"a\.csv.*needs a label column .* and a text column"),
    ("b.tsv", "今天天气\t很好\n明天\t下雨\n", r"b\.tsv.*neither the first nor the last column holds labels"),
    ("c.json", '{"n": 3}', r"c\.json.*expected a JSON list of records"),
    ("d.json", '[{"text": "好"', r"d\.json: not a JSON document"),
    ("e.jsonl", json.dumps({"text": "居然这样", "label": "surprise"}) + "\n",
     r"labels not known: 'surprise' \(say what they mean with --texts-labels"),
])
def test_errors_name_the_file_and_what_is_missing(tmp_path: Path, name: str, content: str, message: str) -> None:
    with pytest.raises(TextCorpusError, match=message):
        read_labelled_texts(_write(tmp_path / name, content))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TextCorpusError, match="file not found"):
        read_labelled_texts(tmp_path / "missing.csv")


TEXTS = st.lists(st.sampled_from(list("好差服务太慢了，。！？ ,\"'\t\n😀") + ["[哈哈]", "//@某人:"]),
                 max_size=30).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from(["0", "1", "-1"]), TEXTS), min_size=1, max_size=12),
       fmt=st.sampled_from(["csv", "jsonl", "json"]))
def test_any_text_survives_the_round_trip(tmp_path: Path, rows: list[tuple[str, str]], fmt: str) -> None:
    path = tmp_path / f"round.{fmt}"
    if fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([["label", "text"], *rows])
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps({"label": int(a), "text": b}, ensure_ascii=False) + "\n" for a, b in rows),
                        encoding="utf-8")
    else:
        path.write_text(json.dumps([{"label": a, "text": b} for a, b in rows], ensure_ascii=False), encoding="utf-8")
    signed = any(a == "-1" for a, _ in rows)
    expected = LabelledTexts()
    for label, text in rows:
        kept = corpus_text(text)
        if len(kept) >= 2:
            name = {"1": "positive", "0": "neutral" if signed else "negative", "-1": "negative"}[label]
            getattr(expected, name).append(kept)
    if not (expected.positive or expected.negative or expected.neutral):
        with pytest.raises(TextCorpusError, match="no labelled text found"):
            read_labelled_texts(path, fmt=fmt)
        return
    texts = read_labelled_texts(path, fmt=fmt)
    assert (texts.positive, texts.negative, texts.neutral) == (expected.positive, expected.negative, expected.neutral)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".json", ".txt", ".zip"]),
       fmt=st.sampled_from(["auto", "csv", "tsv", "jsonl", "json", "weibo2018"]))
def test_hostile_bytes_give_texts_or_a_corpus_error(tmp_path: Path, data: bytes, suffix: str, fmt: str) -> None:
    path = tmp_path / f"hostile{suffix}"
    path.write_bytes(data)
    try:
        texts = read_labelled_texts(path, fmt=fmt)
    except TextCorpusError as exc:
        assert "hostile" in str(exc) or "format" in str(exc)
    else:
        assert texts.positive or texts.negative or texts.neutral


def test_the_command_takes_an_emotion_corpus_and_says_which_labels_it_skipped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = ["服务很好，下次还来", "味道不错，推荐", "物流很快，包装完整", "店员很耐心", "性价比很高"]
    bad = ["等了两个小时，饭都凉了", "客服不理人，太差了", "质量太差，退货也不给退", "吃完拉肚子", "图片和实物差太多"]
    records = ([{"content": t, "label": "happy"} for t in good] + [{"content": t, "label": "angry"} for t in bad]
               + [{"content": "居然还有这种操作", "label": "surprise"}] * 3)
    corpus = _write(tmp_path / "ewect.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    parser = argparse.ArgumentParser(prog="koubei")
    scenario_cli.register(parser.add_subparsers())
    out = tmp_path / "s.jsonl"
    args = parser.parse_args(["scenario", "--texts", str(corpus), "--kind", "sudden", "--out", str(out)])
    assert args.func(args) == 0
    err = capsys.readouterr().err
    assert "5 positive, 5 negative" in err and "labels not known: 'surprise' (3)" in err
    assert out.stat().st_size > 0
