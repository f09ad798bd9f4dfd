"""File connectors (CSV with a column mapping, JSONL) and ``koubei replay`` with CSV."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.future import Future

from connectors.csv_source import CsvOptions, row_to_post
from connectors.file_replay import load_records
from connectors.runtime import run_connector
from streams.cli import main as koubei
from streams.kafka import BrokerQuirks
from streams.models import RecordError
from tests.test_connectors_support import connectors_config, dead_in, iso, kafka_target, posts_in

HEADER = "微博id,内容,发布时间,用户,粉丝数,认证,转发\n"
MAPPING = {"id": "微博id", "text": "内容", "created_at": "发布时间", "author_name": "用户",
           "followers": "粉丝数", "verified": "认证", "reposts": "转发"}


def csv_rows(rows: list[str]) -> str:
    return "".join(row + "\n" for row in rows)


def test_row_mapping_handles_zones_epochs_and_bad_cells() -> None:
    from streams.gate import Gate, InputRules

    clock = 1_800_000_000.0  # 2027-01-15: the rows below are in the past
    beijing = Gate(InputRules(), clock=lambda: clock)
    row = {"微博id": "9", "内容": "太差了", "发布时间": "2026-11-03 10:00:00", "用户": "小王", "粉丝数": "1,200",
           "认证": "是", "转发": ""}
    post = row_to_post(row, MAPPING, source="csv", gate=beijing, lang="zh", row_no=1)
    # A naive time is Beijing time by default (input.default_timezone): crawler exports write it so.
    assert post.event_time == 1_793_671_200
    assert (post.author.id, post.author.followers, post.author.verified, post.reposts) == ("小王", 1200, True, 0)
    epoch_ms = row_to_post({**row, "发布时间": "1790000000000"}, MAPPING, source="csv", gate=beijing, lang="zh",
                           row_no=1)
    assert epoch_ms.event_time == 1_790_000_000
    utc = Gate(InputRules(default_timezone="UTC"), clock=lambda: clock)
    assert row_to_post(row, MAPPING, source="csv", gate=utc, lang="zh", row_no=1).event_time == 1_793_700_000
    # A count nobody can read is no reason to lose the post: it counts as 0.
    assert row_to_post({**row, "粉丝数": "很多"}, MAPPING, source="csv", gate=beijing, lang="zh",
                       row_no=1).author.followers == 0
    with pytest.raises(RecordError, match="created_at"):
        row_to_post({**row, "发布时间": "昨天"}, MAPPING, source="csv", gate=beijing, lang="zh", row_no=1)


@pytest.mark.integration
def test_csv_connector_resumes_at_the_next_row_and_dead_letters_bad_rows(
        kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(HEADER + csv_rows([
        "1,某品牌客服太差,2026-11-03 10:00:00,小王,10,否,1",
        "2,某品牌又出问题了,昨天,小李,很多,否,0",
        "3,\"带逗号,的内容\",1790000000,小张,5,是,2",
        "9,没加引号,的逗号,2026-11-03 10:00:00,小王,10,否,1",
    ]), encoding="utf-8")
    name = f"csv{topic_prefix}"
    config = connectors_config({name: {"type": "csv", "path": str(path), "mapping": MAPPING,
                                       "default_timezone": "+08:00", "source": "export"}}, tmp_path / "state")
    target = kafka_target(kafka_bootstrap, broker_quirks, topic_prefix)
    asyncio.run(run_connector(config.get(name), config, target, environ={}))
    with path.open("a", encoding="utf-8") as fh:
        fh.write(csv_rows(["4,新增一条,2026-11-03 11:00:00,小赵,0,否,0"]))
    asyncio.run(run_connector(config.get(name), config, target, environ={}))

    posts = posts_in(kafka_bootstrap, target.posts_topic)
    assert sorted(k for k, _, _ in posts) == ["export:1", "export:3", "export:4"]
    third = next(p for k, p, _ in posts if k == "export:3")
    assert third["text"] == "带逗号,的内容" and third["author"]["verified"] is True and third["reposts"] == 2
    dead = dead_in(kafka_bootstrap, target.dead_topic)
    assert sorted((d["reason"], d["source"]) for d in dead) == [("bad_row", "export"), ("bad_time", "export")]
    wrong = next(d for d in dead if d["reason"] == "bad_time")
    assert json.loads(wrong["original_text"])["发布时间"] == "昨天"
    assert json.loads((tmp_path / "state" / f"{name}.json").read_text())["state"] == {"row": 5}


@pytest.mark.integration
def test_jsonl_connector_resumes_after_the_last_confirmed_line(
        kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str, tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"

    def line(i: int) -> str:
        return json.dumps({"source": "file", "id": i, "text": f"第{i}条", "created_at": iso(1_790_000_000 + i),
                           "author": {"id": "u"}}, ensure_ascii=False) + "\n"

    path.write_text(line(1) + "\n" + "not json\n" + line(2), encoding="utf-8")
    name = f"jl{topic_prefix}"
    config = connectors_config({name: {"type": "jsonl", "path": str(path)}}, tmp_path / "state")
    target = kafka_target(kafka_bootstrap, broker_quirks, topic_prefix)
    asyncio.run(run_connector(config.get(name), config, target, environ={}))
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line(3))
    asyncio.run(run_connector(config.get(name), config, target, environ={}))
    assert sorted(k for k, _, _ in posts_in(kafka_bootstrap, target.posts_topic)) == ["file:1", "file:2", "file:3"]
    assert [d["reason"] for d in dead_in(kafka_bootstrap, target.dead_topic)] == ["malformed_json"]


def test_load_records_orders_csv_rows_by_event_time(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(HEADER + csv_rows([
        "1,晚,2026-11-03 12:00:00,小王,10,否,1",
        "2,坏行,not a time,小李,1,否,0",
        "3,早,2026-11-03 09:00:00,小张,5,是,2",
    ]), encoding="utf-8")
    options = CsvOptions(path=str(path), mapping=MAPPING, delimiter=",", encoding="utf-8",
                         default_timezone="+08:00", lang="zh")
    records = load_records(path, csv_options=options, source="export")
    assert [r.key for r in records] == [b"export:3", b"export:1", None]
    assert json.loads(records[2].value)["内容"] == "坏行"  # passed through for the worker to dead-letter
    with pytest.raises(ValueError, match="column mapping"):
        load_records(path)


@pytest.mark.integration
def test_koubei_replay_sends_a_mapped_csv(kafka_url: str, kafka_bootstrap: str, topic_prefix: str,
                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "export.csv"
    path.write_text(HEADER + csv_rows(["7,某品牌,2026-11-03T10:00:00+08:00,小王,10,否,1"]), encoding="utf-8")
    mapping = ",".join(f"{k}={v}" for k, v in MAPPING.items())
    topic = f"{topic_prefix}.posts"
    assert koubei(["replay", str(path), "--map", mapping, "--source", "export", "--kafka", kafka_url,
                   "--topic", topic, "-q"]) == 0
    assert "replayed 1 of 1" in capsys.readouterr().out
    [(key, post, _)] = posts_in(kafka_bootstrap, topic)
    assert key == "export:7" and post["author"]["name"] == "小王"
    assert koubei(["replay", str(path), "--map", "id=微博id", "--kafka", kafka_url]) == 2
    assert "needs text=COLUMN" in capsys.readouterr().err
    # The mapping of a csv connector in the config can be reused for a one-off replay.
    config = tmp_path / "koubei.yaml"
    config.write_text("brands: [{id: acme, aliases: [某品牌]}]\n"
                      f"connectors: {{weibo_export: {{type: csv, path: unused.csv, source: wbx, "
                      f"mapping: {json.dumps(MAPPING, ensure_ascii=False)}}}}}\n", encoding="utf-8")
    second = f"{topic_prefix}.again"
    assert koubei(["replay", str(path), "--connector", "weibo_export", "-c", str(config), "--kafka", kafka_url,
                   "--topic", second, "-q"]) == 0
    assert [key for key, _, _ in posts_in(kafka_bootstrap, second)] == ["wbx:7"]


@pytest.mark.integration
def test_koubei_replay_jsonl_still_passes_bad_lines_through(kafka_url: str, kafka_bootstrap: str,
                                                            topic_prefix: str, tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    good = json.dumps({"source": "file", "id": "a", "text": "x", "created_at": iso(5), "author": {"id": "u"}})
    path.write_text(good + "\n{oops\n", encoding="utf-8")
    topic = f"{topic_prefix}.posts"
    assert koubei(["replay", str(path), "--kafka", kafka_url, "--topic", topic, "-q"]) == 0
    values = sorted(r.value for r in __import__("streams.kafka", fromlist=["read_topic"]).read_topic(
        kafka_bootstrap, topic, timeout=3.0))
    assert values == sorted([good.encode(), b"{oops"])


@pytest.mark.integration
def test_replay_counts_the_records_kafka_refuses_instead_of_calling_them_sent(
        kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str, tmp_path: Path) -> None:
    from connectors.file_replay import replay
    from streams.kafka import ensure_topics, make_producer

    path = tmp_path / "posts.jsonl"
    lines = [json.dumps({"source": "file", "id": str(i), "text": "长" * (400 if i % 3 == 0 else 5),
                         "created_at": iso(i), "author": {"id": "u"}}, ensure_ascii=False) for i in range(9)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    topic = f"{topic_prefix}.posts"
    ensure_topics(kafka_bootstrap, {topic: 1})
    # Big enough for the short posts, too small for the long ones: Kafka's refusal of a record.
    producer = make_producer(kafka_bootstrap, broker_quirks, max_request_size=600)
    try:
        stats = replay(load_records(path), producer, topic)
    finally:
        producer.close()
    assert (stats.total, stats.sent, stats.failed) == (9, 6, 3)
    assert "line 1" in stats.first_error and "MessageSizeTooLarge" in stats.first_error
    from streams.kafka import read_topic
    sent = sorted(json.loads(r.value)["id"] for r in read_topic(kafka_bootstrap, topic, timeout=3.0))
    assert sent == [str(i) for i in range(9) if i % 3]


class FakeProducer:
    """kafka-python's producer interface: ``send`` hands out a future and counts
    the sends of each value; a subclass's ``flush`` answers the pending ones
    (or not) and keeps what it stored."""

    def __init__(self) -> None:
        self.pending: list[tuple[Future, bytes]] = []
        self.sends: dict[bytes, int] = {}
        self.stored: list[bytes] = []

    def send(self, topic: str, key: bytes | None, value: bytes, timestamp_ms: int | None) -> Future:
        future = Future()
        self.sends[value] = self.sends.get(value, 0) + 1
        self.pending.append((future, value))
        return future


def test_replay_sends_again_what_kafka_did_not_acknowledge() -> None:
    """A broker away for a moment fails the acknowledgements of what was in flight
    (after the producer's own retries): those records are sent once more, in order."""
    from kafka.errors import KafkaTimeoutError

    from connectors.file_replay import ReplayRecord, replay

    class FlakyBroker(FakeProducer):
        """The first attempt of odd records lost."""
        def flush(self) -> None:
            for future, value in self.pending:
                if int(value) % 2 and self.sends[value] == 1:
                    future.failure(KafkaTimeoutError("expired before it was sent"))
                else:
                    self.stored.append(value)
                    future.success(None)
            self.pending = []

    records = [ReplayRecord(i + 1, str(i).encode(), str(i).encode(), 1000.0 + i) for i in range(6)]
    broker = FlakyBroker()
    stats = replay(records, broker, "posts")
    assert (stats.sent, stats.failed, stats.first_error) == (6, 0, "")
    assert broker.stored == [b"0", b"2", b"4", b"1", b"3", b"5"]


def test_replay_counts_a_record_left_unanswered_by_the_flush_as_not_sent() -> None:
    """kafka-python's flush() can raise (or return) with a record's future still
    open. Such a record was once counted as sent; now it is sent again, and what
    stays unanswered is a failure that names the flush's error."""
    from kafka.errors import KafkaTimeoutError

    from connectors.file_replay import ReplayRecord, replay

    class SilentBroker(FakeProducer):
        """Confirms what it stores; never answers record b"2", and b"4" only on its second send."""
        def flush(self) -> None:
            left = False
            for future, value in self.pending:
                if value == b"2" or (value == b"4" and self.sends[value] == 1):
                    left = True
                    continue
                self.stored.append(value)
                future.success(None)
            self.pending = []
            if left:
                raise KafkaTimeoutError("Future not done")

    records = [ReplayRecord(i + 1, str(i).encode(), str(i).encode(), 1000.0 + i) for i in range(6)]
    broker = SilentBroker()
    stats = replay(records, broker, "posts")
    assert (stats.total, stats.sent, stats.failed) == (6, 5, 1)
    assert stats.first_error == "line 3: KafkaTimeoutError: Future not done"
    assert broker.stored == [b"0", b"1", b"3", b"5", b"4"]
    assert broker.sends == {b"0": 1, b"1": 1, b"2": 2, b"3": 1, b"4": 2, b"5": 1}


def test_replay_fails_a_record_whose_flush_returns_without_an_answer() -> None:
    from connectors.file_replay import ReplayRecord, replay

    class Mute:
        def send(self, topic: str, key: bytes | None, value: bytes, timestamp_ms: int | None) -> Future:
            return Future()

        def flush(self) -> None:
            return None

    stats = replay([ReplayRecord(7, b"k", b"v", 1000.0)], Mute(), "posts")
    assert (stats.sent, stats.failed) == (0, 1)
    assert stats.first_error == "line 7: KafkaNoAnswer: no acknowledgement from Kafka when the flush ended"


def test_checkpoint_is_not_advanced_past_a_record_the_flush_left_unanswered(tmp_path: Path) -> None:
    """flush() returning with a future still open is no confirmation: the batch
    fails and its checkpoint is not written (it used to be, as nothing had *failed*)."""
    from connectors._metrics import ConnectorMetrics
    from connectors._state import StateStore
    from connectors.base import Batch
    from connectors.runtime import Sink, SinkError
    from streams.gate import Gate, Rejection

    class HalfAnswering:
        def __init__(self) -> None:
            self.futures: list[Future] = []

        def send(self, topic: str, key: bytes | None = None, value: bytes = b"",
                 timestamp_ms: int | None = None) -> Future:
            self.futures.append(Future())
            return self.futures[-1]

        def flush(self) -> None:
            self.futures[0].success(None)  # the second record gets no answer

    name = f"csv{tmp_path.name}"[:40]
    config = connectors_config({name: {"type": "csv", "path": str(tmp_path / "x.csv"), "mapping": MAPPING,
                                       "default_timezone": "+08:00"}}, tmp_path / "state")
    store = StateStore(tmp_path / "state", name, "csv")
    gate = Gate()
    posts = [gate.admit_mapping({"source": "csv", "id": str(i), "text": "某品牌", "created_at": iso(1_790_000_000 + i),
                                 "author": {"id": "u"}}) for i in (1, 2)]
    assert not any(isinstance(post, Rejection) for post in posts)
    sink = Sink(HalfAnswering(), kafka_target("127.0.0.1:9092", BrokerQuirks.for_kafka(), "t"), store,  # type: ignore[arg-type]
                config.get(name), ConnectorMetrics(name))
    with pytest.raises(SinkError, match="did not confirm 1 of 2 records: no answer"):
        sink.write([Batch(posts=posts, checkpoint={"offset": 2})])  # type: ignore[arg-type]
    assert store.load() == {}


@pytest.mark.integration
def test_checkpoint_is_not_advanced_when_kafka_refuses_the_batch(
        kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str, tmp_path: Path) -> None:
    from connectors.runtime import SinkError
    from streams.kafka import make_producer

    path = tmp_path / "export.csv"
    path.write_text(HEADER + csv_rows([f"{i},某品牌第{i}条,2026-11-03 10:0{i}:00,小王,10,否,1" for i in (1, 2)]),
                    encoding="utf-8")
    name = f"csv{topic_prefix}"
    config = connectors_config({name: {"type": "csv", "path": str(path), "mapping": MAPPING,
                                       "default_timezone": "+08:00"}}, tmp_path / "state")
    target = kafka_target(kafka_bootstrap, broker_quirks, topic_prefix)
    # A producer whose size limit no post fits: every send fails, as when the broker rejects a batch.
    refusing = make_producer(kafka_bootstrap, broker_quirks, max_request_size=64)
    try:
        with pytest.raises(SinkError, match="Kafka refused a record"):
            asyncio.run(run_connector(config.get(name), config, target, environ={}, producer=refusing))
    finally:
        refusing.close()
    assert not (tmp_path / "state" / f"{name}.json").exists()
    # The next start resumes from the last confirmed checkpoint (none): nothing is lost.
    asyncio.run(run_connector(config.get(name), config, target, environ={}))
    assert sorted(k for k, _, _ in posts_in(kafka_bootstrap, target.posts_topic)) == ["csv:1", "csv:2"]


@pytest.mark.slow
@pytest.mark.integration
def test_a_killed_connector_loses_nothing_and_duplicates_keep_their_key(
        kafka_url: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    total = 3000
    path = tmp_path / "posts.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for i in range(total):
            fh.write(json.dumps({"source": "file", "id": i, "text": f"第{i}条", "created_at": iso(1_790_000_000 + i),
                                 "author": {"id": "u"}}, ensure_ascii=False) + "\n")
    config = tmp_path / "koubei.yaml"
    state = tmp_path / "state"
    config.write_text(f"""
kafka: {{url: "{kafka_url}", topic_prefix: {topic_prefix}, partitions: 2}}
brands: [{{id: acme, aliases: [某品牌]}}]
connectors:
  state_dir: {state}
  history: {{type: jsonl, path: {path}}}
""", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "KOUBEI_KAFKA_URL"}
    command = [sys.executable, "-m", "streams.cli", "connect", "history", "-c", str(config)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (state / "history.json").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)  # a crash: no clean shutdown, no final checkpoint
    finally:
        proc.wait(timeout=30)
        assert proc.stderr is not None
        proc.stderr.close()
    committed = json.loads((state / "history.json").read_text())["state"]["row"]
    assert 0 < committed <= total
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    keys = [k for k, _, _ in posts_in(kafka_bootstrap, f"{topic_prefix}.posts")]
    assert set(keys) == {f"file:{i}" for i in range(total)}  # nothing lost
    # Only posts after the last committed checkpoint can be sent twice (row n holds id n - 1).
    from collections import Counter

    resent = [int(key.split(":")[1]) for key, count in Counter(keys).items() if count > 1]
    assert all(post_id >= committed for post_id in resent)


CRAWLER_FILES = Path(__file__).resolve().parent / "crawler_files"
NO_AGE_LIMIT = "brands: [{id: acme, name: 星河手机, aliases: [星河手机]}]\ninput: {max_age: 0}\n"


def test_replay_dry_run_counts_valid_duplicate_and_invalid_records(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "koubei.yaml"
    config.write_text(NO_AGE_LIMIT, encoding="utf-8")
    # Every fixture folder at once: the same Weibo posts come from three crawlers (and weibo-crawler's
    # post body repeats its JSON file): each repeat shares its source:id key and counts as a duplicate.
    assert koubei(["replay", str(CRAWLER_FILES), "--dry-run", "-c", str(config)]) == 0
    assert json.loads(capsys.readouterr().out) == {"valid": 13, "duplicates": 6, "invalid": 0, "by_reason": {}}
    bad = tmp_path / "export.jsonl"
    good = json.dumps({"source": "file", "id": "a", "text": "星河手机", "created_at": "2025-11-20 10:00",
                       "author": {"id": "u"}}, ensure_ascii=False)
    bad.write_text("\n".join([good, good, "{oops", '{"source":"file","id":"b","text":"x","created_at":1e20,'
                              '"author":{"id":"u"}}']) + "\n", encoding="utf-8")
    assert koubei(["replay", str(bad), "--format", "jsonl", "--dry-run", "-c", str(config)]) == 0
    assert json.loads(capsys.readouterr().out) == {"valid": 1, "duplicates": 1, "invalid": 2,
                                                   "by_reason": {"bad_time": 1, "malformed_json": 1}}
    # A format that does not fit says so record by record; an unknown one is refused by the parser.
    search = CRAWLER_FILES / "weibo-search"
    assert koubei(["replay", str(search), "--format", "mediacrawler", "--dry-run", "-c", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["by_reason"] == {"missing_field": 3}
    with pytest.raises(SystemExit):
        koubei(["replay", str(search), "--format", "excel", "--dry-run"])


def test_backtest_reads_crawler_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "koubei.yaml"
    config.write_text(NO_AGE_LIMIT, encoding="utf-8")
    folder = CRAWLER_FILES / "MediaCrawler"
    assert koubei(["backtest", str(folder), "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "10 posts, 0 invalid" in out
    # The wrong format: every record is refused with its reason, and the run says so.
    assert koubei(["backtest", str(folder / "data/xhs/json/search_contents_2025-11-20.json"), "--format",
                   "weibo-search", "--config", str(config)]) == 1
    assert "line 1: missing_field: id" in capsys.readouterr().err


@pytest.mark.integration
def test_files_connector_follows_a_crawler_folder_across_restarts(
        kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str, tmp_path: Path) -> None:
    import shutil

    from prometheus_client import REGISTRY

    from streams.gate import Gate, InputRules
    from tests.test_connectors_support import run_until

    gate = Gate(InputRules(), clock=lambda: 1_763_769_600.0)  # the fixtures' day after
    data = tmp_path / "data"
    weibo_csv = data / "weibo/csv/search_contents_2025-11-20.csv"
    xhs_json = data / "xhs/json/search_contents_2025-11-20.json"
    for target_file in (weibo_csv, xhs_json):
        target_file.parent.mkdir(parents=True)
    shutil.copy(CRAWLER_FILES / "MediaCrawler/data/weibo/csv/search_contents_2025-11-20.csv", weibo_csv)
    items = json.loads((CRAWLER_FILES / "MediaCrawler/data/xhs/json/search_contents_2025-11-20.json").read_text("utf-8"))
    xhs_json.write_text(json.dumps(items[:1], ensure_ascii=False, indent=4), encoding="utf-8")
    name = f"fi{topic_prefix}"
    config = connectors_config({name: {"type": "files", "path": str(data), "interval": "0.05s"}}, tmp_path / "state")
    target = kafka_target(kafka_bootstrap, broker_quirks, topic_prefix)

    def keys() -> list[str]:
        return [k for k, _, _ in posts_in(kafka_bootstrap, target.posts_topic)]

    def read_bytes(file: str) -> float:
        return REGISTRY.get_sample_value("koubei_connector_file_read_bytes", {"connector": name, "file": file}) or 0.0

    async def first_run() -> None:
        async def crawl(_: object) -> None:
            await asyncio.sleep(0.5)
            # The crawler appends a row, saves its JSON array with one more note, and starts a new file.
            with weibo_csv.open("a", encoding="utf-8", newline="") as fh:
                fh.write("5100000000000006,星河手机 屏幕闪烁,1763611200,,3,0,0,1763700000000,,,6006,用户6,m,,,星河手机\r\n")
                fh.write("5100000000000007,坏行,明天,,,,,,,,,,,,,\r\n")
            xhs_json.write_text(json.dumps(items, ensure_ascii=False, indent=4), encoding="utf-8")
            kuaishou = data / "kuaishou/jsonl/search_contents_2025-11-20.jsonl"
            kuaishou.parent.mkdir(parents=True)
            shutil.copy(CRAWLER_FILES / "MediaCrawler/data/kuaishou/jsonl/search_contents_2025-11-20.jsonl", kuaishou)

        await run_until(config.get(name), config, target, lambda: read_bytes("kuaishou/jsonl/search_contents_2025-11-20.jsonl") > 0
                        and read_bytes("weibo/csv/search_contents_2025-11-20.csv") == weibo_csv.stat().st_size,
                        after_start=lambda connector: _background(crawl(connector)), gate=gate)

    asyncio.run(first_run())
    first = keys()
    assert sorted(first) == sorted(["weibo:5100000000000001", "weibo:5100000000000002", "weibo:5100000000000006",
                                    "xhs:6740a1b2000000000201c3d4", "xhs:6740a1b2000000000201c3d5", "kuaishou:3xabc123"])
    dead = dead_in(kafka_bootstrap, target.dead_topic)
    assert [(d["reason"], d["source"]) for d in dead] == [("bad_time", "files")]
    # While stopped the crawler writes on; the next start sends exactly what is new.
    with weibo_csv.open("a", encoding="utf-8", newline="") as fh:
        fh.write("5100000000000008,星河手机 续航差,1763614800,,1,0,0,1763700000000,,,6008,用户8,f,,,星河手机\r\n")
    state = json.loads((tmp_path / "state" / f"{name}.json").read_text())["state"]
    assert set(state["files"]) == {"weibo/csv/search_contents_2025-11-20.csv", "xhs/json/search_contents_2025-11-20.json",
                                   "kuaishou/jsonl/search_contents_2025-11-20.jsonl"}

    async def second_run() -> None:
        await run_until(config.get(name), config, target, lambda: len(keys()) > len(first), gate=gate)

    asyncio.run(second_run())
    assert sorted(keys()) == sorted([*first, "weibo:5100000000000008"])  # nothing re-sent, nothing skipped


_FILE_TASKS: set[asyncio.Task[None]] = set()


def _background(coro: object) -> None:
    task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
    _FILE_TASKS.add(task)
    task.add_done_callback(_FILE_TASKS.discard)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.integers(0, 20), st.booleans()), min_size=1, max_size=60),
       run_bytes=st.sampled_from([1, 200, 500, 1500, 3000, 10**9]), csv_file=st.booleans())
def test_replay_order_is_the_same_in_bounded_memory(tmp_path: Path, rows: list[tuple[int, bool]], run_bytes: int,
                                                    csv_file: bool) -> None:
    """Records sorted in runs spilled to disk and merged come out exactly as
    one in-memory sort orders them: by event time, then reading order, an
    unreadable record at the time of the readable one before it."""
    from connectors.file_replay import stream_records

    if csv_file:
        path = tmp_path / "export.csv"
        path.write_text(HEADER + csv_rows([f"{i},某品牌第{i}条,2026-11-03 10:{minute:02d}:00,小王,10,否,1" if good
                                           else f"{i},,不是时间,小王,x,否,1" for i, (minute, good) in enumerate(rows)]),
                        encoding="utf-8")
        options = CsvOptions(path=str(path), mapping=MAPPING, default_timezone="+08:00")
        read = {"csv_options": options}
    else:
        path = tmp_path / "posts.jsonl"
        path.write_text("".join((json.dumps({"source": "file", "id": str(i), "text": f"第{i}条",
                                             "created_at": iso(1_790_000_000 + 60 * minute), "author": {"id": "u"}})
                                 if good else "{oops") + "\n" for i, (minute, good) in enumerate(rows)),
                        encoding="utf-8")
        read = {}
    whole = stream_records(path, **read)  # type: ignore[arg-type]
    spilled = stream_records(path, run_bytes=run_bytes, **read)  # type: ignore[arg-type]
    try:
        assert len(whole) == len(spilled) == len(rows)
        assert list(spilled) == list(whole)
        if run_bytes <= 200:  # below one record's cost: every record is a run of its own
            assert len(spilled._runs) == len(rows)
    finally:
        whole.close()
        spilled.close()


@pytest.mark.parametrize("chunk", [1, 64, 300])
def test_replay_reads_every_line_whatever_the_chunk_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         chunk: int) -> None:
    """Files are read in chunks; a line longer than a chunk is read on to the
    end of the file, never dropped with the rest after it."""
    import connectors.file_replay as file_replay

    path = tmp_path / "posts.jsonl"
    path.write_text("".join(json.dumps({"source": "file", "id": str(i), "text": "长" * (400 if i == 3 else 5),
                                        "created_at": iso(1_790_000_000 + i), "author": {"id": "u"}},
                                       ensure_ascii=False) + "\n" for i in range(8)), encoding="utf-8")
    whole = [r.key for r in file_replay.load_records(path)]
    monkeypatch.setattr(file_replay, "READ_BYTES", chunk)
    assert [r.key for r in file_replay.load_records(path)] == whole == [f"file:{i}".encode() for i in range(8)]
