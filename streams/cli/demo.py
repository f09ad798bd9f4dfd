"""``koubei demo``: the whole pipeline on a laptop, in about a minute.

It starts the embedded broker, a worker, a local webhook receiver (standing
in for a PR team's chat robot) and a replay of the bundled scenario, then
shows what a PR team would see. The integration tests' harness
(tests/harness.py) builds on ``WorkerRunner`` and ``AlertInbox``.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import yaml

from streams import topics
from streams.cli.config import load_koubei_config
from streams.gate import Gate
from streams.scenario import NEGATIVE_ALERT
from streams.scenario import labels_path as scenario_labels_path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
BUNDLED_SCENARIO = DATA_DIR / "demo_scenario.jsonl"
CONSOLE_TOKEN_ENV = "KOUBEI_DEMO_CONSOLE_TOKEN"
LINK_SECRET_ENV = "KOUBEI_DEMO_LINK_SECRET"
DEMO_SECONDS = 45.0


class AlertInbox:
    """A tiny HTTP server on 127.0.0.1 standing in for a PR team's chat
    robot: it records every JSON POST (a ``webhook`` channel's messages)."""

    def __init__(self) -> None:
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        self.all: list[dict[str, Any]] = []
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if not inbox.accept(self.headers, body):
                    self.send_response(401)
                    self.end_headers()
                    return
                try:
                    payload = json.loads(body)
                except (ValueError, RecursionError):
                    self.send_response(400)
                    self.end_headers()
                    return
                inbox.all.append(payload)
                inbox.received.put(payload)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok":true}')

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="alert-inbox", daemon=True)

    def accept(self, headers: Message, body: bytes) -> bool:
        """Whether to take a message (the demo takes all)."""
        return True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def alerts(self) -> Iterator[dict[str, Any]]:
        """Every alert event received so far (a message may carry several)."""
        for message in list(self.all):
            yield from message.get("alerts", [])


class WorkerRunner:
    """``koubei worker`` in a child process, with its logs in a file."""

    def __init__(self, config_path: Path, log_path: Path, web_port: int) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.web_port = web_port
        self.process: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "streams.cli", "worker", "-c", str(self.config_path),
                "--web-port", str(self.web_port), "--loglevel", "info"]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def start(self) -> Self:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT,
                                        env=self.environment(), start_new_session=True)
        log.close()
        return self

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}{path}", timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"worker exited early; see {self.log_path}:\n{self.tail()}")
            try:
                status, _ = self.get("/readyz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"worker not ready after {timeout:.0f}s; see {self.log_path}:\n{self.tail()}")

    def metrics(self) -> dict[str, float]:
        """Current samples of the koubei_* metrics, keyed like ``name{l="v"}``."""
        from prometheus_client.parser import text_string_to_metric_families

        _, body = self.get("/metrics", timeout=5.0)
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                if not sample.name.startswith("koubei_") or sample.name.endswith("_created"):
                    continue
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return out

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        return process.returncode

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class ConsoleRunner(WorkerRunner):
    """``koubei console`` in a child process; ready once its overview page answers."""

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "streams.cli", "console", "-c", str(self.config_path)]

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"the console exited early; see {self.log_path}:\n{self.tail()}")
            try:
                status, _ = self.get("/")
                if status < 500:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"console not ready after {timeout:.0f}s; see {self.log_path}:\n{self.tail()}")


def metric_sum(samples: dict[str, float], name: str, **labels: str) -> float:
    total = 0.0
    for key, value in samples.items():
        base, _, rest = key.partition("{")
        if base != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
    return total


def demo_config(labels: dict[str, Any], kafka_url: str, receiver_url: str, data_dir: Path,
                language: str, web_port: int, console_port: int | None = None) -> dict[str, Any]:
    """A koubei.yaml for a scenario: its brands, fast bucket closing, one webhook
    and, when given, the PR console (messages link each incident's page and
    carry signed 静默 1 小时 / 确认 links)."""
    brands = []
    for brand in labels["brands"]:
        entry = {"id": brand["id"], "name": brand.get("name", brand["id"]), "aliases": brand["aliases"]}
        if brand.get("exclude"):
            entry["exclude"] = brand["exclude"]
        brands.append(entry)
    return {
        "kafka": {"url": kafka_url, "partitions": 2},
        "worker": {"app_id": "koubei-demo", "data_dir": str(data_dir), "web_port": web_port, "tick_seconds": 1},
        # Replayed at high speed, event time runs ~1,000x faster than the wall
        # clock; a short idle_close lets the last buckets close a few seconds
        # after the replay ends instead of a minute later.
        "buckets": {"size": "1m", "allowed_lateness": "2m", "idle_close": "4s"},
        # The bundled day is history (March 2026): accept it whatever today's date.
        "input": {"max_age": 0},
        "language": language,
        "brands": brands,
        "alerting": {
            "channels": [{"name": "pr-team", "type": "webhook", "url": receiver_url}],
            "routes": {"receiver": "pr-team", "group_by": ["brand"], "group_wait": "0s",
                       "group_interval": "2s", "repeat_interval": "4h"},
        },
        **({"console": {"listen": f"127.0.0.1:{console_port}", "public_url": f"http://127.0.0.1:{console_port}/",
                        "token_env": CONSOLE_TOKEN_ENV, "link_secret_env": LINK_SECRET_ENV,
                        "anonymous_read": True}} if console_port else {}),
    }


def _print_alert(alert_message: dict[str, Any]) -> None:
    bar = "=" * 72
    print(f"\n{bar}\n{alert_message.get('text') or alert_message.get('title')}\n{bar}", flush=True)


def _summary(labels: dict[str, Any], samples: dict[str, float], receiver: AlertInbox) -> list[list[str]]:
    rows = []
    for brand in labels["brands"]:
        bid = brand["id"]
        mentions = metric_sum(samples, "koubei_mentions_total", brand=bid)
        negatives = metric_sum(samples, "koubei_negative_mentions_total", brand=bid)
        # A pure volume alert (a viral but happy day) is not a negative alert.
        negative = [a for a in receiver.alerts() if a.get("brand") == bid and a.get("signal") != "volume"]
        fired = [a for a in negative if a.get("state") == "firing"]
        resolved = [a for a in negative if a.get("state") == "resolved"]
        expected = "crisis" if brand.get("expected") == NEGATIVE_ALERT else "calm"
        ok = bool(fired) == (expected == "crisis")
        messages = sum(1 for m in receiver.all if any(a.get("brand") == bid for a in m.get("alerts", [])))
        rows.append([bid, f"{mentions:.0f}", f"{negatives:.0f}",
                     f"{(negatives / mentions if mentions else 0):.1%}", expected,
                     str(len({a['key'] for a in fired})), str(len({a['key'] for a in resolved})), str(messages),
                     "OK" if ok else "UNEXPECTED"])
    return rows


def format_table(header: list[str], rows: list[list[str]]) -> str:
    import unicodedata

    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

    widths = [max(width(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(cell + " " * (widths[i] - width(cell)) for i, cell in enumerate(row))

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def run_demo(args: argparse.Namespace) -> int:
    from connectors.file_replay import ReplayStats, load_records, replay
    from streams.broker import EmbeddedBroker, free_port
    from streams.kafka import detect_quirks, ensure_topics, make_producer

    scenario = Path(args.scenario) if args.scenario else BUNDLED_SCENARIO
    labels_path = scenario_labels_path(scenario)
    if not scenario.is_file() or not labels_path.is_file():
        print(f"koubei demo: scenario {scenario} or its labels {labels_path} is missing", file=sys.stderr)
        return 2
    labels = json.loads(labels_path.read_text(encoding="utf-8"))
    crisis_brands = {b["id"] for b in labels["brands"] if b.get("expected") == NEGATIVE_ALERT}
    workdir = Path(tempfile.mkdtemp(prefix="koubei-demo-"))
    print(f"koubei demo: work directory {workdir}", flush=True)
    stop = threading.Event()
    previous_term = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    exit_code = 1
    with ExitStack() as stack:
        try:
            broker = EmbeddedBroker(port=free_port(), log_path=str(workdir / "broker.log")).start()
            stack.callback(broker.stop)
            print(f"[1/4] embedded broker ready at {broker.url}", flush=True)
            receiver = AlertInbox().start()
            stack.callback(receiver.stop)
            web_port, console_port = free_port(), free_port()
            # The console's login token and the key of the chat messages' action links, for this run only.
            os.environ.setdefault(CONSOLE_TOKEN_ENV, secrets.token_urlsafe(12))
            os.environ.setdefault(LINK_SECRET_ENV, secrets.token_urlsafe(24))
            config = demo_config(labels, broker.url, receiver.url, workdir / "state", args.language, web_port,
                                 console_port=console_port)
            config_path = workdir / "koubei.yaml"
            config_path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
            print(f"[2/4] webhook receiver at {receiver.url}; config {config_path}", flush=True)
            loaded = load_koubei_config(config_path)
            ensure_topics(broker.bootstrap, loaded.topics.plan(topics.PIPELINE))
            worker = WorkerRunner(config_path, workdir / "worker.log", web_port).start()
            stack.callback(worker.stop)
            worker.wait_ready()
            print(f"[3/4] worker ready (metrics: http://127.0.0.1:{web_port}/metrics)", flush=True)
            console = ConsoleRunner(config_path, workdir / "console.log", console_port).start()
            stack.callback(console.stop)
            console.wait_ready()
            print(f"      PR console: {loaded.console.public_url} (login token for actions: "
                  f"{os.environ[CONSOLE_TOKEN_ENV]})", flush=True)

            records = load_records(scenario, gate=Gate(loaded.input))
            times = [r.event_time for r in records if r.event_time is not None]
            span = (max(times) - min(times)) if times else 0.0
            speed = args.speed or max(1.0, span / DEMO_SECONDS)
            producer = make_producer(broker.bootstrap, detect_quirks("auto", broker.bootstrap))
            stack.callback(producer.close)
            stats_box: dict[str, ReplayStats] = {}

            def run_replay() -> None:
                stats_box["final"] = replay(records, producer, loaded.topic(topics.POSTS), speed=speed, stop=stop,
                                            on_progress=lambda s: stats_box.__setitem__("now", s))

            print(f"[4/4] replaying {len(records)} posts ({span / 3600:.1f} h of event time at {speed:,.0f}x)",
                  flush=True)
            replay_thread = threading.Thread(target=run_replay, name="replay", daemon=True)
            replay_thread.start()
            stack.callback(stop.set)

            seen_resolved: set[str] = set()
            deadline_after_replay: float | None = None
            last_line = ""
            while True:
                try:
                    message = receiver.received.get(timeout=0.5)
                except queue.Empty:
                    message = None
                if message is not None:
                    print(file=sys.stderr)
                    _print_alert(message)
                    for alert in message.get("alerts", []):
                        if alert.get("state") == "resolved":
                            seen_resolved.add(alert.get("brand", ""))
                try:
                    samples = worker.metrics()
                except OSError:
                    samples = {}
                now_stats = stats_box.get("final") or stats_box.get("now")
                sent = now_stats.sent if now_stats else 0
                line = (f"posts sent {sent}/{len(records)} | mentions scored "
                        f"{metric_sum(samples, 'koubei_mentions_total'):.0f} | buckets closed "
                        f"{metric_sum(samples, 'koubei_buckets_closed_total'):.0f} | alerts "
                        f"{metric_sum(samples, 'koubei_alerts_total'):.0f}")
                if line != last_line:
                    print(f"\r{line}", end="", file=sys.stderr, flush=True)
                    last_line = line
                if worker.process is None or worker.process.poll() is not None:
                    print(f"\nkoubei demo: the worker died; see {worker.log_path}", file=sys.stderr)
                    break
                if not replay_thread.is_alive():
                    if deadline_after_replay is None:
                        deadline_after_replay = time.monotonic() + 60.0
                    if crisis_brands <= seen_resolved and receiver.received.empty():
                        time.sleep(3.0)  # let trailing messages arrive
                        break
                    if time.monotonic() > deadline_after_replay:
                        print("\nkoubei demo: timed out waiting for the resolved message", file=sys.stderr)
                        break
            print(file=sys.stderr)
            samples = worker.metrics()
            rows = _summary(labels, samples, receiver)
            print("\nSummary per brand:")
            print(format_table(["brand", "mentions", "negative", "neg. share", "expected", "signals fired",
                                "resolved", "messages", "verdict"], rows), flush=True)
            fired_ok = all(r[-1] == "OK" for r in rows)
            resolved_ok = crisis_brands <= seen_resolved
            print(f"\nThe incidents are in the PR console: {loaded.console.public_url} "
                  "(it stops with the demo; --keep keeps the logs)")
            if fired_ok and resolved_ok:
                print("\nkoubei demo: the crisis was alerted and resolved; no alert for calm brands.")
                exit_code = 0
            else:
                print("\nkoubei demo: FAILED: the expected alerts did not all arrive "
                      f"(fired as expected: {fired_ok}, resolved: {resolved_ok}); logs in {workdir}", file=sys.stderr)
                args.keep = True
        except KeyboardInterrupt:
            print("\nkoubei demo: interrupted, stopping everything...", file=sys.stderr)
            stop.set()
            exit_code = 130
        finally:
            stop.set()
            signal.signal(signal.SIGTERM, previous_term)
    if args.keep:
        print(f"koubei demo: logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return exit_code
