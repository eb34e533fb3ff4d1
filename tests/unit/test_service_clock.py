"""A service's clock ends when its shutdown cancels it, whatever woke it at that moment."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shared.runtime import Service

pytestmark = pytest.mark.unit


async def test_the_clock_ends_when_cancelled_just_as_a_batch_wakes_it() -> None:
    """SIGTERM comes as a batch has just set the clock due: the cancellation must end it, or the
    graceful shutdown waits on it for ever while the consumers go on consuming."""
    service = Service("claims", migrations=Path("."), owns=(), description="a clock alone")
    clock = asyncio.create_task(service._run_clock())
    await asyncio.sleep(0)  # one turn of the loop: the clock waits for its next tick
    service._due.set()
    clock.cancel()
    done, _ = await asyncio.wait({clock}, timeout=10)
    assert clock in done, "the clock went on after its cancellation"
    assert clock.cancelled()
