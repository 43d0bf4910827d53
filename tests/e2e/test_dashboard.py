"""The dashboard in a real browser: charts render (a drawn canvas per chart, no console
errors), the range presets and filters work, and a screenshot with demo data is saved
(docs/screenshots/dashboard.png with KITH_SCREENSHOT_DIR=docs/screenshots)."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest
from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import Activity
from contacts.models import Contact, LifecycleStage
from contacts.services import create_contact, record_consent
from crm.models import Team
from crm.services import add_member
from crm.permissions import Role
from messaging.models import Message
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

FIRST = ["Ava", "Ben", "Chloe", "Diego", "Emma", "Farah", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena", "Milo",
         "Nora", "Omar", "Pia", "Quinn", "Rosa", "Sami", "Tara", "Uma", "Vik", "Wen", "Xena", "Yusuf", "Zoe"]
INDUSTRIES = ["Software", "Retail", "Healthcare", "Manufacturing", "Financial services"]
SOURCES = ["website", "website", "referral", "event", "cold_outreach", "social", "partner", "advertising"]
STAGES = ["lead"] * 6 + ["mql"] * 4 + ["sql"] * 3 + ["opportunity"] * 2 + ["customer"] * 3 + ["evangelist"]


@pytest.fixture
def demo(world):
    """About 180 contacts over the last 120 days, SMS with every outcome and replies, activities
    by five people of several types."""
    rng = random.Random(6)
    now = timezone.now()
    sam = add_member(world.org, email="sam@acme.test", password=PASSWORD, role=Role.REP, team=world.team_b,
                     full_name="Sam Seller")
    reps = [(world.alice, world.team_a), (world.bob, world.team_a), (world.rita, world.team_b),
            (sam, world.team_b), (world.manager_a, world.team_a)]
    contacts, messages, activities = [], [], []
    for i in range(180):
        owner, team = reps[i % len(reps)]
        # more recent days get more contacts (a growing book)
        age = int(120 * rng.random() ** 1.6)
        c = create_contact(organization=world.org, data={
            "first_name": FIRST[i % len(FIRST)], "last_name": f"Demo{i}", "owner": owner, "team": team,
            "lifecycle_stage": rng.choice(STAGES), "source": rng.choice(SOURCES),
            "industry": rng.choice(INDUSTRIES)})
        created = now - dt.timedelta(days=age, hours=rng.randint(0, 12))
        Contact.all_objects.filter(pk=c.pk).update(created_at=created)
        if rng.random() < 0.55:
            record_consent(contact=c, channel="sms", status="granted", source="web_form")
        contacts.append((c, owner, created))
    for c, owner, created in contacts:
        age = (now - created).days
        if c.sms_consent == "granted" and rng.random() < 0.8:
            sent_at = now - dt.timedelta(days=rng.randint(0, max(age, 1)), hours=rng.randint(1, 8))
            status = rng.choices(["delivered", "sent", "undelivered", "failed", "queued"], [70, 10, 6, 4, 4])[0]
            messages.append(Message(organization=world.org, contact=c, direction="outbound", status=status,
                                    to_number="+14155550100", body="Hi!", actor=owner, created_at=sent_at))
            if status in ("delivered", "sent") and rng.random() < 0.45:
                messages.append(Message(organization=world.org, contact=c, direction="inbound", status="received",
                                        to_number="+14155550100", body="Thanks!",
                                        created_at=min(now, sent_at + dt.timedelta(hours=rng.randint(1, 30)))))
        for _ in range(rng.randint(0, 4)):
            actor = owner if rng.random() < 0.85 else world.manager_a
            when = now - dt.timedelta(days=rng.randint(0, max(age, 1)), hours=rng.randint(0, 8))
            activities.append(Activity(organization=world.org, contact=c, actor=actor, occurred_at=when,
                                       type=rng.choices(["call", "note", "email_sent", "meeting_held", "sms_sent",
                                                         "task"], [30, 25, 20, 10, 10, 5])[0]))
    created_at = {id(m): m.created_at for m in messages}
    Message.objects.bulk_create(messages)
    for m in messages:  # auto_now_add overrode the demo dates
        Message.objects.filter(pk=m.pk).update(created_at=created_at[id(m)])
    Activity.objects.bulk_create(activities)
    # What activities.services keeps for each activity, in one statement for the bulk load.
    Contact.all_objects.filter(organization=world.org).update(last_activity_at=Subquery(
        Activity.objects.filter(contact_id=OuterRef("pk")).values("contact_id")
        .annotate(last=Max("occurred_at")).values("last")))
    return {"reps": reps}


def test_dashboard_charts_render(page, world, demo, screenshots):
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, world.admin.email)
    page.get_by_role("link", name="Dashboard", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    page.get_by_role("link", name="Last 90 days").click()
    expect(page.locator(".chip.is-current")).to_have_text("Last 90 days")
    expect(page.locator("html")).to_have_attribute("data-dashboard-charts", "5")
    for canvas_id in ("chart-growth", "chart-stage", "chart-source", "chart-sms", "chart-reps"):
        canvas = page.locator(f"#{canvas_id}")
        expect(canvas).to_be_visible()
        # Drawn: Chart.js sized the canvas and painted pixels on it.
        painted = page.evaluate("""id => {
            const c = document.getElementById(id); const ctx = c.getContext('2d');
            const px = ctx.getImageData(0, 0, c.width, c.height).data;
            for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) return c.width > 0 && c.height > 0;
            return false; }""", canvas_id)
        assert painted, canvas_id
    page.wait_for_timeout(500)  # the entry animation
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)

    # The table behind a chart opens, and the team filter narrows the numbers.
    page.locator("#stage-heading").locator("xpath=ancestor::section").get_by_text("Show as table").click()
    expect(page.locator("#table-stage")).to_be_visible()
    total = int(page.locator("#stat-total").inner_text())
    page.get_by_label("Team").select_option(label="Team B")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"team=\d+"))
    assert int(page.locator("#stat-total").inner_text()) < total
    expect(page.locator("html")).to_have_attribute("data-dashboard-charts", "5")

    assert errors == [], errors

    # A bad range: a clear message instead of charts (the page answers 400).
    page.get_by_label("From").fill("2026-06-10")
    page.get_by_label("To").fill("2026-06-01")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("alert")).to_contain_text("The start date is after the end date.")
    assert page.locator("canvas").count() == 0
