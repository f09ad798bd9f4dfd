"""The connectors section: strict parsing, errors that name the field, secrets from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.config import parse_connectors
from connectors.registry import TYPES
from connectors.spec import require_secret
from streams.cli import main as koubei
from streams.settings import ConfigError

EXAMPLE = """
connectors:
  state_dir: /var/lib/koubei/connectors
  ingest: {type: http_ingest, listen: 127.0.0.1:8088, token_env: KOUBEI_INGEST_TOKEN, max_body_bytes: 1000000}
  news: {type: rss, feeds: [https://news.example/rss.xml, https://blog.example/atom.xml], interval: 5m}
  weibo: {type: weibo, token_env: WEIBO_ACCESS_TOKEN, keywords: [某品牌], users: ["1404376560"], interval: 2m,
          rate_limit: 0.5}
  mastodon: {type: mastodon, base_url: https://mastodon.example, stream: hashtag, tag: 某品牌}
  files: {type: csv, path: export.csv, mapping: {id: mid, text: content, created_at: time},
          default_timezone: "+08:00"}
"""


def parse(raw: Any, environ: dict[str, str] | None = None) -> Any:
    return parse_connectors(raw, "connectors", environ=environ or {})


def error_of(raw: Any, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(raw, environ)
    return info.value


def test_the_documented_example_parses() -> None:
    config = parse(yaml.safe_load(EXAMPLE)["connectors"])
    assert config.state_dir == "/var/lib/koubei/connectors"
    assert {n: s.type for n, s in config.instances.items()} == {
        "ingest": "http_ingest", "news": "rss", "weibo": "weibo", "mastodon": "mastodon", "files": "csv"}
    assert config.get("news").options.interval == 300.0
    assert config.get("weibo").politeness.rate_limit == 0.5
    assert config.get("weibo").source == "weibo" and config.get("files").source == "csv"
    assert (config.get("ingest").options.host, config.get("ingest").options.port) == ("127.0.0.1", 8088)


@pytest.mark.parametrize(("raw", "field"), [
    ({"news": {"type": "rss", "feeds": ["https://a"], "feedz": 1}}, "connectors.news.feedz"),
    ({"news": {"feeds": ["https://a"]}}, "connectors.news.type"),
    ({"news": {"type": "twitter"}}, "connectors.news.type"),
    ({"news": {"type": "rss", "feeds": ["ftp://a"]}}, "connectors.news.feeds[0].url"),
    ({"news": {"type": "rss", "feeds": ["https://a"], "interval": "soon"}}, "connectors.news.interval"),
    ({"wb": {"type": "weibo", "token_env": "T"}}, "connectors.wb.keywords"),
    ({"wb": {"type": "weibo", "token_env": "T", "users": ["abc"]}}, "connectors.wb.users[0]"),
    ({"wb": {"type": "weibo", "keywords": ["x"]}}, "connectors.wb.token_env"),
    ({"wb": {"type": "weibo", "token_env": "T", "keywords": ["x"], "count": 500}}, "connectors.wb.count"),
    ({"m": {"type": "mastodon", "base_url": "https://m.example", "stream": "hashtag"}}, "connectors.m.tag"),
    ({"m": {"type": "mastodon", "base_url": "https://m.example", "stream": "home"}}, "connectors.m.stream"),
    ({"f": {"type": "csv", "path": "x.csv", "mapping": {"id": "a", "text": "b"}}}, "connectors.f.mapping.created_at"),
    ({"f": {"type": "csv", "path": "x.csv", "mapping": {"id": "a", "text": "b", "created_at": "c", "likez": "d"}}},
     "connectors.f.mapping.likez"),
    ({"i": {"type": "http_ingest", "token_env": "T", "listen": "8088"}}, "connectors.i.listen"),
    ({"i": {"type": "http_ingest", "token_env": "T", "source": "a:b"}}, "connectors.i.source"),
    ({"n": {"type": "rss", "feeds": ["https://a.example/f"], "rate_limit": -1}}, "connectors.n.rate_limit"),
    ({"i": {"type": "http_ingest", "token_env": "T", "rate_limit": 1}}, "connectors.i.rate_limit"),
    ({"f": {"type": "jsonl", "path": "x.jsonl", "timeout": "5s"}}, "connectors.f.timeout"),
    ({"Bad Name": {"type": "http_ingest", "token_env": "T"}}, "connectors.Bad Name"),
])
def test_errors_name_the_field(raw: dict[str, Any], field: str) -> None:
    assert error_of(raw).field == field


def test_a_secret_pasted_into_the_file_is_refused_without_echoing_it() -> None:
    secret = "2.00abcdefSECRETvalue"
    error = error_of({"wb": {"type": "weibo", "token_env": secret, "keywords": ["x"]}})
    assert error.field == "connectors.wb.token_env" and secret not in str(error)


def test_secrets_are_read_from_the_environment_only_when_needed() -> None:
    config = parse({"wb": {"type": "weibo", "token_env": "WEIBO_TOKEN", "keywords": ["x"]}})
    spec = config.get("wb")
    assert "tok-123" not in repr(spec)
    assert require_secret(spec, "token_env", {"WEIBO_TOKEN": "tok-123"}) == "tok-123"
    with pytest.raises(ConfigError, match="WEIBO_TOKEN is not set") as info:
        require_secret(spec, "token_env", {})
    assert info.value.field == "connectors.wb.token_env"


def test_unknown_connector_name_lists_the_configured_ones() -> None:
    config = parse({"news": {"type": "rss", "feeds": ["https://a.example/f"]}})
    with pytest.raises(ConfigError, match="configured: news"):
        config.get("weibo")


def test_koubei_connectors_lists_every_type_with_its_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "koubei.yaml"
    config.write_text("brands: [{id: acme, aliases: [某品牌]}]\n" + EXAMPLE, encoding="utf-8")
    assert koubei(["connectors", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    for ctype in TYPES.values():
        assert f"{ctype.name}: " in out
        for doc in ctype.fields:
            assert doc.name in out
    assert "news" in out and "rate_limit" in out and "backoff_max" in out


def test_koubei_connect_names_a_missing_connector(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "koubei.yaml"
    config.write_text("brands: [{id: acme, aliases: [某品牌]}]\n" + EXAMPLE, encoding="utf-8")
    assert koubei(["connect", "twitter", "-c", str(config)]) == 2
    assert "connectors.twitter: no such connector" in capsys.readouterr().err


def test_each_type_declares_its_options_beside_its_connector() -> None:
    for ctype in TYPES.values():
        assert ctype.options.__module__ == ctype.connector.__module__, ctype.name
        assert ctype.fields and all(doc.help for doc in ctype.fields), ctype.name


def test_connector_modules_import_each_other_without_a_cycle() -> None:
    import ast

    package = Path(__file__).resolve().parent.parent / "connectors"
    graph: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        imports = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("connectors."):
                imports.add(node.module.split(".")[1])
        graph[path.stem] = imports
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", "import cycle: " + " -> ".join([*trail, module])
        state[module] = "open"
        for target in graph.get(module, ()):
            visit(target, [*trail, module])
        state[module] = "done"

    for module in graph:
        visit(module, [])
    assert "registry" in graph["runtime"] and "runtime" not in graph["rss"]
