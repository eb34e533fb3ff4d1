"""After a run: read every topic and every database and check the books (issue: nothing lost,
nothing applied twice). Each invariant is counted as it is verified; a broken one is a violation.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer

from careplan.registry import SERVICES
from contracts import parse_event
from contracts import topics as t
from contracts.claims import ClaimDecided, ClaimOutcome
from contracts.coverage import DeductionApplied, PlanInherited
from contracts.envelope import Envelope
from contracts.fulfilment import DeviceReplaced, ShipmentRequested
from shared.kafka_security import client_options
from simulation.load import OWNED, Driver
from simulation.offsets import consumer_groups
from simulation.processes import Platform

CASE_EVENTS = (ClaimDecided, DeductionApplied, ShipmentRequested, DeviceReplaced, PlanInherited)


@dataclass
class Verdict:
    verified: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    def expect(self, holds: bool, invariant: str, detail: str) -> None:
        if holds:
            self.verified[invariant] += 1
        else:
            self.violations.append(f"{invariant}: {detail}")

    def lines(self) -> list[str]:
        lines = [f"{name}: {count} verified" for name, count in sorted(self.verified.items())]
        lines.append(f"violations: {len(self.violations)}")
        lines.extend(f"  {violation}" for violation in self.violations[:50])
        return lines


@dataclass(frozen=True)
class DeadLetterRecord:
    original_topic: str
    original_partition: str
    original_offset: str
    service: str
    key: str
    value: bytes


async def read_topics(bootstrap: str) -> tuple[list[Envelope], list[DeadLetterRecord]]:
    """Every record now on the services' topics and on every dead-letter topic, start to end."""
    names = [topic.name for topic in OWNED] + [topic.dead_letter for topic in t.ALL_TOPICS]
    consumer = AIOKafkaConsumer(
        *names,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **client_options(),
    )
    await consumer.start()
    events: list[Envelope] = []
    letters: list[DeadLetterRecord] = []
    try:
        while {p.topic for p in consumer.assignment()} != set(names):
            await consumer.getmany(timeout_ms=100)
        partitions = list(consumer.assignment())
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)

        async def behind() -> bool:
            for partition, end in ends.items():
                if await consumer.position(partition) < end:
                    return True
            return False

        while await behind():
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                for record in records:
                    if record.topic.endswith(t.DEAD_LETTER_SUFFIX):
                        headers = {k: v.decode() for k, v in record.headers}
                        letters.append(
                            DeadLetterRecord(
                                headers["dlq-original-topic"],
                                headers["dlq-original-partition"],
                                headers["dlq-original-offset"],
                                headers["dlq-service"],
                                (record.key or b"").decode(errors="replace"),
                                record.value,
                            )
                        )
                    else:
                        events.append(parse_event(record.topic, record.value))
    finally:
        await consumer.stop()
    return events, letters


def distinct(events: list[Envelope]) -> dict[uuid.UUID, Envelope]:
    """One entry per event id: a relay that crashed after sending may publish an event twice."""
    return {event.event_id: event for event in events}


async def check(platform: Platform, driver: Driver) -> Verdict:
    verdict = Verdict()
    events, letters = await read_topics(platform.kafka_bootstrap)
    by_case: defaultdict[str, defaultdict[type, set[uuid.UUID]]] = defaultdict(
        lambda: defaultdict(set)
    )
    decisions: dict[str, ClaimDecided] = {}
    for event in distinct(events).values():
        if isinstance(
            event,
            ClaimDecided | DeductionApplied | ShipmentRequested | DeviceReplaced | PlanInherited,
        ):
            case_id = event.payload.case_id
            by_case[case_id][type(event)].add(event.event_id)
            if isinstance(event, ClaimDecided):
                decisions[case_id] = event

    for case_id in driver.sent.cases:
        seen = by_case[case_id]
        verdict.expect(
            len(seen[ClaimDecided]) == 1,
            "every assessment has exactly one decision",
            f"{case_id} has {len(seen[ClaimDecided])}",
        )
        deducted = len(seen[DeductionApplied])
        approved = case_id in decisions and (
            decisions[case_id].payload.outcome is ClaimOutcome.REPLACEMENT
        )
        verdict.expect(
            deducted == 0 or (deducted == 1 and approved),
            "every deduction matches exactly one approved decision",
            f"{case_id}: {deducted} deductions, approved={approved}",
        )
        if deducted:
            for kind in (ShipmentRequested, DeviceReplaced, PlanInherited):
                verdict.expect(
                    len(seen[kind]) == 1,
                    f"every paid replacement has exactly one {kind.__name__}",
                    f"{case_id} has {len(seen[kind])}",
                )

    await _check_ledger(platform, driver, verdict)
    await _check_outboxes(platform, verdict)
    _check_dead_letters(driver, letters, verdict)
    return verdict


async def _check_ledger(platform: Platform, driver: Driver, verdict: Verdict) -> None:
    """Balances equal the opening amounts minus the deductions, and never go below zero."""
    run_cases = set(driver.sent.cases)
    conn = await asyncpg.connect(platform.dsn("coverage"))
    try:
        terms = await conn.fetch(
            "SELECT t.plan_id, t.term_no, t.replacements_total, t.flyaways_total,"
            " t.replacements_left, t.flyaways_left,"
            " count(d.case_id) AS used, count(d.case_id) FILTER (WHERE d.flyaway) AS flown"
            " FROM plan_terms t JOIN plans p USING (plan_id)"
            " LEFT JOIN deductions d ON d.plan_id = t.plan_id AND d.term_no = t.term_no"
            " WHERE p.sn = ANY($1::text[]) OR p.plan_id IN"
            " (SELECT plan_id FROM deductions WHERE case_id = ANY($2::text[]))"
            " GROUP BY t.plan_id, t.term_no",
            [device.sn for device in driver.sent.devices],
            list(run_cases),
        )
        for term in terms:
            verdict.expect(
                term["replacements_left"] == term["replacements_total"] - term["used"]
                and term["flyaways_left"] >= 0
                and term["replacements_left"] >= 0,
                "every plan's balance is its opening amount minus its deductions, never negative",
                f"plan {term['plan_id']} term {term['term_no']}: {dict(term)}",
            )
        applied = {
            row["case_id"]
            for row in await conn.fetch(
                "SELECT case_id FROM deductions WHERE case_id = ANY($1::text[])", list(run_cases)
            )
        }
    finally:
        await conn.close()
    published = {case_id for case_id in run_cases if driver.cases[case_id].deductions}
    verdict.expect(
        applied == published,
        "the ledger's deductions are exactly the published ones",
        f"only in the ledger: {sorted(applied - published)[:5]},"
        f" only published: {sorted(published - applied)[:5]}",
    )


async def _check_outboxes(platform: Platform, verdict: Verdict) -> None:
    for service in SERVICES:
        conn = await asyncpg.connect(platform.dsn(service))
        try:
            waiting = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        finally:
            await conn.close()
        verdict.expect(
            waiting == 0, "no event is left unpublished in an outbox", f"{service}: {waiting}"
        )


def _check_dead_letters(driver: Driver, letters: list[DeadLetterRecord], verdict: Verdict) -> None:
    """Each invalid input is dead-lettered once by each service consuming its topic; nothing else.

    A service killed after dead-lettering but before committing the offset dead-letters the
    message again on restart: copies of one original offset are one dead letter.
    """
    consumers = defaultdict(set)
    for service, topic in consumer_groups():
        consumers[topic].add(service)
    invalid = Counter(driver.sent.invalid)
    run_keys = {device.sn for device in driver.sent.devices} | {f"{driver.run_id}-invalid"}
    lettered: defaultdict[tuple[str, bytes], set[tuple[str, str, str]]] = defaultdict(set)
    for letter in letters:
        if letter.key not in run_keys:
            continue  # another run's, or another test's
        lettered[(letter.original_topic, letter.value)].add(
            (letter.service, letter.original_partition, letter.original_offset)
        )
    for (topic, value), sent in invalid.items():
        expected = {(service, sent) for service in consumers[topic]}
        got = Counter(service for service, _, _ in lettered.get((topic, value), set()))
        verdict.expect(
            {(service, count) for service, count in got.items()} == expected,
            "every invalid input is dead-lettered once by each consumer",
            f"{topic} {value[:40]!r}: expected {sorted(expected)}, got {dict(got)}",
        )
    unexpected = [key for key in lettered if key not in invalid]
    verdict.expect(
        not unexpected,
        "nothing valid is dead-lettered",
        f"{len(unexpected)} unexpected, e.g. {[(k[0], k[1][:80]) for k in unexpected[:3]]}",
    )
