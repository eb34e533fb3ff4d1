"""The Kafka ACLs the local stack applies (infra/kafka/acls.txt) are the ones the code implies."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.cli import SERVICES
from shared.kafka_acls import ACL_FILE, render, service_grants

pytestmark = pytest.mark.contract


def test_the_checked_in_acls_are_what_the_code_implies() -> None:
    assert Path(ACL_FILE).read_text() == render(SERVICES), "run `careplan acls` and check it in"


def test_a_service_writes_only_its_own_topics_and_its_dead_letters() -> None:
    for service in SERVICES:
        for grant in service_grants(service):
            if "Write" in grant.operations:
                assert grant.name.endswith(".dlq") or grant.name.split(".")[0] in (
                    service,
                    "insurer",
                ), grant
