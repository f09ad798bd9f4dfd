"""The stream worker, composed: the Faust app of ``streams.app`` with alert
delivery (``alerting.notifier.Notifier``) attached to its event loop.

The pipeline does not know about delivery; this module, part of the
composition root, hands it the notifier as an attached service.
"""

from __future__ import annotations

import asyncio

import faust
from mode import Service

from alerting.console.links import link_provider
from alerting.notifier import Notifier
from streams.app import AttachedService, create_app
from streams.cli.config import KoubeiConfig
from streams.kafka import BrokerQuirks, bootstrap_servers

NOTIFIER_STOP_GRACE = 15.0


def notifier_service(config: KoubeiConfig, quirks: BrokerQuirks) -> AttachedService:
    """Alert delivery on the worker's event loop, stopped in order on shutdown."""
    holder: dict[str, Notifier] = {}

    class NotifierService(Service):
        def __post_init__(self) -> None:
            self._stop_event = asyncio.Event()
            self._task: asyncio.Task[None] | None = None

        async def on_start(self) -> None:
            notifier = Notifier(config, config.alerting, bootstrap_servers(config.kafka.url), quirks,
                                links=link_provider(config.console))
            holder["notifier"] = notifier
            self._task = asyncio.ensure_future(notifier.run(self._stop_event))

        async def on_stop(self) -> None:
            self._stop_event.set()
            if self._task is not None:
                try:
                    await asyncio.wait_for(self._task, timeout=NOTIFIER_STOP_GRACE)
                except TimeoutError:
                    self._task.cancel()

    def ready() -> bool:
        notifier = holder.get("notifier")
        return notifier is not None and notifier.ready.is_set()

    return AttachedService("notifier", NotifierService, ready)


def build_worker_app(config: KoubeiConfig, quirks: BrokerQuirks, *, web_port: int | None = None,
                     with_notifier: bool = True) -> faust.App:
    services = (notifier_service(config, quirks),) if with_notifier else ()
    return create_app(config, quirks, web_port=web_port, services=services)
