"""GET /api/{contacts,companies}/{id}/history/ and POST …/history/{event_id}/revert/."""

from __future__ import annotations

import pytest
from pghistory.models import Events

from companies.models import Company
from companies.services import update_company
from contacts.models import Contact
from contacts.services import update_contact
from crm.audit import change_context

pytestmark = pytest.mark.django_db


def last_update(obj):
    return next(e for e in Events.objects.tracks(obj).order_by("-pgh_id") if e.pgh_label == "update")


@pytest.fixture
def titled(world, book):
    contact = book.alice_own
    with change_context(actor=world.alice, source="web"):
        update_contact(contact=contact, data={"job_title": "CEO"}, actor=world.alice)
    return contact, last_update(contact)


def test_history_lists_changes_with_who_and_old_new(world, api, titled):
    contact, event = titled
    response = api(world.alice).get(f"/api/contacts/{contact.pk}/history/")
    assert response.status_code == 200, response.content
    entries = response.json()
    assert entries[0]["event_id"] == event.pgh_id and entries[0]["summary"] == "Changed"
    assert entries[0]["actor"] == {"id": world.alice.pk, "full_name": "Alice Rep"}
    assert entries[0]["changes"] == [{"field": "job_title", "label": "Job title", "old": "—", "new": "CEO",
                                      "old_value": "", "new_value": "CEO", "revertable": True}]
    assert entries[-1]["summary"] == "Created"


def test_history_read_only_for_viewers_and_hidden_from_others(world, api, titled):
    contact, _ = titled
    response = api(world.viewer_a).get(f"/api/contacts/{contact.pk}/history/")
    assert response.status_code == 200 and response.json()[0]["changes"][0]["revertable"] is False
    for who in ("bob", "charlie", "other_rep"):
        assert api(getattr(world, who)).get(f"/api/contacts/{contact.pk}/history/").status_code == 404
    assert api().get(f"/api/contacts/{contact.pk}/history/").status_code in (401, 403)
    assert api(world.alice).get(f"/api/contacts/{contact.pk}/history/?x=1").status_code == 400


def test_revert_happy_path(world, api, titled):
    contact, event = titled
    response = api(world.alice).post(f"/api/contacts/{contact.pk}/history/{event.pgh_id}/revert/",
                                     {"field": "job_title"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"event_id": event.pgh_id, "field": "job_title", "reverted": True, "value": ""}
    assert Contact.objects.get(pk=contact.pk).job_title == ""
    revert = last_update(contact)
    assert revert.pgh_context["source"] == "revert" and revert.pgh_context["user"] == world.alice.pk


def test_revert_conflict_is_409_unless_confirmed(world, api, titled):
    contact, event = titled
    update_contact(contact=Contact.objects.get(pk=contact.pk), data={"job_title": "CTO"})
    url = f"/api/contacts/{contact.pk}/history/{event.pgh_id}/revert/"
    response = api(world.alice).post(url, {"field": "job_title"}, format="json")
    assert response.status_code == 409
    assert "changed again since" in response.json()["detail"] and response.json()["current_value"] == "CTO"
    assert Contact.objects.get(pk=contact.pk).job_title == "CTO"
    response = api(world.alice).post(url, {"field": "job_title", "confirm": True}, format="json")
    assert response.status_code == 200 and Contact.objects.get(pk=contact.pk).job_title == ""


@pytest.mark.parametrize("payload,name", [
    ({}, "field"), ({"field": "display_name"}, "field"), ({"field": "email_consent"}, "field"),
    ({"field": "first_name"}, "field"), ({"field": "job_title", "organization": 1}, "organization"),
    ({"field": "job_title", "confirm": "maybe"}, "confirm"),
])
def test_revert_validation_names_the_field(world, api, titled, payload, name):
    contact, event = titled
    response = api(world.alice).post(f"/api/contacts/{contact.pk}/history/{event.pgh_id}/revert/", payload,
                                     format="json")
    assert response.status_code == 400 and name in response.json(), response.content
    assert Contact.objects.get(pk=contact.pk).job_title == "CEO"


@pytest.mark.parametrize("who,status", [("viewer_a", 403), ("bob", 404), ("charlie", 404), ("other_rep", 404)])
def test_revert_permissions(world, api, titled, who, status):
    contact, event = titled
    response = api(getattr(world, who)).post(f"/api/contacts/{contact.pk}/history/{event.pgh_id}/revert/",
                                             {"field": "job_title"}, format="json")
    assert response.status_code == status
    assert Contact.objects.get(pk=contact.pk).job_title == "CEO"


def test_event_of_another_record_is_404(world, api, book, titled):
    _, event = titled
    response = api(world.admin).post(f"/api/contacts/{book.bob_own.pk}/history/{event.pgh_id}/revert/",
                                     {"field": "job_title"}, format="json")
    assert response.status_code == 404
    response = api(world.charlie).post(f"/api/contacts/{book.other_contact.pk}/history/{event.pgh_id}/revert/",
                                       {"field": "job_title"}, format="json")
    assert response.status_code == 404


def test_company_history_and_revert(world, api, book):
    update_company(company=book.acme_co, data={"industry": "Tools"})
    event = last_update(book.acme_co)
    url = f"/api/companies/{book.acme_co.pk}/history/{event.pgh_id}/revert/"
    assert api(world.viewer_a).get(f"/api/companies/{book.acme_co.pk}/history/").status_code == 200
    assert api(world.rita).post(url, {"field": "industry"}, format="json").status_code == 403
    assert api(world.charlie).post(url, {"field": "industry"}, format="json").status_code == 404
    response = api(world.alice).post(url, {"field": "industry"}, format="json")
    assert response.status_code == 200 and Company.objects.get(pk=book.acme_co.pk).industry == ""


def test_history_query_count_does_not_grow(world, api, book, django_assert_max_num_queries):
    contact = book.alice_own
    client = api(world.admin)
    update_contact(contact=contact, data={"job_title": "X", "owner": world.bob})
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(f"/api/contacts/{contact.pk}/history/")
    for i in range(10):
        update_contact(contact=Contact.objects.get(pk=contact.pk),
                       data={"job_title": f"T{i}", "owner": world.alice if i % 2 else world.bob, "team": None})
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(f"/api/contacts/{contact.pk}/history/")
    assert response.status_code == 200 and len(response.json()) >= 11
