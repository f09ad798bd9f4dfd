"""``koubei backtest --series``: the stable NAB-format interface."""

from __future__ import annotations

import csv
import math
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.cli import main

START = datetime(2026, 3, 2, tzinfo=timezone.utc)
SPIKE_ROW = 700


def write_series(path: Path, rows: int = 900, spike_row: int | None = SPIKE_ROW) -> None:
    """Five-minute mention counts with a daily cycle and one huge spike."""
    rng = random.Random(5)
    with path.open("w", encoding="utf-8") as handle:
        handle.write("timestamp,value\n")
        for i in range(rows):
            when = START + timedelta(minutes=5 * i)
            rate = 40 * (1 + 0.6 * math.sin(2 * math.pi * (when.hour - 8) / 24))
            value = max(0, round(rng.gauss(rate, math.sqrt(rate))))
            if spike_row is not None and spike_row <= i < spike_row + 3:
                value += 2000
            handle.write(f"{when:%Y-%m-%d %H:%M:%S},{value}\n")


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_series_mode_writes_one_scored_row_per_input_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_series(source)
    assert main(["backtest", "--series", str(source), "--out", str(out)]) == 0
    rows = read_rows(out)
    inputs = read_rows(source)
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "alert"]
    assert [(r["timestamp"], r["value"]) for r in rows] == [(r["timestamp"], r["value"]) for r in inputs]
    assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in rows)
    assert {r["alert"] for r in rows} <= {"0", "1"}
    alerted = [i for i, r in enumerate(rows) if r["alert"] == "1"]
    assert alerted and alerted[0] in range(SPIKE_ROW, SPIKE_ROW + 3)
    assert float(rows[SPIKE_ROW]["anomaly_score"]) > 0.5
    assert len(alerted) <= 2
    assert "alert(s)" in capsys.readouterr().out


def test_series_without_anomaly_raises_no_alert(tmp_path: Path) -> None:
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_series(source, spike_row=None)
    assert main(["backtest", "--series", str(source), "--out", str(out)]) == 0
    assert all(r["alert"] == "0" for r in read_rows(out))


@pytest.mark.parametrize(("content", "words"), [
    ("time,count\n2026-03-02 00:00:00,1\n", "header"),
    ("timestamp,value\n2026-03-02 00:00:00,-4\n", ":2: value must be a finite count"),
    ("timestamp,value\n2026-03-02 00:00:00,lots\n", ":2: value is not a number"),
    ("timestamp,value\nyesterday,4\n", ":2: not a timestamp"),
    ("timestamp,value\n2026-03-02 00:05:00,4\n2026-03-02 00:00:00,4\n", ":3: timestamps must increase"),
    ("timestamp,value\n", "no data rows"),
])
def test_bad_series_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                                     words: str) -> None:
    source = tmp_path / "bad.csv"
    source.write_text(content, encoding="utf-8")
    assert main(["backtest", "--series", str(source), "--out", str(tmp_path / "o.csv")]) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_a_series_in_another_encoding_or_with_a_huge_field_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Found by feeding hostile files to every file-taking command: these
    crashed with UnicodeDecodeError and csv.Error tracebacks."""
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("timestamp,value\n2026-03-02 00:00:00,一\n".encode("gbk"))
    huge = tmp_path / "huge.csv"
    huge.write_text("timestamp,value\n\"" + "9" * 200_000 + "\",1\n", encoding="utf-8")
    utf16 = tmp_path / "utf16.csv"
    utf16.write_text("timestamp,value\n2026-03-02 00:00:00,1\n2026-03-02 00:01:00,2\n", encoding="utf-16")
    for source, words in ((gbk, ":2: value is not a number"), (huge, "field larger than field limit")):
        assert main(["backtest", "--series", str(source), "--out", str(tmp_path / "o.csv")]) == 2
        assert words in capsys.readouterr().err
    # A BOM says the encoding: a UTF-16 export reads like any other.
    assert main(["backtest", "--series", str(utf16), "--out", str(tmp_path / "o.csv")]) == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_any_bytes_as_a_series_give_rows_or_a_clear_error(tmp_path: Path, data: bytes) -> None:
    from streams.detection.series import SeriesError, read_series

    source = tmp_path / "any.csv"
    source.write_bytes(b"timestamp,value\n" + data)
    try:
        rows = read_series(source)
    except SeriesError as exc:
        assert str(source) in str(exc)
    else:
        assert rows and all(math.isfinite(row.value) and row.value >= 0 for row in rows)


def test_argument_combinations_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.csv"
    write_series(source, rows=10)
    assert main(["backtest", "--series", str(source)]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["backtest", "posts.jsonl", "--series", str(source), "--out", "x.csv"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["backtest"]) == 2
    assert "POSTS.jsonl" in capsys.readouterr().err

