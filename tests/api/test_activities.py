"""/api/activities/: the timeline follows its contact; company-only entries are shared."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from activities.models import Activity
from contacts.models import Contact
from tests.api.conftest import ids

pytestmark = pytest.mark.django_db

URL = "/api/activities/"


@pytest.mark.parametrize("who,expected", [
    ("admin", {"call", "company_note"}), ("alice", {"call", "company_note"}), ("viewer_a", {"call", "company_note"}),
    ("rita", {"company_note"}), ("manager_b", {"company_note"}), ("charlie", {"other_call"}),
])
def test_visibility(world, book, api, who, expected):
    assert ids(api(getattr(world, who)).get(URL)) == {getattr(book, name).pk for name in expected}


def test_logging_a_call_sets_the_actor_and_moves_the_contacts_dates(world, book, api):
    alice = api(world.alice)
    when = timezone.now() - datetime.timedelta(hours=2)
    response = alice.post(URL, {"contact": book.alice_own.pk, "type": "call", "occurred_at": when.isoformat(),
                                "subject": "Pricing"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["actor"] == world.alice.pk
    contact = Contact.objects.get(pk=book.alice_own.pk)
    assert contact.last_activity_at == when and contact.last_contacted_at == when
    # an older entry does not move them back; a planned one does not count
    alice.post(URL, {"contact": book.alice_own.pk, "type": "note", "occurred_at":
                     (when - datetime.timedelta(days=3)).isoformat()}, format="json")
    alice.post(URL, {"contact": book.alice_own.pk, "type": "meeting_scheduled", "status": "planned",
                     "occurred_at": (when + datetime.timedelta(days=3)).isoformat()}, format="json")
    contact = Contact.objects.get(pk=book.alice_own.pk)
    assert contact.last_activity_at == when and contact.last_contacted_at == when


def test_actor_cannot_be_set(world, book, api):
    response = api(world.alice).post(URL, {"contact": book.alice_own.pk, "type": "call", "actor": world.bob.pk},
                                     format="json")
    assert response.status_code == 400 and "signed-in user" in response.json()["actor"][0]


def test_who_may_log_what(world, book, api):
    rita = api(world.rita)
    assert rita.post(URL, {"company": book.acme_co.pk, "type": "note"}, format="json").status_code == 201
    response = rita.post(URL, {"contact": book.alice_own.pk, "type": "note"}, format="json")
    assert response.status_code == 400 and "contact" in response.json()
    assert rita.patch(f"{URL}{book.call.pk}/", {"subject": "x"}, format="json").status_code == 404
    assert rita.patch(f"{URL}{book.company_note.pk}/", {"subject": "Edited"}, format="json").status_code == 200
    assert api(world.viewer_a).patch(f"{URL}{book.company_note.pk}/", {"subject": "x"},
                                     format="json").status_code == 403


def test_activity_filters(world, book, api):
    client = api(world.admin)
    task = Activity.objects.create(organization=world.org, contact=book.bob_own, type="task", assigned_to=world.bob)
    assert ids(client.get(URL, {"contact": book.alice_own.pk})) == {book.call.pk}
    assert ids(client.get(URL, {"company": book.acme_co.pk})) == {book.company_note.pk}
    assert ids(client.get(URL, {"type": ["note", "task"]})) == {book.company_note.pk, task.pk}
    assert ids(client.get(URL, {"open_tasks": "true", "assigned_to": world.bob.pk})) == {task.pk}
    response = client.get(URL, {"contact": book.other_contact.pk, "type": "party", "occurred_after": "x"})
    assert response.status_code == 400 and set(response.json()) == {"contact", "type", "occurred_after"}
    rows = client.get(URL, {"ordering": "occurred"}).json()["results"]
    assert [r["occurred_at"] for r in rows] == sorted(r["occurred_at"] for r in rows)


def test_edit_and_delete_move_the_contacts_dates_back(world, book, api):
    alice = api(world.alice)
    url = URL
    early = timezone.now() - datetime.timedelta(days=5)
    late = timezone.now() - datetime.timedelta(days=1)
    first = alice.post(url, {"contact": book.alice_own.pk, "type": "call", "occurred_at": early.isoformat()},
                       format="json").json()
    second = alice.post(url, {"contact": book.alice_own.pk, "type": "call", "occurred_at": late.isoformat()},
                        format="json").json()
    book.call.delete()  # the fixture's call (made without the services)
    assert Contact.objects.get(pk=book.alice_own.pk).last_contacted_at == late
    assert alice.delete(f"{url}{second['id']}/").status_code == 204
    assert Contact.objects.get(pk=book.alice_own.pk).last_contacted_at == early
    moved = early - datetime.timedelta(days=1)
    assert alice.patch(f"{url}{first['id']}/", {"occurred_at": moved.isoformat()}, format="json").status_code == 200
    contact = Contact.objects.get(pk=book.alice_own.pk)
    assert contact.last_contacted_at == moved and contact.last_activity_at == moved


def test_tasks_through_the_api(world, book, api):
    manager = api(world.manager_a)
    response = manager.post(URL, {"contact": book.alice_own.pk, "type": "task", "subject": "Quote",
                                  "assigned_to": world.rita.pk}, format="json")
    assert response.status_code == 400 and "assigned_to" in response.json()
    response = manager.post(URL, {"contact": book.alice_own.pk, "type": "task", "subject": "Quote",
                                  "assigned_to": world.alice.pk}, format="json")
    assert response.status_code == 201 and response.json()["status"] == "planned"
    assert response.json()["completed_at"] is None
    task_url = f"{URL}{response.json()['id']}/"
    done = api(world.alice).patch(task_url, {"status": "done"}, format="json").json()
    assert done["completed_at"] is not None
    reopened = api(world.alice).patch(task_url, {"completed_at": None}, format="json").json()
    assert reopened["status"] == "planned"
    assert world.alice.notifications.filter(kind="task_assigned").count() == 1
