"""The contact page's enrichment card: values with source, time and confidence, provider states,
and the Enrich button for those who may change the contact (POST queues it; others get 404)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from contacts import enrichment
from contacts.services import create_contact

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _offline(settings):
    settings.KITH_ENRICHMENT_DNS = False


@pytest.fixture
def contact(world):
    return create_contact(organization=world.org, data={"first_name": "Ana", "owner": world.alice.pk,
                                                        "team": world.team_a.pk, "email": "ana@pagato.io",
                                                        "mobile": "+4915123456789", "twitter": "x.com/AnaS"})


def page(client, user, contact):
    client.force_login(user)
    response = client.get(reverse("contacts:detail", args=[contact.pk]))
    assert response.status_code == 200
    return response.content.decode()


def card(html: str) -> str:
    start = html.index('id="enrichment"')
    return html[start:html.index("</section>", start)]


def test_card_before_and_after_enrichment(world, client, contact):
    html = card(page(client, world.alice, contact))
    assert "Not enriched yet." in html
    assert reverse("contacts:enrich", args=[contact.pk]) in html and ">Enrich</button>" in html
    enrichment.enrich_contact(contact.pk)
    html = card(page(client, world.alice, contact))
    assert 'data-enriched="timezone"' in html and "Europe/Berlin" in html
    assert "Time zone · 75% ·" in html  # source and confidence
    assert "Show " in html and "T-Mobile" in html  # the other facts, folded
    assert "<time datetime=" in html
    assert 'data-enriched="company"' in html and "Pagato" in html
    assert "@AnaS" in html and "not applied: a typed value is kept" in html
    assert 'data-provider="email_dns"' in html and "Not checked" in html
    assert "KITH_ENRICHMENT_DNS" in html
    assert 'data-provider="phone"' in html and 'badge-done">OK' in html


def test_viewer_sees_the_card_without_the_button(world, client, contact):
    enrichment.enrich_contact(contact.pk)
    html = card(page(client, world.viewer_a, contact))
    assert "Europe/Berlin" in html
    assert "Enrich</button>" not in html


def test_enrich_button_queues_and_returns_to_the_card(world, client, contact, django_capture_on_commit_callbacks):
    client.force_login(world.alice)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("contacts:enrich", args=[contact.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("contacts:detail", args=[contact.pk]) + "#enrichment"
    assert sum(1 for c in callbacks if c.__module__ == "contacts.enrichment") == 1


@pytest.mark.parametrize("who", ["charlie", "other_rep", "rita", "bob", "viewer_a"])
def test_others_cannot_enrich(world, client, contact, who, django_capture_on_commit_callbacks):
    client.force_login(getattr(world, who))
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("contacts:enrich", args=[contact.pk]))
    assert response.status_code in ((403,) if who == "viewer_a" else (404,))
    assert not callbacks
    assert client.get(reverse("contacts:enrich", args=[contact.pk])).status_code == 405
