"""Configuration from the environment (pydantic-settings); nothing is hard-coded in services."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from pydantic import Field, NonNegativeFloat, PositiveFloat, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Written by infra/postgres/start.sh when this checkout's stack is created: the database
# password and the stack's mark, never in the repository. Absent elsewhere (containers, CI on
# another cluster), where the environment says it all.
LOCAL_STACK_ENV = Path(__file__).resolve().parent.parent / ".local" / "stack.env"
# Node i of the local cluster listens for clients on kafka_port + this * i (infra/lib.sh).
CLUSTER_PORT_STEP = 10


class ServiceSettings(BaseSettings):
    """Settings shared by every service process.

    `KAFKA_BOOTSTRAP_SERVERS` and `DATABASE_URL` keep their conventional names so an existing
    cluster can be used as it is; `DATABASE_URL` names the server, and each service appends its
    own database (`careplan_<service>`) unless `CAREPLAN_DATABASE_NAME` says otherwise.

    The one derivation of the local stack's addresses: the services, the command line, the demo,
    the tests and the benchmark all ask here.
    """

    model_config = SettingsConfigDict(
        env_prefix="CAREPLAN_",
        env_file=LOCAL_STACK_ENV,
        extra="ignore",
        populate_by_name=True,
    )

    # The local stack's ports (infra/lib.sh reads the same variables): the addresses below
    # follow them unless set explicitly, so a checkout whose stack moved never dials another's.
    kafka_port: int = Field(default=19092, ge=1, le=65535)
    # The local stack's Kafka mode (infra/lib.sh): one node, or a cluster of three.
    kafka_brokers: int = Field(default=1, ge=1, le=3)
    # SASL_SSL rather than SASL_PLAINTEXT; unset means the local stack's default for its mode
    # (on in the cluster). The brokers' certificates are verified against `kafka_ca_file`,
    # by default the local stack's own CA.
    kafka_tls: bool | None = None
    kafka_ca_file: Path | None = None
    pg_port: int = Field(default=55432, ge=1, le=65535)
    # The local stack's database password, random per stack (.local/stack.env).
    pg_password: SecretStr | None = None
    # What the stack this checkout created wrote into its server; a reset drops databases only
    # on a server that carries it.
    stack_mark: str | None = None
    kafka_bootstrap_servers: str = Field(default="", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    kafka_username: str | None = Field(
        default=None, description="SASL/SCRAM principal; unset means a PLAINTEXT cluster"
    )
    kafka_password: SecretStr | None = None
    database_url: str = Field(default="", validation_alias="DATABASE_URL")
    database_name: str | None = None
    pool_min_size: int = 1
    pool_max_size: int = 5
    # A batch is what one poll returns, up to this many records, applied in one transaction.
    consume_batch_size: int = 500
    # How long an idle poll waits for records.
    consume_poll_timeout_ms: int = 5
    # The broker answers a fetch once it has this many bytes or has waited this long: under
    # load, fewer and fuller fetches; when quiet, at most this much added latency per hop.
    consume_fetch_min_bytes: int = 65536
    consume_fetch_max_wait_ms: int = 10
    outbox_batch_size: int = 500
    outbox_fallback_poll_seconds: float = 2.0
    transient_retry_attempts: int = 5
    # Waiting (shared.waiting): every grace period at once (tests use a few seconds), one by
    # dependency name (JSON: {"plan-of-assessment": 600}), how often a kept event is offered
    # again unasked, and how often the timer looks for due ones.
    waiting_grace_seconds: NonNegativeFloat | None = None
    waiting_grace: dict[str, NonNegativeFloat] = Field(default_factory=dict)
    waiting_recheck_seconds: PositiveFloat = 30.0
    waiting_check_seconds: PositiveFloat = 1.0
    # Prometheus: each service on its documented port, base + its offset (shared.metrics);
    # CAREPLAN_METRICS_PORT overrides that port, and 0 turns the endpoint off.
    metrics_port_base: int = 9300
    metrics_port: int | None = None
    # Traces: spans leave the process only to a configured exporter.
    otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces"
    )
    trace_file: Path | None = Field(default=None, description="Spans as JSON lines, appended")
    log_level: str = "INFO"
    instance: str = "1"
    # The lookup service's HTTP API (X5); 127.0.0.1 unless a container must publish it.
    lookup_http_host: str = "127.0.0.1"
    lookup_http_port: int = Field(default=8080, ge=1, le=65535)
    # The operations dashboard; it refuses to start without a token to log in with.
    operations_http_host: str = "127.0.0.1"
    operations_http_port: int = 8090
    operations_token: SecretStr | None = None

    @model_validator(mode="after")
    def _local_stack_addresses(self) -> ServiceSettings:
        if not self.kafka_bootstrap_servers:
            nodes = range(1, self.kafka_brokers + 1)
            ports = (
                [self.kafka_port]
                if self.kafka_brokers == 1
                else [self.kafka_port + CLUSTER_PORT_STEP * i for i in nodes]
            )
            self.kafka_bootstrap_servers = ",".join(f"127.0.0.1:{port}" for port in ports)
        if self.kafka_tls is None:
            self.kafka_tls = self.kafka_brokers > 1
        if self.kafka_tls and self.kafka_ca_file is None:
            self.kafka_ca_file = self.local_kafka_dir / "tls" / "ca.crt"
        if not self.database_url:
            secret = self.pg_password.get_secret_value() if self.pg_password else ""
            password = quote(secret, safe="")
            self.database_url = f"postgresql://careplan:{password}@127.0.0.1:{self.pg_port}"
        return self

    @property
    def local_kafka_dir(self) -> Path:
        """Where the local stack keeps this mode's Kafka credentials and certificates."""
        name = "kafka" if self.kafka_brokers == 1 else "kafka-cluster"
        return LOCAL_STACK_ENV.parent / name

    def dsn_for(self, service: str) -> str:
        name = self.database_name or f"careplan_{service}"
        return f"{self.database_url.rstrip('/')}/{name}"
