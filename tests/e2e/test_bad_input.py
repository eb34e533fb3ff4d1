"""Bad input at every inbound topic: malformed, truncated, oversized, wrong-typed, unknown-version
and hostile messages each end in the dead-letter topic with a readable reason, the consumers go
on past them, and no table changes (property-based: the messages come from hypothesis)."""

from __future__ import annotations

import contextlib
import json

import asyncpg
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from careplan.registry import SERVICES
from contracts import parse_event, serialise_event
from contracts.envelope import MAX_EVENT_BYTES
from contracts.topics import BY_NAME
from shared.dead_letters import REASON_HEADER
from simulation.kafka_io import DeadLetter, EventLog, Upstream
from simulation.offsets import Offsets
from simulation.processes import Platform
from tests.contract.test_contracts import SAMPLES, Sample, changed, document
from tests.e2e.conftest import INBOUND
from tests.e2e.journeys import eventually

pytestmark = pytest.mark.e2e

INBOUND_SAMPLES = [sample for sample in SAMPLES if sample.topic in INBOUND]
HOSTILE_TEXT = st.sampled_from(
    [
        "'; DROP TABLE cases; --",
        "1 OR 1=1",
        "\x00\x1b[31m\u202e",
        "../../etc/passwd",
        "$(reboot)",
        "A" * 5000,
    ]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def hostile(draw: st.DrawFn, sample: Sample) -> bytes:
    """A message that breaks the contract of `sample`'s topic in one of many ways."""
    raw = serialise_event(sample.event)
    kind = draw(
        st.sampled_from(["bytes", "truncated", "field", "type", "version", "nested", "huge"])
    )
    if kind == "bytes":
        return draw(st.binary(min_size=1, max_size=300))
    if kind == "truncated":
        return raw[: draw(st.integers(min_value=1, max_value=len(raw) - 1))]
    doc = document(sample)
    payload_keys = sorted(doc["payload"])
    if kind == "field":  # hostile text where the contract wants an id, a serial or a date
        key = draw(st.sampled_from([k for k in payload_keys if k.endswith(("sn", "_at", "id"))]))
        return changed(sample, ("payload", key), draw(HOSTILE_TEXT))
    if kind == "type":
        key = draw(st.sampled_from(payload_keys))
        value = draw(JSON_VALUES.filter(lambda v: not isinstance(v, str)))
        return changed(sample, ("payload", key), value)
    if kind == "version":
        return changed(sample, ("schema_version",), draw(st.integers(2, 10**6) | st.text()))
    if kind == "nested":
        depth = draw(st.integers(min_value=200, max_value=3000))
        return json.dumps(doc).encode()[:-1] + b', "x": ' + b"[" * depth + b"]" * depth + b"}"
    return b'{"payload": "' + b"x" * (MAX_EVENT_BYTES + 10) + b'"}'


def invalid_for(sample: Sample, raw: bytes) -> bool:
    try:
        parse_event(sample.topic.name, raw)
    except Exception:
        return True
    return False


def hostile_messages() -> list[tuple[Sample, bytes]]:
    """Hypothesis draws the messages; the platform then gets them all in one go."""
    drawn: list[tuple[Sample, bytes]] = []

    @settings(
        max_examples=60,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(st.sampled_from(INBOUND_SAMPLES).flatmap(lambda s: st.tuples(st.just(s), hostile(s))))
    def draw(message: tuple[Sample, bytes]) -> None:
        sample, raw = message
        assume(invalid_for(sample, raw))  # e.g. hostile text in a free-text id is valid
        drawn.append(message)

    draw()
    return drawn


async def table_counts(platform: Platform) -> dict[str, int]:
    counts: dict[str, int] = {}
    for service in SERVICES:
        conn = await asyncpg.connect(platform.dsn(service))
        try:
            tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            for table in tables:
                name = table["tablename"]
                counts[f"{service}.{name}"] = await conn.fetchval(f'SELECT count(*) FROM "{name}"')
        finally:
            await conn.close()
    return counts


async def quiet(platform: Platform, offsets: Offsets) -> None:
    """Every outbox is empty and every service has consumed everything on every topic it reads."""
    while True:
        for service, topic in offsets.groups:
            await offsets.wait_caught_up(service, BY_NAME[topic], timeout=120)
        if not await unpublished(platform):
            return


async def unpublished(platform: Platform) -> int:
    waiting = 0
    for service in SERVICES:
        conn = await asyncpg.connect(platform.dsn(service))
        try:
            waiting += await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        finally:
            await conn.close()
    return waiting


async def test_hostile_messages_are_dead_lettered_with_a_reason_and_change_nothing(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    messages = hostile_messages()
    assert {sample.topic.name for sample, _ in messages} == {s.topic.name for s in INBOUND_SAMPLES}
    async with Offsets(platform.kafka_bootstrap) as offsets:
        await quiet(platform, offsets)
        before = await table_counts(platform)
        for number, (sample, raw) in enumerate(messages):
            await upstream.send_raw(sample.topic.name, f"HOSTILE-{number}", raw)
        await quiet(platform, offsets)  # the consumers went on past every one of them
        after = await table_counts(platform)

    readers: dict[str, set[str]] = {}
    for service, topic in offsets.groups:
        readers.setdefault(topic, set()).add(service)
    expected = {
        (f"HOSTILE-{number}", service, raw)
        for number, (sample, raw) in enumerate(messages)
        for service in readers[sample.topic.name]
    }

    def hostile(letter: DeadLetter) -> bool:
        return (letter.key or b"").startswith(b"HOSTILE-")

    with contextlib.suppress(TimeoutError):  # the assertion below says what is missing
        await events.wait_for_dead_letters(hostile, count=len(expected), timeout=60)
    letters = [letter for letter in events.dead_letters if hostile(letter)]
    got = {
        ((letter.key or b"").decode(), letter.headers["dlq-service"], letter.value)
        for letter in letters
    }
    assert got == expected, f"missing: {sorted((k, s) for k, s, _ in expected - got)[:10]}"
    assert all(letter.headers[REASON_HEADER].strip() for letter in letters)
    # The dashboard's list of dead letters is the one table that grows, by one per dead letter.
    listed = "operations.dead_letters"
    assert {k: v for k, v in after.items() if k != listed} == {
        k: v for k, v in before.items() if k != listed
    }

    async def all_listed() -> bool:
        return (await table_counts(platform))[listed] >= before[listed] + len(expected)

    await eventually(all_listed, "the dashboard to list every dead letter")
