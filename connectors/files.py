"""The ``files`` connector: follow the folder a crawler writes into.

Crawlers write a new file per day (MediaCrawler ``search_contents_<date>``),
append rows to it (CSV, JSONL) or rewrite it whole (MediaCrawler's JSON
arrays, weibo-crawler's ``{user, weibo}``). The connector polls a folder and
a glob, picks up new files, and reads every file on from where it stopped
with ``streams.readers.FileReader``: complete rows only while a file grows,
only the new elements of a rewritten array, a file replaced under the same
name from its start. Every record goes through the input gate; a rejected
one is a dead letter with its reason.

Checkpoint: one reader cursor per file (bytes read, records read, encoding,
header, inode), committed only after Kafka confirmed the posts read up to
it, so a restart neither re-sends nor skips (a crash between the two re-sends
the last batch, with the same ``source:id`` keys). Files that disappear
leave the checkpoint. Progress per file is in the ``koubei_connector_file_*``
metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from connectors._metrics import FileMetrics
from connectors.base import Batch, Context, DeadItem
from connectors.spec import ConnectorSpec, field_mapping, record_format, time_zone
from streams.gate import Gate, Rejection
from streams.models import Post
from streams.readers import FORMATS, Cursor, FieldMapping, FileReader, ReaderError, Record, file_reader
from streams.readers.files import CHUNK_BYTES, SUFFIXES
from streams.settings import ConfigError, join, option

log = logging.getLogger(__name__)

BATCH_RECORDS = 500


def _folder(value: Any, where: str, context: Mapping[str, Any]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(where, "required: the folder the crawler writes into")
    return value


@dataclass(frozen=True, kw_only=True)
class FilesOptions:
    path: str = option(parse=_folder, shown_default="(required)",
                       help="folder the crawler writes into (MediaCrawler: its data/ folder)")
    glob: str = option("**/*", help="which files under path, e.g. xhs/json/*_contents_*.json; "
                                     "only .csv .tsv .json .jsonl .ndjson files are read")
    format: str = option("", parse=record_format, shown_default="auto",
                         help="auto (told apart per file), " + ", ".join(FORMATS))
    mapping: Mapping[str, str] = option({}, parse=field_mapping,
                                        help="post field -> source field, for csv/json/jsonl records "
                                             "(text: title+desc joins, user.name reads nested JSON)")
    interval: float = option(5.0, duration=True, minimum=0.05, help="time between looks at the folder")
    settle: float = option(300.0, duration=True, minimum=0.0,
                           help="a file unchanged this long is complete: its last line counts without a newline")
    default_timezone: str = option("", parse=time_zone, shown_default="input.default_timezone",
                                   help="zone of times written without an offset")
    encoding: str = option("", allow_empty=True, shown_default="auto",
                           help="file encoding; default: told from each file (BOM, UTF-8, else GB18030)")
    lang: str = option("zh", help="Post.lang of the posts")

    def check(self, path: str) -> None:
        if self.encoding:
            try:
                "".encode(self.encoding)
            except LookupError:
                raise ConfigError(join(path, "encoding"), f"unknown encoding {self.encoding!r}") from None


def split_records(records: list[Record]) -> tuple[list[Post], list[DeadItem]]:
    """Posts, and dead items for the records the gate refused."""
    posts: list[Post] = []
    dead: list[DeadItem] = []
    for record in records:
        if isinstance(record.result, Rejection):
            dead.append(DeadItem(record.result.reason, f"record {record.position}: {record.result.message}",
                                 record.original))
        else:
            posts.append(record.result)
    return posts, dead


class FilesConnector:
    def __init__(self, spec: ConnectorSpec[FilesOptions], environ: Mapping[str, str],
                 clock: Callable[[], float] = time.time) -> None:
        self.spec = spec
        self.options = spec.options
        self.folder = Path(self.options.path)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"{spec.path}.path: no such folder: {self.options.path}")
        self.clock = clock
        self.metrics = FileMetrics(spec.name)
        self._unreadable: dict[str, tuple[int, int]] = {}  # file -> (size, mtime) when it failed

    def reader(self, gate: Gate) -> FileReader:
        options = self.options
        if options.default_timezone:
            gate = Gate(replace(gate.rules, default_timezone=options.default_timezone), gate.clock)
        mapping = FieldMapping.parse(options.mapping) if options.mapping else None
        # The spec's source only when configured (a crawler's platform is the source otherwise).
        return file_reader(options.format or None, gate, mapping=mapping, source=self.spec.source or None,
                           lang=options.lang, encoding=options.encoding or None)

    def matching(self) -> list[Path]:
        """The files to follow, oldest first (a crawler's earlier days before its later ones)."""
        found = []
        for path in self.folder.glob(self.options.glob):
            try:
                if path.is_file() and path.suffix.lower() in SUFFIXES:
                    found.append((path.stat().st_mtime_ns, str(path), path))
            except OSError:
                continue  # gone between the listing and the look
        return [path for _, _, path in sorted(found)]

    async def run(self, ctx: Context) -> None:
        reader = self.reader(ctx.gate)
        cursors: dict[str, dict[str, Any]] = {k: dict(v) for k, v in ctx.state.get("files", {}).items()}
        while not ctx.stop.is_set():
            files = self.matching()
            self.metrics.followed.set(len(files))
            names = {self._name(path) for path in files}
            for gone in [name for name in cursors if name not in names]:
                del cursors[gone]
                self.metrics.forget(gone)
            for path in files:
                await self._follow(ctx, reader, path, cursors)
                if ctx.stop.is_set():
                    return
            ctx.success()
            if await ctx.sleep(self.options.interval):
                return

    def _name(self, path: Path) -> str:
        return path.relative_to(self.folder).as_posix()

    async def _follow(self, ctx: Context, reader: FileReader, path: Path, cursors: dict[str, dict[str, Any]]) -> None:
        """Read one file on from its cursor until nothing new, emitting as it goes."""
        name = self._name(path)
        try:
            stat = path.stat()
        except OSError:
            return
        if self._unreadable.get(name) == (stat.st_size, stat.st_mtime_ns):
            return  # failed before and unchanged since
        final = self.clock() - stat.st_mtime_ns / 1e9 >= self.options.settle
        while not ctx.stop.is_set():
            before = cursors.get(name)
            cursor = Cursor.from_state(before) if before is not None else None
            try:
                records, after = reader.read(path, cursor, final=final, max_bytes=CHUNK_BYTES)
            except (ReaderError, OSError) as exc:
                self._unreadable[name] = (stat.st_size, stat.st_mtime_ns)
                ctx.metrics.error("unreadable_file")
                log.warning("%s: %s", self.spec.name, exc)
                return
            except Exception:  # noqa: BLE001 - a bug met on one file must not stop following the others
                self._unreadable[name] = (stat.st_size, stat.st_mtime_ns)
                ctx.metrics.error("internal_error")
                log.exception("%s: %s could not be read; skipped until it changes", self.spec.name, name)
                return
            self._unreadable.pop(name, None)
            state = after.to_state()
            moved = state != before
            cursors[name] = state
            read = after.offset if after.container != "json" else (after.size if after.fingerprint else 0)
            self.metrics.progress(name, read, after.size, len(records))
            if not moved and not records:
                return
            for start in range(0, max(len(records), 1), BATCH_RECORDS):
                posts, dead = split_records(records[start:start + BATCH_RECORDS])
                last = start + BATCH_RECORDS >= len(records)
                checkpoint = {"files": {k: dict(v) for k, v in cursors.items()}} if last else None
                await ctx.emit(Batch(posts=posts, dead=dead, checkpoint=checkpoint))
            if not records or after.container == "json":
                return
