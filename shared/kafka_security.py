"""Who a Kafka client is: SASL/SCRAM credentials from configuration, or none on a PLAINTEXT
cluster. Every client of the platform (services, operator commands, tests) asks here."""

from __future__ import annotations

from typing import Any

from faststream.security import SASLScram512

from shared.settings import ServiceSettings

MECHANISM = "SCRAM-SHA-512"


def client_options(settings: ServiceSettings | None = None) -> dict[str, Any]:
    """Keyword arguments for aiokafka's producer, consumer and admin client."""
    settings = settings or ServiceSettings()
    if not settings.kafka_username or settings.kafka_password is None:
        return {}
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": MECHANISM,
        "sasl_plain_username": settings.kafka_username,
        "sasl_plain_password": settings.kafka_password.get_secret_value(),
    }


def broker_security(settings: ServiceSettings) -> SASLScram512 | None:
    """The same identity for a FastStream broker."""
    if not settings.kafka_username or settings.kafka_password is None:
        return None
    return SASLScram512(
        username=settings.kafka_username,
        password=settings.kafka_password.get_secret_value(),
    )
