"""The operations dashboard's rules: what an event says about its case, lag, dead letters; and
the ids and milestones every service's logs and traces carry."""

from __future__ import annotations

from typing import Any

import pytest
import structlog

from contracts import serialise_event
from contracts.claims import (
    ClaimDecided,
    ClaimFinalised,
    ClaimFinalisedPayload,
    ClaimOutcome,
    RefusedBy,
)
from contracts.coverage import DeductionApplied
from contracts.envelope import Envelope
from contracts.fulfilment import DeviceReplaced
from contracts.upstream import AssessmentReported
from services.operations.domain import (
    Stage,
    case_fact,
    consumer_lag,
    dead_letter,
    replayed_headers,
    service_of_group,
)
from shared.metrics import DECISIONS
from shared.milestones import log_milestone
from shared.tracing import (
    batch_span,
    configure_tracing,
    event_ids,
    event_spans,
    traceparent_for,
)
from tests.contract.test_contracts import SAMPLES

pytestmark = pytest.mark.unit


def sample(kind: type[Envelope]) -> Any:
    (found,) = {type(s.event): s.event for s in SAMPLES if isinstance(s.event, kind)}.values()
    return found


def test_a_decision_gives_its_case_family_outcome_reasons_and_fee() -> None:
    decided: ClaimDecided = sample(ClaimDecided)
    fact = case_fact(decided)
    assert fact is not None
    assert (fact.case_id, fact.family, fact.outcome) == (
        decided.payload.case_id,
        decided.payload.family.value,
        decided.payload.outcome.value,
    )
    assert fact.stage is (
        Stage.REFUSED if decided.payload.outcome is ClaimOutcome.REFUSED else Stage.DECIDED
    )
    assert fact.fee == decided.payload.fee
    refused = decided.model_copy(
        update={
            "payload": decided.payload.model_copy(
                update={"outcome": ClaimOutcome.REFUSED, "reason_codes": ["EXCLUDED_THEFT"]}
            )
        }
    )
    refused_fact = case_fact(refused)
    assert refused_fact is not None
    assert (refused_fact.stage, refused_fact.reasons) == (Stage.REFUSED, ("EXCLUDED_THEFT",))


def test_a_final_outcome_is_what_the_counts_count_with_the_ledgers_word() -> None:
    """An approval the ledger refused ends refused, with the ledger's reasons and no fee."""
    decided: ClaimDecided = sample(ClaimDecided)
    final = ClaimFinalised.new(
        ClaimFinalisedPayload(
            case_id=decided.payload.case_id,
            decision_id=decided.event_id,
            sn=decided.payload.sn,
            model=decided.payload.model,
            plan_id=decided.payload.plan_id,
            outcome=ClaimOutcome.REFUSED,
            refused_by=RefusedBy.LEDGER,
            reason_codes=["NO_REPLACEMENTS_LEFT"],
        ),
        producer="claims",
        correlation_id=decided.payload.case_id,
    )
    fact = case_fact(final)
    assert fact is not None and fact.final
    assert (fact.stage, fact.outcome, fact.reasons, fact.fee) == (
        Stage.LEDGER_REFUSED,
        "refused",
        ("NO_REPLACEMENTS_LEFT",),
        None,
    )
    decision = case_fact(decided)
    assert decision is not None and not decision.final


def test_later_steps_of_a_case_rank_further_than_its_decision() -> None:
    deducted = case_fact(sample(DeductionApplied))
    replaced = case_fact(sample(DeviceReplaced))
    assert deducted is not None and replaced is not None
    assert Stage.DECIDED < deducted.stage < replaced.stage < Stage.INHERITED
    assert deducted.outcome is None  # says nothing about the decision


def test_events_the_dashboard_does_not_follow_say_nothing() -> None:
    assert all(
        case_fact(s.event) is None
        for s in SAMPLES
        if not isinstance(s.event, ClaimDecided | DeductionApplied | DeviceReplaced)
    )


def test_lag_is_what_a_group_has_not_committed_past_per_partition() -> None:
    lags = consumer_lag(
        "careplan-claims.inbound",
        {("repair.assessments.v1", 0): 10, ("repair.assessments.v1", 1): 5},
        {("repair.assessments.v1", 0): 16, ("repair.assessments.v1", 1): 5},
    )
    assert [(p.partition, p.lag) for p in lags] == [(0, 6), (1, 0)]
    assert service_of_group("careplan-claims.inbound") == "claims"
    assert service_of_group("careplan-replay.repair.assessments.v1") is None


def test_a_dead_letter_reads_its_reason_origin_and_refusing_service() -> None:
    letter = dead_letter(
        "repair.assessments.v1.dlq",
        0,
        7,
        {
            "dlq-service": "claims",
            "dlq-reason": "1 validation error",
            "dlq-error-type": "ValidationError",
            "dlq-original-topic": "repair.assessments.v1",
            "dlq-original-partition": "3",
            "dlq-original-offset": "41",
            "dlq-failed-at": "2026-12-01T22:00:00+00:00",
        },
    )
    assert (letter.service, letter.error_type, letter.original_partition) == (
        "claims",
        "ValidationError",
        3,
    )
    assert (letter.original_offset, letter.reference) == (41, "repair.assessments.v1.dlq/0/7")
    assert replayed_headers([("dlq-reason", b"x"), ("traceparent", b"00-ab")]) == [
        ("traceparent", b"00-ab")
    ]


def test_a_service_logs_its_ids_with_every_event() -> None:
    decided: ClaimDecided = sample(ClaimDecided)
    assert event_ids(decided) == {
        "event_id": str(decided.event_id),
        "event_type": "claims.claim-decided",
        "correlation_id": decided.correlation_id,
        "case_id": decided.payload.case_id,
        "plan_id": str(decided.payload.plan_id),
    }


def test_a_published_decision_logs_one_info_line_and_counts_by_outcome_and_reason() -> None:
    decided: ClaimDecided = sample(ClaimDecided)
    outcome = decided.payload.outcome.value
    reasons = decided.payload.reason_codes or ["none"]
    before = [DECISIONS.labels("claims", outcome, reason)._value.get() for reason in reasons]
    with structlog.testing.capture_logs() as lines:
        log_milestone("claims", decided.event_type, serialise_event(decided))
        log_milestone("claims", "claims.pre-authorisation-release-requested", b"{}")
    (line,) = lines
    assert line["log_level"] == "info"
    assert line["event"] == "claim_decided"
    assert line["case_id"] == decided.payload.case_id
    assert line["event_id"] == str(decided.event_id)
    assert decided.payload.fee is not None
    assert line["fee"] == str(decided.payload.fee)  # as the rules write money: '199.00 USD'
    after = [DECISIONS.labels("claims", outcome, reason)._value.get() for reason in reasons]
    assert [b - a for a, b in zip(before, after, strict=True)] == [1] * len(reasons)


def test_an_event_is_published_in_the_trace_of_the_handling_of_its_cause() -> None:
    configure_tracing("claims", otlp_endpoint=None, trace_file=None)
    assessed = sample(AssessmentReported)
    upstream = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    decided = sample(ClaimDecided).model_copy(update={"causation_id": assessed.event_id})
    unrelated = sample(DeductionApplied)
    with (
        batch_span("claims", 1) as batch,
        event_spans(
            "claims",
            batch,
            [("repair.assessments.v1", [("traceparent", upstream.encode())], assessed)],
        ) as (span,),
    ):
        context = span.get_span_context()
        assert f"{context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"  # continued
        assert traceparent_for(decided) == f"00-{context.trace_id:032x}-{context.span_id:016x}-01"
        assert traceparent_for(unrelated) is None  # not caused by this batch
    assert traceparent_for(decided) is None  # the batch is over
