"""The AsyncAPI documents in docs/asyncapi/ are current and describe each service's topics.

FastStream generates the documents from the services' own subscribers and publishers
(`careplan asyncapi`); a stale checked-in copy misleads the teams around the platform. The expected
topology below is the architecture as designed, written out independently of the code.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest

from careplan.asyncapi import render
from careplan.registry import SERVICES, service_app
from contracts import topics as t
from contracts.topics import ALL_TOPICS, BY_NAME, DEAD_LETTER_SUFFIX, Topic
from shared.dead_letters import DEAD_LETTER_HEADERS
from shared.kafka_admin import DEAD_LETTER_PARTITIONS
from shared.settings import ServiceSettings

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parents[2]
ASYNCAPI_DIR = ROOT / "docs" / "asyncapi"

# service -> (topics it consumes, topics it publishes)
TOPOLOGY: dict[str, tuple[set[Topic], set[Topic]]] = {
    "activation": (
        {
            t.PLAN_ORDERS,
            t.DEVICE_ACTIVATIONS,
            t.ACTIVATION_REQUESTS,
            t.VIDEO_REVIEWS,
            t.COVERAGE_EVENTS,  # F3: the plan follows the replacement unit
            t.CLAIMS_EVENTS,  # C10: renewals barred after fraud
            t.ACCESSORY_ACTIVATIONS,  # G1-G3: accessories associated with drones
        },
        {t.ACTIVATION_EVENTS, t.WAITING},
    ),
    "coverage": (
        {
            t.ACTIVATION_EVENTS,
            t.CLAIMS_EVENTS,
            t.FULFILMENT_EVENTS,
            t.INSURER_RESPONSES,  # A5: the policy sets the term's dates
        },
        {t.COVERAGE_EVENTS},
    ),
    "claims": (
        {
            t.COVERAGE_EVENTS,
            t.REPAIR_ASSESSMENTS,
            t.CLAIM_REVIEWS,
            t.INSURER_RESPONSES,  # C8, L4: the insurers' answers
            t.LIABILITY_INCIDENTS,  # L1-L4
            t.ACTIVATION_EVENTS,  # G4: which drone each accessory is associated with
        },
        {t.CLAIMS_EVENTS, t.INSURER_CLAIMS, t.WAITING},
    ),
    "fulfilment": (
        {
            t.COVERAGE_EVENTS,
            t.CLAIMS_EVENTS,  # X3: a case refused refunds what was paid on it
            t.PAYMENT_SETTLEMENTS,
            t.WAREHOUSE_DISPATCHES,
            t.PLAN_ORDERS,  # F4: the pack's delivery address, given at purchase
            t.ACTIVATION_EVENTS,  # F4: the designated AG renewals bought
            t.REPAIR_COMPLETIONS,  # F5: the repaired unit goes back
            t.PACK_ADDRESS_CHANGES,  # F4: refused, the address given at purchase is fixed
        },
        {t.FULFILMENT_EVENTS, t.WAITING},
    ),
    # X5: the read model behind the lookup by SN, and the insurers' bordereaux (C8, L4); it
    # answers over HTTP and publishes nothing.
    "lookup": (
        {
            t.DEVICE_ACTIVATIONS,
            t.ACTIVATION_EVENTS,
            t.COVERAGE_EVENTS,
            t.REPAIR_ASSESSMENTS,
            t.CLAIMS_EVENTS,
            t.FULFILMENT_EVENTS,
            t.INSURER_CLAIMS,  # C8, L4: what each insurer was claimed, for its bordereau
            t.INSURER_RESPONSES,
            t.PAYMENT_SETTLEMENTS,  # F1, X3: a refund settled
            t.WAITING,
        },
        set(),
    ),
    # The dashboard's view of the cases; dead letters and offsets it reads with clients of its own.
    "operations": ({t.CLAIMS_EVENTS, t.COVERAGE_EVENTS, t.FULFILMENT_EVENTS}, set()),
}


def _names(topics: set[Topic]) -> set[str]:
    return {topic.name for topic in topics}


def _event_class_names(topic: Topic) -> set[str]:
    events = topic.events
    if typing.get_origin(events) is typing.Annotated:
        events = typing.get_args(events)[0]
    return {member.__name__ for member in typing.get_args(events) or (events,)}


def _document(service: str) -> dict[str, Any]:
    path = ASYNCAPI_DIR / f"{service}.json"
    assert path.exists(), f"{path} is missing: run `careplan asyncapi`"
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def _follow(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for step in node["$ref"].removeprefix("#/").split("/"):
            target = target[step]
        node = target
    return node


def _payload_classes(document: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    """The schema titles of the events an operation's messages carry."""
    (message_ref,) = operation["messages"]
    payload = _follow(document, _follow(document, message_ref)["payload"])
    members = payload.get("oneOf") or [payload]
    return {_follow(document, member)["title"] for member in members}


def _operations(
    document: dict[str, Any], action: str, *, dead_letters: bool = False
) -> dict[str, dict[str, Any]]:
    """Topic address -> operation, for the operations of one action (send or receive), on the
    contract topics or (`dead_letters`) on the dead-letter topics."""
    found: dict[str, dict[str, Any]] = {}
    for operation in document["operations"].values():
        address = _follow(document, operation["channel"])["address"]
        if operation["action"] == action and address.endswith(DEAD_LETTER_SUFFIX) == dead_letters:
            assert address not in found, f"two {action} operations on {address}"
            found[address] = operation
    return found


def test_there_is_a_document_for_every_service_and_no_other() -> None:
    assert set(SERVICES) <= set(TOPOLOGY), "add the new service's topics to TOPOLOGY"
    assert {"activation", "coverage", "claims", "fulfilment"} <= set(SERVICES)
    assert {path.stem for path in ASYNCAPI_DIR.glob("*.json")} == set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_the_checked_in_document_is_what_the_code_generates(service: str) -> None:
    checked_in = (ASYNCAPI_DIR / f"{service}.json").read_text()
    assert checked_in == render(service), (
        f"docs/asyncapi/{service}.json is stale: run `careplan asyncapi` and check it in"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_the_document_lists_the_topics_the_service_consumes_and_publishes(service: str) -> None:
    document = _document(service)
    consumes, publishes = TOPOLOGY[service]

    received = _operations(document, "receive")
    sent = _operations(document, "send")

    assert set(received) == _names(consumes)
    assert set(sent) == _names(publishes)
    dead_lettered = _operations(document, "send", dead_letters=True)
    assert set(dead_lettered) == {topic.dead_letter for topic in consumes}
    assert {_follow(document, channel)["address"] for channel in document["channels"].values()} == (
        _names(consumes | publishes) | set(dead_lettered)
    )
    for topic in consumes | publishes:
        operation = (received if topic in consumes else sent)[topic.name]
        assert _payload_classes(document, operation) == _event_class_names(topic), topic.name


@pytest.mark.parametrize("service", SERVICES)
def test_the_document_describes_the_service(service: str) -> None:
    document = _document(service)
    assert document["asyncapi"].startswith("3.")
    assert document["info"]["title"] == f"careplan {service}"
    assert document["info"]["description"]
    assert {server["protocol"] for server in document["servers"].values()} == {"kafka"}


def test_every_topic_has_a_consumer_and_services_publish_only_what_they_own() -> None:
    consumed: set[str] = set()
    for service in SERVICES:
        document = _document(service)
        consumed |= set(_operations(document, "receive"))
        for address in _operations(document, "send"):
            owner = next(topic.owner for topic in ALL_TOPICS if topic.name == address)
            # Every service that keeps events waiting announces them (shared.waiting).
            shared = address == t.WAITING.name
            assert owner == service or shared, f"{service} publishes {address}, owned by {owner}"
    # Even the insurers' claims, published for the insurers, are read: the bordereaux (C8, L4).
    assert consumed == {topic.name for topic in ALL_TOPICS}


# --- What a client needs beyond the payloads (security, bindings, dead letters, correlation) ---


@pytest.mark.parametrize("service", SERVICES)
def test_the_server_is_the_settings_one_and_requires_scram(service: str) -> None:
    document = _document(service)
    (server,) = document["servers"].values()
    port = server["variables"]["port"]
    assert server["host"] == "127.0.0.1:{port}"
    assert port["default"] == str(ServiceSettings.model_fields["kafka_port"].default)
    assert port["description"] == "CAREPLAN_KAFKA_PORT"
    (requirement,) = server["security"]
    assert _follow(document, requirement)["type"] == "scramSha512"


@pytest.mark.parametrize("service", SERVICES)
def test_every_channel_binds_its_topic_key_partitions_and_group(service: str) -> None:
    document = _document(service)
    for channel in document["channels"].values():
        address = channel["address"]
        topic = BY_NAME[address.removesuffix(DEAD_LETTER_SUFFIX)]
        partitions = (
            DEAD_LETTER_PARTITIONS if address.endswith(DEAD_LETTER_SUFFIX) else topic.partitions
        )
        assert channel["bindings"]["kafka"]["topic"] == address
        assert channel["bindings"]["kafka"]["partitions"] == partitions, address
        for message in channel["messages"].values():
            key = _follow(document, message)["bindings"]["kafka"]["key"]
            assert key["type"] == "string" and topic.key in key["description"], address
    for operation in _operations(document, "receive").values():
        group = operation["bindings"]["kafka"]["groupId"]
        assert group == {"type": "string", "const": service_app(service).group_id}


@pytest.mark.parametrize("service", SERVICES)
def test_every_dead_letter_channel_declares_its_headers(service: str) -> None:
    document = _document(service)
    for operation in _operations(document, "send", dead_letters=True).values():
        (message_ref,) = operation["messages"]
        headers = _follow(document, message_ref)["headers"]
        assert set(headers["required"]) == set(DEAD_LETTER_HEADERS)
        assert set(headers["properties"]) == set(DEAD_LETTER_HEADERS)


@pytest.mark.parametrize("service", SERVICES)
def test_the_correlation_id_is_the_envelopes(service: str) -> None:
    document = _document(service)
    for address, operation in {
        **_operations(document, "receive"),
        **_operations(document, "send"),
    }.items():
        (message_ref,) = operation["messages"]
        location = _follow(document, message_ref)["correlationId"]["location"]
        assert location == "$message.payload#/correlation_id", address
