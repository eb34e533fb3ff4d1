"""Which failures are transient, and the bounded backoff applied to them."""

from __future__ import annotations

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NotLeaderForPartitionError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.AdminShutdownError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NotLeaderForPartitionError,
)


def is_transient(error: BaseException) -> bool:
    """Infrastructure hiccups worth retrying; everything else is a fault of the message or code.

    asyncpg raises InterfaceError both for a connection lost under it (transient) and for
    misuse such as a wrong number of arguments (a bug, which retrying cannot cure).
    """
    if isinstance(error, asyncpg.InterfaceError):
        return "connection" in str(error).lower()
    return isinstance(error, TRANSIENT_ERRORS)


def transient_retries(attempts: int) -> AsyncRetrying:
    return AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=0.1, max=5.0, jitter=0.1),
        retry=retry_if_exception(is_transient),
        reraise=True,
    )
