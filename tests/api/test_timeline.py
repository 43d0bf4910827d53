"""GET /api/contacts/{id}/timeline/ and /api/companies/{id}/timeline/."""

from __future__ import annotations

import pytest

from activities.models import Activity
from contacts.services import update_contact

pytestmark = pytest.mark.django_db


def walk(client, url, params=None):
    rows, response = [], client.get(url, params or {})
    while True:
        assert response.status_code == 200, response.content
        rows += response.json()["results"]
        if not response.json()["next"]:
            return rows
        response = client.get(response.json()["next"])


def test_contact_timeline_pages_and_filter(world, book, api):
    contact = book.alice_own
    for i in range(7):
        Activity.objects.create(organization=world.org, contact=contact, type="note", subject=f"N{i}",
                                occurred_at=book.call.occurred_at)
    update_contact(contact=contact, data={"lifecycle_stage": "mql"})
    client = api(world.alice)
    url = f"/api/contacts/{contact.pk}/timeline/"
    everything = walk(client, url, {"page_size": 100})
    paged = walk(client, url, {"page_size": 3})
    assert [(r["kind"], r["id"]) for r in paged] == [(r["kind"], r["id"]) for r in everything]
    assert len(everything) == 1 + 7 + 2  # the call, the notes, the stage change and the creation
    change = next(r for r in everything if r["kind"] == "change" and r["change"]["summary"] == "Changed")
    assert change["type"] == "change" and change["change"]["changes"][0]["new"] == "Marketing qualified lead"
    calls = walk(client, url, {"type": "calls"})
    assert [r["activity"]["id"] for r in calls] == [book.call.pk] and calls[0]["activity"]["subject"] == "Intro call"
    assert {r["kind"] for r in walk(client, url, {"type": "changes"})} == {"change"}


def test_company_timeline(world, book, api):
    rows = walk(api(world.rita), f"/api/companies/{book.acme_co.pk}/timeline/")
    ids = {r["id"] for r in rows if r["kind"] == "activity"}
    assert ids == {book.company_note.pk}  # alice's contact's call is not rita's to see
    rows = walk(api(world.alice), f"/api/companies/{book.acme_co.pk}/timeline/")
    assert {r["id"] for r in rows if r["kind"] == "activity"} == {book.company_note.pk, book.call.pk}


@pytest.mark.parametrize("who", ["rita", "manager_b", "charlie"])
def test_others_get_404(world, book, api, who):
    response = api(getattr(world, who)).get(f"/api/contacts/{book.alice_own.pk}/timeline/")
    assert response.status_code == 404 and "Intro call" not in response.content.decode()


def test_other_organization_company_is_404(world, book, api):
    assert api(world.charlie).get(f"/api/companies/{book.acme_co.pk}/timeline/").status_code == 404
    assert api().get(f"/api/companies/{book.acme_co.pk}/timeline/").status_code in (401, 403)


def test_bad_parameters_are_named(world, book, api):
    client = api(world.alice)
    url = f"/api/contacts/{book.alice_own.pk}/timeline/"
    assert set(client.get(url, {"type": "party"}).json()) == {"type"}
    assert set(client.get(url, {"cursor": "nope"}).json()) == {"cursor"}
    assert set(client.get(url, {"page_size": "1000"}).json()) == {"page_size"}
    assert set(client.get(url, {"colour": "red"}).json()) == {"colour"}


def test_query_count_is_constant(world, book, api, django_assert_max_num_queries):
    client = api(world.alice)
    url = f"/api/contacts/{book.alice_own.pk}/timeline/"
    for count in (1, 60):
        Activity.objects.bulk_create([Activity(organization=world.org, contact=book.alice_own, type="task",
                                               actor=world.alice, assigned_to=world.bob) for _ in range(count)])
        with django_assert_max_num_queries(10):  # 6 of them: auth scope, throttle cache, savepoints
            assert client.get(url).status_code == 200


def test_notifications_api(world, book, api):
    from activities.notifications import notify

    mine = [notify(world.alice, "task_due", f"Due {i}", "/tasks/", world.org.pk) for i in range(3)]
    theirs = notify(world.rita, "task_due", "Rita's", "/tasks/", world.org.pk)
    client = api(world.alice)
    rows = client.get("/api/notifications/", {"unread": "true"}).json()["results"]
    assert {r["id"] for r in rows} == {n.pk for n in mine}
    assert client.post(f"/api/notifications/{mine[0].pk}/read/").json()["read_at"] is not None
    assert len(client.get("/api/notifications/", {"unread": "true"}).json()["results"]) == 2
    assert client.post(f"/api/notifications/{theirs.pk}/read/").status_code == 404
    assert client.get(f"/api/notifications/{theirs.pk}/").status_code == 404
    assert client.post("/api/notifications/read-all/").json() == {"marked": 2}
    assert api(world.charlie).get("/api/notifications/").json()["results"] == []
    assert set(client.get("/api/notifications/", {"kind": "party"}).json()) == {"kind"}
    # A read-only role still manages its own notifications.
    notify(world.viewer_a, "task_due", "For the viewer", "/tasks/", world.org.pk)
    assert api(world.viewer_a).post("/api/notifications/read-all/").json() == {"marked": 1}
