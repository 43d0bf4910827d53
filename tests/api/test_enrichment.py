"""POST /api/contacts/{id}/enrich/: 202 and queued for whoever may change the contact; 404 for
anyone who may not see it, 403 for a viewer; the contact's `enrichment` shows the result."""

from __future__ import annotations

import pytest

from contacts import enrichment
from contacts.models import Contact
from contacts.services import create_contact

pytestmark = pytest.mark.django_db

URL = "/api/contacts/{}/enrich/"


@pytest.fixture(autouse=True)
def _offline(settings):
    settings.KITH_ENRICHMENT_DNS = False


@pytest.fixture
def contact(world):
    return create_contact(organization=world.org, data={"first_name": "Ana", "owner": world.alice.pk,
                                                        "team": world.team_a.pk, "email": "ana@pagato.io",
                                                        "mobile": "+4915123456789"})


def queued(callbacks) -> int:
    return sum(1 for c in callbacks if c.__module__ == "contacts.enrichment")


@pytest.mark.parametrize("who", ["alice", "manager_a", "admin"])
def test_enrich_is_queued_for_those_who_may_change(world, api, contact, who, django_capture_on_commit_callbacks,
                                                   django_assert_max_num_queries):
    client = api(getattr(world, who))
    with django_capture_on_commit_callbacks() as callbacks, django_assert_max_num_queries(8):
        response = client.post(URL.format(contact.pk))
    assert response.status_code == 202, response.content
    assert response.json() == {"status": "queued", "contact": contact.pk, "enrichment": {}}
    assert queued(callbacks) == 1


def test_result_shows_in_the_contacts_enrichment(world, api, contact):
    enrichment.enrich_contact(contact.pk)  # what the queued task runs
    data = api(world.alice).get(f"/api/contacts/{contact.pk}/").json()
    assert data["timezone"] == "Europe/Berlin"
    entry = data["enrichment"]["values"]["timezone"]
    assert (entry["value"], entry["source"], entry["applied"]) == ("Europe/Berlin", "timezone", True)
    assert data["enrichment"]["providers"]["email_dns"]["status"] == "not_checked"
    assert data["enrichment"]["providers"]["phone"]["status"] == "ok"


@pytest.mark.parametrize("who", ["charlie", "other_rep", "rita", "bob"])
def test_invisible_contact_is_404(world, api, contact, who, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api(getattr(world, who)).post(URL.format(contact.pk))
    assert response.status_code == 404
    assert queued(callbacks) == 0
    assert api(getattr(world, who)).post(URL.format(987654)).status_code == 404


def test_viewer_may_not_enrich(world, api, contact, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api(world.viewer_a).post(URL.format(contact.pk))
    assert response.status_code == 403
    assert queued(callbacks) == 0


def test_anonymous_and_wrong_method(world, api, contact):
    assert api().post(URL.format(contact.pk)).status_code in (401, 403)
    assert api(world.alice).get(URL.format(contact.pk)).status_code == 405
    assert Contact.objects.get(pk=contact.pk).enrichment == {}
