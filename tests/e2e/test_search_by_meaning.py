"""Search by meaning in a browser: the search page's toggle, hits with their reasons, and the
contact page's Similar contacts card loaded after the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from contacts import semantic
from contacts.services import create_contact
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

PEOPLE = [
    ("Ana", "Souza", "Chief Technology Officer", "Financial services", "Runs engineering at a card payments startup."),
    ("Marc", "Dubois", "VP Engineering", "Fintech", "Builds a mobile wallet for small shops."),
    ("Bea", "Bloom", "Owner", "Retail", "Flower shop selling wedding bouquets."),
    ("Carl", "Crumb", "Head baker", "Food", "Sourdough bakery."),
]


def test_search_by_meaning_and_similar_contacts(page, world, screenshots):
    made = {}
    for first, last, title, industry, notes in PEOPLE:
        made[first] = create_contact(organization=world.org, data={
            "first_name": first, "last_name": last, "job_title": title, "industry": industry, "description": notes,
            "owner": world.alice, "team": world.team_a})
    create_contact(organization=world.org, data={"first_name": "Rui", "last_name": "Souza", "owner": world.rita,
                                                 "job_title": "Chief Technology Officer", "industry": "Fintech"})
    semantic.embed_pending()

    sign_in(page, world.alice.email)
    page.goto("/search/")
    page.get_by_label("Search", exact=True).fill("payments startup CTO")
    page.get_by_label("By meaning").check()
    page.get_by_role("button", name="Search", exact=True).click()
    results = page.locator(".search-result")
    expect(results.first).to_contain_text("Ana Souza")
    expect(results.first).to_contain_text("close in meaning to 'payments startup CTO'")
    expect(page.get_by_label("By meaning")).to_be_checked()
    expect(page.locator(".search-results")).not_to_contain_text("Rui Souza")  # rita's contact
    page.screenshot(path=str(screenshots / "search-by-meaning.png"), full_page=True)

    results.first.get_by_role("link", name="Ana Souza").click()
    card = page.locator("#similar-contacts")
    expect(card.get_by_role("link", name="Marc Dubois")).to_be_visible()
    expect(card).not_to_contain_text("Rui Souza")
    card.scroll_into_view_if_needed()
    card.screenshot(path=str(screenshots / "similar-contacts.png"))


def test_search_settings_page(page, world, screenshots):
    for first, last, title, industry, notes in PEOPLE:
        create_contact(organization=world.org, data={"first_name": first, "last_name": last, "job_title": title,
                                                     "industry": industry, "description": notes})
    semantic.embed_pending()
    create_contact(organization=world.org, data={"first_name": "New", "last_name": "Lead"})
    sign_in(page, world.admin.email)
    page.goto("/settings/search/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Search by meaning")
    expect(page.locator("#embedding-status")).to_contain_text("1 record (contacts and companies) waiting to be analysed")
    page.get_by_role("button", name="Analyse what is waiting").click()
    expect(page.locator("#embedding-status")).to_contain_text("Last run: Queued · 0 of 1")
    page.screenshot(path=str(screenshots / "search-settings.png"), full_page=True)
