"""Readers for crawler files (streams.readers): the crawlers' real field names
and file layouts, encodings, and following files as crawlers write them.

The fixtures in tests/crawler_files were written by the project in each
crawler's schema (field names and layouts from the crawlers' own writers):
MediaCrawler for seven platforms in CSV, JSON and JSONL, weibo-search's
result CSV, weibo-crawler's user CSV and JSON.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.gate import Gate, InputRules, Rejection
from streams.models import Post
from streams.readers import Cursor, FieldMapping, MappingError, ReaderError, file_reader
from streams.readers.text import detect_encoding

FILES = Path(__file__).resolve().parent / "crawler_files"
CLOCK = 1_763_769_600.0  # 2025-11-22T00:00Z: the fixtures are from the two days before
GATE = Gate(InputRules(), clock=lambda: CLOCK)
MC = FILES / "MediaCrawler" / "data"


def posts(path: Path, fmt: str | None = None, **kwargs: object) -> list[Post]:
    records, _ = file_reader(fmt, GATE, **kwargs).read(path)  # type: ignore[arg-type]
    rejected = [r.result for r in records if isinstance(r.result, Rejection)]
    assert not rejected, rejected
    return [r.result for r in records if isinstance(r.result, Post)]


@pytest.mark.parametrize(("relative", "keys"), [
    ("weibo/csv/search_contents_2025-11-20.csv", ["weibo:5100000000000001", "weibo:5100000000000002"]),
    ("xhs/json/search_contents_2025-11-20.json", ["xhs:6740a1b2000000000201c3d4", "xhs:6740a1b2000000000201c3d5"]),
    ("xhs/jsonl/search_comments_2025-11-20.jsonl", ["xhs:6741c0000000000000aa0001"]),
    ("douyin/csv/search_contents_2025-11-20.csv", ["douyin:7440000000000000001"]),
    ("kuaishou/jsonl/search_contents_2025-11-20.jsonl", ["kuaishou:3xabc123"]),
    ("bilibili/json/search_contents_2025-11-20.json", ["bilibili:113500000000001"]),
    ("tieba/csv/search_contents_2025-11-20.csv", ["tieba:9100000001"]),
    ("zhihu/json/search_contents_2025-11-20.json", ["zhihu:1234567890"]),
])
def test_mediacrawler_files_of_every_platform_are_told_apart_and_read(relative: str, keys: list[str]) -> None:
    path = MC / relative
    records, cursor = file_reader(None, GATE).read(path)
    assert cursor.format == "mediacrawler"
    assert [r.result.key for r in records if isinstance(r.result, Post)] == keys
    assert posts(path, "mediacrawler") == [r.result for r in records]


def test_mediacrawler_fields_become_post_fields() -> None:
    [weibo, launch] = posts(MC / "weibo/csv/search_contents_2025-11-20.csv")
    assert weibo.event_time == 1_763_604_000 and weibo.author.id == "6001" and weibo.author.name == "数码小王"
    assert (launch.likes, launch.comments, launch.reposts) == (15_000, 2_345, 0)  # 1.5万, 2,345, None
    [xhs, _] = posts(MC / "xhs/json/search_contents_2025-11-20.json")
    # Title and description are one text; epoch milliseconds; 1.2万 likes.
    assert xhs.text == "星河手机踩雷\n买了三天就黑屏，售后让我等两周 #星河手机#"
    assert xhs.event_time == 1_763_611_200 and xhs.likes == 12_000 and xhs.comments == 356
    assert xhs.raw["keyword"] == "星河手机" and xhs.raw["ip_location"] == "上海"
    [douyin] = posts(MC / "douyin/csv/search_contents_2025-11-20.csv")
    # Douyin writes the same words as title and desc: once in the text. Newer versions: creator_hash.
    assert douyin.text == "星河手机发热严重 实测" and douyin.author.id == "c9f1e2d3a4b5"
    assert (douyin.likes, douyin.comments) == (23_000, 0)  # "2.3w", "None"
    [zhihu] = posts(MC / "zhihu/json/search_contents_2025-11-20.json")
    assert zhihu.text.startswith("星河手机值得买吗？\n用了半年") and zhihu.text.endswith("但信号差。")
    [tieba] = posts(MC / "tieba/csv/search_contents_2025-11-20.csv")
    assert tieba.created_at.isoformat() == "2025-11-20T14:30:00+08:00"  # naive: Beijing time


def test_weibo_search_csv() -> None:
    path = FILES / "weibo-search/结果文件/星河手机/星河手机.csv"
    records, cursor = file_reader(None, GATE).read(path)
    assert (cursor.format, cursor.encoding) == ("weibo-search", "utf-8-sig")
    first, official, media = [r.result for r in records]
    assert isinstance(first, Post) and isinstance(official, Post) and isinstance(media, Post)
    assert first.created_at.isoformat() == "2025-11-20T10:00:00+08:00"  # "YYYY-MM-DD HH:MM", Beijing
    assert (first.author.verified, official.author.verified, media.author.verified) == (False, True, True)
    assert (official.reposts, official.comments, official.likes) == (12_000, 3_456, 20_000)
    assert official.url == "https://weibo.com/6003/PabcD3" and official.raw["keyword"] == "星河手机"


def test_weibo_crawler_csv_and_json_give_the_same_posts() -> None:
    folder = FILES / "weibo-crawler/weibo/星河手机官方"
    from_csv = posts(folder / "6003.csv")
    from_json = posts(folder / "6003.json")
    assert [p.key for p in from_csv] == [p.key for p in from_json] == ["weibo:5100000000000003", "weibo:5100000000000005"]
    assert [p.text for p in from_csv] == [p.text for p in from_json]
    assert from_csv[1].text == "大家的反馈我们都看到了//@消费者报道:星河手机回应电池问题"
    assert [p.event_time for p in from_csv] == [p.event_time for p in from_json]
    # The CSV has no user columns: the author is the file's uid and folder; the JSON has the user.
    assert (from_csv[0].author.id, from_csv[0].author.name) == ("6003", "星河手机官方")
    assert (from_json[0].author.followers, from_json[0].author.verified) == (1_500_000, True)


def test_the_same_weibo_from_three_crawlers_has_one_key() -> None:
    search = {p.key for p in posts(FILES / "weibo-search/结果文件/星河手机/星河手机.csv")}
    crawler = {p.key for p in posts(FILES / "weibo-crawler/weibo/星河手机官方/6003.csv")}
    media = {p.key for p in posts(MC / "weibo/csv/search_contents_2025-11-20.csv")}
    assert "weibo:5100000000000003" in search & crawler and "weibo:5100000000000001" in search & media


def test_gbk_files_and_byte_order_marks(tmp_path: Path) -> None:
    source = FILES / "weibo-search/结果文件/星河手机/星河手机.csv"
    text = source.read_bytes().decode("utf-8-sig")
    gbk = tmp_path / "结果文件" / "星河手机" / "星河手机.csv"
    gbk.parent.mkdir(parents=True)
    gbk.write_bytes(text.encode("gb18030"))
    assert detect_encoding(gbk.read_bytes()) == "gb18030"
    assert posts(gbk) == posts(source)
    plain = tmp_path / "plain.csv"
    plain.write_bytes(text.encode("utf-8"))
    assert [p.key for p in posts(plain, "weibo-search")] == [p.key for p in posts(source)]
    utf16 = tmp_path / "excel.csv"
    utf16.write_bytes(text.encode("utf-16"))
    with pytest.raises(ReaderError, match="UTF-16"):
        file_reader(None, GATE).read(utf16)


CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
LINE = st.tuples(st.text(alphabet=CJK, min_size=10, max_size=40),
                 st.text(alphabet=st.sampled_from(list("，。！？ ,.:0123456789abc")), max_size=10)).map("".join)


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(LINE, min_size=30, max_size=80), seed=st.integers(0, 2**32 - 1), bad=st.integers(1, 3))
def test_damaged_utf8_stays_utf8_and_gbk_stays_gbk(lines: list[str], seed: int, bad: int) -> None:
    import random
    text = "\n".join(lines)
    # UTF-8 with a few bad bytes (at least 300 characters around them) is UTF-8:
    # reading it as GB18030 would garble every character.
    data = bytearray(text.encode("utf-8"))
    rng = random.Random(seed)
    for _ in range(bad):
        data.insert(rng.randrange(len(data) + 1), 0xFF)
    assert detect_encoding(bytes(data)) == "utf-8"


def test_gbk_text_is_gbk_from_its_first_line() -> None:
    # Some GBK characters are valid UTF-8 bytes by chance (一 is D2 BB); real text
    # mixes them with many that are not, so a GBK file never looks like damaged UTF-8.
    text = "\n".join(["星河手机太坑了，客服不理人，退货也不给退", "今天天气不错，出去走走", "质量很好，物流也快，推荐购买"] * 30)
    gbk = text.encode("gbk")
    for size in (60, 200, len(gbk)):
        assert detect_encoding(gbk[:size]) == "gb18030"


def test_a_json_file_of_one_object_a_line_is_read_as_lines(tmp_path: Path) -> None:
    mapping = FieldMapping.parse("id=mid,text=正文,created_at=时间")
    path = tmp_path / "export.json"
    path.write_text("".join(json.dumps({"mid": i, "正文": f"第{i}条", "时间": 1763600000 + i}, ensure_ascii=False) + "\n"
                            for i in range(3)), encoding="utf-8")
    records, cursor = file_reader(None, GATE, mapping=mapping, source="forum").read(path)
    assert cursor.container == "jsonl"
    assert [r.result.key for r in records if isinstance(r.result, Post)] == ["forum:0", "forum:1", "forum:2"]


def test_bad_rows_are_records_with_reasons(tmp_path: Path) -> None:
    path = tmp_path / "data/weibo/csv/search_contents_2025-11-20.csv"
    path.parent.mkdir(parents=True)
    shutil.copy(MC / "weibo/csv/search_contents_2025-11-20.csv", path)
    with path.open("a", encoding="utf-8", newline="") as fh:
        fh.write("5100000000000009,没有时间,,,,,,,,,,,,,\r\n")
        fh.write("5100000000000010,\"太多,列\",1763604000,1,1,1,1,1,1,1,1,1,1,1,1,extra,extra\r\n")
        fh.write("5100000000000011,未来,4102444800,1,1,1,1,1,1,1,1,6009,x,m,,\r\n")
    records, _ = file_reader(None, GATE).read(path)
    reasons = [r.result.reason for r in records if isinstance(r.result, Rejection)]
    assert reasons == ["missing_field", "bad_row", "future_time"]
    assert json.loads(records[2].original)["content"] == "没有时间"


def test_generic_formats_with_a_mapping(tmp_path: Path) -> None:
    mapping = FieldMapping.parse("id=mid,text=标题+正文,created_at=时间,author_name=user.name,likes=赞")
    jsonl = tmp_path / "export.jsonl"
    jsonl.write_text(json.dumps({"mid": 7, "标题": "星河手机", "正文": "真差", "时间": "2025-11-20 08:00",
                                 "user": {"name": "网友"}, "赞": "3万"}, ensure_ascii=False) + "\n", encoding="utf-8")
    [post] = posts(jsonl, mapping=mapping, source="forum")
    assert (post.key, post.text, post.author.name, post.likes) == ("forum:7", "星河手机\n真差", "网友", 30_000)
    array = tmp_path / "export.json"
    array.write_text(json.dumps([{"mid": 8, "标题": "", "正文": "还行", "时间": 1763600000, "user": {}}]), encoding="utf-8")
    assert [p.key for p in posts(array, "json", mapping=mapping, source="forum")] == ["forum:8"]
    # A CSV with post field names needs no mapping; one without them says what to pass.
    named = tmp_path / "named.csv"
    named.write_text("id,text,created_at,author_name\n1,星河手机不错,2025-11-20 09:00,张三\n", encoding="utf-8")
    assert [(p.key, p.author.id) for p in posts(named, source="export")] == [("export:1", "张三")]
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("编号,内容\n1,x\n", encoding="utf-8")
    with pytest.raises(ReaderError, match="--format"):
        file_reader(None, GATE).read(foreign)
    with pytest.raises(MappingError, match="created_at"):
        FieldMapping.parse("id=a,text=b")
    with pytest.raises(MappingError, match="unknown post field"):
        FieldMapping.parse("id=a,text=b,created_at=c,likez=d")


# ---------------------------------------------------------------- following a growing file


def follow(path: Path, cursor: Cursor | None = None, fmt: str | None = None) -> tuple[list[str], Cursor]:
    """Read what is new, as the files connector does (the cursor through its JSON form)."""
    records, after = file_reader(fmt, GATE).read(path, cursor, final=False)
    keys = [r.result.key if isinstance(r.result, Post) else f"!{r.result.reason}" for r in records]
    return keys, Cursor.from_state(json.loads(json.dumps(after.to_state())))


def test_appended_csv_rows_are_read_once_and_half_written_rows_wait(tmp_path: Path) -> None:
    path = tmp_path / "结果文件" / "星河手机" / "星河手机.csv"
    path.parent.mkdir(parents=True)
    whole = (FILES / "weibo-search/结果文件/星河手机/星河手机.csv").read_bytes()
    header_and_first, rest = whole.split(b"\r\n", 2)[:2], whole.split(b"\r\n", 2)[2]
    path.write_bytes(b"\r\n".join(header_and_first) + b"\r\n")
    keys, cursor = follow(path)
    assert keys == ["weibo:5100000000000001"]
    # Half of the next row (no newline yet), then a row whose quoted text spans lines.
    second, third = rest.split(b"\r\n")[:2]
    with path.open("ab") as fh:
        fh.write(second[:20])
    keys, cursor = follow(path, cursor)
    assert keys == []
    multiline = third.replace("转发：".encode(), b'"\xe8\xbd\xac\xe5\x8f\x91\n', 1).replace(
        "星河手机回应电池问题".encode(), "星河手机回应电池问题\"".encode(), 1)
    with path.open("ab") as fh:
        fh.write(second[20:] + b"\r\n" + multiline[:60])
    keys, cursor = follow(path, cursor)
    assert keys == ["weibo:5100000000000003"]
    with path.open("ab") as fh:
        fh.write(multiline[60:] + b"\r\n")
    keys, cursor = follow(path, cursor)
    assert keys == ["weibo:5100000000000004"]
    assert follow(path, cursor)[0] == []
    assert cursor.offset == path.stat().st_size and cursor.position == 3


def test_a_rewritten_json_array_yields_only_its_new_elements(tmp_path: Path) -> None:
    path = tmp_path / "data" / "xhs" / "json" / "search_contents_2025-11-20.json"
    path.parent.mkdir(parents=True)
    items = json.loads((MC / "xhs/json/search_contents_2025-11-20.json").read_text(encoding="utf-8"))
    path.write_text(json.dumps(items[:1], ensure_ascii=False, indent=4), encoding="utf-8")
    keys, cursor = follow(path)
    assert keys == ["xhs:6740a1b2000000000201c3d4"]
    assert follow(path, cursor)[0] == []  # unchanged
    full = json.dumps(items, ensure_ascii=False, indent=4)
    path.write_text(full[: len(full) - 40], encoding="utf-8")  # caught mid-rewrite
    keys, cursor = follow(path, cursor)
    assert keys == []
    path.write_text(full, encoding="utf-8")
    keys, cursor = follow(path, cursor)
    assert keys == ["xhs:6740a1b2000000000201c3d5"]
    # Replaced by a different file under the same name: read from the start.
    other = [dict(items[1], note_id="6740a1b2000000000201c3d9")]
    path.write_text(json.dumps(other, ensure_ascii=False, indent=4), encoding="utf-8")
    keys, cursor = follow(path, cursor)
    assert keys == ["xhs:6740a1b2000000000201c3d9"]


def jsonl_line(i: int) -> bytes:
    return (json.dumps({"source": "file", "id": i, "text": f"星河手机 第{i}条", "created_at": CLOCK - 3600 + i,
                        "author": {"id": "u"}}, ensure_ascii=False) + "\n").encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(1, 200), min_size=1, max_size=8), st.sampled_from(["jsonl", "csv"]))
def test_reading_while_appending_gives_every_record_once(tmp_path: Path, cuts: list[int], kind: str) -> None:
    if kind == "jsonl":
        whole = b"".join(jsonl_line(i) for i in range(12)) + b"{broken\n"
        path = tmp_path / f"grow{len(cuts)}{sum(cuts)}.jsonl"
    else:
        whole = (FILES / "weibo-search/结果文件/星河手机/星河手机.csv").read_bytes()
        path = tmp_path / f"grow{len(cuts)}{sum(cuts)}.csv"
    path.write_bytes(b"")
    expected = [r.result.key if isinstance(r.result, Post) else r.result.reason
                for r in file_reader(None, GATE).read(_copy(whole, tmp_path / f"whole.{kind}"))[0]]
    seen: list[str] = []
    cursor: Cursor | None = None
    written = 0
    for cut in [*cuts, len(whole)]:
        end = min(len(whole), written + cut)
        with path.open("ab") as fh:
            fh.write(whole[written:end])
        written = end
        if path.stat().st_size == 0:
            continue
        records, cursor = file_reader(None, GATE).read(path, cursor, final=False)
        seen += [r.result.key if isinstance(r.result, Post) else r.result.reason for r in records]
    assert seen == expected


def _copy(data: bytes, path: Path) -> Path:
    path.write_bytes(data)
    return path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.sampled_from([".csv", ".jsonl", ".json", ".txt"]),
       st.sampled_from([None, "mediacrawler", "weibo-search", "weibo-crawler", "jsonl", "json"]))
def test_any_bytes_in_a_file_give_records_or_a_reader_error(tmp_path: Path, data: bytes, suffix: str,
                                                           fmt: str | None) -> None:
    path = tmp_path / f"any{suffix}"
    path.write_bytes(data)
    for final in (True, False):
        try:
            records, _ = file_reader(fmt, GATE).read(path, final=final)
        except ReaderError:
            continue
        assert all(isinstance(r.result, Post | Rejection) and isinstance(r.original, bytes) for r in records)
