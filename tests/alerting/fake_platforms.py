"""Local stand-ins for the seven platforms, on 127.0.0.1.

Each checks the request shape and recomputes signatures with the platform's
documented algorithm (written here independently of alerting/, so a bug
shared by both cannot pass), answers like the platform (including its
error codes), and can be scripted to throttle, fail, stall or time out.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class LocalKeepAliveHandler(BaseHTTPRequestHandler):
    """A quiet HTTP/1.1 keep-alive handler that answers without Nagle's delay
    (shared by these stand-ins and bench/delivery_bench.py's receiver)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return None

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; without this, Nagle plus
        # the client's delayed ACK add ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # dict -> JSON, str -> text, None -> the platform's success answer
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hold: threading.Event | None = None  # answer only once this is set (or the client went away)


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    accepted: bool
    problem: str

    def json(self) -> Any:
        return json.loads(self.body)


SUCCESS: dict[str, tuple[int, Any]] = {
    "dingtalk": (200, {"errcode": 0, "errmsg": "ok"}),
    "wecom": (200, {"errcode": 0, "errmsg": "ok"}),
    "feishu": (200, {"code": 0, "msg": "success", "data": {}}),
    "slack": (200, "ok"),
    "pagerduty": (202, {"status": "success", "message": "Event processed"}),
    "alertmanager": (200, ""),
    "webhook": (200, {"ok": True}),
}


class FakePlatform:
    def __init__(self, kind: str, secret: str | None = None, token: str = "T0KEN") -> None:
        self.kind = kind
        self.secret = secret
        self.token = token
        self.received: list[Received] = []
        self.arrivals = 0  # requests that reached the server, answered or not
        self.script: deque[Answer] = deque()
        # While set, every request gets this answer (an outage: 503s, 429s, stalls).
        self.outage: Answer | None = None
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.clock = time.time
        self.server = self._serve(0)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.port: int = self.server.server_address[1]

    def _serve(self, port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        server.daemon_threads = True
        return server

    # ---- lifecycle -------------------------------------------------------

    def __enter__(self) -> FakePlatform:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def go_down(self) -> None:
        """Stop listening: connections are refused until ``come_back``."""
        self.server.shutdown()
        self.server.server_close()

    def come_back(self) -> None:
        """Listen again on the same port (the URL the channel knows)."""
        self.server = self._serve(self.port)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        paths = {
            "dingtalk": f"/robot/send?access_token={self.token}",
            "wecom": f"/cgi-bin/webhook/send?key={self.token}",
            "feishu": f"/open-apis/bot/v2/hook/{self.token}",
            "slack": f"/services/{self.token}",
            "pagerduty": "/v2/enqueue",
            "alertmanager": "",
            "webhook": "/hooks/koubei",
        }
        return self.base + paths[self.kind]

    @property
    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.accepted]

    def wait_for(self, count: int, timeout: float = 20.0, accepted_only: bool = True) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                got = [r for r in self.received if r.accepted or not accepted_only]
                if len(got) >= count or time.monotonic() >= deadline:
                    return got
                self.arrived.wait(timeout=0.05)

    def wait_arrivals(self, count: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while self.arrivals < count and time.monotonic() < deadline:
                self.arrived.wait(timeout=0.05)
            return self.arrivals

    # ---- the platforms' checks -------------------------------------------

    def check(self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
              ) -> tuple[int, Any, str]:
        """(status, answer body, problem) for a malformed/unauthorised request, or (0, None, "") if fine."""
        try:
            data = json.loads(body)
        except ValueError:
            return 400, {"errcode": 40001, "errmsg": "invalid json"}, "invalid json"
        return getattr(self, f"_check_{self.kind}")(path, query, headers, body, data)

    def _check_dingtalk(self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes,
                        data: Any) -> tuple[int, Any, str]:
        if path != "/robot/send" or query.get("access_token") != self.token:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}, "bad token"
        if self.secret:
            ts, given = query.get("timestamp", ""), query.get("sign", "")
            expected = base64.b64encode(hmac.new(self.secret.encode(), f"{ts}\n{self.secret}".encode(),
                                                 hashlib.sha256).digest()).decode()
            if not ts.isdigit() or abs(self.clock() * 1000 - int(ts)) > 3600_000 or given != expected:
                return 200, {"errcode": 310000, "errmsg": "sign not match"}, "bad sign"
        if len(body) > 20_000:
            return 200, {"errcode": 460101, "errmsg": "message too long"}, "too long"
        md = data.get("markdown") if isinstance(data, dict) else None
        if data.get("msgtype") != "markdown" or not isinstance(md, dict) or not md.get("title") or not md.get("text"):
            return 200, {"errcode": 40035, "errmsg": "missing markdown"}, "shape"
        at = data.get("at", {})
        for mobile in at.get("atMobiles", []):
            if f"@{mobile}" not in md["text"]:
                return 200, {"errcode": 40035, "errmsg": "mention not in text"}, "mention"
        return 0, None, ""

    def _check_wecom(self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes,
                     data: Any) -> tuple[int, Any, str]:
        if path != "/cgi-bin/webhook/send" or query.get("key") != self.token:
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}, "bad key"
        kind = data.get("msgtype")
        if kind == "markdown":
            content = data.get("markdown", {}).get("content")
            limit = 4096
        elif kind == "text":
            content = data.get("text", {}).get("content")
            limit = 2048
        else:
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}, "shape"
        if not isinstance(content, str) or not content:
            return 200, {"errcode": 44004, "errmsg": "empty content"}, "shape"
        if len(content.encode()) > limit:
            return 200, {"errcode": 40058, "errmsg": "content exceed max length"}, "too long"
        return 0, None, ""

    def _check_feishu(self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes,
                      data: Any) -> tuple[int, Any, str]:
        if path != f"/open-apis/bot/v2/hook/{self.token}":
            return 404, {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}, "bad hook"
        if self.secret:
            ts, given = str(data.get("timestamp", "")), data.get("sign", "")
            expected = base64.b64encode(hmac.new(f"{ts}\n{self.secret}".encode(), b"",
                                                 hashlib.sha256).digest()).decode()
            if not ts.isdigit() or abs(self.clock() - int(ts)) > 3600 or given != expected:
                return 200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}, "bad sign"
        if len(body) > 20_000:
            return 400, {"code": 9499, "msg": "request body too large"}, "too long"
        card = data.get("card")
        if data.get("msg_type") != "interactive" or not isinstance(card, dict) or not card.get("elements"):
            return 200, {"code": 19002, "msg": "params error"}, "shape"
        return 0, None, ""

    def _check_slack(self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes,
                     data: Any) -> tuple[int, Any, str]:
        if path != f"/services/{self.token}":
            return 404, "no_service", "bad hook"
        blocks = data.get("blocks", [])
        if not isinstance(data.get("text"), str) or not data["text"]:
            return 400, "invalid_payload", "no fallback text"
        if len(blocks) > 50:
            return 400, "invalid_blocks", "too many blocks"
        for block in blocks:
            text = block.get("text", {}).get("text", "") if isinstance(block.get("text"), dict) else ""
            if block.get("type") == "section" and len(text) > 3000:
                return 400, "invalid_blocks", "section too long"
            if block.get("type") == "header" and len(text) > 150:
                return 400, "invalid_blocks", "header too long"
        return 0, None, ""

    def _check_pagerduty(self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes,
                         data: Any) -> tuple[int, Any, str]:
        bad = (400, {"status": "invalid event", "message": "Event object is invalid", "errors": []})
        if path != "/v2/enqueue" or data.get("routing_key") != self.token:
            return *bad, "bad routing key"
        action = data.get("event_action")
        key = data.get("dedup_key", "")
        if action not in ("trigger", "acknowledge", "resolve") or not key or len(key) > 255:
            return *bad, "bad action or dedup key"
        if action == "trigger":
            payload = data.get("payload", {})
            if not payload.get("summary") or len(payload["summary"]) > 1024 or not payload.get("source"):
                return *bad, "bad summary/source"
            if payload.get("severity") not in ("critical", "error", "warning", "info"):
                return *bad, "bad severity"
        return 0, None, ""

    def _check_alertmanager(self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes,
                            data: Any) -> tuple[int, Any, str]:
        if path != "/api/v2/alerts":
            return 404, "not found", "bad path"
        if not isinstance(data, list) or not data:
            return 400, {"message": "expected a list of alerts"}, "shape"
        for alert in data:
            if not isinstance(alert.get("labels"), dict) or not alert["labels"].get("alertname"):
                return 400, {"message": "labels.alertname required"}, "shape"
            if not alert.get("startsAt") or not alert.get("endsAt"):
                return 400, {"message": "startsAt/endsAt required"}, "shape"
        return 0, None, ""

    def _check_webhook(self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes,
                       data: Any) -> tuple[int, Any, str]:
        if self.secret:
            ts = headers.get("x-koubei-timestamp", "")
            given = headers.get("x-koubei-signature", "")
            mac = hmac.new(self.secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
            if not ts.isdigit() or abs(self.clock() - int(ts)) > 300 or not hmac.compare_digest(given, f"sha256={mac}"):
                return 401, {"error": "bad signature"}, "bad sign"
        if not isinstance(data, dict) or not isinstance(data.get("alerts"), list) or not data.get("id"):
            return 400, {"error": "shape"}, "shape"
        return 0, None, ""

    # ---- HTTP ------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        platform = self

        class Handler(LocalKeepAliveHandler):
            def do_POST(self) -> None:  # noqa: N802 - stdlib naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                with platform.arrived:
                    answer = (platform.outage if platform.outage is not None
                              else platform.script.popleft() if platform.script else Answer())
                    platform.arrivals += 1
                    platform.arrived.notify_all()
                if answer.hold is not None:
                    answer.hold.wait(60)
                if answer.delay:
                    time.sleep(answer.delay)
                status, reply, problem = platform.check(parts.path, query, headers, body)
                accepted = False
                if status == 0:
                    if answer.status < 300 and answer.body is None:
                        status, reply = SUCCESS[platform.kind]
                        # A platform posts the message only if the sender is
                        # still there when it answers (models "killed mid-delivery").
                        accepted = not self._peer_gone()
                    else:
                        status, reply = answer.status, (answer.body if answer.body is not None else "")
                with contextlib.suppress(OSError):
                    self._reply(status, reply, answer.headers)
                with platform.arrived:
                    platform.received.append(Received(parts.path, query, headers, body, accepted, problem))
                    platform.arrived.notify_all()

            def _peer_gone(self) -> bool:
                sock = self.connection
                sock.setblocking(False)
                try:
                    return sock.recv(1, socket.MSG_PEEK) == b""
                except BlockingIOError:
                    return False
                except OSError:
                    return True
                finally:
                    sock.setblocking(True)

            def _reply(self, status: int, reply: Any, extra: dict[str, str]) -> None:
                data = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if isinstance(reply, str) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

        return Handler
