"""The handler tier: each service's batch handlers on a real PostgreSQL database, no broker."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/handlers/" in str(item.path):
            item.add_marker(pytest.mark.handlers)
