"""The operations dashboard in a real browser (Debian's headless Chromium, driven by Playwright),
against the services running on the real Kafka and PostgreSQL.

The tests run in order and build one realistic picture: cases of both families, a refusal,
dead letters, one replayed, and a stopped service's lag. The last one keeps a screenshot of it
(`make screenshot` writes it to docs/dashboard.png)."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Dialog, Page, async_playwright, expect

from contracts import topics as t
from contracts.claims import ClaimOutcome
from contracts.liability import LiabilityKind
from contracts.upstream import IncidentCause
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.offsets import Offsets
from simulation.processes import Platform
from tests.e2e.ag_journeys import ag_claim, open_ag_plan
from tests.e2e.conftest import KEPT_FOR_THE_SESSION
from tests.e2e.journeys import activate_plan, claim, eventually, query, replace_unit
from tests.e2e.test_term_ends import ENDS_IN, plan_ending_at

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
OPERATOR = "e2e-operator"
SETTLE_MS = 60_000  # the page refreshes every 2 s; the platform takes a few hops
expect.set_options(timeout=SETTLE_MS)  # a busy machine renders slowly too


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking"],
        )
        yield browser
        await browser.close()


@pytest.fixture(scope="module")
async def page(browser: Browser, platform: Platform) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1500, "height": 1900})
    page = await context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(platform.dashboard_url + "/")
    await expect(page).to_have_url(re.compile(r"/login$"))  # nothing without logging in
    await page.fill("input[name=operator]", OPERATOR)
    await page.fill("input[name=token]", platform.operations_token)
    await page.click("button[type=submit]")
    await expect(page.locator("header .who")).to_contain_text(OPERATOR)
    yield page
    # Every asset came from the dashboard itself: an offline machine sees the page whole.
    assert requested
    assert all(url.startswith(platform.dashboard_url) for url in requested), requested
    await context.close()


async def test_a_wrong_token_does_not_log_in(browser: Browser, platform: Platform) -> None:
    page = await browser.new_page()
    await page.goto(platform.dashboard_url + "/login")
    await page.fill("input[name=operator]", OPERATOR)
    await page.fill("input[name=token]", "not-the-token")
    await page.click("button[type=submit]")
    await expect(page.locator(".error")).to_contain_text("not the dashboard's")
    assert (await page.request.get(platform.dashboard_url + "/panels")).status == 401
    await page.close()


async def test_cases_of_both_families_show_decided_with_their_amounts(
    page: Page, platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "mavic-3-pro")
    decided = await claim(upstream, events, device)
    assert decided.payload.outcome is ClaimOutcome.REPLACEMENT
    row = page.locator(f'tr[data-case="{decided.payload.case_id}"]')
    await expect(row.locator(".amount")).to_have_text("199.00 USD")
    await expect(row.locator(".state")).to_have_text(re.compile("decided|deducted"))
    await replace_unit(platform, upstream, events, device, decided)
    await expect(row.locator(".state")).to_have_text("inherited")

    refused = await claim(upstream, events, device, IncidentCause.THEFT)
    assert refused.payload.reason_codes == ["EXCLUDED_THEFT"]
    await expect(page.locator("#refusal-reasons")).to_contain_text("EXCLUDED_THEFT")

    farm = await open_ag_plan(platform, upstream, events, "T25")
    repaired = await ag_claim(
        upstream, events, farm, [f.repair_line("arm", "3600.00", "600.00", line_id="L1")]
    )
    assert repaired.payload.outcome is ClaimOutcome.REPAIR
    assert repaired.payload.repair_split is not None
    share = repaired.payload.repair_split.customer_share
    ag_row = page.locator(f'tr[data-case="{repaired.payload.case_id}"]')
    await expect(ag_row).to_contain_text("agricultural")
    await expect(ag_row.locator(".amount")).to_have_text(f"{share.amount} {share.currency}")
    await expect(page.locator("#money")).to_contain_text("CNY")


async def test_c9_a_term_ending_shows_with_its_reason(
    page: Page, platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device, _ = await plan_ending_at(platform, upstream, events, f.now() + ENDS_IN)
    row = page.locator(f'#term-ends tr[data-plan="{device.plan_id}"]')
    await expect(row.locator(".reason")).to_have_text("TERM_EXPIRED")
    await expect(page.locator('#term-ends .chip[data-reason="TERM_EXPIRED"]')).to_be_visible()


async def test_an_invalid_message_shows_as_a_dead_letter_and_one_replay_sends_one_record(
    page: Page, platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    invalid = b'{"event_type": "repair.assessment-reported", "payload": {"sn": 42}}'
    sent = await upstream.send_raw(t.REPAIR_ASSESSMENTS.name, "DASHBOARD-DLQ", invalid)
    original = f"{t.REPAIR_ASSESSMENTS.name}/{sent.partition}/{sent.offset}"
    # Claims and the lookup both consume the topic: each refuses its copy.
    await events.wait_for_dead_letters(
        lambda letter: (
            letter.headers.get("dlq-original-offset") == str(sent.offset)
            and letter.headers.get("dlq-original-partition") == str(sent.partition)
        ),
        count=2,
    )
    copies = page.locator(f'#dead-letters tr[data-original="{original}"]')
    await expect(copies).to_have_count(2)
    claims_copy = page.locator(f'#dead-letters tr[data-original="{original}"][data-service=claims]')
    await expect(claims_copy.locator(".reason")).to_contain_text("ValidationError")

    async with Offsets(platform.kafka_bootstrap) as offsets:
        before = await offsets.end_offsets(t.REPAIR_ASSESSMENTS)
        dialogs: list[str] = []

        async def confirm(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            await dialog.accept()

        page.once("dialog", confirm)
        await claims_copy.locator("button").click()
        await expect(claims_copy.locator(".replay")).to_contain_text(f"replayed by {OPERATOR}")
        assert dialogs == [f"Send this one record again to {t.REPAIR_ASSESSMENTS.name}?"]
        after = await offsets.end_offsets(t.REPAIR_ASSESSMENTS)
    grown = {key: after[key] - before[key] for key in after if after[key] != before[key]}
    ((key, records),) = grown.items()
    assert records == 1  # one record, one copy: not one per refusing service
    assert key == (t.REPAIR_ASSESSMENTS.name, sent.partition)  # by its original key
    (replay,) = await query(
        platform,
        "operations",
        "SELECT replayed_by, sent_to, sent_offset FROM replays WHERE topic = $1",
        t.REPAIR_ASSESSMENTS.dead_letter,
    )
    assert tuple(replay) == (OPERATOR, t.REPAIR_ASSESSMENTS.name, before[key])

    # The same dead letter again (say, a second tab): recorded once, sent once.
    reference = await claims_copy.get_attribute("data-dead-letter")
    again = await page.request.post(f"{platform.dashboard_url}/dead-letters/{reference}/replay")
    assert "was replayed before" in await again.text()
    async with Offsets(platform.kafka_bootstrap) as offsets:
        assert await offsets.end_offsets(t.REPAIR_ASSESSMENTS) == after


async def lag_shown(page: Page, group: str, topic: str) -> int:
    cells = page.locator(f'#lag tr[data-group="{group}"][data-topic="{topic}"] .lag')
    return sum(int(text) for text in await cells.all_inner_texts())


async def test_an_incident_on_a_drone_without_a_plan_waits_on_the_page_and_in_the_lookup(
    page: Page, platform: Platform, upstream: Upstream
) -> None:
    """shared.waiting: the incident is kept, not refused, and operators see it wait (its grace
    on the e2e platform lasts the session: KEPT_FOR_THE_SESSION)."""
    incident = f.liability_incident(f.new_serial(), LiabilityKind.THIRD_PARTY_PROPERTY, "900.00")
    sn = incident.payload.drone_sn
    await upstream.send(t.LIABILITY_INCIDENTS, sn, incident)
    row = page.locator(
        f"#waiting tr[data-service=claims][data-dependency={KEPT_FOR_THE_SESSION}] td.n"
    )
    await expect(row).to_have_text("1")

    async def shown_in_the_lookup() -> bool:
        async with httpx.AsyncClient(base_url=platform.lookup_url, timeout=5.0) as client:
            response = await client.get(f"/plans/by-sn/{sn}")
        return response.status_code == 200 and [
            (w["service"], w["dependency"], w["key"]) for w in response.json()["waiting"]
        ] == [("claims", KEPT_FOR_THE_SESSION, sn)]

    await eventually(shown_in_the_lookup, "the lookup to show the incident waiting for its plan")


async def test_the_lag_of_a_stopped_service_grows_on_the_page(
    page: Page, platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    claims = platform.process("claims")
    await asyncio.to_thread(claims.terminate)
    try:
        for _ in range(6):
            report = f.assessment(f.new_serial(), "mavic-3-pro")
            await upstream.send(t.REPAIR_ASSESSMENTS, report.payload.reported_sn, report)

        async def lag_at_least_six() -> bool:
            return await lag_shown(page, "careplan-claims.inbound", t.REPAIR_ASSESSMENTS.name) >= 6

        await eventually(lag_at_least_six, "the dashboard to show claims' lag")
        await expect(page.locator("#outbox tr[data-service=claims]")).to_contain_text(
            "metrics not answering"
        )
        screenshot = Path(
            os.environ.get("CAREPLAN_DASHBOARD_SCREENSHOT", platform.log_dir / "dashboard.png")
        )
        image = await page.screenshot(path=str(screenshot), full_page=True)
        assert image.startswith(b"\x89PNG")
    finally:
        claims.start()
        await claims.wait_started()

    async def caught_up() -> bool:
        return await lag_shown(page, "careplan-claims.inbound", t.REPAIR_ASSESSMENTS.name) == 0

    await eventually(caught_up, "claims to catch up on the page")


async def test_the_lookups_api_documentation_is_whole_offline(
    browser: Browser, platform: Platform
) -> None:
    page = await browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(platform.lookup_url + "/docs")
    await expect(page.locator(".swagger-ui .title")).to_contain_text("careplan lookup")
    await expect(page.locator(".swagger-ui")).to_contain_text("/plans/by-sn/{sn}")
    assert all(url.startswith(platform.lookup_url) for url in requested), requested
    await page.close()
