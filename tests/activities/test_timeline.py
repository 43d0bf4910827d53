"""activities.timeline: activities and recorded changes in one stream, newest first, by type,
in keyset pages without duplicates or gaps, at a constant number of queries."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from activities import timeline
from activities.models import Activity
from contacts import bulk
from contacts.models import Contact
from contacts.services import update_contact
from crm.audit import change_context

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def log(world, contact=None, company=None, type="note", at=None, **data):
    return Activity.objects.create(organization=world.org, contact=contact, company=company, type=type,
                                   occurred_at=at or NOW, **data)


def walk(user, subject, *, group="all", size=5) -> list[timeline.Entry]:
    entries, cursor = [], None
    for _ in range(200):
        page = timeline.page(user, subject, group=group, cursor=cursor, page_size=size)
        entries += page.entries
        cursor = page.next_cursor
        if cursor is None:
            return entries
    raise AssertionError("the timeline never ended")


def test_activities_and_changes_newest_first(world, ann):
    older = log(world, ann, type="call", at=NOW - datetime.timedelta(days=2), subject="Old call")
    update_contact(contact=ann, data={"lifecycle_stage": "customer"}, actor=world.alice)
    newer = log(world, ann, type="note", at=timezone.now() + datetime.timedelta(minutes=1), subject="New note")
    entries = timeline.page(world.alice, ann).entries
    assert [e.kind for e in entries] == ["activity", "change", "change", "activity"]
    assert entries[0].activity == newer and entries[-1].activity == older
    stage, created = entries[1].change, entries[2].change
    assert stage["title"] == "Stage changed to Customer"
    assert stage["changes"] == [{"field": "lifecycle_stage", "label": "Stage", "old": "Lead", "new": "Customer"}]
    assert created["title"] == "Contact created"
    assert [e.when for e in entries] == sorted((e.when for e in entries), reverse=True)


def test_owner_and_other_field_changes_are_named(world, ann):
    with change_context(actor=world.manager_a, source="web"):
        update_contact(contact=ann, data={"owner": world.bob}, actor=world.manager_a)
    update_contact(contact=ann, data={"job_title": "CTO", "department": "IT"})
    changes = [e.change for e in timeline.page(world.admin, ann, group="changes").entries]
    assert changes[0]["title"] == "2 fields changed"
    assert {c["field"] for c in changes[0]["changes"]} == {"job_title", "department"}
    assert changes[1]["title"] == "Owner changed to Bob Rep"
    assert changes[1]["changes"][0]["old"] == "Alice Rep" and changes[1]["actor"] == world.manager_a


def test_type_filter(world, ann):
    kinds = {"note": "notes", "call": "calls", "meeting_held": "meetings", "meeting_scheduled": "meetings",
             "task": "tasks", "sms_sent": "sms", "sms_received": "sms", "email_sent": "emails",
             "stage_change": "changes"}
    for type in kinds:
        log(world, ann, type=type, subject=type)
    for group in timeline.GROUPS:
        entries = timeline.page(world.alice, ann, group=group, page_size=100).entries
        activity_types = {e.activity.type for e in entries if e.activity}
        expected = set(kinds) if group == "all" else {t for t, g in kinds.items() if g == group}
        assert activity_types == expected, group
        has_changes = any(e.kind == "change" for e in entries)
        assert has_changes == (group in {"all", "changes"}), group
    with pytest.raises(timeline.TimelineError) as exc:
        timeline.page(world.alice, ann, group="parties")
    assert exc.value.field == "type"


def test_keyset_pages_have_no_duplicates_or_gaps_across_equal_timestamps(world, ann):
    # Many activities at one instant, some at the instant of a recorded change, others around.
    same = NOW - datetime.timedelta(hours=1)
    for i in range(17):
        log(world, ann, at=same, subject=f"same {i}")
    update_contact(contact=ann, data={"job_title": "Boss"})
    event_time = Contact.pgh_event_model.objects.filter(pgh_obj_id=ann.pk).latest("pgh_id").pgh_created_at
    for i in range(6):
        log(world, ann, at=event_time, subject=f"at the change {i}")
    for i in range(9):
        log(world, ann, at=NOW - datetime.timedelta(minutes=i * 7), subject=f"spread {i}")
    expected = timeline.page(world.alice, ann, page_size=100).entries
    assert len(expected) == 17 + 6 + 9 + 2  # activities, the change, the creation
    for size in (1, 4, 7, 25):
        walked = walk(world.alice, ann, size=size)
        assert [e.key for e in walked] == [e.key for e in expected], size
    keys = [e.key for e in expected]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)


def test_cursor_is_tied_to_its_timeline_and_filter(world, ann, rob):
    for i in range(3):
        log(world, ann, subject=str(i))
    cursor = timeline.page(world.admin, ann, page_size=1).next_cursor
    for kwargs in ({"group": "notes"}, {}):
        subject = ann if kwargs else rob
        with pytest.raises(timeline.TimelineError) as exc:
            timeline.page(world.admin, subject, cursor=cursor, **kwargs)
        assert exc.value.field == "cursor"
    with pytest.raises(timeline.TimelineError):
        timeline.page(world.admin, ann, cursor=cursor[:-3] + "xyz")


def test_query_count_does_not_grow_with_the_timeline(world, ann):
    log(world, ann, type="task", assigned_to=world.bob, actor=world.alice)
    with CaptureQueriesContext(connection) as small:
        timeline.page(world.alice, ann)
    for i in range(60):
        log(world, ann, type=["note", "call", "task"][i % 3], actor=world.alice, assigned_to=world.bob,
            at=NOW - datetime.timedelta(minutes=i))
    for i in range(30):
        update_contact(contact=ann, data={"job_title": f"Title {i}", "owner": [world.alice, world.bob][i % 2]})
    with CaptureQueriesContext(connection) as large:
        page = timeline.page(world.alice, ann)
        second = timeline.page(world.alice, ann, cursor=page.next_cursor)
    assert len(page.entries) == 25 and second.entries
    # activities, changes, names of users (actors, owners): the same few queries per page
    assert len(small) <= 3 and len(large) <= 2 * 3


def test_company_timeline_has_its_own_and_its_visible_contacts_activities(world, ann, rob, initech):
    own = log(world, company=initech, subject="Company note")
    on_ann = log(world, ann, subject="Ann note")
    on_rob = log(world, rob, subject="Rob note")

    def shown(user):
        return {e.activity.pk for e in timeline.page(user, initech).entries if e.activity}

    assert shown(world.admin) == {own.pk, on_ann.pk, on_rob.pk}
    assert shown(world.alice) == {own.pk, on_ann.pk}
    assert shown(world.rita) == {own.pk, on_rob.pk}
    changes = [e.change["title"] for e in timeline.page(world.admin, initech).entries if e.change]
    assert changes == ["Company created"]


def test_a_bulk_stage_change_shows_on_each_timeline(world, ann, rob):
    job = bulk.start(world.admin, action="set_stage", params={"lifecycle_stage": "customer"}, ids=[ann.pk, rob.pk])
    assert job.succeeded == 2
    for contact in (ann, rob):
        change = timeline.page(world.admin, contact, group="changes").entries[0].change
        assert change["title"] == "Stage changed to Customer"
        assert change["operation"] == job.pk and change["actor"] == world.admin


def test_an_import_shows_on_the_timelines_of_created_and_updated_contacts(world):
    from tests.contacts.test_imports import run_import

    old = Contact.objects.create(organization=world.org, first_name="Old", email="old@example.com",
                                 team=world.team_a)
    imp = run_import(world.manager_a, [["First Name", "Email", "City"], ["Old", "old@example.com", "Rome"],
                                       ["New", "new@example.com", "Oslo"]])
    updated = timeline.page(world.manager_a, old, group="changes").entries[0].change
    assert updated["import"] == imp.pk and updated["actor"] == world.manager_a
    assert updated["changes"] == [{"field": "city", "label": "City", "old": "—", "new": "Rome"}]
    new = Contact.objects.get(email="new@example.com")
    created = timeline.page(world.manager_a, new, group="changes").entries[0].change
    assert created["title"] == "Contact created" and created["import"] == imp.pk


def test_each_entry_says_whether_the_user_may_change_it(world, ann, initech):
    """A contact shared view-only: its task shows on the company timeline but cannot be
    changed; the company's own task can (companies' activities are every writer's)."""
    from guardian.shortcuts import assign_perm

    from tests.conftest import fresh

    assign_perm("view_contact", world.bob, ann)
    theirs = log(world, ann, type="task", subject="Ann's task", status="planned")
    shared = log(world, company=initech, type="task", subject="Company task", status="planned")
    rows = {e.activity.pk: e.activity.can_change for e in timeline.page(fresh(world.bob), initech).entries
            if e.activity}
    assert rows == {theirs.pk: False, shared.pk: True}
    rows = {e.activity.pk: e.activity.can_change for e in timeline.page(fresh(world.alice), initech).entries
            if e.activity}
    assert rows == {theirs.pk: True, shared.pk: True}
    rows = {e.activity.pk: e.activity.can_change for e in timeline.page(fresh(world.viewer_a), initech).entries
            if e.activity}
    assert rows == {theirs.pk: False, shared.pk: False}
