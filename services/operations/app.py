"""The operations service: the dashboard operators watch the platform by (cases, decisions,
money, consumer lag, outbox backlog, dead letters) and replay a dead letter from."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import structlog

from contracts import topics
from services.operations import handlers, store
from services.operations.replay import Replayer
from services.operations.watch import (
    DEAD_LETTER_TOPICS,
    Health,
    KafkaWatch,
    collect_health,
    metrics_targets,
)
from services.operations.web import create_dashboard
from shared.http_server import HttpServer
from shared.metrics import CONSUMER_LAG, DEAD_LETTER_RECORDS
from shared.runtime import Service

log = structlog.get_logger(__name__)

SAMPLE_SECONDS = 2.0

service = Service(
    "operations",
    migrations=Path(__file__).parent / "migrations",
    owns=(),
    description="The operations dashboard: cases by state and family, decisions, refusal "
    "reasons, money taken, terms ended (C9), consumer lag, outbox backlog and dead letters, "
    "with the replay of one dead letter. Publishes nothing; answers over HTTP.",
    also_reads=DEAD_LETTER_TOPICS,
    replays_onto=tuple(topic.name for topic in topics.ALL_TOPICS),
    watches_lag=True,
)
for followed in (topics.CLAIMS_EVENTS, topics.COVERAGE_EVENTS, topics.FULFILMENT_EVENTS):
    service.consumes(followed)(handlers.follow_cases_and_terms)


class Monitor:
    """Samples health every couple of seconds and keeps the dead letters it reads."""

    def __init__(self) -> None:
        self.health = Health()
        self.watch = KafkaWatch(service.settings)
        self._targets = metrics_targets(service.settings)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.watch.start()
        self._task = asyncio.create_task(self._run(), name="operations-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.watch.stop()

    async def _run(self) -> None:
        async with httpx.AsyncClient() as http:
            while True:
                try:
                    await store.record_dead_letters(
                        service.pool, await self.watch.new_dead_letters()
                    )
                    self.health = await collect_health(self.watch, http, self._targets)
                except Exception:
                    log.exception("health_sample_failed")
                else:
                    for p in self.health.lag:
                        CONSUMER_LAG.labels(p.group, p.topic, str(p.partition)).set(p.lag)
                    for topic, count in self.health.dead_letters.items():
                        DEAD_LETTER_RECORDS.labels(topic).set(count)
                await asyncio.sleep(SAMPLE_SECONDS)

    async def board(self) -> dict[str, Any]:
        return {"board": asdict(await store.case_board(service.pool)), "health": self.health}

    async def replay(self, topic: str, partition: int, offset: int, operator: str) -> str:
        return await Replayer(service.pool, self.watch, service.broker.publish).replay(
            topic, partition, offset, operator
        )


def _token() -> str:
    token = service.settings.operations_token
    if token is None or not token.get_secret_value():
        raise RuntimeError("CAREPLAN_OPERATIONS_TOKEN is not set: the dashboard needs a login")
    return token.get_secret_value()


monitor = Monitor()
http = HttpServer(
    create_dashboard(_token, monitor.board, monitor.replay),
    service="operations",
    host=service.settings.operations_http_host,
    port=service.settings.operations_http_port,
)


async def require_token() -> None:
    _token()


service.on_started(require_token)
service.on_started(monitor.start)
service.on_started(http.start)
service.on_stopping(http.stop)
service.on_stopping(monitor.stop)
