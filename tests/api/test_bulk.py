"""POST /api/contacts/bulk/, /api/bulk-operations/ and their undo."""

from __future__ import annotations

import pytest

from contacts.models import Contact
from crm.models import Job, JobItem

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
