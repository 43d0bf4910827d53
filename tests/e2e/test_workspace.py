"""A sales manager's day in a real browser: sign in, find a contact by typing part of its
name in the global search box, open it, edit a field in place, add a tag, then tag a
filtered list in bulk. Screenshots of the list and detail pages are saved on the way."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from companies.models import Company
from contacts.models import Contact, ContactCompany
from contacts.services import create_contact
from crm.models import Tag
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def team_book(world):
    """Contacts of manager_a's team A (alice and bob own them) and one of team B."""
    initech = Company.objects.create(organization=world.org, name="Initech", domain="initech.test")
    people = []
    rows = [("Jonathan", "Smith", world.alice, "customer", "Payments engineer"),
            ("Joanna", "Miller", world.alice, "customer", "CFO"),
            ("Priya", "Natarajan", world.bob, "customer", "Head of sales"),
            ("Lars", "Eriksen", world.bob, "lead", "Buyer"),
            ("Mei", "Tanaka", world.alice, "opportunity", "CTO")]
    for first, last, owner, stage, title in rows:
        people.append(create_contact(organization=world.org, data={
            "first_name": first, "last_name": last, "owner": owner, "team": world.team_a,
            "lifecycle_stage": stage, "job_title": title, "email": f"{first.lower()}@example.com"}))
    ContactCompany.objects.create(organization=world.org, contact=people[0], company=initech, is_primary=True)
    create_contact(organization=world.org, data={"first_name": "Jonah", "last_name": "Hidden", "owner": world.rita,
                                                 "team": world.team_b, "lifecycle_stage": "customer"})
    return {"people": people, "vip": Tag.objects.create(organization=world.org, name="VIP", colour="amber"),
            "renewal": Tag.objects.create(organization=world.org, name="Renewal 2027", colour="teal")}


def test_sales_manager_day(page, world, team_book, screenshots):
    jonathan = team_book["people"][0]
    sign_in(page, world.manager_a.email)

    # Search as you type in the global box: suggestions appear from the first letters.
    box = page.locator("#nav-search-q")
    box.click()
    box.press_sequentially("jonat", delay=60)
    suggestion = page.locator(".suggest-item", has_text="Jonathan Smith (Initech)")
    expect(suggestion).to_be_visible()
    expect(page.locator("#nav-suggest")).not_to_contain_text("Jonah Hidden")  # team B: not manager_a's
    page.screenshot(path=str(screenshots / "search-suggestions.png"))
    suggestion.click()
    expect(page).to_have_url(re.compile(rf"/contacts/{jonathan.pk}/$"))
    expect(page.locator("#contact-title")).to_have_text("Jonathan Smith")

    # Edit the job title in place.
    page.locator("#field-job_title .inline-value").click()
    field = page.get_by_role("textbox", name="Job title")
    field.fill("VP Payments")
    page.locator("#field-job_title").get_by_role("button", name="Save").click()
    expect(page.locator("#field-job_title")).to_contain_text("VP Payments")
    expect(page.locator("#contact-job-title")).to_have_text("VP Payments at ")  # the header follows
    expect(page.get_by_role("textbox", name="Job title")).to_have_count(0)
    assert Contact.objects.get(pk=jonathan.pk).job_title == "VP Payments"

    # Add a tag.
    page.locator("#contact-tags select").select_option(label="VIP")
    page.locator("#contact-tags").get_by_role("button", name="Add").click()
    expect(page.locator("#contact-tags .tag", has_text="VIP")).to_be_visible()
    assert list(Contact.objects.get(pk=jonathan.pk).tags.values_list("name", flat=True)) == ["VIP"]
    page.screenshot(path=str(screenshots / "contact-detail.png"), full_page=True)

    # The filtered list.
    page.goto("/contacts/?lifecycle_stage=customer")
    rows = page.locator("#contact-results tbody tr")
    expect(rows).to_have_count(3)  # Jonathan, Joanna, Priya: team A's customers
    page.screenshot(path=str(screenshots / "contacts-list.png"))

    # Bulk-tag the filtered list: every customer of the team, through "all matching this filter".
    page.get_by_label("Select all on this page").check()
    page.get_by_role("button", name="Select all contacts matching this filter").click()
    expect(page.locator("[data-bulk-count]")).to_have_text("All contacts matching this filter selected")
    page.locator("#bulk-action").select_option("add_tags")
    page.locator("#bulk-tags").select_option(label="Renewal 2027")
    page.screenshot(path=str(screenshots / "contacts-bulk-tag.png"))
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("done for 3 contacts")
    tagged = set(Contact.objects.filter(tags=team_book["renewal"]).values_list("first_name", flat=True))
    assert tagged == {"Jonathan", "Joanna", "Priya"}  # not Lars (lead), not Jonah (team B)
    page.screenshot(path=str(screenshots / "bulk-operation.png"))
    # …and undo it from the operation's page.
    page.once("dialog", lambda dialog: dialog.accept())  # "Undo this operation?"
    page.get_by_role("button", name=re.compile("^Undo")).click()
    expect(page.locator(".messages")).to_contain_text("Undone for 3 contacts")
    assert not Contact.objects.filter(tags=team_book["renewal"]).exists()
    phone = page.context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto("/contacts/?lifecycle_stage=customer")
    phone.screenshot(path=str(screenshots / "contacts-list-phone.png"))
    phone.close()
