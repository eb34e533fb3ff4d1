"""Who talks to Kafka: the platform's services, and the outside systems around them.

The one list of services; the command line, the ACL generator, the simulation and the benchmark
read it from here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from contracts.topics import ALL_TOPICS, Topic

if TYPE_CHECKING:  # the simulation reads the names without loading the runtime
    from shared.runtime import Service

SERVICES = ("activation", "coverage", "claims", "fulfilment", "lookup", "operations")


def service_app(name: str) -> Service:
    """The service's declaration (what it consumes and owns), imported only when asked for."""
    service: Service = importlib.import_module(f"services.{name}.app").service
    return service


def outcome_topics() -> tuple[Topic, ...]:
    """The topics the services publish: the platform's answers."""
    return tuple(topic for topic in ALL_TOPICS if topic.owner in SERVICES)


@dataclass(frozen=True)
class Integrator:
    """An outside system's Kafka principal.

    It writes the upstream topics whose contract names one of `owners` as their owner, reads
    the answers meant for it and the dead letters of what it wrote (a refused record of its own
    is an answer too), and joins only consumer groups named `<principal>.*`.
    """

    principal: str
    owners: tuple[str, ...]
    answers: tuple[Topic, ...]
    # The dashboard watches every outcome and every dead letter, and writes nothing.
    watches_everything: bool = False

    @property
    def writes(self) -> tuple[Topic, ...]:
        return tuple(topic for topic in ALL_TOPICS if topic.owner in self.owners)

    @property
    def reads(self) -> tuple[str, ...]:
        if self.watches_everything:
            return tuple(
                sorted(
                    {topic.name for topic in outcome_topics()}
                    | {topic.dead_letter for topic in ALL_TOPICS}
                )
            )
        return tuple(
            sorted(
                {topic.name for topic in self.answers}
                | {topic.dead_letter for topic in self.writes}
            )
        )

    @property
    def group_prefix(self) -> str:
        return f"{self.principal}."


def _topics(*names: str) -> tuple[Topic, ...]:
    by_name = {topic.name: topic for topic in ALL_TOPICS}
    return tuple(by_name[name] for name in names)


INTEGRATORS: tuple[Integrator, ...] = (
    # Sells plan codes and renewals, reports first activations and accessory bindings, asks for
    # bindings; hears whether a plan was activated, is pending a video review or was refused.
    Integrator(
        "storefront",
        owners=("commerce", "devices", "storefront"),
        answers=_topics("activation.events.v1"),
    ),
    # Assesses damage and reports repairs done; hears each case's decision and its shipments.
    Integrator(
        "repair-system",
        owners=("repair system",),
        answers=_topics("claims.events.v1", "fulfilment.events.v1"),
    ),
    # Collects fees (DeductionApplied) and places, captures and releases card holds (X3).
    Integrator(
        "payments",
        owners=("payments",),
        answers=_topics("coverage.events.v1", "claims.events.v1", "fulfilment.events.v1"),
    ),
    # Ships what fulfilment asks for and confirms each dispatch with the new SN (F1).
    Integrator("warehouse", owners=("warehouse",), answers=_topics("fulfilment.events.v1")),
    # Confirms AG policies of activated plans (A5) and answers the claims routed to it (C8, L4).
    Integrator(
        "insurer",
        owners=("insurers",),
        answers=_topics("insurer.claims.v1", "activation.events.v1"),
    ),
    # The operator's desks: video reviews of late activations (A3), claim reviews, and the
    # liability incidents reported to them (L1).
    Integrator(
        "review-desk",
        owners=("review desk", "liability desk"),
        answers=_topics("activation.events.v1", "claims.events.v1"),
    ),
    Integrator("dashboard", owners=(), answers=(), watches_everything=True),
)
BY_PRINCIPAL = {integrator.principal: integrator for integrator in INTEGRATORS}
