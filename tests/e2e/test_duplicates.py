"""The duplicate review queue in a browser: Scan now, the pairs with their reasons, Not a
duplicate; and the contact form's warning with Save anyway."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from contacts.models import Contact, ContactDuplicate
from contacts.services import create_contact
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_scan_review_and_form_warning(page, world, screenshots):
    for first, last, data in (("Anna", "Sokolova", {"phone": "+14155550101"}),
                              ("Анна", "Соколова", {"mobile": "+14155550101"}),
                              ("Robert", "Smith", {"email": "robert.smith@gmail.com"}),
                              ("Bob", "Smith", {"email": "robertsmith+crm@gmail.com"})):
        create_contact(organization=world.org, data={"first_name": first, "last_name": last, **data})
    sign_in(page, world.admin.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Duplicates").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Possible duplicates")
    page.get_by_role("button", name="Scan now").click()
    rows = page.locator("#duplicate-list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("same")
    expect(page.get_by_role("progressbar", name="Scan progress")).to_have_attribute("aria-valuenow", "100")
    page.screenshot(path=str(screenshots / "duplicates-queue.png"), full_page=True)
    rows.first.get_by_role("button", name="Not a duplicate").click()
    expect(page.locator("#duplicate-list tbody tr")).to_have_count(1)
    assert ContactDuplicate.objects.filter(status="dismissed").count() == 1

    page.goto("/contacts/new/")
    page.get_by_label("First name").fill("Ann")
    page.get_by_label("Last name").fill("Sokolova")
    page.get_by_label("Phone", exact=True).fill("(415) 555-0101")
    page.get_by_role("button", name="Create contact").click()
    warning = page.locator("#duplicate-warning")
    expect(warning).to_contain_text("This may be a contact you already have")
    expect(warning.get_by_role("link", name="Anna Sokolova")).to_be_visible()
    page.screenshot(path=str(screenshots / "duplicates-form-warning.png"), full_page=False)
    before = Contact.objects.count()
    warning.get_by_role("button", name="Save anyway").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ann Sokolova")
    assert Contact.objects.count() == before + 1
