"""POST /api/contacts/bulk/, /api/bulk-operations/ and their undo."""

from __future__ import annotations

import pytest

from contacts.models import Contact
from crm.models import Job, JobItem, Tag

pytestmark = pytest.mark.django_db

URL = "/api/contacts/bulk/"


def results(response) -> dict[int, str]:
    assert response.status_code == 200, response.content
    return {row["id"]: row["result"] for row in response.json()["results"]}


def test_inline_action_answers_per_row_results(api, world, book):
    response = api(world.manager_a).post(URL, {
        "action": "set_stage", "params": {"lifecycle_stage": "customer"},
        "ids": [book.alice_own.pk, book.team_a_queue.pk, book.rita_own.pk, book.other_contact.pk, 999999]},
        format="json")
    assert results(response) == {book.alice_own.pk: "changed", book.team_a_queue.pk: "changed",
                                 book.rita_own.pk: "not_found", book.other_contact.pk: "not_found",
                                 999999: "not_found"}
    operation = response.json()["operation"]
    assert operation["status"] == "done" and operation["succeeded"] == 2 and operation["failed"] == 3
    assert operation["url"].endswith(f"/api/bulk-operations/{operation['id']}/")
    assert Contact.objects.get(pk=book.alice_own.pk).lifecycle_stage == "customer"
    assert Contact.objects.get(pk=book.rita_own.pk).lifecycle_stage == "lead"
    assert Contact.objects.get(pk=book.other_contact.pk).lifecycle_stage == "lead"


@pytest.mark.parametrize(("body", "field"), [
    ({"action": "assign_owner", "params": {"owner": 10**9}, "ids": [1]}, "owner"),
    ({"action": "add_tags", "params": {"tags": [10**9]}, "ids": [1]}, "tags"),
    ({"action": "set_stage", "params": {"lifecycle_stage": "bogus"}, "ids": [1]}, "lifecycle_stage"),
    ({"action": "set_custom_field", "params": {"key": "budget", "value": "many"}, "ids": [1]}, "value"),
    ({"action": "set_custom_field", "params": {"key": "nope", "value": 1}, "ids": [1]}, "key"),
    ({"action": "explode", "ids": [1]}, "action"),
    ({"action": "delete", "ids": ["x"]}, "ids"),
    ({"action": "delete"}, "ids"),
    ({"action": "delete", "ids": [1], "filters": {}}, "ids"),
    ({"action": "delete", "filters": {"owner": "abc"}}, "filters"),
    ({"action": "delete", "filters": {"unknown": "1"}}, "filters"),
    ({"action": "delete", "ids": [1], "sneaky": True}, "sneaky"),
])
def test_bad_requests_are_400_naming_the_field(api, world, book, body, field):
    response = api(world.admin).post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Job.objects.exists()


def test_other_organizations_rows_as_params_are_400(api, world, book):
    for params, field in [({"owner": world.other_rep.pk}, "owner"), ({"team": book.other_contact.team_id}, "team")]:
        action = "assign_owner" if "owner" in params else "assign_team"
        response = api(world.admin).post(URL, {"action": action, "params": params, "ids": [book.alice_own.pk]},
                                         format="json")
        assert response.status_code == 400 and field in response.json()
    response = api(world.admin).post(URL, {"action": "add_tags", "params": {"tags": [book.other_tag.pk]},
                                           "ids": [book.alice_own.pk]}, format="json")
    assert response.status_code == 400 and "tags" in response.json()
    assert not Job.objects.exists()


def test_filters_select_the_filtered_list(api, world, book):
    response = api(world.manager_a).post(URL, {"action": "add_tags", "params": {"tags": [book.vip.pk]},
                                               "filters": {"team": [world.team_a.pk]}}, format="json")
    assert set(results(response)) == {book.alice_own.pk, book.bob_own.pk, book.team_a_queue.pk}
    assert Tag.objects.get(pk=book.vip.pk).usage_count == 3


def test_viewer_rows_are_reported_not_changed(api, world, book):
    response = api(world.viewer_a).post(URL, {"action": "delete", "ids": [book.alice_own.pk]}, format="json")
    assert results(response) == {book.alice_own.pk: "forbidden"}
    assert response.json()["results"][0]["message"] == "Your role is read-only."
    assert Contact.objects.filter(pk=book.alice_own.pk).exists()


def test_anonymous_is_refused(api, world, book):
    response = api().post(URL, {"action": "delete", "ids": [book.alice_own.pk]}, format="json")
    assert response.status_code in (401, 403)
    assert not Job.objects.exists()


def test_more_than_1000_rows_are_queued(api, world, book):
    ids = list(range(1, 1102))
    response = api(world.admin).post(URL, {"action": "set_stage", "params": {"lifecycle_stage": "sql"},
                                           "ids": ids}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["total"] == 1101 and body["progress"] == 0
    assert body["url"].endswith(f"/api/bulk-operations/{body['id']}/")
    assert not JobItem.objects.exists()  # nothing ran in the request


def run_op(api, user, book, **extra):
    response = api(user).post(URL, {"action": "set_stage", "params": {"lifecycle_stage": "sql"},
                                    "ids": [book.alice_own.pk, book.rita_own.pk], **extra}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["operation"]["id"]


def test_operations_are_listed_for_their_actor_and_admins(api, world, book):
    alices = run_op(api, world.alice, book)
    admins = run_op(api, world.admin, book)
    listed = lambda user: {row["id"] for row in api(user).get("/api/bulk-operations/").json()["results"]}  # noqa: E731
    assert listed(world.alice) == {alices}
    assert listed(world.admin) == {alices, admins}
    assert listed(world.manager_a) == set()
    assert listed(world.charlie) == set()
    assert api(world.manager_a).get(f"/api/bulk-operations/{alices}/").status_code == 404
    assert api(world.charlie).get(f"/api/bulk-operations/{admins}/").status_code == 404
    detail = api(world.alice).get(f"/api/bulk-operations/{alices}/").json()
    assert detail["status"] == "done" and detail["action"] == "set_stage" and detail["progress"] == 100
    assert (detail["succeeded"], detail["failed"]) == (1, 1)
    assert detail["errors"] == [{"id": book.rita_own.pk, "result": "not_found", "field": "",
                                 "message": "No such contact."}]
    assert api(world.admin).get("/api/bulk-operations/?status=done").status_code == 200
    assert api(world.admin).get("/api/bulk-operations/?status=bogus").status_code == 400
    assert api(world.admin).get("/api/bulk-operations/?nope=1").status_code == 400


def test_list_query_count_does_not_grow(api, world, book, django_assert_max_num_queries):
    for _ in range(2):
        run_op(api, world.admin, book)
    client = api(world.admin)
    with django_assert_max_num_queries(8):
        assert len(client.get("/api/bulk-operations/").json()["results"]) == 2
    for _ in range(6):
        run_op(api, world.admin, book)
    with django_assert_max_num_queries(8):
        assert len(client.get("/api/bulk-operations/").json()["results"]) == 8


def test_undo(api, world, book):
    op = run_op(api, world.manager_a, book, ids=[book.alice_own.pk, book.bob_own.pk])
    Contact.objects.filter(pk=book.bob_own.pk).update(lifecycle_stage="customer")
    assert api(world.alice).post(f"/api/bulk-operations/{op}/undo/").status_code == 404
    response = api(world.manager_a).post(f"/api/bulk-operations/{op}/undo/")
    assert results(response) == {book.alice_own.pk: "changed", book.bob_own.pk: "conflict"}
    assert Contact.objects.get(pk=book.alice_own.pk).lifecycle_stage == "lead"
    assert Contact.objects.get(pk=book.bob_own.pk).lifecycle_stage == "customer"
    assert api(world.manager_a).get(f"/api/bulk-operations/{op}/").json()["status"] == "undone"
    again = api(world.manager_a).post(f"/api/bulk-operations/{op}/undo/")
    assert again.status_code == 400 and "status" in again.json()
    # An org admin may undo anyone's operation.
    op = run_op(api, world.alice, book, ids=[book.alice_own.pk])
    assert api(world.admin).post(f"/api/bulk-operations/{op}/undo/").status_code == 200


def test_a_viewer_cannot_undo_even_their_own(api, world, book):
    response = api(world.viewer_a).post(URL, {"action": "delete", "ids": [book.alice_own.pk]}, format="json")
    op = response.json()["operation"]["id"]
    assert api(world.viewer_a).get(f"/api/bulk-operations/{op}/").status_code == 200
    assert api(world.viewer_a).post(f"/api/bulk-operations/{op}/undo/").status_code == 403


def test_cancel(api, world, book, monkeypatch):
    from contacts import bulk

    monkeypatch.setattr(bulk, "INLINE_LIMIT", 0)
    response = api(world.alice).post(URL, {"action": "delete", "ids": [book.alice_own.pk]}, format="json")
    assert response.status_code == 202
    op = response.json()["id"]
    assert api(world.manager_a).post(f"/api/bulk-operations/{op}/cancel/").status_code == 404
    response = api(world.alice).post(f"/api/bulk-operations/{op}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = api(world.alice).post(f"/api/bulk-operations/{op}/cancel/")
    assert again.status_code == 400 and "status" in again.json()
    assert Contact.objects.filter(pk=book.alice_own.pk).exists()
