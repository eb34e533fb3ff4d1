"""The Kafka ACLs the local stack and compose apply (infra/kafka/acls.txt) are the ones the code
and the contracts imply: each service and each outside system gets exactly its part."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from careplan.acls import ACL_FILE, integrator_grants, render, service_grants
from careplan.registry import INTEGRATORS, SERVICES, outcome_topics
from contracts.topics import ALL_TOPICS, WAITING

pytestmark = pytest.mark.contract


def test_the_checked_in_acls_are_what_the_code_implies() -> None:
    assert Path(ACL_FILE).read_text() == render(), "run `careplan acls` and check it in"


def test_a_service_writes_only_its_own_topics_and_its_dead_letters() -> None:
    for service in SERVICES:
        replays_onto = set(importlib.import_module(f"services.{service}.app").service.replays_onto)
        for grant in service_grants(service):
            if "Write" in grant.operations and grant.name not in replays_onto:
                assert grant.name.endswith(".dlq") or grant.name.split(".")[0] in (
                    service,
                    "insurer",
                    WAITING.owner,  # what a service keeps waiting (shared.waiting)
                ), grant


def test_only_the_operations_service_replays_dead_letters_and_reads_every_groups_offsets() -> None:
    lines = render().splitlines()
    assert "operations Describe group prefixed careplan-" in lines
    assert "operations Read,Describe topic literal repair.assessments.v1.dlq" in lines
    assert "operations Write,Describe topic literal repair.assessments.v1" in lines
    others = [line for line in lines if not line.startswith(("#", "operations "))]
    assert not any(line.endswith(" group prefixed careplan-") for line in others)


def test_every_upstream_topic_has_exactly_one_writer_outside_the_platform() -> None:
    # Written by the services themselves: what they keep waiting (shared.waiting).
    platform = (*SERVICES, WAITING.owner)
    upstream = [topic for topic in ALL_TOPICS if topic.owner not in platform]
    for topic in upstream:
        writers = [i.principal for i in INTEGRATORS if topic in i.writes]
        assert len(writers) == 1, (topic.name, writers)
    written = {topic for integrator in INTEGRATORS for topic in integrator.writes}
    assert written == set(upstream), "an integrator writes a topic a service owns"


def test_an_integrator_reads_answers_and_its_own_dead_letters_only() -> None:
    answers = {topic.name for topic in outcome_topics()}
    for integrator in INTEGRATORS:
        own_dead_letters = {topic.dead_letter for topic in integrator.writes}
        for name in integrator.reads:
            if integrator.watches_everything:
                assert name in answers or name.endswith(".dlq"), (integrator.principal, name)
            else:
                assert name in answers | own_dead_letters, (integrator.principal, name)


def test_the_dashboard_reads_every_outcome_and_every_dead_letter_and_writes_nothing() -> None:
    dashboard = next(i for i in INTEGRATORS if i.principal == "dashboard")
    grants = integrator_grants(dashboard)
    assert not [grant for grant in grants if "Write" in grant.operations]
    read = {grant.name for grant in grants if grant.resource == "topic"}
    assert read == {t.name for t in outcome_topics()} | {t.dead_letter for t in ALL_TOPICS}
    assert [(g.resource, g.pattern, g.name) for g in grants if g.resource == "group"] == [
        ("group", "prefixed", "dashboard.")
    ]


def test_no_two_principals_share_a_group_prefix() -> None:
    prefixes = [f"careplan-{service}." for service in SERVICES] + [
        integrator.group_prefix for integrator in INTEGRATORS
    ]
    for prefix in prefixes:
        assert [other for other in prefixes if other.startswith(prefix)] == [prefix], prefix
