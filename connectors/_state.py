"""Durable checkpoints: one small JSON file per connector instance.

Why a local file and not a compacted topic: the embedded broker accepts
compaction but never performs it and keeps data in memory only
(streams.kafka.BrokerQuirks), so a topic checkpoint would vanish with the
broker in local runs. A file survives both, and a deploy that moves the
connector moves ``state_dir`` with it (a volume).

Writes are atomic (temporary file, fsync, rename, fsync of the directory):
after a crash the file holds either the previous or the new checkpoint,
never half of one. A lock file stops two processes from running the same
connector against the same checkpoint.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any, TextIO

FORMAT_VERSION = 1


class StateError(RuntimeError):
    pass


class StateStore:
    def __init__(self, state_dir: str | os.PathLike[str], name: str, connector_type: str) -> None:
        self.dir = Path(state_dir)
        self.name = name
        self.connector_type = connector_type
        self.path = self.dir / f"{name}.json"
        self._lock: TextIO | None = None

    def lock(self) -> None:
        """Take an exclusive lock for this connector's checkpoint (released on close)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.dir / f"{self.name}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StateError(f"connector {self.name!r} is already running (lock {self.dir / (self.name + '.lock')})") from None
        self._lock = handle

    def close(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def load(self) -> dict[str, Any]:
        """The last committed state, or {} on the first run."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            document = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            # Starting from scratch silently could re-send or skip a source's
            # whole history; make the operator decide.
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            raise StateError(f"checkpoint {self.path} is unreadable ({why}); "
                             "delete it to start the connector from scratch") from None
        if not isinstance(document, dict) or not isinstance(document.get("state"), dict):
            raise StateError(f"checkpoint {self.path} has an unexpected shape; delete it to start from scratch")
        if document.get("type") != self.connector_type:
            raise StateError(f"checkpoint {self.path} belongs to a {document.get('type')!r} connector, "
                             f"this one is {self.connector_type!r}; delete it or rename the connector")
        return dict(document["state"])

    def save(self, state: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        document = {"version": FORMAT_VERSION, "connector": self.name, "type": self.connector_type, "state": state}
        payload = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        # The rename itself must reach the disk, or a power cut can bring back the old name.
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
