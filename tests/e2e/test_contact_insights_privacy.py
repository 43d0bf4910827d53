"""The contact page's lead score, insights, enrichment and privacy cards in a browser: what an
org admin sees after the worker enriched and scored a contact, and the erasure's confirmation
step (nothing is erased until it is confirmed)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from activities.services import log_activity
from contacts import enrichment, scoring
from contacts.models import Contact, PrivacyRequest
from contacts.services import create_contact
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_score_enrichment_and_privacy_cards(page, world, screenshots, settings):
    settings.KITH_ENRICHMENT_DNS = False  # offline: the email's domain is "not checked"
    person = create_contact(organization=world.org, data={
        "first_name": "Nadia", "last_name": "Brandt", "job_title": "Chief Operating Officer",
        "email": "nadia@brandt-logistics.example", "mobile": "+49 1512 3456789", "owner": world.alice,
        "team": world.team_a})
    log_activity(organization_id=world.org.pk, actor=world.alice, data={
        "contact": person, "type": "meeting_held", "subject": "Quarterly review"})
    # What the worker does after these writes.
    enrichment.enrich_contact(person.pk)
    scoring.score_pending()
    person.refresh_from_db()
    assert person.score > 0 and person.timezone == "Europe/Berlin"

    sign_in(page, world.admin.email)
    page.goto(f"/contacts/{person.pk}/")
    score = page.locator("section", has=page.locator("#score-heading"))
    expect(score).to_contain_text(f"Lead score: {person.score}")
    expect(score).to_contain_text("Insights")
    enriched = page.locator("section", has=page.locator("#enrichment-heading"))
    expect(enriched).to_contain_text("Europe/Berlin")
    expect(enriched.get_by_role("button", name="Enrich")).to_be_visible()
    privacy = page.locator("#privacy")
    expect(privacy.get_by_role("link", name="Export data")).to_be_visible()
    page.screenshot(path=str(screenshots / "contact-score-enrichment-privacy.png"), full_page=True)

    privacy.get_by_role("link", name=re.compile("Erase")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(re.compile("Erase", re.I))
    assert Contact.objects.filter(pk=person.pk).exists() and not PrivacyRequest.objects.exists()
