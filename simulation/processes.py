"""The services as separate OS processes, with fresh databases, started and killed at will."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from careplan.registry import SERVICES
from shared.settings import ServiceSettings

# How infra/postgres/start.sh words the mark in the server (the `postgres` database's comment).
STACK_MARK_PREFIX = "careplan stack "


def act_as_administrator(credentials: dict[str, str]) -> None:
    """This process's Kafka clients (tests, demo, benchmark) use the administrator's principal."""
    if credentials:
        os.environ["CAREPLAN_KAFKA_USERNAME"] = "admin"
        os.environ["CAREPLAN_KAFKA_PASSWORD"] = credentials["admin"]


class ForeignStackError(RuntimeError):
    """The server is not one this checkout created: nothing of it may be dropped."""


async def connect_own_server(server_url: str) -> asyncpg.Connection:
    """An administrative connection to a server that carries this checkout's stack mark.

    Every reset goes through here before a `DROP DATABASE`: a checkout whose settings point at
    another checkout's server (same ports, a stale `DATABASE_URL`) stops instead of wiping it.
    """
    mark = ServiceSettings().stack_mark
    conn: asyncpg.Connection = await asyncpg.connect(f"{server_url.rstrip('/')}/postgres")
    found = await conn.fetchval(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'postgres'"
    )
    if mark is None or found != f"{STACK_MARK_PREFIX}{mark}":
        await conn.close()
        where = urlsplit(server_url).netloc.rpartition("@")[2]
        raise ForeignStackError(
            f"refusing to drop databases: the PostgreSQL server at {where} is not the stack this"
            " checkout started (its mark differs from CAREPLAN_STACK_MARK in .local/stack.env);"
            " check CAREPLAN_PG_PORT and DATABASE_URL"
        )
    return conn


async def recreate_databases(server_url: str, names: list[str]) -> None:
    """Drop and create each database: every run of the platform starts from empty books."""
    conn = await connect_own_server(server_url)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@dataclass
class ServiceProcess:
    """One service process; its output goes to `<log_dir>/<service>-<instance>.log`."""

    service: str
    env: dict[str, str]
    log_dir: Path
    instance: str = "1"
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log_offset: int = field(default=0, init=False)

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.service}-{self.instance}.log"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = os.environ | self.env | {"CAREPLAN_INSTANCE": self.instance}
        # This start's own lines begin here: an earlier run's log says nothing about this one.
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.service}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def wait_started(self, timeout: float = 60.0) -> None:
        """Until the process logs that its broker and relay are running (or it died)."""
        marker = b'"event": "service_started"'
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.service} exited: see {self.log_path}")
            if marker in self._log_since_start():
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.service} did not start within {timeout} s: {self.log_path}")

    def _log_since_start(self) -> bytes:
        if not self.log_path.exists():
            return b""
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read()

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind, as in a crash."""
        self._signal(signal.SIGKILL)

    def terminate(self, timeout: float = 40.0) -> int | None:
        """SIGTERM and wait: the graceful shutdown path."""
        return self._signal(signal.SIGTERM, timeout)

    def _signal(self, signum: int, timeout: float = 10.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None
        self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)


@dataclass
class Platform:
    """The services against one Kafka cluster and one PostgreSQL server."""

    kafka_bootstrap: str
    database_url: str
    log_dir: Path
    database_prefix: str = "careplan"
    lookup_http_port: int = 8080  # where the lookup service answers (X5)
    operations_http_port: int = 8090  # the operations dashboard
    operations_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    # Each service's metrics on base + its offset (shared.metrics); CAREPLAN_METRICS_PORT_BASE.
    metrics_port_base: int = field(default_factory=lambda: ServiceSettings().metrics_port_base)
    trace_files: bool = False  # each process writes its spans to <log_dir>/<process>.spans.jsonl
    kafka_credentials: dict[str, str] = field(default_factory=dict)  # principal -> password
    # Every dependency's grace period (shared.waiting); None keeps the services' defaults.
    waiting_grace_seconds: float | None = None
    waiting_grace: dict[str, float] = field(default_factory=dict)  # seconds, by dependency
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    @property
    def lookup_url(self) -> str:
        return f"http://127.0.0.1:{self.lookup_http_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.operations_http_port}"

    def database(self, service: str) -> str:
        return f"{self.database_prefix}_{service}"

    def dsn(self, service: str) -> str:
        return f"{self.database_url.rstrip('/')}/{self.database(service)}"

    async def reset_databases(self) -> None:
        await recreate_databases(self.database_url, [self.database(s) for s in SERVICES])

    def process(self, service: str, instance: str = "1") -> ServiceProcess:
        key = f"{service}-{instance}"
        if key not in self.processes:
            env = {
                "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
                "DATABASE_URL": self.database_url,
                "CAREPLAN_DATABASE_NAME": self.database(service),
                "CAREPLAN_METRICS_PORT_BASE": str(self.metrics_port_base),
            }
            if instance != "1":  # the documented port is the first instance's
                env["CAREPLAN_METRICS_PORT"] = "0"
            if self.waiting_grace_seconds is not None:
                env["CAREPLAN_WAITING_GRACE_SECONDS"] = str(self.waiting_grace_seconds)
            if self.waiting_grace:
                env["CAREPLAN_WAITING_GRACE"] = json.dumps(self.waiting_grace)
            if self.trace_files:
                env["CAREPLAN_TRACE_FILE"] = str(self.log_dir / f"{key}.spans.jsonl")
            if service == "lookup":
                env["CAREPLAN_LOOKUP_HTTP_PORT"] = str(self.lookup_http_port)
            if service == "operations":
                env["CAREPLAN_OPERATIONS_HTTP_PORT"] = str(self.operations_http_port)
                env["CAREPLAN_OPERATIONS_TOKEN"] = self.operations_token
            if service in self.kafka_credentials:  # each service is its own principal
                env["CAREPLAN_KAFKA_USERNAME"] = service
                env["CAREPLAN_KAFKA_PASSWORD"] = self.kafka_credentials[service]
            self.processes[key] = ServiceProcess(service, env, self.log_dir, instance)
        return self.processes[key]

    async def start(self, services: tuple[str, ...] = SERVICES) -> None:
        started = [self.process(service) for service in services]
        for process in started:
            process.start()
        await asyncio.gather(*(process.wait_started() for process in started))

    def stop(self) -> None:
        """SIGTERM to each; one that does not finish in time is killed, and the rest still stop."""
        for process in self.processes.values():
            try:
                process.terminate()
            except subprocess.TimeoutExpired:
                process.kill()
