"""Structured JSON logs (structlog), one object per line, for every logger in the process.

The standard library's loggers (aiokafka, FastStream, uvicorn, asyncpg) are routed through the
same structlog processors as the project's own, so every line is JSON, never coloured, and
carries the service and the ids bound for the event in hand (event, correlation, case, plan).
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import Processor

# Loggers that install handlers of their own (FastStream's is coloured): they are made to
# propagate to the root's JSON handler instead.
_LIBRARY_LOGGERS = ("faststream", "faststream.access", "aiokafka", "uvicorn", "uvicorn.error")


def configure_logging(service: str, level: str = "INFO") -> None:
    common: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=common,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in _LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.handlers = []
        library.propagate = True
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *common,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
