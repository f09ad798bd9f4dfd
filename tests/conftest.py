"""Shared fixtures: a real broker process for integration tests.

By default the fixtures start the embedded broker (Tansu) on 127.0.0.1.
Set KOUBEI_KAFKA_URL=kafka://host:port to run the same suite against
Apache Kafka instead; every test then uses unique topic names so runs do
not interfere.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker
from streams.kafka import BrokerQuirks, bootstrap_servers, detect_quirks

REPO = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    env = os.environ.get("KOUBEI_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("shared data not found: set KOUBEI_SHARED_DATA or put shared/ beside the repo")
    return path


@pytest.fixture(scope="session")
def kafka_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("KOUBEI_KAFKA_URL")
    if external:
        yield external
        return
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    broker = EmbeddedBroker(log_path=str(log))
    broker.start()
    try:
        yield broker.url
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_url: str) -> str:
    return bootstrap_servers(kafka_url)


@pytest.fixture(scope="session")
def broker_quirks(kafka_bootstrap: str) -> BrokerQuirks:
    return detect_quirks("auto", kafka_bootstrap)


@pytest.fixture
def topic_prefix() -> str:
    """A fresh topic prefix per test, so tests never see each other's records."""
    return f"t{uuid.uuid4().hex[:10]}"
