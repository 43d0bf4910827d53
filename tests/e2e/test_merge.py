"""A rep merges two duplicates in a real browser: selects them in the contact list, opens the
merge page, keeps the older record's email, merges, sees the survivor with the Undo button in
the flash and the merge on the timeline, then undoes it. Screenshots of the merge page and the
survivor are saved on the way."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import Activity
from contacts.models import Contact, Merge
from contacts.services import create_contact
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_rep_merges_duplicates_and_undoes_it(page, world, screenshots):
    old = create_contact(organization=world.org, data={"first_name": "Ann", "last_name": "Lee", "owner": world.alice,
                                                       "team": world.team_a, "email": "ann@old.test",
                                                       "job_title": "Buyer"})
    new = create_contact(organization=world.org, data={"first_name": "Anna", "last_name": "Lee",
                                                       "owner": world.alice, "team": world.team_a,
                                                       "email": "anna@new.test"})
    Contact.objects.filter(pk=old.pk).update(updated_at=timezone.now() - datetime.timedelta(days=1))
    Activity.objects.create(organization=world.org, contact=old, type="call", subject="First call")

    sign_in(page, "alice@acme.test")
    page.goto("/contacts/")
    page.locator(f'[data-bulk-row][value="{old.pk}"]').check()
    page.locator(f'[data-bulk-row][value="{new.pk}"]').check()
    page.get_by_role("button", name="Merge", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Merge 2 contacts")
    expect(page.locator(f'input[name="field:email"][value="{new.pk}"]')).to_be_checked()
    page.locator(f'input[name="field:email"][value="{old.pk}"]').check()
    page.screenshot(path=str(screenshots / "merge-page.png"), full_page=True)
    page.get_by_role("button", name="Merge", exact=True).click()

    expect(page).to_have_url(f"{page.url.split('/contacts/')[0]}/contacts/{new.pk}/")
    expect(page.locator(".alert-success")).to_contain_text("Merged Ann Lee into Anna Lee.")
    expect(page.get_by_text("Merged Ann Lee into this contact")).to_be_visible()
    expect(page.get_by_text("First call")).to_be_visible()
    page.screenshot(path=str(screenshots / "merge-survivor.png"), full_page=True)
    assert Contact.objects.get(pk=new.pk).email == "ann@old.test"

    page.locator(".alert-success").get_by_role("button", name="Undo").click()
    expect(page.locator(".alert-success")).to_contain_text("undone")
    assert Contact.objects.get(pk=old.pk).email == "ann@old.test"
    assert Contact.objects.get(pk=new.pk).email == "anna@new.test"
    assert Merge.objects.get().undone_at is not None
