"""Contact.last_activity_at / last_contacted_at follow the activities through
activities.services: added, edited (moved), completed, cancelled, deleted."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from activities.services import delete_activity, log_activity, set_task_done, update_activity
from contacts.models import Contact

pytestmark = pytest.mark.django_db
T0 = timezone.now() - datetime.timedelta(days=10)


def at(days):
    return T0 + datetime.timedelta(days=days)


def dates(contact):
    c = Contact.objects.get(pk=contact.pk)
    return c.last_activity_at, c.last_contacted_at


def log(world, contact, type, when, **data):
    return log_activity(organization_id=world.org.pk, actor=world.alice,
                        data={"contact": contact, "type": type, "occurred_at": when, **data})


def test_added_edited_and_deleted(world, ann):
    call = log(world, ann, "call", at(1))
    note = log(world, ann, "note", at(3))
    assert dates(ann) == (at(3), at(1))
    # Moving the note back in time: last activity falls back to the call.
    update_activity(activity=note, data={"occurred_at": at(0)})
    assert dates(ann) == (at(1), at(1))
    # Moving the call forward moves both.
    update_activity(activity=call, data={"occurred_at": at(5)})
    assert dates(ann) == (at(5), at(5))
    delete_activity(call)
    assert dates(ann) == (at(0), None)
    delete_activity(note)
    assert dates(ann) == (None, None)


def test_cancelled_and_planned_do_not_count(world, ann):
    log(world, ann, "note", at(1))
    meeting = log(world, ann, "meeting_held", at(4))
    assert dates(ann) == (at(4), at(4))
    update_activity(activity=meeting, data={"status": "cancelled"})
    assert dates(ann) == (at(1), None)
    planned = log(world, ann, "meeting_scheduled", at(6), status="planned")
    assert dates(ann) == (at(1), None)
    update_activity(activity=planned, data={"type": "meeting_held", "status": "done"})
    assert dates(ann) == (at(6), at(6))


def test_completing_and_reopening_a_task(world, ann):
    task = log(world, ann, "task", at(2), subject="Quote", assigned_to=world.alice)
    assert task.status == "planned" and dates(ann) == (None, None)
    set_task_done(activity=task, done=True, actor=world.alice)
    assert task.completed_at is not None and dates(ann) == (at(2), None)
    set_task_done(activity=task, done=False, actor=world.alice)
    assert task.completed_at is None and task.status == "planned" and dates(ann) == (None, None)


def test_moving_an_activity_to_another_contact(world, ann, rob):
    call = log(world, ann, "call", at(2))
    update_activity(activity=call, data={"contact": rob})
    assert dates(ann) == (None, None) and dates(rob) == (at(2), at(2))


def test_bad_input_changes_nothing(world, ann):
    from django.core.exceptions import ValidationError

    call = log(world, ann, "call", at(2))
    with pytest.raises(ValidationError) as exc:
        update_activity(activity=call, data={"occurred_at": None})
    assert "occurred_at" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        log(world, ann, "task", at(3), assigned_to=world.rita)
    assert "assigned_to" in exc.value.message_dict
    assert dates(ann) == (at(2), at(2))


def test_admin_edits_and_deletes_keep_the_dates(client, world, ann):
    from crm.models import User

    root = User.objects.create_superuser("root@kith.test", "x")
    call = log(world, ann, "call", at(1))
    note = log(world, ann, "note", at(3))
    client.force_login(root)
    response = client.post(f"/admin/activities/activity/{note.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert dates(ann) == (at(1), at(1))
    client.post("/admin/activities/activity/", {"action": "delete_selected", "_selected_action": [call.pk],
                                                "post": "yes"})
    assert dates(ann) == (None, None)
