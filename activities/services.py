"""Timeline operations shared by pages, API, imports and tasks."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Greatest

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


@transaction.atomic
def log_activity(*, organization_id: int, data: dict, actor=None) -> Activity:
    """Validate and record an activity; raises ValidationError naming the field at fault."""
    activity = Activity(organization_id=organization_id, actor=actor, **data)
    activity.full_clean()
    activity.save()
    _touch_contact(activity)
    return activity


@transaction.atomic
def update_activity(*, activity: Activity, data: dict) -> Activity:
    for name, value in data.items():
        setattr(activity, name, value)
    activity.full_clean()
    activity.save()
    _touch_contact(activity)
    reminders.sync_reminders(activity)
    return activity
