"""Bulk actions on contacts (contacts.bulk): each action, per-row results, visibility,
parameter validation, filters as the selection, undo with conflicts, tag usage counts,
the audit context, and resuming from a checkpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm
from pghistory.models import Events

from contacts import bulk
from contacts.models import Contact, ContactTag
from contacts.services import create_contact, set_tags, soft_delete_contact
from crm import jobs
from crm.models import CustomFieldDefinition, Job, JobItem, Tag, Team

pytestmark = pytest.mark.django_db


def make(world, name, *, org=None, **data):
    return create_contact(organization=org or world.org, data={"first_name": name, **data})


@pytest.fixture
def people(world):
    """Team A's contacts (alice's, bob's, the team queue), rita's (team B), and one of Globex."""
    return {
        "alice": make(world, "Ann", owner=world.alice, team=world.team_a, email="ann@example.com"),
        "bob": make(world, "Ben", owner=world.bob, team=world.team_a),
        "queue": make(world, "Quinn", team=world.team_a),
        "rita": make(world, "Rob", owner=world.rita, team=world.team_b),
        "other": make(world, "Olaf", org=world.other_org, owner=world.other_rep),
    }


@pytest.fixture
def tags(world):
    return {"vip": Tag.objects.create(organization=world.org, name="VIP"),
            "hot": Tag.objects.create(organization=world.org, name="Hot"),
            "foreign": Tag.objects.create(organization=world.other_org, name="Foreign")}


def outcomes(job) -> dict[int, str]:
    return dict(JobItem.objects.filter(job=job).values_list("object_id", "outcome"))


def reload(contact):
    return Contact.all_objects.get(pk=contact.pk)


def usage(tag):
    return Tag.objects.get(pk=tag.pk).usage_count


# -- each action -------------------------------------------------------------------------------

def test_assign_owner_and_report_per_row(world, people):
    p = people
    job = bulk.start(world.manager_a, action="assign_owner", params={"owner": world.bob.pk},
                     ids=[p["alice"].pk, p["bob"].pk, p["queue"].pk])
    assert job.status == Job.Status.DONE
    assert outcomes(job) == {p["alice"].pk: "changed", p["bob"].pk: "unchanged", p["queue"].pk: "changed"}
    assert (job.total, job.processed, job.succeeded, job.failed) == (3, 3, 3, 0)
    assert reload(p["alice"]).owner_id == world.bob.pk and reload(p["queue"]).owner_id == world.bob.pk
    item = JobItem.objects.get(job=job, object_id=p["alice"].pk)
    assert item.before == {"owner": world.alice.pk} and item.after == {"owner": world.bob.pk}


def test_assign_team_to_none(world, people):
    job = bulk.start(world.admin, action="assign_team", params={"team": None}, ids=[people["rita"].pk])
    assert outcomes(job) == {people["rita"].pk: "changed"}
    assert reload(people["rita"]).team_id is None


def test_set_stage(world, people):
    job = bulk.start(world.admin, action="set_stage", params={"lifecycle_stage": "customer"},
                     ids=[people["alice"].pk, people["rita"].pk])
    assert job.succeeded == 2
    assert reload(people["rita"]).lifecycle_stage == "customer"


def test_set_and_clear_custom_field(world, people):
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="budget", label="Budget",
                                         field_type="number")
    job = bulk.start(world.admin, action="set_custom_field", params={"key": "budget", "value": "1200"},
                     ids=[people["alice"].pk])
    assert reload(people["alice"]).custom_fields == {"budget": 1200}
    assert JobItem.objects.get(job=job).before == {"custom_fields": {}}
    bulk.start(world.admin, action="set_custom_field", params={"key": "budget", "value": ""},
               ids=[people["alice"].pk])
    assert reload(people["alice"]).custom_fields == {}


def test_add_and_remove_tags_keep_usage_counts(world, people, tags):
    vip, hot = tags["vip"], tags["hot"]
    set_tags(people["alice"], [vip])
    assert usage(vip) == 1
    ids = [people["alice"].pk, people["bob"].pk, people["queue"].pk]
    job = bulk.start(world.manager_a, action="add_tags", params={"tags": [vip.pk, hot.pk]}, ids=ids)
    assert outcomes(job) == dict.fromkeys(ids, "changed")
    assert JobItem.objects.get(job=job, object_id=people["alice"].pk).after == {"tags_added": [hot.pk]}
    assert (usage(vip), usage(hot)) == (3, 3)
    assert ContactTag.objects.filter(tag=vip).count() == 3

    job = bulk.start(world.manager_a, action="remove_tags", params={"tags": [vip.pk]}, ids=ids[:2])
    assert job.succeeded == 2
    assert (usage(vip), usage(hot)) == (1, 3)
    assert set(ContactTag.objects.filter(tag=vip).values_list("contact_id", flat=True)) == {people["queue"].pk}


def test_delete_and_restore_with_usage_counts(world, people, tags):
    set_tags(people["alice"], [tags["vip"]])
    job = bulk.start(world.admin, action="delete", params={}, ids=[people["alice"].pk, people["bob"].pk])
    assert job.succeeded == 2
    assert reload(people["alice"]).deleted_at is not None
    assert usage(tags["vip"]) == 0
    # Other actions leave trashed rows alone, and say why.
    job = bulk.start(world.admin, action="set_stage", params={"lifecycle_stage": "sql"}, ids=[people["alice"].pk])
    item = JobItem.objects.get(job=job)
    assert item.outcome == "invalid" and "trash" in item.message
    job = bulk.start(world.admin, action="restore", params={}, ids=[people["alice"].pk, people["queue"].pk])
    assert outcomes(job) == {people["alice"].pk: "changed", people["queue"].pk: "unchanged"}
    assert reload(people["alice"]).deleted_at is None
    assert usage(tags["vip"]) == 1


def test_restore_reports_an_email_taken_meanwhile(world, people):
    soft_delete_contact(people["alice"])
    make(world, "Another Ann", email="ann@example.com")
    job = bulk.start(world.admin, action="restore", params={}, ids=[people["alice"].pk])
    item = JobItem.objects.get(job=job)
    assert (item.outcome, item.field) == ("invalid", "email")
    assert "already exists" in item.message
    assert reload(people["alice"]).deleted_at is not None


# -- who may do what ---------------------------------------------------------------------------

def test_invisible_ids_are_not_found_and_untouched(world, people):
    p = people
    job = bulk.start(world.alice, action="set_stage", params={"lifecycle_stage": "customer"},
                     ids=[p["alice"].pk, p["bob"].pk, p["rita"].pk, p["other"].pk, 10**9])
    assert outcomes(job) == {p["alice"].pk: "changed", p["bob"].pk: "not_found", p["rita"].pk: "not_found",
                             p["other"].pk: "not_found", 10**9: "not_found"}
    assert job.failed == 4
    for key in ("bob", "rita", "other"):
        assert reload(p[key]).lifecycle_stage == "lead"
    # Not-found rows never carry a name or any value of the row.
    rows = bulk.item_rows(world.alice, JobItem.objects.filter(job=job))
    assert {row["name"] for row in rows if row["result"] == "not_found"} == {""}


def test_visible_but_not_changeable_rows_are_reported_with_the_reason(world, people):
    # A viewer sees team A's contacts, read-only.
    job = bulk.start(world.viewer_a, action="set_stage", params={"lifecycle_stage": "sql"},
                     ids=[people["alice"].pk, people["rita"].pk])
    items = {i.object_id: i for i in JobItem.objects.filter(job=job)}
    assert items[people["alice"].pk].outcome == "forbidden"
    assert items[people["alice"].pk].message == "Your role is read-only."
    assert items[people["rita"].pk].outcome == "not_found"
    # A rep with a view-only share of rita's contact sees it but may not change it.
    assign_perm("view_contact", world.alice, people["rita"])
    job = bulk.start(world.alice, action="delete", params={}, ids=[people["rita"].pk])
    item = JobItem.objects.get(job=job)
    assert item.outcome == "forbidden" and "may not delete" in item.message
    assert reload(people["rita"]).deleted_at is None


# -- parameters and selection are validated before anything runs -------------------------------

@pytest.mark.parametrize(("action", "params", "field"), [
    ("nope", {}, "action"),
    ("assign_owner", {}, "owner"),
    ("assign_owner", {"owner": 10**9}, "owner"),
    ("assign_owner", {"owner": "abc"}, "owner"),
    ("assign_team", {"team": 10**9}, "team"),
    ("add_tags", {"tags": []}, "tags"),
    ("add_tags", {"tags": [10**9]}, "tags"),
    ("set_stage", {"lifecycle_stage": "bogus"}, "lifecycle_stage"),
    ("set_stage", {"lifecycle_stage": "sql", "owner": 1}, "owner"),
    ("set_custom_field", {"key": "nope", "value": 1}, "key"),
    ("delete", {"force": True}, "force"),
])
def test_bad_params_are_rejected_naming_the_param(world, people, action, params, field):
    with pytest.raises(ValidationError) as exc:
        bulk.start(world.admin, action=action, params=params, ids=[people["alice"].pk])
    assert field in exc.value.message_dict
    assert not Job.objects.exists()


def test_other_organizations_rows_are_not_valid_params(world, people, tags):
    other_team = Team.objects.get(organization=world.other_org)
    CustomFieldDefinition.objects.create(organization=world.other_org, model="contact", key="secret",
                                         label="Secret", field_type="text")
    for action, params, field in [
        ("assign_owner", {"owner": world.other_rep.pk}, "owner"),
        ("assign_team", {"team": other_team.pk}, "team"),
        ("add_tags", {"tags": [tags["foreign"].pk]}, "tags"),
        ("set_custom_field", {"key": "secret", "value": "x"}, "key"),
    ]:
        with pytest.raises(ValidationError) as exc:
            bulk.start(world.admin, action=action, params=params, ids=[people["alice"].pk])
        assert field in exc.value.message_dict
    assert not Job.objects.exists()


def test_custom_field_value_must_fit_its_type(world, people):
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="budget", label="Budget",
                                         field_type="number")
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="plan", label="Plan",
                                         field_type="select", options=["basic", "pro"], required=True)
    for params in ({"key": "budget", "value": "lots"}, {"key": "plan", "value": "gold"},
                   {"key": "plan", "value": ""}):
        with pytest.raises(ValidationError) as exc:
            bulk.start(world.admin, action="set_custom_field", params=params, ids=[people["alice"].pk])
        assert "value" in exc.value.message_dict
    assert reload(people["alice"]).custom_fields == {}


def test_reps_assign_only_themselves(world, people):
    with pytest.raises(ValidationError) as exc:
        bulk.start(world.alice, action="assign_owner", params={"owner": world.bob.pk}, ids=[people["alice"].pk])
    assert "owner" in exc.value.message_dict
    job = bulk.start(world.alice, action="assign_owner", params={"owner": None}, ids=[people["alice"].pk])
    assert reload(people["alice"]).owner_id is None and job.succeeded == 1


def test_selection_is_checked(world, people):
    for selection, field in [({}, "ids"), ({"ids": []}, "ids"), ({"ids": ["x"]}, "ids"),
                             ({"ids": [1], "filters": {}}, "ids"), ({"filters": {"nope": "1"}}, "filters"),
                             ({"filters": {"lifecycle_stage": "bogus"}}, "filters"), ({"filters": "x"}, "filters")]:
        with pytest.raises(ValidationError) as exc:
            bulk.start(world.admin, action="delete", params={}, **selection)
        assert field in exc.value.message_dict, selection
    assert not Job.objects.exists()


def test_users_without_organization_cannot_start(world, people, django_user_model):
    stranger = django_user_model.objects.create_user("stranger@example.com", "pw")
    with pytest.raises(PermissionDenied):
        bulk.start(stranger, action="delete", params={}, ids=[people["alice"].pk])


# -- filters as the selection ------------------------------------------------------------------

def test_filters_select_what_the_list_shows(world, people, tags):
    set_tags(people["alice"], [tags["vip"]])
    set_tags(people["rita"], [tags["vip"]])
    # manager_a sees team A (alice's) but not team B (rita's), whatever the filter says.
    job = bulk.start(world.manager_a, action="set_stage", params={"lifecycle_stage": "mql"},
                     filters={"tags": [str(tags["vip"].pk)], "ordering": "-created", "per_page": "25"})
    assert outcomes(job) == {people["alice"].pk: "changed"}
    assert job.total == 1
    assert reload(people["rita"]).lifecycle_stage == "lead"
    # Another organization's tag is not a valid filter value.
    with pytest.raises(ValidationError) as exc:
        bulk.start(world.manager_a, action="delete", params={}, filters={"tags": [str(tags["foreign"].pk)]})
    assert "filters" in exc.value.message_dict


def test_restore_with_filters_works_on_the_trash(world, people):
    soft_delete_contact(people["alice"])
    soft_delete_contact(people["bob"])
    job = bulk.start(world.manager_a, action="restore", params={}, filters={"q": "an"})
    assert outcomes(job) == {people["alice"].pk: "changed"}
    assert reload(people["bob"]).deleted_at is not None


# -- undo ----------------------------------------------------------------------------------------

def test_undo_restores_previous_values_and_reports_conflicts(world, people):
    p = people
    job = bulk.start(world.manager_a, action="assign_owner", params={"owner": world.manager_a.pk},
                     ids=[p["alice"].pk, p["bob"].pk, p["queue"].pk])
    # bob's contact is changed again afterwards: the undo leaves it alone.
    Contact.objects.filter(pk=p["bob"].pk).update(owner=world.alice)
    undo = bulk.start_undo(world.manager_a, job)
    assert undo.status == Job.Status.DONE and undo.undoes_id == job.pk
    assert outcomes(undo) == {p["alice"].pk: "changed", p["bob"].pk: "conflict", p["queue"].pk: "changed"}
    assert (undo.succeeded, undo.failed) == (2, 1)
    assert reload(p["alice"]).owner_id == world.alice.pk
    assert reload(p["queue"]).owner_id is None
    assert reload(p["bob"]).owner_id == world.alice.pk
    job.refresh_from_db()
    assert job.status == Job.Status.UNDONE
    # Once undone, never twice; an undo is not undone either.
    with pytest.raises(ValidationError):
        bulk.start_undo(world.manager_a, job)
    with pytest.raises(ValidationError):
        bulk.start_undo(world.manager_a, undo)


def test_undo_of_each_action(world, people, tags):
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="budget", label="Budget",
                                         field_type="number")
    Contact.objects.filter(pk=people["alice"].pk).update(custom_fields={"budget": 5})
    set_tags(people["bob"], [tags["hot"]])
    ids = [people["alice"].pk, people["bob"].pk]
    before = {pk: (c.team_id, c.lifecycle_stage, c.custom_fields) for pk, c in
              Contact.objects.in_bulk(ids).items()}
    for action, params in [("assign_team", {"team": world.team_b.pk}), ("set_stage", {"lifecycle_stage": "sql"}),
                           ("set_custom_field", {"key": "budget", "value": 9}),
                           ("add_tags", {"tags": [tags["vip"].pk]}), ("remove_tags", {"tags": [tags["hot"].pk]}),
                           ("delete", {})]:
        job = bulk.start(world.admin, action=action, params=params, ids=ids)
        assert job.succeeded == 2, action
        undo = bulk.start_undo(world.admin, job)
        changed = {pk for pk, outcome in outcomes(job).items() if outcome == "changed"}
        assert changed, action
        assert outcomes(undo) == dict.fromkeys(changed, "changed"), action
    after = {pk: (c.team_id, c.lifecycle_stage, c.custom_fields) for pk, c in
             Contact.objects.in_bulk(ids).items()}
    assert after == before
    assert set(ContactTag.objects.filter(contact_id__in=ids).values_list("contact_id", "tag_id")) == {
        (people["bob"].pk, tags["hot"].pk)}
    assert (usage(tags["vip"]), usage(tags["hot"])) == (0, 1)


def test_undo_of_restore_trashes_again_and_tag_conflicts(world, people, tags):
    soft_delete_contact(people["alice"])
    job = bulk.start(world.admin, action="restore", params={}, ids=[people["alice"].pk])
    undo = bulk.start_undo(world.admin, job)
    assert outcomes(undo) == {people["alice"].pk: "changed"}
    assert reload(people["alice"]).deleted_at is not None

    job = bulk.start(world.admin, action="add_tags", params={"tags": [tags["vip"].pk]},
                     ids=[people["bob"].pk, people["queue"].pk])
    set_tags(people["queue"], [])  # the tag was removed again by hand
    undo = bulk.start_undo(world.admin, job)
    assert outcomes(undo) == {people["bob"].pk: "changed", people["queue"].pk: "conflict"}
    assert usage(tags["vip"]) == 0


def test_undo_checks_the_undoers_rights(world, people):
    job = bulk.start(world.admin, action="set_stage", params={"lifecycle_stage": "sql"},
                     ids=[people["alice"].pk, people["rita"].pk])
    # Pages and API let only the actor and org admins start an undo; its rows are checked for the undoer.
    undo = bulk.start_undo(world.manager_b, job)
    assert outcomes(undo) == {people["alice"].pk: "not_found", people["rita"].pk: "changed"}


# -- audit ----------------------------------------------------------------------------------------

def test_row_changes_carry_the_operation_in_their_audit_context(world, people, tags):
    job = bulk.start(world.manager_a, action="add_tags", params={"tags": [tags["vip"].pk]},
                     ids=[people["alice"].pk])
    link = Events.objects.filter(pgh_obj_model="contacts.ContactTag", pgh_label="insert").get()
    assert link.pgh_context["operation"] == job.pk
    assert link.pgh_context["user"] == world.manager_a.pk and link.pgh_context["source"] == "bulk"
    job = bulk.start(world.manager_a, action="set_stage", params={"lifecycle_stage": "sql"},
                     ids=[people["alice"].pk])
    event = Events.objects.filter(pgh_obj_model="contacts.Contact", pgh_obj_id=str(people["alice"].pk),
                                  pgh_label="update").order_by("-pgh_id").first()
    assert event.pgh_diff["lifecycle_stage"] == ["lead", "sql"]
    assert event.pgh_context["operation"] == job.pk
    undo = bulk.start_undo(world.manager_a, job)
    event = Events.objects.filter(pgh_obj_model="contacts.Contact", pgh_obj_id=str(people["alice"].pk),
                                  pgh_label="update").order_by("-pgh_id").first()
    assert event.pgh_diff["lifecycle_stage"] == ["sql", "lead"]
    assert event.pgh_context["operation"] == undo.pk


# -- batches, checkpoints, the sweeper --------------------------------------------------------------

def test_a_resumed_job_does_not_apply_a_batch_twice(world, tags, monkeypatch):
    monkeypatch.setattr(bulk, "BATCH_SIZE", 2)
    monkeypatch.setattr(bulk, "INLINE_LIMIT", 0)
    contacts = [make(world, f"C{i}", team=world.team_a) for i in range(5)]
    job = bulk.start(world.admin, action="add_tags", params={"tags": [tags["vip"].pk]},
                     ids=[c.pk for c in contacts])
    assert job.status == Job.Status.QUEUED
    # A worker does one batch, then dies (its transaction committed that batch and its checkpoint).
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        locked.status = Job.Status.RUNNING
        assert bulk._step(locked) is False
        locked.save()
    job.refresh_from_db()
    assert job.checkpoint == {"after": contacts[1].pk} and job.processed == 2
    assert job.progress == 40
    # The sweeper's re-queued message runs it again: from the checkpoint.
    bulk.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.DONE and job.processed == 5
    assert JobItem.objects.filter(job=job).count() == 5
    assert usage(tags["vip"]) == 5 and ContactTag.objects.filter(tag=tags["vip"]).count() == 5
    # Running a finished job again does nothing.
    bulk.run(job.pk)
    assert JobItem.objects.filter(job=job).count() == 5


def test_a_failing_batch_is_rolled_back_and_the_job_failed(world, people):
    job = Job.objects.create(organization=world.org, kind=bulk.KIND, task=bulk.TASK, actor=world.admin,
                             params={"action": "set_stage", "params": {}, "ids": [people["alice"].pk]})
    bulk.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "lifecycle_stage" in job.error
    assert not JobItem.objects.filter(job=job).exists() and job.processed == 0


def test_sweeper_requeues_jobs_whose_heartbeat_stopped(world, settings, django_capture_on_commit_callbacks):
    settings.KITH_JOB_MAX_ATTEMPTS = 3
    old = timezone.now() - timedelta(seconds=settings.KITH_JOB_STALE_SECONDS + 5)

    def job(**fields):
        return Job.objects.create(organization=world.org, kind=bulk.KIND, task=bulk.TASK, actor=world.admin,
                                  **fields)

    stale = job(status="running", heartbeat_at=old, attempts=1)
    lost = job(status="queued", heartbeat_at=old)
    fresh = job(status="running")
    finished = job(status="done", heartbeat_at=old)
    worn_out = job(status="running", heartbeat_at=old, attempts=3)
    with django_capture_on_commit_callbacks() as callbacks:
        requeued = jobs.requeue_stale_jobs()
    assert sorted(requeued) == sorted([stale.pk, lost.pk])
    assert len(callbacks) == 2  # one message each, sent after commit (not executed here)
    stale.refresh_from_db()
    assert stale.heartbeat_at > old and stale.attempts == 2
    worn_out.refresh_from_db()
    assert worn_out.status == "failed" and "attempts" in worn_out.error
    for unchanged in (fresh, finished):
        assert Job.objects.get(pk=unchanged.pk).status == unchanged.status


def test_operations_are_seen_by_their_actor_and_org_admins(world, people):
    job = bulk.start(world.alice, action="set_stage", params={"lifecycle_stage": "sql"}, ids=[people["alice"].pk])
    assert Job.objects.visible_to(world.alice).filter(pk=job.pk).exists()
    assert Job.objects.visible_to(world.admin).filter(pk=job.pk).exists()
    for user in (world.manager_a, world.bob, world.charlie):
        assert not Job.objects.visible_to(user).filter(pk=job.pk).exists()


def test_cancel_stops_before_the_next_batch_and_the_changes_can_be_undone(world, tags, monkeypatch):
    monkeypatch.setattr(bulk, "BATCH_SIZE", 2)
    monkeypatch.setattr(bulk, "INLINE_LIMIT", 0)
    contacts = [make(world, f"C{i}", team=world.team_a) for i in range(5)]
    job = bulk.start(world.admin, action="add_tags", params={"tags": [tags["vip"].pk]},
                     ids=[c.pk for c in contacts])
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        locked.status = Job.Status.RUNNING
        bulk._step(locked)
        locked.save()
    assert bulk.cancel(job) is True and job.status == Job.Status.CANCELLED
    assert bulk.cancel(job) is False
    bulk.run(job.pk)  # a message still in the queue: nothing more happens
    job.refresh_from_db()
    assert job.processed == 2 and usage(tags["vip"]) == 2
    undo = bulk.run(bulk.start_undo(world.admin, job).pk)  # (queued: more than INLINE_LIMIT rows)
    assert undo.succeeded == 2 and usage(tags["vip"]) == 0
    assert Job.objects.get(pk=job.pk).status == Job.Status.UNDONE


def test_a_cancelled_undo_gives_the_operation_back(world, people, monkeypatch):
    job = bulk.start(world.admin, action="set_stage", params={"lifecycle_stage": "sql"}, ids=[people["alice"].pk])
    monkeypatch.setattr(bulk, "INLINE_LIMIT", 0)
    undo = bulk.start_undo(world.admin, job)
    assert undo.status == Job.Status.QUEUED and Job.objects.get(pk=job.pk).status == Job.Status.UNDOING
    assert bulk.cancel(undo)
    assert Job.objects.get(pk=job.pk).status == Job.Status.DONE
    assert reload(people["alice"]).lifecycle_stage == "sql"


def test_a_segment_selects_the_rows_through_the_one_filterset(world, people, tags):
    """Segments are usable in bulk actions: the selection is `filters={"segment": id}`."""
    from contacts.models import Segment

    segment = Segment.objects.create(
        organization=world.org, name="Team A people", created_by=world.manager_a, sharing="organization",
        criteria={"op": "and", "rules": [{"field": "team", "operator": "in", "value": [world.team_a.pk]}]})
    job = bulk.start(world.manager_a, action="add_tags", params={"tags": [tags["hot"].pk]},
                     filters={"segment": str(segment.pk)})
    assert job.status == "done" and job.succeeded == 3
    assert set(Contact.objects.filter(tags=tags["hot"]).values_list("first_name", flat=True)) == {"Ann", "Ben",
                                                                                                   "Quinn"}
    # Another organization's segment is not a selection: a 400 naming it, nothing changed.
    foreign = Segment.objects.create(organization=world.other_org, name="Theirs", created_by=world.charlie,
                                     sharing="organization", criteria={"op": "and", "rules": []})
    with pytest.raises(ValidationError) as exc:
        bulk.start(world.manager_a, action="add_tags", params={"tags": [tags["vip"].pk]},
                   filters={"segment": str(foreign.pk)})
    assert "segment" in str(exc.value)
    assert usage(tags["vip"]) == 0
