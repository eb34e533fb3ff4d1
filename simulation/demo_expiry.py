"""The demo's expiring plans (C9): consumer plans bound a year ago whose terms end during the
run. Nothing tells the platform a term is over: the ledger's own clock finds the end and
announces it (TermEnded), as it announces the terms the other journeys use up (the last
replacement, an AG base quota) or that a renewal takes over (A4). The summary lists them all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contracts import topics as t
from contracts.coverage import CoverageOpened, PlanExhausted, TermEnded
from services.activation.domain import add_months
from simulation import factories as f
from simulation.kafka_io import EventLog, Integrators

STEP_TIMEOUT = 20.0
# How long after the run starts each expiring plan's term ends, and on which model.
EXPIRING = (("mini-3", timedelta(seconds=10)), ("air-3", timedelta(seconds=25)))


@dataclass
class Expiring:
    label: str
    model: str
    ends_in: timedelta
    sn: str = ""
    term_end: datetime | None = None
    ended: TermEnded | None = None
    problems: list[str] = field(default_factory=list)


def expiring_roster() -> list[Expiring]:
    return [Expiring(f"E{n}", model, ends_in) for n, (model, ends_in) in enumerate(EXPIRING, 1)]


async def expire(upstream: Integrators, events: EventLog, plan: Expiring) -> None:
    """Storefront and customer a year ago, all sent now: activation waits for what a request
    needs, so the three messages go at once. Then the ledger's announcement is awaited."""
    bought = add_months(f.now() + plan.ends_in, -12)
    plan.sn, code = f.new_serial(), f.new_plan_code()
    await upstream.send(
        t.PLAN_ORDERS, code, f.plan_order(code, "care-refresh-1y", plan.model, at=bought)
    )
    await upstream.send(
        t.DEVICE_ACTIVATIONS,
        plan.sn,
        f.device_activation(plan.sn, plan.model, bought - timedelta(hours=1)),
    )
    await upstream.send(
        t.ACTIVATION_REQUESTS, plan.sn, f.activation_request(code, plan.sn, at=bought)
    )
    try:
        (opened,) = await events.wait_for(
            CoverageOpened, lambda e: e.payload.sn == plan.sn, timeout=STEP_TIMEOUT * 3
        )
        plan.term_end = opened.payload.term_end
        (plan.ended,) = await events.wait_for(
            TermEnded,
            lambda e: e.payload.plan_id == opened.payload.plan_id,
            timeout=plan.ends_in.total_seconds() + STEP_TIMEOUT,
        )
    except TimeoutError:
        plan.problems.append("no TermEnded for its term (C9)")


def expiry_lines(events: EventLog, plans: list[Expiring]) -> tuple[list[str], list[str]]:
    """The summary's section, and what did not happen as C9 says."""
    problems = [f"{plan.label}: {problem}" for plan in plans for problem in plan.problems]
    lines = ["", "Terms ended (C9), each announced once by the ledger (TermEnded)"]
    for plan in plans:
        if plan.ended is None or plan.term_end is None:
            continue
        late = (plan.ended.occurred_at - plan.term_end).total_seconds()
        lines.append(
            f"  {plan.label} {plan.model:<16} bought a year ago, term ended"
            f" {plan.ended.payload.ended_at:%Y-%m-%d %H:%M:%S}, announced {late:.1f} s later"
            f" ({plan.ended.payload.reason})"
        )
    ended = events.of(TermEnded)
    for reason, count in sorted(Counter(e.payload.reason.value for e in ended).items()):
        lines.append(f"  {reason:<34} {count}")
    terms = Counter((e.payload.plan_id, e.payload.term_no) for e in ended)
    problems += [
        f"plan {plan_id} term {no}: announced {n} times"
        for (plan_id, no), n in terms.items()
        if n > 1
    ]
    used_up = {(e.payload.plan_id, e.payload.term_no) for e in ended if e.payload.reason.used_up}
    problems += [
        f"plan {e.payload.plan_id}: exhausted, its term's end not announced"
        for e in events.of(PlanExhausted)
        if (e.payload.plan_id, e.payload.term_no) not in used_up
    ]
    return lines, problems
