"""Timeline operations shared by pages, API, imports and tasks."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q, Value
from django.db.models.functions import Greatest
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity
from contacts.models import Contact
from messaging import reminders


def _touch_contact(activity: Activity) -> None:
    """A done activity moves its contact's last_activity_at (the "last activity" sort and
    "gone quiet" segments), and last_contacted_at when it reached the person.
    GREATEST ignores NULL on PostgreSQL, and never moves the dates backwards."""
    if activity.contact_id is None or activity.status != Activity.Status.DONE:
        return
    when = Value(activity.occurred_at)
    values = {"last_activity_at": Greatest("last_activity_at", when)}
    if activity.type in Activity.CONTACT_TYPES:
        values["last_contacted_at"] = Greatest("last_contacted_at", when)
    Contact.all_objects.filter(pk=activity.contact_id).update(**values)


def refresh_contact_dates(contact_id: int | None) -> None:
    """Recompute a contact's last_activity_at / last_contacted_at from its remaining done
    activities: needed when one is deleted, moved back in time, cancelled or reopened, which
    GREATEST alone cannot undo. One aggregate over the contact's timeline index."""
    if contact_id is None:
        return
    done = Activity.objects.filter(contact_id=contact_id, status=Activity.Status.DONE)
    dates = done.aggregate(last_activity=Max("occurred_at"),
                           last_contacted=Max("occurred_at", filter=Q(type__in=Activity.CONTACT_TYPES)))
    Contact.all_objects.filter(pk=contact_id).update(last_activity_at=dates["last_activity"],
                                                     last_contacted_at=dates["last_contacted"])


def check_assignee(activity: Activity) -> None:
    """A task goes to an active member of the organization who can see its contact
    (viewers are read-only and cannot complete tasks, so they are not offered)."""
    if activity.assigned_to_id is None:
        return
    from activities.assignees import assignable_users

    if activity.assigned_to_id not in {u.pk for u in assignable_users(activity.organization_id, activity.contact)}:
        raise ValidationError({"assigned_to": "Choose a member of your organization who can see this contact "
                                              "and work on it."})


def _normalize_task(activity: Activity, data: dict) -> None:
    """A task's status and completion agree: done with a completed_at, else planned (or
    cancelled). Setting either one (`data`) sets the other; an Activity's default status
    ("done") does not complete a new task."""
    if activity.type != Activity.Type.TASK:
        return
    if activity.status == Activity.Status.CANCELLED:
        activity.completed_at = None
    elif "status" in data and "completed_at" not in data:
        if activity.status == Activity.Status.DONE:
            activity.completed_at = activity.completed_at or timezone.now()
        else:
            activity.completed_at = None
    else:
        activity.status = Activity.Status.DONE if activity.completed_at else Activity.Status.PLANNED


def _activity_url(activity: Activity) -> str:
    if activity.contact_id:
        return reverse("contacts:detail", args=[activity.contact_id]) + f"#activity-{activity.pk}"
    return reverse("companies:detail", args=[activity.company_id]) + f"#activity-{activity.pk}"


def _notify_assignment(activity: Activity, actor) -> None:
    """Tell the assignee about a task someone else gave them (once per task and assignee)."""
    from activities.notifications import notify

    if activity.type != Activity.Type.TASK or activity.assigned_to_id is None:
        return
    if actor is not None and activity.assigned_to_id == actor.pk:
        return
    who = actor.get_full_name() if actor is not None else "Someone"
    notify(activity.assigned_to, "task_assigned", f"{who} assigned you a task: {activity.subject or 'Task'}",
           _activity_url(activity), activity.organization_id, key=f"task_assigned:{activity.pk}")


@transaction.atomic
def log_activity(*, organization_id: int, data: dict, actor=None) -> Activity:
    """Validate and record an activity; raises ValidationError naming the field at fault."""
    activity = Activity(organization_id=organization_id, actor=actor, **data)
    _normalize_task(activity, data)
    activity.full_clean()
    check_assignee(activity)
    activity.save()
    _touch_contact(activity)
    _notify_assignment(activity, actor)
    return activity


@transaction.atomic
def update_activity(*, activity: Activity, data: dict, actor=None) -> Activity:
    """Validate and save changes to an activity. The contact's dates are recomputed when the
    change can move them back (date moved, status changed, contact changed), and the new
    assignee of a task is notified."""
    before = Activity.objects.filter(pk=activity.pk).values(
        "contact_id", "occurred_at", "status", "type", "assigned_to_id").first() or {}
    for name, value in data.items():
        setattr(activity, name, value)
    _normalize_task(activity, data)
    activity.full_clean()
    if activity.assigned_to_id != before.get("assigned_to_id"):
        check_assignee(activity)
    activity.save()
    if (before.get("contact_id") != activity.contact_id or before.get("status") != activity.status
            or before.get("type") != activity.type or (before.get("occurred_at") or activity.occurred_at)
            > activity.occurred_at):
        refresh_contact_dates(before.get("contact_id"))
        if activity.contact_id != before.get("contact_id"):
            refresh_contact_dates(activity.contact_id)
    else:
        _touch_contact(activity)
    if activity.assigned_to_id != before.get("assigned_to_id"):
        _notify_assignment(activity, actor)
    reminders.sync_reminders(activity)
    return activity


@transaction.atomic
def delete_activity(activity: Activity) -> None:
    """Delete an activity; its contact's dates fall back to the remaining activities."""
    contact_id = activity.contact_id
    activity.delete()
    refresh_contact_dates(contact_id)


def set_task_done(*, activity: Activity, done: bool, actor=None) -> Activity:
    """Mark a task done (now) or open again."""
    if activity.type != Activity.Type.TASK:
        raise ValidationError({"type": "Only tasks can be marked done."})
    if done == (activity.completed_at is not None):
        return activity
    return update_activity(activity=activity, actor=actor, data={
        "completed_at": timezone.now() if done else None,
        "status": Activity.Status.DONE if done else Activity.Status.PLANNED})
