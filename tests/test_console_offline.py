"""The console without a broker: `koubei backtest --report-json` and the
backtest pages; an action when Kafka cannot be reached."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).parent))
from console_support import BRANDS, ENVIRON, T0, TOKEN, console_raw, crisis, csrf_of, page  # noqa: E402

from alerting.console.app import ConsoleSettings, create_app, local_path  # noqa: E402
from alerting.console.follower import KafkaWriter  # noqa: E402
from alerting.console.state import ConsoleState  # noqa: E402
from alerting.incidents import incident_id  # noqa: E402
from alerting.labels import Labeler  # noqa: E402
from streams.cli import main as koubei_main  # noqa: E402
from streams.cli.config import parse_koubei_config  # noqa: E402
from streams.kafka import BrokerQuirks  # noqa: E402
from streams.scenario import generate, plan_scenario, write_scenario  # noqa: E402


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real backtest report (one day, two brands, a sudden crisis) plus files that are not reports."""
    folder = tmp_path_factory.mktemp("reports")
    posts = tmp_path_factory.mktemp("scenario") / "sudden.jsonl"
    spec = plan_scenario("sudden", seed=3, days=1, brands=["chenguang", "qinghe"], scale=0.3)
    write_scenario(generate(spec), posts, config_out=posts.with_name("koubei.yaml"))
    assert koubei_main(["backtest", str(posts), "--report-json", str(folder / "sudden.json")]) == 0
    (folder / "other.json").write_text('{"kind": "something else"}', encoding="utf-8")
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    (folder / "odd.json").write_text(json.dumps({"kind": "koubei-backtest-report", "brands": [{"name": "<b>x</b>"}],
                                                 "series": {"x": [[1, "a", None], "junk"]},
                                                 "alerts": ["junk", {"brand": "x", "new": True}],
                                                 "windows": [{"onset": "soon"}]}), encoding="utf-8")
    return folder


def test_the_report_file_holds_what_the_text_report_prints(report_dir: Path) -> None:
    report = json.loads((report_dir / "sudden.json").read_text(encoding="utf-8"))
    assert report["kind"] == "koubei-backtest-report" and report["labelled"] is True
    brands = {b["brand"]: b for b in report["brands"]}
    assert brands["chenguang"]["negative_alerts"] >= 1 and brands["qinghe"]["negative_alerts"] == 0
    [window] = report["windows"]
    assert window["brand"] == "chenguang" and window["passed"] is True and window["delay_seconds"] >= 0
    assert len(report["series"]["chenguang"]) > 1000 and report["bucket_seconds"] == 60
    assert any(a["new"] and a["brand"] == "chenguang" for a in report["alerts"])


def _run(report_dir: Path, scenario: Any, state: ConsoleState | None = None) -> None:
    raw = console_raw("kafka://127.0.0.1:1", "koubei", BrokerQuirks.for_kafka(), reports_dir=str(report_dir),
                      anonymous_read=True)
    config = parse_koubei_config(raw, environ=ENVIRON)
    if state is None:
        state = ConsoleState({b.id: b.name for b in config.brands}, Labeler.of(config.brands))
    state.loaded = True
    # Nothing listens on port 1: an action's write fails (after connect_timeout).
    writer = KafkaWriter(config, "127.0.0.1:1", BrokerQuirks.for_kafka(), connect_timeout=1.0)

    async def go() -> None:
        async with TestClient(TestServer(create_app(ConsoleSettings(config, config.alerting, config.console),
                                                    state, writer))) as client:
            await scenario(client)

    asyncio.run(go())


def test_the_console_lists_and_shows_reports(report_dir: Path) -> None:
    async def scenario(client: TestClient) -> None:
        _, listing = await page(client, "/backtests")
        assert "sudden.json" in listing and "odd.json" in listing
        assert "other.json" not in listing and "broken.json" not in listing
        response, html = await page(client, "/backtests/sudden.json")
        assert response.status == 200 and 'id="report-brands"' in html and "chenguang" in html
        assert html.count("<svg") == 2 and 'class="mark mark-alert"' in html and "正确" in html
        response, html = await page(client, "/backtests/odd.json")
        assert response.status in (200, 422) and "<b>x</b>" not in html
        for name in ("other.json", "broken.json", "..%2Fsudden.json", ".hidden.json", "missing.json"):
            response, _ = await page(client, f"/backtests/{name}")
            assert response.status == 404, name

    _run(report_dir, scenario)


def test_an_action_kafka_cannot_take_changes_nothing_and_says_so(tmp_path: Path) -> None:
    state = ConsoleState({b["id"]: b["name"] for b in BRANDS}, Labeler())
    for event in crisis(T0):
        state.book.add_alert(event)
    ref = incident_id("acme", T0)

    async def scenario(client: TestClient) -> None:
        _, html = await page(client, "/login")
        await client.post("/login", data={"csrf": csrf_of(html), "token": TOKEN, "name": "王经理"})
        _, confirm = await page(client, f"/incidents/{ref}/confirm/silence-1h")
        response = await client.post(f"/incidents/{ref}/do/silence-1h", data={"csrf": csrf_of(confirm)})
        assert response.status == 503 and "写入 Kafka 失败，未做任何更改" in await response.text()
        _, html = await page(client, f"/incidents/{ref}")
        assert 'class="silence"' not in html and state.silences.silences == {}

    _run(tmp_path, scenario, state)


def test_next_and_language_links_never_leave_the_site_and_logout_ends_the_login(tmp_path: Path) -> None:
    assert local_path("/incidents?brand=acme") == "/incidents?brand=acme"
    for outside in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "", None):
        assert local_path(outside) == "/"

    async def scenario(client: TestClient) -> None:
        await page(client, "/")
        response = await client.get("/lang/en?next=//evil.example/x", allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/"
        assert "koubei_lang=en" in response.headers["Set-Cookie"] and "SameSite=Strict" in response.headers["Set-Cookie"]
        _, html = await page(client, "/login?next=https://evil.example/")
        assert 'name="next" value="/"' in html and "Log in" in html
        done = await client.post("/login", data={"csrf": csrf_of(html), "token": TOKEN, "name": "li",
                                                 "next": "https://evil.example/"}, allow_redirects=False)
        assert done.status == 303 and done.headers["Location"] == "/"
        _, html = await page(client, "/")
        assert "Signed in as li" in html
        await client.post("/logout", data={"csrf": csrf_of(html)})
        _, html = await page(client, "/")
        assert "Signed in as" not in html and 'id="login"' in html

    _run(tmp_path, scenario)


def test_when_kafka_cannot_be_read_every_page_says_since_when(tmp_path: Path) -> None:
    """The pages keep serving what is known while Kafka is away; before, they
    showed it as if it were current."""
    from alerting.console.follower import Follower

    raw = console_raw("kafka://127.0.0.1:1", "koubei", BrokerQuirks.for_kafka(), anonymous_read=True)
    config = parse_koubei_config(raw, environ=ENVIRON)
    state = ConsoleState({b.id: b.name for b in config.brands}, Labeler.of(config.brands))
    follower = Follower(config, "127.0.0.1:1", state, clock=lambda: T0 + 3600.0)
    attempts: list[int] = []

    async def failing_then_reading(stop: asyncio.Event) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("broker away")
        state.read_failing_since = None  # what a successful poll does
        stop.set()

    follower.run = failing_then_reading  # type: ignore[method-assign]

    async def follow() -> list[float | None]:
        seen: list[float | None] = []
        stop = asyncio.Event()
        task = asyncio.create_task(follower.run_until_stopped(stop, retry_seconds=0.01))
        while not task.done():
            seen.append(state.read_failing_since)
            await asyncio.sleep(0.002)
        return seen

    seen = asyncio.run(follow())
    assert T0 + 3600.0 in seen and state.read_failing_since is None and len(attempts) == 3

    state.read_failing_since = T0 + 3600.0

    async def scenario(client: TestClient) -> None:
        for path in ("/", "/incidents", "/backtests"):
            _, html = await page(client, path)
            assert 'id="stale"' in html and "起无法读取 Kafka" in html, path
        state.read_failing_since = None
        _, html = await page(client, "/")
        assert 'id="stale"' not in html

    _run(tmp_path, scenario, state)
