"""Bulk actions from the contact list: checkboxes and the action bar, /contacts/bulk/ (apply),
the operation page with its progress and per-row errors, and Undo."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts import bulk
from contacts.models import Contact
from crm.models import CustomFieldDefinition, Job, Tag

from .conftest import body, make_contact

pytestmark = pytest.mark.django_db


def flashes(client, response) -> str:
    return body(client.get(response["Location"]))


def op_id(response) -> int:
    assert response.status_code == 302, body(response)[:2000]
    return int(re.fullmatch(r"/contacts/bulk/(\d+)/", response["Location"]).group(1))


# -- the list page ---------------------------------------------------------------------------

def test_writers_get_checkboxes_and_the_bar(client, world, alices_contact):
    client.force_login(world.alice)
    html = body(client.get("/contacts/"))
    assert f'name="ids" value="{alices_contact.pk}" form="bulk-form"' in html
    assert "data-bulk-page" in html and 'id="bulk-bar"' in html
    assert 'id="bulk-form" method="post" action="/contacts/bulk/"' in html
    assert "Select all contacts matching this filter" in html


def test_viewers_get_neither(client, world, alices_contact):
    client.force_login(world.viewer_a)
    html = body(client.get("/contacts/"))
    assert alices_contact.display_name in html
    assert 'name="ids"' not in html and "bulk-bar" not in html and "bulk-form" not in html


def test_list_query_count_stays_constant_with_checkboxes(client, world, tags):
    for i in range(110):
        make_contact(world, f"P{i:03d}", owner=world.alice, team=world.team_a, tags=[tags["hot"]])
    client.force_login(world.admin)
    client.get("/contacts/")
    counts = {}
    for size in (25, 100):
        with CaptureQueriesContext(connection) as ctx:
            html = body(client.get("/contacts/", {"per_page": size}))
        assert html.count('name="ids"') == size
        counts[size] = len(ctx.captured_queries)
        assert not any("COUNT(" in q["sql"].upper() for q in ctx.captured_queries)  # nothing counted up front
    assert counts[25] == counts[100] <= 12, counts


def test_action_inputs_come_on_demand(client, world, tags):
    client.force_login(world.manager_a)
    html = body(client.get("/contacts/bulk/params/", {"action": "add_tags"}))
    assert 'name="tags" form="bulk-form"' in html and "VIP" in html and "Elsewhere" not in html
    html = body(client.get("/contacts/bulk/params/", {"action": "assign_owner"}))
    assert "Alice Rep" in html and "Olga Other" not in html
    client.force_login(world.viewer_a)
    assert client.get("/contacts/bulk/params/", {"action": "add_tags"}).status_code == 403


def test_count_on_demand(client, world, alices_contact, ritas_contact, foreign_contact):
    client.force_login(world.admin)
    assert body(client.get("/contacts/bulk/count/", {"ordering": "-created"})) == "2 contacts match this filter."
    assert body(client.get("/contacts/bulk/count/", {"team": world.team_a.pk})) == "1 contact matches this filter."
    client.force_login(world.charlie)  # another organization counts its own rows only
    assert body(client.get("/contacts/bulk/count/")) == "1 contact matches this filter."
    response = client.get("/contacts/bulk/count/", {"lifecycle_stage": "bogus"})
    assert response.status_code == 400 and "lifecycle_stage" in body(response)


# -- applying ----------------------------------------------------------------------------------

def test_apply_to_ticked_rows(client, world, alices_contact, ritas_contact, foreign_contact, tags):
    client.force_login(world.manager_a)
    response = client.post("/contacts/bulk/", {"action": "add_tags", "tags": [tags["vip"].pk],
                                               "ids": [alices_contact.pk, ritas_contact.pk, foreign_contact.pk]})
    pk = op_id(response)
    html = flashes(client, response)
    assert "Add tags: VIP: done for 1 contact. 2 could not be changed" in html
    assert Tag.objects.get(pk=tags["vip"].pk).usage_count == 1
    assert list(alices_contact.tags.all()) == [tags["vip"]]
    # Rows the manager cannot see show by id only: no name leaks.
    assert f"#{ritas_contact.pk}" in html and ritas_contact.display_name not in html
    assert foreign_contact.display_name not in html
    assert "Not found" in html and f"/contacts/bulk/{pk}/undo/" in html


def test_apply_to_everything_the_filter_matches(client, world, alices_contact, ritas_contact):
    make_contact(world, "Zed", owner=world.alice, team=world.team_a, lifecycle_stage="customer")
    client.force_login(world.admin)
    response = client.post("/contacts/bulk/", {"action": "set_stage", "lifecycle_stage": "mql", "select_all": "on",
                                               "filters": "lifecycle_stage=lead&ordering=-created&per_page=25"})
    job = Job.objects.get(pk=op_id(response))
    assert job.succeeded == 2
    assert set(Contact.objects.filter(lifecycle_stage="mql").values_list("pk", flat=True)) == {
        alices_contact.pk, ritas_contact.pk}


@pytest.mark.parametrize(("data", "message"), [
    ({"action": "assign_owner", "owner": "999999"}, "Owner: Choose a member"),
    ({"action": "set_stage", "lifecycle_stage": "bogus"}, "Stage:"),
    ({"action": "set_custom_field", "cf_key": "budget", "cf_value": "lots"}, "Value: Budget: Enter a number."),
    ({"action": "explode"}, "Action:"),
    ({"action": "add_tags"}, "Tags:"),
])
def test_bad_input_is_a_400_naming_the_field(client, world, alices_contact, data, message):
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="budget", label="Budget",
                                         field_type="number")
    client.force_login(world.admin)
    response = client.post("/contacts/bulk/", {**data, "ids": [alices_contact.pk]})
    assert response.status_code == 400
    assert message in body(response)
    assert not Job.objects.exists()


def test_nothing_selected_or_bad_filters(client, world, alices_contact):
    client.force_login(world.admin)
    response = client.post("/contacts/bulk/", {"action": "delete"})
    assert response.status_code == 400 and "Selection" in body(response)
    response = client.post("/contacts/bulk/", {"action": "delete", "select_all": "on", "filters": "owner=abc"})
    assert response.status_code == 400 and "Filters" in body(response)
    assert client.get("/contacts/bulk/").status_code == 302
    assert not Job.objects.exists()


def test_viewers_and_strangers_cannot_apply(client, world, alices_contact):
    client.force_login(world.viewer_a)
    assert client.post("/contacts/bulk/", {"action": "delete", "ids": [alices_contact.pk]}).status_code == 403
    client.logout()
    response = client.post("/contacts/bulk/", {"action": "delete", "ids": [alices_contact.pk]})
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert Contact.objects.filter(pk=alices_contact.pk).exists()


# -- the operation page and undo ---------------------------------------------------------------

def test_operation_page_visibility(client, world, alices_contact):
    job = bulk.start(world.alice, action="set_stage", params={"lifecycle_stage": "sql"}, ids=[alices_contact.pk])
    for who, status in [("alice", 200), ("admin", 200), ("manager_a", 404), ("bob", 404), ("charlie", 404)]:
        client.force_login(getattr(world, who))
        assert client.get(f"/contacts/bulk/{job.pk}/").status_code == status, who
    client.force_login(world.manager_a)
    assert client.post(f"/contacts/bulk/{job.pk}/undo/").status_code == 404
    assert Contact.objects.get(pk=alices_contact.pk).lifecycle_stage == "sql"


def test_running_operation_is_polled_and_finished_one_is_not(client, world, alices_contact, monkeypatch):
    monkeypatch.setattr(bulk, "INLINE_LIMIT", 0)
    client.force_login(world.admin)
    response = client.post("/contacts/bulk/", {"action": "delete", "ids": [alices_contact.pk]})
    pk = op_id(response)
    html = flashes(client, response)
    assert "running in the background" in html and 'hx-trigger="every 1s"' in html and "Queued" in html
    partial = body(client.get(f"/contacts/bulk/{pk}/", HTTP_HX_REQUEST="true"))
    assert partial.startswith('<div id="bulk-status"') and "<html" not in partial
    bulk.run(pk)  # what the worker does
    partial = body(client.get(f"/contacts/bulk/{pk}/", HTTP_HX_REQUEST="true"))
    assert "every 1s" not in partial and "Done" in partial and 'aria-valuenow="100"' in partial


def test_undo_from_the_page(client, world, alices_contact):
    other = make_contact(world, "Bo", owner=world.alice, team=world.team_a)
    client.force_login(world.alice)
    pk = op_id(client.post("/contacts/bulk/", {"action": "set_stage", "lifecycle_stage": "customer",
                                               "ids": [alices_contact.pk, other.pk]}))
    Contact.objects.filter(pk=other.pk).update(lifecycle_stage="sql")
    response = client.post(f"/contacts/bulk/{pk}/undo/")
    undo_pk = op_id(response)
    html = flashes(client, response)
    assert "Undone for 1 contact. 1 row left as they are" in html
    assert "Changed again since the operation" in html and "Bo" in html
    assert f"reverts <a href=\"/contacts/bulk/{pk}/\">" in html
    assert Contact.objects.get(pk=alices_contact.pk).lifecycle_stage == "lead"
    # No second undo, and the undo itself has no Undo button.
    assert f"/contacts/bulk/{undo_pk}/undo/" not in html
    response = client.post(f"/contacts/bulk/{pk}/undo/")
    assert "Can&#x27;t undo: Only an operation that has stopped can be undone" in flashes(client, response)
    assert Job.objects.filter(undoes_id=pk).count() == 1


def test_operation_page_query_count_does_not_grow_with_errors(client, world, django_assert_max_num_queries):
    client.force_login(world.admin)
    small = bulk.start(world.admin, action="delete", params={}, ids=[10**8 + i for i in range(3)])
    large = bulk.start(world.admin, action="delete", params={}, ids=[10**8 + i for i in range(60)])
    client.get(f"/contacts/bulk/{small.pk}/")
    with CaptureQueriesContext(connection) as few:
        client.get(f"/contacts/bulk/{small.pk}/")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert body(client.get(f"/contacts/bulk/{large.pk}/")).count("Not found") >= 60


def test_restore_selected_from_the_trash(client, world, alices_contact):
    other = make_contact(world, "Bo", owner=world.alice, team=world.team_a)
    client.force_login(world.alice)
    bulk.start(world.alice, action="delete", params={}, ids=[alices_contact.pk, other.pk])
    html = body(client.get("/contacts/trash/"))
    assert f'name="ids" value="{alices_contact.pk}" form="bulk-form"' in html and "Restore selected" in html
    response = client.post("/contacts/bulk/", {"action": "restore", "ids": [alices_contact.pk, other.pk]})
    op_id(response)
    assert Contact.objects.filter(pk__in=[alices_contact.pk, other.pk]).count() == 2
    client.force_login(world.viewer_a)
    assert "Restore selected" not in body(client.get("/contacts/trash/"))


def test_contact_history_shows_the_operation(client, world, alices_contact):
    job = bulk.start(world.alice, action="set_stage", params={"lifecycle_stage": "sql"}, ids=[alices_contact.pk])
    client.force_login(world.alice)
    html = body(client.get(f"/contacts/{alices_contact.pk}/"))
    assert f'<a href="/contacts/bulk/{job.pk}/">bulk operation #{job.pk}</a>' in html


def test_stop_a_running_operation(client, world, alices_contact, monkeypatch):
    monkeypatch.setattr(bulk, "INLINE_LIMIT", 0)
    client.force_login(world.alice)
    pk = op_id(client.post("/contacts/bulk/", {"action": "delete", "ids": [alices_contact.pk]}))
    assert f"/contacts/bulk/{pk}/cancel/" in body(client.get(f"/contacts/bulk/{pk}/"))
    client.force_login(world.bob)
    assert client.post(f"/contacts/bulk/{pk}/cancel/").status_code == 404
    client.force_login(world.alice)
    response = client.post(f"/contacts/bulk/{pk}/cancel/")
    assert "Stopped after 0 contacts" in flashes(client, response)
    assert Job.objects.get(pk=pk).status == Job.Status.CANCELLED
    assert Contact.objects.filter(pk=alices_contact.pk).exists()
