"""The one table of connector types: name -> options, connector, summary.

Configuration parsing (``connectors.config``) reads each instance's
options with the type's options class; the runtime builds the connector
with the type's class. A new connector type is one module (its options
dataclass and its connector class) and one line here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from connectors.base import Connector
from connectors.csv_source import CsvConnector, CsvOptions
from connectors.files import FilesConnector, FilesOptions
from connectors.http_ingest import HttpIngestConnector, HttpIngestOptions
from connectors.jsonl_source import JsonlConnector, JsonlOptions
from connectors.mastodon import MastodonConnector, MastodonOptions
from connectors.rss import RssConnector, RssOptions
from connectors.spec import ConnectorSpec
from connectors.weibo import WeiboConnector, WeiboOptions
from streams.settings import FieldDoc, describe

OptionsT = TypeVar("OptionsT")


@dataclass(frozen=True)
class ConnectorType(Generic[OptionsT]):
    name: str
    summary: str
    options: type[OptionsT]
    # Every connector class takes (spec, environ): secrets are read when it is built.
    connector: Callable[[ConnectorSpec[OptionsT], Mapping[str, str]], Connector]
    default_source: str
    # Types that never call out (ingest, files) refuse the HTTP politeness fields.
    polls: bool = True

    @property
    def fields(self) -> tuple[FieldDoc, ...]:
        return describe(self.options)


TYPES: dict[str, ConnectorType[object]] = {
    t.name: t
    for t in (
        ConnectorType("http_ingest", "POST /ingest: a post, a JSON array or NDJSON; bearer token or HMAC; per-record answers",
                      HttpIngestOptions, HttpIngestConnector, "ingest", polls=False),
        ConnectorType("rss", "RSS 2.0 / Atom poller with ETag/Last-Modified and de-duplication across feeds",
                      RssOptions, RssConnector, "rss"),
        ConnectorType("weibo", "Weibo open API: keyword search and user timelines, paging with since_id",
                      WeiboOptions, WeiboConnector, "weibo"),
        ConnectorType("mastodon", "Mastodon streaming API (SSE): public or hashtag timeline, reconnects with Last-Event-ID",
                      MastodonOptions, MastodonConnector, "mastodon"),
        ConnectorType("csv", "a CSV file replayed once, columns mapped to Post fields; resumes at the next row",
                      CsvOptions, CsvConnector, "csv", polls=False),
        ConnectorType("jsonl", "a JSONL file of posts replayed once; resumes at the next line",
                      JsonlOptions, JsonlConnector, "file", polls=False),
        # No default source: a crawler schema names the platform (weibo, xhs ...); set source to override.
        ConnectorType("files", "follows a crawler's folder: new files, appended rows, rewritten JSON arrays "
                               "(MediaCrawler, weibo-search, weibo-crawler, CSV/JSON/JSONL)",
                      FilesOptions, FilesConnector, "", polls=False),
    )
}


def build_connector(spec: ConnectorSpec[object], environ: Mapping[str, str]) -> Connector:
    """The connector object for a spec; a missing secret is a ConfigError naming its field."""
    return TYPES[spec.type].connector(spec, environ)
