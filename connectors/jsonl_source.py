"""The ``jsonl`` connector: one JSONL file of posts, read once.

Lines go to the input gate as they are; the checkpoint is the number of
lines already confirmed by Kafka, so a restart continues with the next line.
To follow a folder a crawler keeps writing into, use the ``files`` connector.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from connectors.base import Context, DeadItem, emit_rows
from connectors.spec import ConnectorSpec
from streams.gate import Gate, Rejection
from streams.models import Post
from streams.settings import option


@dataclass(frozen=True, kw_only=True)
class JsonlOptions:
    path: str = option(required=True, help="one Post JSON object per line")


def read_jsonl(path: str, start_line: int = 0, gate: Gate | None = None) -> Iterator[tuple[int, Post | DeadItem | None]]:
    line_gate = gate or Gate()
    with open(path, "rb") as fh:
        for line_no, line in enumerate(fh, start=1):
            if line_no <= start_line:
                continue
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                yield line_no, None  # blank line: moves the cursor, is not a record
                continue
            result = line_gate.admit(raw)
            yield line_no, DeadItem(result.reason, f"line {line_no}: {result.message}", raw) \
                if isinstance(result, Rejection) else result


class JsonlConnector:
    def __init__(self, spec: ConnectorSpec[JsonlOptions], environ: Mapping[str, str]) -> None:
        self.spec = spec
        self.options = spec.options
        if not Path(self.options.path).is_file():
            raise FileNotFoundError(f"{spec.path}.path: no such file: {self.options.path}")

    async def run(self, ctx: Context) -> None:
        await emit_rows(ctx, read_jsonl(self.options.path, int(ctx.state.get("row", 0)), ctx.gate))
