"""Every command that reads a file, fed files nobody should write: each
ends with a result or a clear error (exit 0, 1 or 2), never a traceback.

The files are the kinds that stopped commands before (a field over the csv
module's limit, JSON nested thousands deep, GBK or UTF-16 bytes, NULs) and
plain random bytes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from streams.cli import main

# Brands only: no channel, so no secret is needed and the backtest reaches its readers.
CONFIG = "brands:\n  - id: acme\n    name: Acme\n    aliases: [acme, 爱客]\n"


def hostile_files(folder: Path) -> list[Path]:
    rng = random.Random(7)
    files = {
        "empty.jsonl": b"",
        "bom_only.csv": b"\xef\xbb\xbf",
        "random.bin": bytes(rng.getrandbits(8) for _ in range(5000)),
        "nul.jsonl": b"\x00" * 2000 + b"\n" + b'{"id":1}\x00\n',
        "huge_field.csv": b'label,review\n1,"' + "长".encode() * 70_000 + b'"\n',
        "utf16_no_bom.csv": "label,review\n1,很好吃\n0,太难吃了\n".encode("utf-16-le"),
        "gbk.csv": "label,review\n1,很好吃\n0,太难吃了\n".encode("gbk"),
        "ints.json": b"[1,2,3]",
        "nested.json": b"[" * 50_000 + b"]" * 50_000,
        "nested_object.jsonl": b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"\n",
        "huge_numbers.jsonl": b'{"id": 1e999, "created_at": 1e400, "text": "x", "followers": 99999999999999999999999}\n',
        "nan.jsonl": b'{"id": NaN, "created_at": Infinity, "text": "x"}\n',
        "unclosed_quote.csv": 'label,review\n1,"很好吃\n0,太难吃了\n'.encode(),
        "cr_only.csv": "label,review\r1,很好\r0,太差\r".encode(),
        "lone_surrogates.jsonl": b'{"id":"1","text":"\\ud800x\\udfff","created_at":"2026-01-01T00:00:00Z"}\n',
        "crawler_shapes.json": json.dumps([{"note_id": None, "desc": ["x"], "time": "soon",
                                            "liked_count": "1万+", "user_id": {}}, 5, "s", None]).encode(),
        "series_garbage.csv": b"timestamp,value\n2015-01-01 00:00:00,abc\nnot a time,5\n,\n",
        "yaml_deep.yaml": b"brands: " + b"[" * 5000 + b"]" * 5000 + b"\n",
        "yaml_tag.yaml": b"brands: !!python/object/apply:os.system ['echo no']\n",
    }
    paths = []
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def commands(path: Path, out: Path) -> list[list[str]]:
    return [
        ["replay", str(path), "--dry-run"],
        ["backtest", "--series", str(path), "--out", str(out / "scored.csv")],
        *(["backtest", str(path), "--config", str(out / "koubei.yaml"), "--format", fmt]
          for fmt in ("json", "jsonl", "csv", "mediacrawler", "weibo-search", "weibo-crawler")),
        ["sentiment", "eval", "--data", str(path), "--format", "auto"],
        ["sentiment", "eval", "--data", str(path), "--format", "label_review_csv"],
        ["sentiment", "eval", "--data", str(path), "--format", "weibo2018"],
        ["scenario", "--texts", str(path), "--kind", "sudden", "--days", "1", "--scale", "0.1",
         "--out", str(out / "scenario.jsonl")],
        ["check-config", str(path)],
    ]


@pytest.mark.slow
def test_no_file_stops_a_command_with_a_traceback(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "koubei.yaml").write_text(CONFIG, encoding="utf-8")
    failures = []
    for path in hostile_files(inputs):
        for argv in commands(path, out):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse's own exit for a usage error
                code = exc.code if isinstance(exc.code, int) else 2
            except BaseException as exc:  # noqa: BLE001 - what this test is here to catch
                failures.append(f"koubei {' '.join(argv)}: {type(exc).__name__}: {str(exc)[:120]}")
                continue
            if code not in (0, 1, 2):
                failures.append(f"koubei {' '.join(argv)}: exit {code}")
    assert not failures, "\n".join(failures)


def test_a_broker_that_cannot_be_reached_is_one_line_not_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`koubei replay`, `connect`, `worker` and `notify` used to end in a
    KafkaTimeoutError traceback when the broker was down at start-up (the real
    client takes 40 s to give up; here it gives up at once)."""
    from kafka.errors import KafkaTimeoutError

    import streams.cli.connect

    def unreachable(*_args: object, **_kwargs: object) -> object:
        raise KafkaTimeoutError("Unable to bootstrap from 127.0.0.1:1")

    monkeypatch.setattr(streams.cli.connect, "detect_quirks", unreachable)
    posts = tmp_path / "posts.jsonl"
    posts.write_text('{"source":"file","id":"1","text":"x","created_at":"2026-01-01T00:00:00Z"}\n', encoding="utf-8")
    assert main(["replay", str(posts), "--kafka", "127.0.0.1:1"]) == 1
    err = capsys.readouterr().err
    assert "koubei replay: cannot use Kafka (KafkaTimeoutError: Unable to bootstrap from 127.0.0.1:1)" in err
    assert "Traceback" not in err


DEEP = '{"a":' * 5000 + "1" + "}" * 5000


def test_records_nested_too_deeply_are_reasons_not_exceptions(tmp_path: Path) -> None:
    """json.loads recurses per level: each of these raised RecursionError
    out of the reader (a correction record from Kafka, a corpus line, a
    connector's checkpoint) instead of the reader's own error."""
    from connectors._state import StateError, StateStore
    from streams.corpus import read_labelled_texts
    from streams.sentiment.auto import Correction

    with pytest.raises(ValueError, match="nested too deeply"):
        Correction.from_json(DEEP)
    corpus = tmp_path / "texts.jsonl"
    corpus.write_text("\n".join([json.dumps({"label": "positive", "text": "很好吃"}, ensure_ascii=False), DEEP,
                                 json.dumps({"label": "negative", "text": "太难吃了"}, ensure_ascii=False)]) + "\n",
                      encoding="utf-8")
    texts = read_labelled_texts(corpus, "jsonl")
    assert (texts.positive, texts.negative, texts.skipped) == (["很好吃"], ["太难吃了"], 1)
    state = tmp_path / "state"
    state.mkdir()
    (state / "c.json").write_text(DEEP, encoding="utf-8")
    with pytest.raises(StateError, match="nested too deeply"):
        StateStore(state, "c", "files").load()
    from alerting.render import Renderer, TemplateError

    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "strings.json").write_text(DEEP, encoding="utf-8")
    with pytest.raises(TemplateError, match="nested too deeply"):
        Renderer("zh", str(templates))
