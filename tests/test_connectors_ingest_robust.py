"""HTTP ingest against hostile input: per-record answers, authentication,
limits and deadlines.

The plain parts (body splitting, the per-record answer, credentials) are
explored with hypothesis; the server parts run against the real endpoint on
127.0.0.1 with a real broker: hostile batches, signed requests, a client
trickling its headers one byte at a time, a slow body, too many requests.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.http_ingest import Credentials, answer_body, signature
from streams.gate import Gate, InputRules
from streams.kafka import BrokerQuirks
from streams.readers.split import split_array, split_body
from tests.hostile_records import bad_records, sloppy
from tests.test_connectors_support import connectors_config, dead_in, iso, kafka_target, metric, posts_in, run_until

TOKEN = "ingest-secret-7f3a"
SECRET = "hmac-secret-91c2"
# The gate's wall clock in these tests: the day after tests/hostile_records.py's posts, so
# that each hostile record keeps the reason it was written for, whatever today's date.
NOW = 1_773_532_800.0  # 2026-03-15T00:00Z
GATE = Gate(InputRules(), clock=lambda: NOW)


def good(i: int) -> dict[str, Any]:
    return {"source": "crawler", "id": f"p{i}", "text": f"某品牌 第{i}条", "created_at": iso(NOW - 3600 + i),
            "author": {"id": f"u{i}", "name": "网友", "followers": 10 * i}}


def json_value() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


# ---------------------------------------------------------------- splitting


@settings(max_examples=200, deadline=None)
@given(st.lists(json_value(), max_size=8), st.sampled_from([None, 2]), st.booleans())
def test_an_array_splits_into_exactly_its_elements(values: list[Any], indent: int | None, ascii_only: bool) -> None:
    body = json.dumps(values, indent=indent, ensure_ascii=ascii_only).encode()
    parts = split_array(body)
    assert [json.loads(part) for part in parts] == values


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.booleans())
def test_any_bytes_split_into_records_or_none_without_raising(body: bytes, ndjson: bool) -> None:
    records = split_body(body, ndjson=ndjson)
    assert records is None or all(isinstance(r, bytes) for r in records)


def test_one_broken_element_does_not_take_its_neighbours_down() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    body = b"[" + json.dumps(good(1)).encode() + b"," + deep + b',{"a":"unterminated \\" quote"},' + \
        json.dumps(good(2)).encode() + b"]"
    parts = split_array(body)
    assert len(parts) == 4 and parts[1] == deep and json.loads(parts[3])["id"] == "p2"
    # An unclosed array: what is there is still split; text after the array is one more record.
    assert split_array(b'[{"a":1},{"b":') == [b'{"a":1}', b'{"b":']
    assert split_array(b'[{"a":1}] junk') == [b'{"a":1}', b"junk"]
    assert split_array(b"[]") == [] and split_array(b"[1,]") == [b"1", b""]
    assert split_body(b'{"a":1}\n{"b":2}\n', ndjson=False) == [b'{"a":1}', b'{"b":2}']
    assert split_body(b'\xef\xbb\xbf {"a": [1, {"b": "]"}]}  ', ndjson=False) == [b'{"a": [1, {"b": "]"}]}']
    assert split_body(b"hello", ndjson=False) is None


# ---------------------------------------------------------------- the per-record answer

STATUSES = {202, 400, 401, 413, 415, 503}
CONTENT_TYPES = [None, "application/json", "application/x-ndjson", "application/json; charset=utf-8",
                 "text/plain", "application/json; charset=gbk", "application/vnd.koubei+json", ""]


def check_answer(status: int, body: dict[str, Any]) -> None:
    assert status in STATUSES
    json.dumps(body)  # ASCII-safe JSON: the server sends it as is
    if status == 202:
        assert body["accepted"] >= 0 and body["rejected"] >= 0
        assert len(body["errors"]) == min(body["rejected"], 100)
        assert all(0 <= e["index"] < body["accepted"] + body["rejected"] for e in body["errors"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
       st.sampled_from(CONTENT_TYPES), st.booleans())
def test_any_body_gets_an_allowed_status_and_json(body: bytes, content_type: str | None, ndjson: bool) -> None:
    answer = answer_body(body, content_type, GATE.admit, 1000, ndjson=ndjson)
    check_answer(answer.status, answer.body)
    if answer.status == 202:
        assert answer.batch is not None
        assert answer.body["accepted"] + answer.body["rejected"] == len(answer.batch.posts) + len(answer.batch.dead)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.integers(0, 50).map(good), json_value()), min_size=1, max_size=10),
       st.sampled_from(["array", "ndjson"]))
def test_every_record_gets_an_answer(records: list[Any], shape: str) -> None:
    if shape == "array":
        body, content_type = json.dumps(records).encode(), "application/json"
    else:
        body, content_type = "\n".join(json.dumps(r) for r in records).encode(), "application/x-ndjson"
    answer = answer_body(body, content_type, GATE.admit, 1000)
    check_answer(answer.status, answer.body)
    assert answer.status == 202
    assert answer.body["accepted"] + answer.body["rejected"] == len(records)
    assert answer.body["accepted"] == sum(1 for r in records if isinstance(r, dict) and str(r.get("id", "")).startswith("p"))


def ndjson_safe(records: list[tuple[bytes, str]]) -> list[tuple[bytes, str]]:
    """The records that are one line each (NDJSON cannot carry a blank record or a line break)."""
    return [(raw, reason) for raw, reason in records if raw.strip() and b"\n" not in raw and b"\r" not in raw]


def test_each_hostile_record_gets_its_own_reason_and_the_good_ones_pass() -> None:
    bad = ndjson_safe(bad_records())
    lines = [raw for raw, _ in bad] + [sloppy(good(i), i) for i in range(10)]
    answer = answer_body(b"\n".join(lines), "application/x-ndjson", GATE.admit, 10_000)
    assert answer.status == 202
    assert answer.body["accepted"] == 10 and answer.body["rejected"] == len(bad)
    assert [e["reason"] for e in answer.body["errors"]] == [reason for _, reason in bad][:100]
    assert {p.id for p in answer.batch.posts} == {f"p{i}" for i in range(10)} if answer.batch else False
    # A lone surrogate in author.name arrives cleaned; the deep raw is replaced by a marker.
    names = {p.id: p.author.name for p in answer.batch.posts} if answer.batch else {}
    assert names["p4"] == "小\ufffd王"


def test_wrong_content_types_say_which_are_accepted() -> None:
    answer = answer_body(b"{}", "text/plain", GATE.admit, 10)
    assert answer.status == 415 and "application/json" in answer.body["error"] and "x-ndjson" in answer.body["error"]
    assert answer_body(b"{}", "application/json; charset=gbk", GATE.admit, 10).status == 415
    assert answer_body(b"\xff\xfe{}", None, GATE.admit, 10).status == 415
    assert answer_body(b"hello", None, GATE.admit, 10).status == 400
    assert answer_body(json.dumps([good(1)] * 3).encode(), None, GATE.admit, 2).status == 413


# ---------------------------------------------------------------- credentials


def test_bearer_and_hmac_are_checked_and_the_window_is_five_minutes() -> None:
    creds = Credentials(token=TOKEN.encode(), hmac_secret=SECRET.encode())
    assert creds.bearer_ok(f"Bearer {TOKEN}") and creds.bearer_ok(f"bearer  {TOKEN} ")
    assert not creds.bearer_ok("Bearer nope") and not creds.bearer_ok(TOKEN) and not creds.bearer_ok("Bearer \udcff")
    body = b'{"a":1}'
    ts = str(int(NOW))
    assert creds.signature_problem(ts, signature(SECRET.encode(), ts, body), body, NOW) is None
    assert "does not match" in (creds.signature_problem(ts, signature(b"other", ts, body), body, NOW) or "")
    assert "does not match" in (creds.signature_problem(ts, signature(SECRET.encode(), ts, body), body + b" ", NOW) or "")
    old = str(int(NOW) - 301)
    assert "300s" in (creds.signature_problem(old, signature(SECRET.encode(), old, body), body, NOW) or "")
    assert "unix time" in (creds.signature_problem("yesterday", "sha256=00", body, NOW) or "")
    assert "not enabled" in (Credentials(token=b"t").signature_problem(ts, "x", body, NOW) or "")


# ---------------------------------------------------------------- the real server



def _background(coro: Any, tasks: set[asyncio.Task[Any]]) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _raw_exchange(port: int, chunks: list[bytes], pause: float) -> tuple[bytes, float]:
    """Send ``chunks`` with ``pause`` between them; (what came back, seconds until the server closed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            try:
                data = await asyncio.wait_for(reader.read(65536), timeout=pause)
            except TimeoutError:
                continue
            rest = await asyncio.wait_for(reader.read(), timeout=5)
            return data + rest, time.monotonic() - started
        data = await asyncio.wait_for(reader.read(), timeout=10)
        return data, time.monotonic() - started
    except (ConnectionResetError, BrokenPipeError):
        return b"", time.monotonic() - started
    finally:
        writer.close()


@pytest.mark.integration
def test_hostile_batches_slow_clients_and_crowds_never_stop_the_endpoint(
        kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str, tmp_path: Path) -> None:
    name = f"ir{topic_prefix}"
    config = connectors_config({name: {
        "type": "http_ingest", "listen": "127.0.0.1:0", "token_env": "T", "hmac_secret_env": "S",
        "max_body_bytes": 8_000_000, "max_concurrent": 1, "header_timeout": "0.5s", "read_timeout": "1s"}},
        tmp_path)
    target = kafka_target(kafka_bootstrap, broker_quirks, topic_prefix)
    bad = ndjson_safe(bad_records())
    answers: dict[str, tuple[int, Any]] = {}
    timings: dict[str, float] = {}
    finished = asyncio.Event()
    tasks: set[asyncio.Task[Any]] = set()

    async def client(connector: Any) -> None:
        await connector.ready.wait()
        port = connector.port
        url = f"http://127.0.0.1:{port}/ingest"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(timeout=30) as http:
            async def send(label: str, content: bytes, headers: dict[str, str], path: str = "") -> None:
                response = await http.post(url + path, content=content, headers=headers)
                answers[label] = (response.status_code, response.json())

            lines = [sloppy(good(i), i) for i in range(10)] + [raw for raw, _ in bad]
            await send("hostile", b"\n".join(lines), auth, "/ndjson")
            body = json.dumps([good(20), good(21)]).encode()
            ts = str(int(time.time()))
            await send("signed", body, {"X-Koubei-Timestamp": ts,
                                        "X-Koubei-Signature": signature(SECRET.encode(), ts, body)})
            await send("bad_signature", body, {"X-Koubei-Timestamp": ts,
                                               "X-Koubei-Signature": signature(b"guess", ts, body)})
            await send("text_plain", body, {**auth, "Content-Type": "text/plain"})
            # One byte a second of headers: the server hangs up after header_timeout.
            reply, timings["slowloris"] = await _raw_exchange(
                port, [bytes([b]) for b in b"POST /ingest HTTP/1.1\r\nHost: x\r\n"], pause=0.2)
            answers["slowloris"] = (0, reply.decode("latin-1"))
            # A slow body holds the only slot: a second request meanwhile gets 503, the slow one 408.
            head = (f"POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{").encode()
            slow = asyncio.create_task(_raw_exchange(port, [head], pause=3))
            await asyncio.sleep(0.3)
            await send("crowded", body, auth)
            reply, timings["slow_body"] = await slow
            answers["slow_body"] = (int(reply.split(b" ")[1]) if reply.startswith(b"HTTP/1.1") else 0, "")
            # And it still answers normally.
            await send("after", json.dumps(good(30)).encode(), auth)
        finished.set()

    async def scenario() -> None:
        await run_until(config.get(name), config, target, finished.is_set, environ={"T": TOKEN, "S": SECRET},
                        after_start=lambda connector: _background(client(connector), tasks), timeout=60, gate=GATE)

    asyncio.run(scenario())
    status, body = answers["hostile"]
    assert status == 202 and (body["accepted"], body["rejected"]) == (10, len(bad))
    assert [e["reason"] for e in body["errors"]] == [reason for _, reason in bad][:100]
    assert answers["signed"] == (202, {"accepted": 2, "rejected": 0, "errors": []})
    assert answers["bad_signature"][0] == 401 and "does not match" in answers["bad_signature"][1]["error"]
    assert answers["text_plain"][0] == 415 and "application/x-ndjson" in answers["text_plain"][1]["error"]
    assert "HTTP/1.1" not in answers["slowloris"][1] and timings["slowloris"] < 3
    assert answers["crowded"][0] == 503
    assert answers["slow_body"][0] == 408 and timings["slow_body"] < 3
    assert answers["after"] == (202, {"accepted": 1, "rejected": 0, "errors": []})

    keys = {k for k, _, _ in posts_in(kafka_bootstrap, target.posts_topic)}
    assert keys == {f"crawler:p{i}" for i in [*range(10), 20, 21, 30]}
    dead = dead_in(kafka_bootstrap, target.dead_topic)
    assert sorted(d["reason"] for d in dead) == sorted(reason for _, reason in bad)
    assert all(len(json.dumps(d)) < 2_000_000 for d in dead)
    assert metric("koubei_connector_errors_total", connector=name, kind="header_timeout") >= 1
    assert metric("koubei_connector_errors_total", connector=name, kind="busy") == 1
    assert metric("koubei_connector_errors_total", connector=name, kind="read_timeout") == 1


CRAWLER_FILES = Path(__file__).resolve().parent / "crawler_files"


@pytest.mark.integration
def test_crawlers_push_in_their_own_shapes(kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str,
                                           tmp_path: Path) -> None:
    name = f"ic{topic_prefix}"
    config = connectors_config({name: {"type": "http_ingest", "listen": "127.0.0.1:0", "token_env": "T",
                                       "format": "mediacrawler"}}, tmp_path)
    target = kafka_target(kafka_bootstrap, broker_quirks, topic_prefix)
    gate = Gate(InputRules(), clock=lambda: 1_763_769_600.0)  # the fixtures' day after
    answers: dict[str, tuple[int, Any]] = {}
    finished = asyncio.Event()
    tasks: set[asyncio.Task[Any]] = set()
    weibo_crawler_body = (CRAWLER_FILES / "weibo-crawler/post_body.json").read_bytes()

    async def client(connector: Any) -> None:
        await connector.ready.wait()
        base = f"http://127.0.0.1:{connector.port}"
        async with httpx.AsyncClient(timeout=30) as http:
            async def send(label: str, method: str, path: str, content: bytes, headers: dict[str, str]) -> None:
                response = await http.request(method, base + path, content=content, headers=headers)
                answers[label] = (response.status_code, response.json())

            json_type = {"Content-Type": "application/json"}
            # weibo-crawler's post mode: GET with a JSON body and an api-token header.
            await send("weibo_crawler", "GET", "/ingest/weibo-crawler", weibo_crawler_body,
                       {**json_type, "api-token": TOKEN})
            await send("wrong_api_token", "GET", "/ingest/weibo-crawler", weibo_crawler_body,
                       {**json_type, "api-token": "guess"})
            await send("not_weibo_crawler", "POST", "/ingest/weibo-crawler", b'{"weibo": 3}',
                       {**json_type, "api-token": TOKEN})
            # MediaCrawler records pushed to /ingest (format: mediacrawler): a JSON array and NDJSON.
            xhs = (CRAWLER_FILES / "MediaCrawler/data/xhs/json/search_contents_2025-11-20.json").read_bytes()
            await send("mediacrawler", "POST", "/ingest", xhs, {**json_type, "Authorization": f"Bearer {TOKEN}"})
            kuaishou = (CRAWLER_FILES / "MediaCrawler/data/kuaishou/jsonl/search_contents_2025-11-20.jsonl").read_bytes()
            await send("ndjson", "POST", "/ingest/ndjson", kuaishou + b"[1]\n", {"Authorization": f"Bearer {TOKEN}"})
        finished.set()

    async def scenario() -> None:
        await run_until(config.get(name), config, target, finished.is_set, environ={"T": TOKEN}, gate=gate,
                        after_start=lambda connector: _background(client(connector), tasks))

    asyncio.run(scenario())
    assert answers["weibo_crawler"] == (200, {"accepted": 2, "rejected": 0, "errors": []})
    assert answers["wrong_api_token"][0] == 401
    assert answers["not_weibo_crawler"][0] == 400 and "weibo" in answers["not_weibo_crawler"][1]["error"]
    assert answers["mediacrawler"] == (202, {"accepted": 2, "rejected": 0, "errors": []})
    status, body = answers["ndjson"]
    assert status == 202 and (body["accepted"], body["rejected"]) == (1, 1)
    assert body["errors"][0]["reason"] == "not_an_object"
    posts = {k: p for k, p, _ in posts_in(kafka_bootstrap, target.posts_topic)}
    assert set(posts) == {"weibo:5100000000000003", "weibo:5100000000000005", "xhs:6740a1b2000000000201c3d4",
                          "xhs:6740a1b2000000000201c3d5", "kuaishou:3xabc123"}
    assert posts["weibo:5100000000000003"]["author"]["followers"] == 1_500_000
