"""What an event claims reads may come before (shared.waiting): each is kept until what it
depends on is saved, or its grace period is over, instead of being refused for what claims has
not read yet."""

from __future__ import annotations

from services.claims.domain_cases import Missing
from shared.waiting import DEFAULT_GRACE, Dependency

PLAN_OF_ASSESSMENT = Dependency(
    "plan-of-assessment",
    "an assessment or express request (repair.assessments.v1) on an SN with no plan in view,"
    " or none with a term as late as the incident",
    "the plan of its SN or its renewal (CoverageOpened, PlanInherited, CoverageExtended on"
    " coverage.events.v1)",
    DEFAULT_GRACE,
)
ACCESSORY_OF_ASSESSMENT = Dependency(
    "accessory-of-assessment",
    "an AG assessment (repair.assessments.v1) on an accessory claims has not seen (G4)",
    "the accessory's association (AccessoryAssociated, AccessoryReleased on activation.events.v1)",
    DEFAULT_GRACE,
)
PLAN_OF_INCIDENT = Dependency(
    "plan-of-liability-incident",
    "a liability incident (liability.incidents.v1) on a drone with no plan in view",
    "the plan of the drone (CoverageOpened, PlanInherited on coverage.events.v1)",
    DEFAULT_GRACE,
)
WAITS_FOR = (PLAN_OF_ASSESSMENT, ACCESSORY_OF_ASSESSMENT, PLAN_OF_INCIDENT)

# What a repair event the domain finds something missing for waits on.
AWAITED = {Missing.PLAN: PLAN_OF_ASSESSMENT, Missing.ACCESSORY: ACCESSORY_OF_ASSESSMENT}
