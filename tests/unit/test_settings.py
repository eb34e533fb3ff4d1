"""One derivation of the connection settings (shared/settings.py): the port variables move every
address, explicit addresses win, and the demo's services listen where the settings say."""

from __future__ import annotations

import pytest

from shared.settings import ServiceSettings
from simulation.demo import demo_platform

pytestmark = pytest.mark.unit


@pytest.fixture
def moved(monkeypatch: pytest.MonkeyPatch) -> ServiceSettings:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CAREPLAN_KAFKA_PORT", "39092")
    monkeypatch.setenv("CAREPLAN_PG_PORT", "57432")
    monkeypatch.setenv("CAREPLAN_LOOKUP_HTTP_PORT", "18181")
    monkeypatch.setenv("CAREPLAN_PG_PASSWORD", "p/w@x")
    return ServiceSettings()


def test_the_port_variables_move_every_address(moved: ServiceSettings) -> None:
    assert moved.kafka_bootstrap_servers == "127.0.0.1:39092"
    assert moved.database_url == "postgresql://careplan:p%2Fw%40x@127.0.0.1:57432"
    assert moved.lookup_http_port == 18181


def test_explicit_addresses_win(moved: ServiceSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432")
    settings = ServiceSettings()
    assert (settings.kafka_bootstrap_servers, settings.database_url) == (
        "kafka:9092",
        "postgresql://u:p@db:5432",
    )


def test_the_demo_runs_the_services_where_the_settings_say(moved: ServiceSettings) -> None:
    platform = demo_platform(moved, {})
    assert platform.lookup_url == "http://127.0.0.1:18181"
    assert platform.kafka_bootstrap == moved.kafka_bootstrap_servers
    assert platform.database_url == moved.database_url


def test_a_port_out_of_range_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREPLAN_PG_PORT", "-5")
    with pytest.raises(ValueError, match="pg_port"):
        ServiceSettings()
