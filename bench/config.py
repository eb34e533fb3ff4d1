"""Where the benchmark runs and how big it is: the full run and the quick one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from shared.settings import ServiceSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS = REPO_ROOT / "docs"
WORK_DIR = REPO_ROOT / ".local" / "bench"


@dataclass(frozen=True)
class Target:
    """The Kafka cluster and PostgreSQL server, derived as the services derive them."""

    kafka_bootstrap: str
    database_url: str
    kafka_tls: bool = False

    @classmethod
    def from_environment(cls) -> Target:
        settings = ServiceSettings()
        return cls(
            settings.kafka_bootstrap_servers, settings.database_url, bool(settings.kafka_tls)
        )

    @property
    def kafka_topology(self) -> str:
        """What a run's figures were measured on, as the report names it."""
        brokers = len(self.kafka_ports)
        return (
            f"{brokers} broker{'s' if brokers > 1 else ''},"
            f" {'SASL_SSL' if self.kafka_tls else 'SASL_PLAINTEXT'}"
        )

    @property
    def kafka_ports(self) -> list[int]:
        """Every broker's port, in bootstrap order: one for the single node, three for the
        local cluster."""
        return [int(address.rsplit(":", 1)[1]) for address in self.kafka_bootstrap.split(",")]

    @property
    def pg_port(self) -> int:
        return urlsplit(self.database_url).port or 5432

    @property
    def pg_host(self) -> str:
        return urlsplit(self.database_url).hostname or "127.0.0.1"


@dataclass(frozen=True)
class Scale:
    """Sizes and durations of one run."""

    name: str
    small_plans: int  # the everyday size of the plans tables
    large_plans: int  # the large one (seeded)
    open_seconds: float  # sending time of an open-throttle phase
    open_window: int  # cases in flight at most at open throttle
    rate_seconds: float  # sending time of a fixed-rate phase
    rate_shares: tuple[float, ...]  # offered rates, as shares of the measured maximum
    bare_seconds: float  # sending time of a bare-chain phase
    pgbench_seconds: int
    warmup_cases: int
    drain_timeout: float
    invalid_every: int  # one invalid message per this many cases
    unknown_sn_share: float  # cases on an SN with no plan (refused, C1)


FULL = Scale(
    name="full",
    small_plans=10_000,
    large_plans=1_000_000,
    open_seconds=60.0,
    open_window=1000,
    rate_seconds=45.0,
    rate_shares=(0.25, 0.5, 0.75),
    bare_seconds=30.0,
    pgbench_seconds=20,
    warmup_cases=40,
    drain_timeout=600.0,
    invalid_every=200,
    unknown_sn_share=0.03,
)

QUICK = Scale(
    name="quick",
    small_plans=1_000,
    large_plans=20_000,
    open_seconds=8.0,
    open_window=100,
    rate_seconds=5.0,
    rate_shares=(0.25, 0.5, 0.75),
    bare_seconds=5.0,
    pgbench_seconds=3,
    warmup_cases=10,
    drain_timeout=120.0,
    invalid_every=50,
    unknown_sn_share=0.03,
)
