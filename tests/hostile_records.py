"""Records a hostile or merely sloppy source sends, for the gate's tests.

``bad_records()``: records the input gate must refuse, each with the reason
it must give (over 60, all distinct). ``sloppy(post, i)``: the same post
written the way real producers write it (epoch milliseconds, naive Beijing
time, counts like "1.5万", control characters, a lone surrogate, NaN, a
deep ``raw``), which the gate must accept as that post.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

T = "2026-03-14T10:00:00+08:00"
AUTHOR = {"id": "a1", "name": "路人"}


def _post(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"source": "weibo", "id": "bad", "author": AUTHOR, "text": "星河手机", "created_at": T}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()


def _j(data: Any, **kwargs: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, **kwargs).encode("utf-8", "surrogatepass")


def bad_records() -> list[tuple[bytes, str]]:
    """(payload, reason the gate gives); every payload distinct."""
    deep_raw = b'{"source":"weibo","id":"deep","author":{"id":"a"},"text":"t","created_at":"' + T.encode() + \
        b'","raw":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    records: list[tuple[bytes, str]] = [
        # not JSON at all
        (b"{this is not json", "malformed_json"),
        (b"{\"source\": \"weibo\", \"id\": ", "malformed_json"),
        (b"{'source': 'weibo'}", "malformed_json"),
        (b'{"source":"weibo"} trailing', "malformed_json"),
        (b"\x00\x01\x02", "malformed_json"),
        (b"<html><body>502 Bad Gateway</body></html>", "malformed_json"),
        (b"undefined", "malformed_json"),
        (b'{"a":1,}', "malformed_json"),
        # JSON, but not an object
        (b"[1, 2, 3]", "not_an_object"),
        (b'"just a string"', "not_an_object"),
        (b"null", "not_an_object"),
        (b"true", "not_an_object"),
        (b"12345", "not_an_object"),
        (b"NaN", "not_an_object"),
        (b"[" + _j(_post(id="in-a-list")) + b"]", "not_an_object"),
        # bytes that are not UTF-8
        (b'{"source":"weibo","id":"x4","text":"\xff\xfe bad bytes"}', "invalid_utf8"),
        (b'{"text":"\xc0\xaf overlong"}', "invalid_utf8"),
        (b'{"text":"\xed\xa0\x80 a surrogate in CESU-8"}', "invalid_utf8"),
        ("星河手机".encode("gb18030") + b" GBK bytes", "invalid_utf8"),
        # too big, too deep
        (_j(_post(id="huge", text="星" * 333_400)), "record_too_large"),
        (_j(_post(id="long", text="差" * 100_001)), "text_too_long"),
        (deep_raw, "too_deep"),
        (b"[" * 100_000 + b"]" * 100_000, "too_deep"),
        # (empty lines are skipped by every file reader, so none here: the gate's own tests cover them)
        # missing identity or time
        (_j(_post(id="no-source", source=_DROP)), "missing_field"),
        (_j(_post(id=_DROP)), "missing_field"),
        (_j(_post(id="no-text", text=_DROP)), "missing_field"),
        (_j(_post(id="no-time", created_at=_DROP)), "missing_field"),
        (_j(_post(id="no-author", author=_DROP)), "missing_field"),
        (_j(_post(id="author-no-id", author={"name": "匿名"})), "missing_field"),
        (_j(_post(id="null-time", created_at=None)), "missing_field"),
        (_j(_post(id="empty-time", created_at="")), "missing_field"),
        # wrong types
        (_j(_post(id="int-text", text=12345)), "wrong_type"),
        (_j(_post(id="list-text", text=["星河手机"])), "wrong_type"),
        (_j(_post(id="dict-text", text={"zh": "星河手机"})), "wrong_type"),
        (_j(_post(id=1.5)), "wrong_type"),
        (_j(_post(id=True)), "wrong_type"),
        (_j(_post(id={"mid": 1})), "wrong_type"),
        (_j(_post(id="int-source", source=7)), "wrong_type"),
        (_j(_post(id="str-author", author="路人")), "wrong_type"),
        (_j(_post(id="list-author", author=["a1"])), "wrong_type"),
        (_j(_post(id="bool-time", created_at=True)), "wrong_type"),
        (_j(_post(id="list-time", created_at=[2026, 3, 14])), "wrong_type"),
        (_j(_post(id="dict-time", created_at={"$date": T})), "wrong_type"),
        (_j(_post(id="author-list-id", author={"id": ["a"]})), "wrong_type"),
        # identity values that cannot be keys
        (_j(_post(id="colon-source", source="wei:bo")), "bad_value"),
        (_j(_post(id="empty-source", source="")), "bad_value"),
        (_j(_post(id="")), "bad_value"),
        (_j(_post(id="x" * 300)), "bad_value"),
        (_j(_post(id="empty-author", author={"id": ""})), "bad_value"),
        (_j(_post(id="blank-id-ish", source="   ")), "bad_value"),
        # times that cannot be a post's
        (_j(_post(id="epoch-1e20", created_at=1e20)), "bad_time"),
        (_j(_post(id="epoch-negative", created_at=-1)), "bad_time"),
        (_j(_post(id="yesterday", created_at="yesterday")), "bad_time"),
        (_j(_post(id="month-13", created_at="2026-13-45T00:00:00+08:00")), "bad_time"),
        (_j(_post(id="nan-time-string", created_at="NaN")), "bad_time"),
        (b'{"source":"weibo","id":"nan-time","author":{"id":"a"},"text":"t","created_at":NaN}', "bad_time"),
        (b'{"source":"weibo","id":"inf-time","author":{"id":"a"},"text":"t","created_at":Infinity}', "bad_time"),
        (_j(_post(id="relative", created_at="3分钟前")), "bad_time"),
        (_j(_post(id="year-9999", created_at="9999-12-31T23:59:59+00:00")), "future_time"),
        (_j(_post(id="year-3000-ms", created_at=32503680000000)), "future_time"),
        (_j(_post(id="next-year", created_at="2099-03-14T10:00:00+08:00")), "future_time"),
        (_j(_post(id="year-1", created_at="0001-01-01T00:00:00+00:00")), "too_old"),
        (_j(_post(id="epoch-0", created_at=0)), "too_old"),
        (_j(_post(id="year-1970", created_at="1970-01-01T08:00:00+08:00")), "too_old"),
        (_j(_post(id="year-1999", created_at="1999-12-31 23:00")), "too_old"),
    ]
    payloads = [p for p, _ in records]
    assert len(set(payloads)) == len(payloads), "bad records must be distinct"
    return records


def sloppy(post: dict[str, Any], variant: int) -> bytes:
    """``post`` written one of the sloppy ways real producers write a valid post."""
    data = json.loads(json.dumps(post, ensure_ascii=False))
    when = datetime.fromisoformat(data["created_at"])
    kind = variant % 10
    if kind == 0:  # JavaScript / Xiaohongshu: epoch milliseconds
        data["created_at"] = int(when.timestamp() * 1000)
    elif kind == 1:  # a crawler export: naive Beijing time
        data["created_at"] = when.strftime("%Y-%m-%d %H:%M:%S")
    elif kind == 2:  # counts as crawlers write them
        data["reposts"], data["likes"] = "1.5万", "None"
        data["author"]["followers"] = "2w"
    elif kind == 3:  # control and zero-width characters around (not inside) the brand name
        data["text"] = "\u200b\x07" + data["text"] + "\ufeff\x1b"
    elif kind == 4:  # a lone surrogate in the author's name (valid JSON, not valid Unicode)
        data["author"]["name"] = "小\ud800王"
        return json.dumps(data, ensure_ascii=True).encode()
    elif kind == 5:  # absurd numbers
        data["author"]["followers"] = 1e30
        data["likes"] = -7
    elif kind == 6:  # NaN (Python producers write it)
        return json.dumps({**data, "comments": float("nan")}, ensure_ascii=False).encode()
    elif kind == 7:  # a raw object nested 500 deep
        node: dict[str, Any] = {}
        data["raw"] = node
        for _ in range(500):
            node["x"] = {}
            node = node["x"]
    elif kind == 8:  # the Weibo API's own time format
        data["created_at"] = when.strftime("%a %b %d %H:%M:%S %z %Y")
    else:  # a BOM before the record, and an epoch in seconds as a string
        data["created_at"] = str(int(when.timestamp()))
        return ("\ufeff" + json.dumps(data, ensure_ascii=False)).encode()
    return json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass")
