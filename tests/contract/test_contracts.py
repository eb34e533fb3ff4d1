"""Strict validation at every topic's door: `contracts.parse_event(topic, raw_bytes)`.

Every contract topic has a consumer, so every topic is someone's inbound topic. A message that is
not exactly what its topic promises is refused with a message that says what is wrong; a valid
one survives serialisation unchanged; unknown extra fields are ignored so that producers can add
optional fields without breaking consumers (contracts evolve by addition).
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from contracts import EventTooLargeError, UnknownTopicError, parse_event, serialise_event
from contracts import topics as t
from contracts.accessories import AccessoryType
from contracts.activation import PlanActivated, PlanActivatedPayload
from contracts.claims import ClaimDecided, ClaimDecidedPayload, ClaimOutcome
from contracts.coverage import DeductionApplied, DeductionAppliedPayload
from contracts.envelope import MAX_EVENT_BYTES, Envelope
from contracts.fulfilment import DeviceReplaced, DeviceReplacedPayload
from contracts.insurer import InsurerAnswer, LiabilityClaimReported, LiabilityClaimReportedPayload
from contracts.liability import LiabilityKind
from contracts.money import Money
from contracts.schemas import SCHEMA_DIR
from contracts.topics import ALL_TOPICS, Topic
from contracts.upstream import (
    IncidentCause,
    ReviewConcluded,
    ReviewConcludedPayload,
    ReviewVerdict,
)
from contracts.waiting import EventWaiting, EventWaitingPayload
from simulation import factories

pytestmark = pytest.mark.contract

Path = tuple[str, ...]  # a path into an event's JSON document

NOW = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
PLAN_ID = uuid.UUID("3f7c2a52-5a7e-4b0c-9b8e-0d3c1f1e2a10")
SN = "1581F5FHD23B1002"
NEW_SN = "1581F5FHD23B2009"


@dataclass(frozen=True)
class Sample:
    """A valid event of a topic, and where in its JSON it keeps a time, a serial and money."""

    topic: Topic
    event: Envelope
    time: Path
    serial: Path | None = None
    money: Path | None = None

    def __str__(self) -> str:
        return self.topic.name


def _owned_by_services() -> list[Sample]:
    activated = PlanActivated.new(
        PlanActivatedPayload(
            plan_id=PLAN_ID,
            plan_code="CR-7H2K9Q4M1Z",
            sn=SN,
            model="mavic-3-pro",
            sku="care-refresh-1y",
            region="PL",
            owner_id=uuid.uuid4(),
            term_start=NOW,
            term_end=NOW + timedelta(days=365),
            replacements=2,
            flyaways=1,
            purchased_at=NOW - timedelta(hours=2),
        ),
        producer="activation",
        correlation_id=SN,
    )
    deducted = DeductionApplied.new(
        DeductionAppliedPayload(
            case_id="CASE-1",
            plan_id=PLAN_ID,
            sn=SN,
            model="mavic-3-pro",
            plan_region="PL",
            customer_region="PL",
            fee=Money.of("199.00", "USD"),
            flyaway=False,
            replacements_left=1,
            flyaways_left=1,
        ),
        producer="coverage",
        correlation_id="CASE-1",
    )
    decided = ClaimDecided.new(
        ClaimDecidedPayload(
            case_id="CASE-1",
            sn=SN,
            model="mavic-3-pro",
            plan_id=PLAN_ID,
            outcome=ClaimOutcome.REPLACEMENT,
            incident_at=NOW - timedelta(days=3),
            rules_applied=["C1", "C2", "C5"],
            uses_replacement=True,
            fee=Money.of("199.00", "USD"),
            fee_schedule="cr-2",
            customer_region="PL",
        ),
        producer="claims",
        correlation_id="CASE-1",
    )
    replaced = DeviceReplaced.new(
        DeviceReplacedPayload(
            shipment_id=uuid.uuid4(),
            case_id="CASE-1",
            plan_id=PLAN_ID,
            old_sn=SN,
            new_sn=NEW_SN,
            dispatched_at=NOW,
        ),
        producer="fulfilment",
        correlation_id="CASE-1",
    )
    return [
        Sample(t.ACTIVATION_EVENTS, activated, ("payload", "term_start"), ("payload", "sn")),
        Sample(
            t.COVERAGE_EVENTS, deducted, ("occurred_at",), ("payload", "sn"), ("payload", "fee")
        ),
        Sample(
            t.CLAIMS_EVENTS,
            decided,
            ("payload", "incident_at"),
            ("payload", "sn"),
            ("payload", "fee"),
        ),
        Sample(t.FULFILMENT_EVENTS, replaced, ("payload", "dispatched_at"), ("payload", "new_sn")),
        Sample(
            t.INSURER_CLAIMS,
            _liability_routed(),
            ("payload", "occurred_at"),
            ("payload", "drone_sn"),
            ("payload", "claimed_amount"),
        ),
        Sample(
            t.WAITING,
            EventWaiting.new(
                EventWaitingPayload(
                    service="claims",
                    dependency="plan-of-assessment",
                    key=SN,
                    waiting_event_id=uuid.uuid4(),
                    waiting_event_type="repair.assessment-reported",
                    waiting_topic=t.REPAIR_ASSESSMENTS.name,
                    waiting_since=NOW,
                    deadline=NOW + timedelta(minutes=15),
                ),
                producer="claims",
                correlation_id="CASE-1",
            ),
            ("payload", "waiting_since"),
        ),
    ]


def _liability_routed() -> LiabilityClaimReported:
    def cny(amount: str) -> Money:
        return Money.of(amount, "CNY")

    return LiabilityClaimReported.new(
        LiabilityClaimReportedPayload(
            incident_id="LIAB-1",
            plan_id=PLAN_ID,
            term_no=1,
            insurer="zhongan",
            drone_sn=SN,
            model="T40",
            kind=LiabilityKind.THIRD_PARTY_PROPERTY,
            location_region="CN",
            occurred_at=NOW,
            incident_date=NOW.date(),
            claimed_amount=cny("5000.00"),
            medical_amount=None,
            limit=cny("100000.00"),
            limit_left=cny("100000.00"),
            total_limit_left=cny("600000.00"),
            deductible=cny("200.00"),
            indicative_payable=cny("4800.00"),
        ),
        producer="claims",
        correlation_id="LIAB-1",
    )


def _from_upstream() -> list[Sample]:
    return [
        Sample(
            t.PLAN_ORDERS,
            factories.plan_order("CR-7H2K9Q4M1Z", "care-refresh-1y", "mavic-3-pro", at=NOW),
            ("payload", "purchased_at"),
            money=("payload", "price"),
        ),
        Sample(
            t.DEVICE_ACTIVATIONS,
            factories.device_activation(SN, "mavic-3-pro", at=NOW),
            ("payload", "activated_at"),
            ("payload", "sn"),
        ),
        Sample(
            t.ACTIVATION_REQUESTS,
            factories.activation_request("CR-7H2K9Q4M1Z", SN, at=NOW),
            ("payload", "requested_at"),
            ("payload", "sn"),
        ),
        Sample(
            t.VIDEO_REVIEWS,
            factories.video_review("REQ-1", approved=True),
            ("payload", "reviewed_at"),
        ),
        Sample(
            t.REPAIR_ASSESSMENTS,
            factories.assessment(SN, "mavic-3-pro", IncidentCause.COLLISION, unit_sn=SN),
            ("payload", "incident_at"),
            ("payload", "unit_sn"),
        ),
        Sample(
            t.PAYMENT_SETTLEMENTS,
            factories.payment("CASE-1", Money.of("199.00", "USD")),
            ("payload", "settled_at"),
            money=("payload", "amount"),
        ),
        Sample(
            t.WAREHOUSE_DISPATCHES,
            factories.dispatch(uuid.uuid4(), NEW_SN, "CASE-1"),
            ("payload", "dispatched_at"),
            ("payload", "new_sn"),
        ),
        Sample(
            t.CLAIM_REVIEWS,
            ReviewConcluded.new(
                ReviewConcludedPayload(
                    case_id="CASE-1",
                    reviewer_id="REVIEWER-7",
                    verdict=ReviewVerdict.FRAUD,
                    repair_cost=Money.of("1250.00", "PLN"),
                    concluded_at=NOW,
                ),
                producer="review-desk",
                correlation_id="CASE-1",
            ),
            ("payload", "concluded_at"),
            money=("payload", "repair_cost"),
        ),
        Sample(
            t.INSURER_RESPONSES,
            factories.insurer_claim_answer("CASE-1", "zhongan", InsurerAnswer.PAID, "5700.00"),
            ("payload", "answered_at"),
            money=("payload", "amount"),
        ),
        Sample(
            t.LIABILITY_INCIDENTS,
            factories.liability_incident(
                SN, LiabilityKind.THIRD_PARTY_INJURY, "20000.00", medical="8000.00", occurred_at=NOW
            ),
            ("payload", "occurred_at"),
            ("payload", "drone_sn"),
            ("payload", "claimed_amount"),
        ),
        Sample(
            t.ACCESSORY_ACTIVATIONS,
            factories.accessory_activation("T100SPRAY0042", AccessoryType.SPRAY, SN, at=NOW),
            ("payload", "activated_at"),
            ("payload", "accessory_sn"),
        ),
        Sample(
            t.REPAIR_COMPLETIONS,
            factories.repair_completed("CASE-1", SN, at=NOW),
            ("payload", "completed_at"),
            ("payload", "sn"),
        ),
        Sample(
            t.PACK_ADDRESS_CHANGES,
            factories.pack_address_change("AG-PLAN-0001", factories.delivery_address()),
            ("payload", "requested_at"),
        ),
    ]


SAMPLES = _from_upstream() + _owned_by_services()
WITH_SERIAL = [sample for sample in SAMPLES if sample.serial]
WITH_MONEY = [sample for sample in SAMPLES if sample.money]


def document(sample: Sample) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(serialise_event(sample.event))
    return parsed


def changed(sample: Sample, path: Path, value: Any) -> bytes:
    """The sample's JSON with the value at `path` replaced."""
    doc = copy.deepcopy(document(sample))
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return json.dumps(doc).encode()


def refusal(sample: Sample, raw: bytes) -> ValidationError:
    with pytest.raises(ValidationError) as refused:
        parse_event(sample.topic.name, raw)
    return refused.value


def errors_at(error: ValidationError, field: str) -> list[str]:
    """The error types reported for `field` (the last step of each error's location)."""
    return [item["type"] for item in error.errors() if item["loc"] and item["loc"][-1] == field]


def test_every_contract_topic_has_a_sample() -> None:
    assert [sample.topic for sample in SAMPLES] != []
    assert {sample.topic.name for sample in SAMPLES} == {topic.name for topic in ALL_TOPICS}


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
def test_a_valid_event_round_trips_unchanged(sample: Sample) -> None:
    raw = serialise_event(sample.event)
    parsed = parse_event(sample.topic.name, raw)
    assert type(parsed) is type(sample.event)
    assert parsed == sample.event
    assert serialise_event(parsed) == raw


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
def test_an_unknown_event_type_is_refused(sample: Sample) -> None:
    error = refusal(sample, changed(sample, ("event_type",), "repair.something-new"))
    assert "repair.something-new" in str(error)
    assert {item["type"] for item in error.errors()} <= {"literal_error", "union_tag_invalid"}


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
def test_an_event_on_the_wrong_topic_is_refused(sample: Sample) -> None:
    others = [other for other in SAMPLES if type(other.event) is not type(sample.event)]
    for other in others[:3]:
        with pytest.raises(ValidationError, match=sample.event.event_type):
            parse_event(other.topic.name, serialise_event(sample.event))


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("event_id",), "not-a-uuid", "uuid_parsing"),
        (("producer",), 42, "string_type"),
        (("correlation_id",), ["CASE-1"], "string_type"),
        (("occurred_at",), "yesterday", "datetime_from_date_parsing"),
        (("payload",), "a text", "model_type"),
    ],
)
def test_wrong_types_are_refused(sample: Sample, path: Path, value: Any, expected: str) -> None:
    error = refusal(sample, changed(sample, path, value))
    assert expected in errors_at(error, path[-1])


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
def test_a_missing_required_field_is_refused(sample: Sample) -> None:
    doc = document(sample)
    node = doc
    for step in sample.time[:-1]:
        node = node[step]
    del node[sample.time[-1]]
    error = refusal(sample, json.dumps(doc).encode())
    assert errors_at(error, sample.time[-1]) == ["missing"]


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
@pytest.mark.parametrize("naive", ["2025-06-01T09:30:00", "2025-06-01 09:30"])
def test_m2_naive_datetimes_are_refused(sample: Sample, naive: str) -> None:
    for path in (("occurred_at",), sample.time):
        error = refusal(sample, changed(sample, path, naive))
        assert errors_at(error, path[-1]) == ["timezone_aware"]
        assert "Input should have timezone info" in str(error)


@pytest.mark.parametrize("sample", WITH_MONEY, ids=str)
@pytest.mark.parametrize("amount", [199.0, 199.99, 1e3])
def test_m1_float_money_is_refused(sample: Sample, amount: float) -> None:
    assert sample.money is not None
    error = refusal(sample, changed(sample, (*sample.money, "amount"), amount))
    assert "money amounts must be decimal strings such as '239.00', never floats" in str(error)


@pytest.mark.parametrize("sample", WITH_MONEY, ids=str)
@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        # On the wire an amount is spelt as its schema's pattern says, or refused as such.
        ("amount", "199.001", "value_error"),
        ("amount", "NaN", "value_error"),
        ("amount", "1_000.00", "value_error"),
        ("amount", 199, "value_error"),
        ("amount", True, "value_error"),
        ("currency", "usd", "string_pattern_mismatch"),
    ],
)
def test_m1_inexact_or_malformed_money_is_refused(
    sample: Sample, field: str, value: Any, expected: str
) -> None:
    assert sample.money is not None
    error = refusal(sample, changed(sample, (*sample.money, field), value))
    assert expected in errors_at(error, field)


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
def test_an_oversized_message_is_refused_before_it_is_parsed(sample: Sample) -> None:
    """Valid but for its size: the padding is an unknown field, which would be ignored."""
    doc = document(sample)
    doc["padding"] = "x" * MAX_EVENT_BYTES
    raw = json.dumps(doc).encode()
    with pytest.raises(EventTooLargeError, match=f"event of {len(raw)} bytes exceeds 65536 bytes"):
        parse_event(sample.topic.name, raw)
    with pytest.raises(EventTooLargeError):
        parse_event(sample.topic.name, b"{" + b" " * MAX_EVENT_BYTES + b"}")


@pytest.mark.parametrize("sample", WITH_SERIAL, ids=str)
@pytest.mark.parametrize(
    "serial",
    ["SN12", "X" * 21, "1581-F5FH-D23B", "1581F5FHD23B100\u00c4", "1581F5FH D23B1002", ""],
)
def test_d1_malformed_serials_are_refused(sample: Sample, serial: str) -> None:
    assert sample.serial is not None
    error = refusal(sample, changed(sample, sample.serial, serial))
    assert f"serial number {serial!r} is not 10 to 20 letters and digits" in str(error)


@pytest.mark.parametrize("sample", WITH_SERIAL, ids=str)
def test_d1_a_serial_must_be_text(sample: Sample) -> None:
    assert sample.serial is not None
    error = refusal(sample, changed(sample, sample.serial, 15815550123456))
    assert "a serial number must be a string" in str(error)


@pytest.mark.parametrize("sample", WITH_SERIAL, ids=str)
def test_d1_serials_are_trimmed_and_upper_cased(sample: Sample) -> None:
    assert sample.serial is not None
    original = document(sample)[sample.serial[0]][sample.serial[1]]
    raw = changed(sample, sample.serial, f"  {original.lower()} ")
    parsed = json.loads(serialise_event(parse_event(sample.topic.name, raw)))
    assert parsed[sample.serial[0]][sample.serial[1]] == original


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_an_unknown_schema_version_is_refused(sample: Sample, version: Any) -> None:
    error = refusal(sample, changed(sample, ("schema_version",), version))
    assert errors_at(error, "schema_version") == ["literal_error"]
    assert "Input should be 1" in str(error)


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00\xff garbage", b"[]", b"null", b'"an event"', b"{"],
    ids=["empty", "binary", "array", "null", "string", "truncated"],
)
@pytest.mark.parametrize("sample", SAMPLES, ids=str)
def test_what_is_not_a_json_object_is_refused(sample: Sample, raw: bytes) -> None:
    error = refusal(sample, raw)
    assert {item["type"] for item in error.errors()} <= {
        "json_invalid",
        "model_type",
        "dict_type",  # what a discriminated union says when it cannot look for the tag
    }


def test_a_topic_without_a_contract_is_refused() -> None:
    raw = serialise_event(SAMPLES[0].event)
    for name in ("it.unknown.v1", SAMPLES[0].topic.dead_letter):
        with pytest.raises(UnknownTopicError, match=f"no contract for topic {name!r}"):
            parse_event(name, raw)


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
def test_unknown_extra_fields_are_ignored_for_forward_compatibility(sample: Sample) -> None:
    doc = document(sample)
    doc["trace"] = {"span": "abc"}
    doc["payload"]["added_in_a_later_version"] = "optional"
    parsed = parse_event(sample.topic.name, json.dumps(doc).encode())
    assert parsed == sample.event
    assert b"added_in_a_later_version" not in serialise_event(parsed)


@pytest.mark.parametrize("sample", WITH_MONEY, ids=str)
def test_an_unknown_field_inside_money_is_ignored(sample: Sample) -> None:
    assert sample.money is not None
    doc = document(sample)
    money = doc[sample.money[0]][sample.money[1]]
    money["amount_minor"] = 19900
    assert parse_event(sample.topic.name, json.dumps(doc).encode()) == sample.event


def test_m1_the_published_schemas_offer_money_amounts_only_as_decimal_strings() -> None:
    amounts = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        money = json.loads(path.read_text()).get("$defs", {}).get("Money")
        if money:
            amount = money["properties"]["amount"]
            amounts.append((path.name, {alt.get("type") for alt in amount.get("anyOf", [amount])}))
    assert amounts, "no published schema carries money"
    assert [name for name, kinds in amounts if kinds != {"string"}] == []
