"""A rep works a contact's timeline in a real browser: scrolls to load older entries,
filters by type, adds a note and a task (with a mistake first), ticks the task done, then
finds a task assigned by a manager on "My tasks" and the notification behind the bell.
Screenshots of the timeline, My tasks and notifications are saved on the way."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import Activity
from activities.services import log_activity
from companies.models import Company
from contacts.models import ContactCompany
from contacts.services import create_contact, update_contact
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_rep_works_the_timeline(page, world, screenshots):
    ann = create_contact(organization=world.org, data={"first_name": "Ann", "last_name": "Alpha",
                                                       "owner": world.alice, "team": world.team_a})
    company = Company.objects.create(organization=world.org, name="Initech", domain="initech.test")
    ContactCompany.objects.create(organization=world.org, contact=ann, company=company, is_primary=True)
    now = timezone.now()
    for i in range(40):
        Activity.objects.create(organization=world.org, contact=ann, type=["note", "call", "email_sent"][i % 3],
                                subject=f"Older entry {i}", actor=world.alice,
                                occurred_at=now - datetime.timedelta(days=1, hours=i))
    update_contact(contact=ann, data={"lifecycle_stage": "sql"})
    log_activity(organization_id=world.org.pk, actor=world.manager_a, data={
        "contact": ann, "type": "task", "subject": "Send the renewal quote", "assigned_to": world.alice,
        "due_at": now - datetime.timedelta(hours=2)})

    sign_in(page, "alice@acme.test")
    page.goto(f"/contacts/{ann.pk}/")
    timeline = page.locator("#timeline")
    expect(timeline.get_by_text("Stage changed to Sales qualified lead")).to_be_visible()
    # Scrolling to the end loads older pages.
    expect(timeline.locator("li.timeline-item")).to_have_count(25)
    for _ in range(5):
        timeline.locator("li.timeline-item").last.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
    expect(timeline.get_by_text("Older entry 39")).to_be_attached()
    expect(timeline.get_by_text("That's everything.")).to_be_attached()
    # Filter by type.
    timeline.get_by_role("link", name="Calls", exact=True).click()
    expect(timeline.locator("li.timeline-item").first).to_contain_text("Older entry")
    expect(timeline.get_by_text("Older entry 0", exact=True)).to_have_count(0)  # a note
    timeline.get_by_role("link", name="All", exact=True).click()

    # A task without a title is refused in place; with one it is added.
    timeline.get_by_text("+ Task").click()
    form = page.locator("#quick-add-task")
    form.get_by_role("button", name="Add task").click()
    expect(page.locator("#quick-add-task")).to_contain_text("This field is required")
    page.locator("#quick-add-task").get_by_label("Title").fill("Book the demo room")
    page.locator("#quick-add-task").get_by_role("button", name="Add task").click()
    expect(timeline.locator("li.timeline-item").first).to_contain_text("Book the demo room")
    timeline.get_by_text("+ Note").click()
    page.locator("#quick-add-note").get_by_label("Note").fill("Prefers calls after 3pm.")
    page.locator("#quick-add-note").get_by_role("button", name="Add note").click()
    expect(timeline.locator("li.timeline-item").first).to_contain_text("Prefers calls after 3pm.")
    timeline.get_by_text("+ Call").click()
    page.locator("#timeline").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "timeline-contact.png"), full_page=False)

    # Tick the task done on the timeline.
    task = Activity.objects.get(subject="Book the demo room")
    page.locator(f"#activity-{task.pk} .task-check").check()
    expect(page.locator(f"#activity-{task.pk}")).to_contain_text("Done")
    task.refresh_from_db()
    assert task.completed_at is not None

    # My tasks: the manager's task is overdue; the bell has its notification.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tasks").click()
    expect(page.locator(".task-group-overdue")).to_contain_text("Send the renewal quote")
    page.screenshot(path=str(screenshots / "my-tasks.png"), full_page=True)
    expect(page.locator(".bell-count")).to_contain_text("1")
    page.locator(".bell").click()
    expect(page.get_by_text("Mona Manager assigned you a task: Send the renewal quote")).to_be_visible()
    page.screenshot(path=str(screenshots / "notifications.png"), full_page=True)

    # The company's timeline shows Ann's activities too.
    page.goto(f"/companies/{company.pk}/")
    expect(page.locator("#timeline")).to_contain_text("Prefers calls after 3pm.")
    page.locator("#timeline").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "timeline-company.png"), full_page=False)

    # On a phone the timeline follows the details; the forms and chips wrap.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/contacts/{ann.pk}/#timeline")
    page.locator("#timeline-stream").scroll_into_view_if_needed()
    expect(page.locator("#timeline .chip-row")).to_be_visible()
    page.screenshot(path=str(screenshots / "timeline-phone.png"), full_page=False)
