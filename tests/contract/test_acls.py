"""The Kafka ACLs the local stack applies (infra/kafka/acls.txt) are the ones the code implies."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from shared.cli import SERVICES
from shared.kafka_acls import ACL_FILE, render, service_grants

pytestmark = pytest.mark.contract


def test_the_checked_in_acls_are_what_the_code_implies() -> None:
    assert Path(ACL_FILE).read_text() == render(SERVICES), "run `careplan acls` and check it in"


def test_a_service_writes_only_its_own_topics_and_its_dead_letters() -> None:
    for service in SERVICES:
        replays_onto = set(importlib.import_module(f"services.{service}.app").service.replays_onto)
        for grant in service_grants(service):
            if "Write" in grant.operations and grant.name not in replays_onto:
                assert grant.name.endswith(".dlq") or grant.name.split(".")[0] in (
                    service,
                    "insurer",
                ), grant


def test_only_the_operations_service_replays_dead_letters_and_reads_every_groups_offsets() -> None:
    lines = render(SERVICES).splitlines()
    assert "operations Describe group prefixed careplan-" in lines
    assert "operations Read,Describe topic literal repair.assessments.v1.dlq" in lines
    assert "operations Write,Describe topic literal repair.assessments.v1" in lines
    others = [line for line in lines if not line.startswith(("#", "operations "))]
    assert not any(line.endswith(" group prefixed careplan-") for line in others)
