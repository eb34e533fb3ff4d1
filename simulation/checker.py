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
from contracts.agricultural import PlanFamily
from contracts.claims import (
    ClaimDecided,
    ClaimFinalised,
    ClaimOutcome,
    LiabilityIncidentRefused,
    RepairSplit,
)
from contracts.coverage import DeductionApplied, PlanInherited, QuotaDeductionApplied, TermEnded
from contracts.envelope import Envelope
from contracts.fulfilment import DeviceReplaced, ShipmentRequested
from contracts.insurer import LiabilityClaimReported
from shared.kafka_security import client_options
from simulation.agricultural import split_problems
from simulation.load import OWNED, Driver
from simulation.offsets import consumer_groups
from simulation.processes import Platform

CASE_EVENTS = (
    ClaimDecided,
    ClaimFinalised,
    DeductionApplied,
    QuotaDeductionApplied,
    ShipmentRequested,
    DeviceReplaced,
    PlanInherited,
)


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


CaseEvents = defaultdict[type, dict[uuid.UUID, Envelope]]


async def check(platform: Platform, driver: Driver) -> Verdict:
    verdict = Verdict()
    events, letters = await read_topics(platform.kafka_bootstrap)
    by_case: defaultdict[str, CaseEvents] = defaultdict(lambda: defaultdict(dict))
    answers: defaultdict[str, set[uuid.UUID]] = defaultdict(set)
    announced: Counter[tuple[uuid.UUID, int]] = Counter()
    for event in distinct(events).values():
        if isinstance(event, TermEnded):
            announced[(event.payload.plan_id, event.payload.term_no)] += 1
        elif isinstance(event, CASE_EVENTS):
            by_case[event.payload.case_id][type(event)][event.event_id] = event
        elif isinstance(event, LiabilityClaimReported | LiabilityIncidentRefused):
            answers[event.payload.incident_id].add(event.event_id)

    for case_id, report in driver.sent.cases.items():
        family = driver.cases[case_id].family
        _check_case(case_id, family, by_case[case_id], verdict)
        if report.payload.repair_lines:
            _check_splits(case_id, by_case[case_id], verdict)
    for incident_id in driver.sent.incidents:
        verdict.expect(
            len(answers[incident_id]) == 1,
            "agricultural: every liability incident has exactly one answer (L4)",
            f"{incident_id} has {len(answers[incident_id])}",
        )

    await _check_ledger(platform, driver, verdict)
    await _check_quotas(platform, driver, verdict)
    await _check_term_ends(platform, driver, announced, verdict)
    await _check_outboxes(platform, verdict)
    _check_dead_letters(driver, letters, verdict)
    return verdict


def _check_case(case_id: str, family: PlanFamily, seen: CaseEvents, verdict: Verdict) -> None:
    """One decision, one final outcome naming it; the ledger took exactly what was approved."""
    decided = list(seen[ClaimDecided].values())
    fates = [e for e in seen[ClaimFinalised].values() if isinstance(e, ClaimFinalised)]
    verdict.expect(
        len(decided) == 1,
        f"{family}: every assessment has exactly one decision",
        f"{case_id} has {len(decided)}",
    )
    verdict.expect(
        len(fates) == 1
        and (len(decided) != 1 or fates[0].payload.decision_id == decided[0].event_id),
        f"{family}: every case has exactly one final outcome (ClaimFinalised), naming its decision",
        f"{case_id} has {len(fates)}",
    )
    fate = fates[0].payload if fates else None
    taken = fate is not None and fate.refused_by is None
    replaced = taken and fate is not None and fate.outcome is ClaimOutcome.REPLACEMENT
    repaired = taken and fate is not None and fate.outcome is ClaimOutcome.REPAIR
    deducted = len(seen[DeductionApplied])
    verdict.expect(
        deducted == int(replaced),
        f"{family}: a deduction exactly for each replacement finalised as approved",
        f"{case_id}: {deducted} deductions, final outcome {fate and fate.outcome}",
    )
    if deducted:
        for kind in (ShipmentRequested, DeviceReplaced, PlanInherited):
            verdict.expect(
                len(seen[kind]) == 1,
                f"{family}: every paid replacement has exactly one {kind.__name__}",
                f"{case_id} has {len(seen[kind])}",
            )
    quota = [
        e for e in seen[QuotaDeductionApplied].values() if isinstance(e, QuotaDeductionApplied)
    ]
    verdict.expect(
        len(quota) == int(repaired),
        f"{family}: a quota deduction exactly for each repair finalised as approved (C7)",
        f"{case_id}: {len(quota)} quota deductions, final outcome {fate and fate.outcome}",
    )
    if quota and fate is not None:
        verdict.expect(
            fate.repair_split == quota[0].payload.split,
            f"{family}: the final outcome carries the split the ledger took",
            f"{case_id}: {fate.repair_split} vs {quota[0].payload.split}",
        )


def _check_splits(case_id: str, seen: CaseEvents, verdict: Verdict) -> None:
    """Every split published about the case, quoted or taken, sums exactly to its lines."""
    splits: list[RepairSplit] = []
    for event in (*seen[ClaimDecided].values(), *seen[ClaimFinalised].values()):
        if isinstance(event, ClaimDecided | ClaimFinalised) and event.payload.repair_split:
            splits.append(event.payload.repair_split)
    for event in seen[QuotaDeductionApplied].values():
        if isinstance(event, QuotaDeductionApplied):
            splits.append(event.payload.split)
    for split in splits:
        problems = split_problems(split)
        verdict.expect(
            not problems,
            "agricultural: every split sums exactly to its lines (C7, M1)",
            f"{case_id}: {problems}",
        )


async def _check_ledger(platform: Platform, driver: Driver, verdict: Verdict) -> None:
    """Balances equal the opening amounts minus the deductions, and never go below zero."""
    run_cases = {c for c, track in driver.cases.items() if track.family is PlanFamily.CONSUMER}
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
            [device.sn for device in driver.sent.devices if device.family is PlanFamily.CONSUMER],
            list(run_cases),
        )
        for term in terms:
            verdict.expect(
                term["replacements_left"] == term["replacements_total"] - term["used"]
                and term["flyaways_left"] >= 0
                and term["replacements_left"] >= 0,
                "consumer: every plan's balance is its opening amount minus its deductions,"
                " never negative",
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
        "consumer: the ledger's deductions are exactly the published ones",
        f"only in the ledger: {sorted(applied - published)[:5]},"
        f" only published: {sorted(published - applied)[:5]}",
    )


async def _check_quotas(platform: Platform, driver: Driver, verdict: Verdict) -> None:
    """Each AG term's base and consumables balances are what it opened with minus what the
    ledger took from each, never negative (P5); the ledger took exactly what it published."""
    ag = PlanFamily.AGRICULTURAL
    run_cases = [case for case, track in driver.cases.items() if track.family is ag]
    ag_sns = [d.sn for d in driver.sent.devices if d.family is ag]
    conn = await asyncpg.connect(platform.dsn("coverage"))
    try:
        terms = await conn.fetch(
            "SELECT t.plan_id, t.term_no, t.base_quota_total, t.base_quota_left,"
            " t.consumables_quota_total, t.consumables_quota_left,"
            " coalesce(sum(q.from_base_quota), 0) AS base_taken,"
            " coalesce(sum(q.from_consumables_quota), 0) AS consumables_taken"
            " FROM plan_terms t JOIN plans p USING (plan_id)"
            " LEFT JOIN quota_deductions q ON q.plan_id = t.plan_id AND q.term_no = t.term_no"
            " WHERE p.family = 'agricultural' AND (p.sn = ANY($1::text[]) OR p.plan_id IN"
            " (SELECT plan_id FROM quota_deductions WHERE case_id = ANY($2::text[])))"
            " GROUP BY t.plan_id, t.term_no",
            ag_sns,
            run_cases,
        )
        applied = {
            row["case_id"]
            for row in await conn.fetch(
                "SELECT case_id FROM quota_deductions WHERE case_id = ANY($1::text[])", run_cases
            )
        }
    finally:
        await conn.close()
    for term in terms:
        for quota in ("base", "consumables"):
            total, left = term[f"{quota}_quota_total"], term[f"{quota}_quota_left"]
            verdict.expect(
                left == total - term[f"{quota}_taken"] and left >= 0,
                f"agricultural: every {quota} quota is its opening amount minus its deductions,"
                " never negative (P5)",
                f"plan {term['plan_id']} term {term['term_no']}: {dict(term)}",
            )
    published = {case for case in run_cases if driver.cases[case].quota_deductions}
    verdict.expect(
        applied == published,
        "agricultural: the ledger's quota deductions are exactly the published ones",
        f"only in the ledger: {sorted(applied - published)[:5]},"
        f" only published: {sorted(published - applied)[:5]}",
    )


async def _check_term_ends(
    platform: Platform,
    driver: Driver,
    announced: Counter[tuple[uuid.UUID, int]],
    verdict: Verdict,
) -> None:
    """C9: every term of the run's plans that the ledger ended is announced exactly once
    (TermEnded), and no other, whatever was killed between the end and its announcement."""
    conn = await asyncpg.connect(platform.dsn("coverage"))
    try:
        plans = {
            row["plan_id"]
            for row in await conn.fetch(
                "SELECT DISTINCT plan_id FROM plan_serials WHERE sn = ANY($1::text[])",
                [device.sn for device in driver.sent.devices],
            )
        }
        ended = {
            (row["plan_id"], row["term_no"])
            for row in await conn.fetch(
                "SELECT plan_id, term_no FROM plan_terms"
                " WHERE ended_at IS NOT NULL AND plan_id = ANY($1::uuid[])",
                list(plans),
            )
        }
    finally:
        await conn.close()
    for plan_id, term_no in ended | {term for term in announced if term[0] in plans}:
        verdict.expect(
            (plan_id, term_no) in ended and announced[(plan_id, term_no)] == 1,
            "every term the ledger ended is announced exactly once (C9)",
            f"plan {plan_id} term {term_no}: ended in the ledger {(plan_id, term_no) in ended},"
            f" announced {announced[(plan_id, term_no)]} times",
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


@dataclass
class Sequences:
    """Each key's outbox events against what its topic holds: what the producer settings
    (idempotence, acks=all) promise is every event once, none missing."""

    keys: int = 0
    events: int = 0
    gaps: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"outbox sequences: {self.keys} keys, {self.events} events;"
            f" gaps {len(self.gaps)}, duplicates {len(self.duplicates)}",
            *(f"  gap: {gap}" for gap in self.gaps[:10]),
            *(f"  duplicate: {duplicate}" for duplicate in self.duplicates[:10]),
        ]


async def check_outbox_sequences(platform: Platform) -> Sequences:
    """Every outbox row of every service, by (topic, key), against the records of that key on
    the topic (their event_id header): an event missing is a gap, one written twice a duplicate."""
    outboxes: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    for service in SERVICES:
        conn = await asyncpg.connect(platform.dsn(service))
        try:
            rows = await conn.fetch("SELECT event_id, topic, key FROM outbox ORDER BY id")
        finally:
            await conn.close()
        for row in rows:
            outboxes[row["topic"], row["key"]].append(str(row["event_id"]))
    written: defaultdict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    records = await _records(platform.kafka_bootstrap, {name for name, _ in outboxes})
    for topic, key, event_id in records:
        written[topic, key][event_id] += 1
    sequences = Sequences(keys=len(outboxes))
    for (topic, key), event_ids in outboxes.items():
        sequences.events += len(event_ids)
        on_topic = written[topic, key]
        sequences.gaps.extend(f"{topic} {key} {e}" for e in event_ids if not on_topic[e])
        sequences.duplicates.extend(
            f"{topic} {key} {e} x{on_topic[e]}" for e in event_ids if on_topic[e] > 1
        )
    return sequences


async def _records(bootstrap: str, topics: set[str]) -> list[tuple[str, str, str]]:
    """(topic, key, event_id header) of every record now on `topics`, start to end."""
    consumer = AIOKafkaConsumer(
        *sorted(topics),
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **client_options(),
    )
    await consumer.start()
    found: list[tuple[str, str, str]] = []
    try:
        while {p.topic for p in consumer.assignment()} != topics:
            await consumer.getmany(timeout_ms=100)
        partitions = list(consumer.assignment())
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while any([await consumer.position(p) < end for p, end in ends.items()]):
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    key = (record.key or b"").decode()
                    found.append((record.topic, key, headers.get("event_id", "")))
    finally:
        await consumer.stop()
    return found


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
