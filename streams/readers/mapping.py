"""A column mapping: which field of a foreign record holds each post field.

The same mapping reads a CSV row, a JSON or JSONL record and an ingested
record: ``id=mid,text=title+desc,created_at=time,author_name=user.name``.
A source field may be a dotted path into nested JSON (``user.name``), and
``text`` may join several fields with ``+`` (a title and its body). Values
are passed to the input gate as they are; the gate reads times, counts and
verification labels in every form crawlers write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.models import RecordError

TARGETS = ("id", "text", "created_at", "author_id", "author_name", "followers", "verified",
           "url", "reposts", "comments", "likes", "lang", "source")
REQUIRED = ("id", "text", "created_at")


class MappingError(ValueError):
    """A mapping that cannot work; ``field`` is the mapping key at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def lookup(record: Mapping[str, Any], path: str) -> Any:
    """``record[path]``, or the dotted path into nested objects; None when absent."""
    if path in record:
        return record[path]
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def join_text(parts: list[str]) -> str:
    """A title and its body as one text: the body alone when it already starts
    with the title (Douyin writes the same words in both)."""
    out: list[str] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        if out and (part.startswith(out[-1]) or part == out[-1]):
            out[-1] = part
        elif not (out and out[-1].startswith(part)):
            out.append(part)
    return "\n".join(out)


@dataclass(frozen=True)
class FieldMapping:
    """Post field -> source field(s); ``text`` may name several (joined)."""

    fields: Mapping[str, tuple[str, ...]]

    @classmethod
    def parse(cls, spec: str | Mapping[str, str]) -> FieldMapping:
        """From ``FIELD=COLUMN,...`` (command line) or a mapping (config file)."""
        pairs: list[tuple[str, str]] = []
        if isinstance(spec, str):
            for pair in spec.split(","):
                target, sep, column = pair.partition("=")
                if not sep or not column.strip() or not target.strip():
                    raise MappingError("", f"expected FIELD=COLUMN pairs separated by commas, got {pair!r}")
                pairs.append((target.strip(), column.strip()))
        else:
            pairs = [(str(k), str(v)) for k, v in spec.items()]
        fields: dict[str, tuple[str, ...]] = {}
        for target, column in pairs:
            if target not in TARGETS:
                raise MappingError(target, f"unknown post field (fields: {', '.join(TARGETS)})")
            names = tuple(c.strip() for c in column.split("+")) if target == "text" else (column.strip(),)
            if not all(names):
                raise MappingError(target, f"empty column name in {column!r}")
            fields[target] = names
        for target in REQUIRED:
            if target not in fields:
                raise MappingError(target, f"needs {target}=COLUMN (required: {', '.join(REQUIRED)})")
        return cls(fields)

    def columns(self) -> set[str]:
        """Every source field the mapping reads (for a CSV header check)."""
        return {name.split(".")[0] for names in self.fields.values() for name in names}

    def get(self, record: Mapping[str, Any], target: str) -> Any:
        names = self.fields.get(target)
        return lookup(record, names[0]) if names else None

    def to_post(self, record: Mapping[str, Any], source: str, lang: str = "zh") -> dict[str, Any]:
        """The post mapping the gate reads; RecordError when a mapped text is not text."""
        texts = [lookup(record, name) for name in self.fields["text"]]
        if any(t is not None and not isinstance(t, str) for t in texts):
            raise RecordError("wrong_type", f"text: expected text in {'+'.join(self.fields['text'])}")
        text: str | None = join_text([t for t in texts if isinstance(t, str)]) if any(
            t is not None for t in texts) else None
        author_name = self.get(record, "author_name")
        author_id = self.get(record, "author_id")
        if author_id in (None, ""):
            author_id = author_name if author_name not in (None, "") else "unknown"
        return {
            "source": self.get(record, "source") or source,
            "id": _strip(self.get(record, "id")),
            "text": text,
            "created_at": self.get(record, "created_at"),
            "url": self.get(record, "url") or "",
            "lang": self.get(record, "lang") or lang,
            "author": {"id": _strip(author_id), "name": author_name or "",
                       "followers": self.get(record, "followers"), "verified": self.get(record, "verified")},
            "reposts": self.get(record, "reposts"),
            "comments": self.get(record, "comments"),
            "likes": self.get(record, "likes"),
        }


def _strip(value: Any) -> Any:
    """Ids as crawlers write them: Excel-proofed with a trailing tab, padded with spaces."""
    return value.strip() if isinstance(value, str) else value
