"""In-app notifications (the bell in the header, /notifications/) and the daily digest.

`notify(...)` is the one way to create a notification, for any app (tasks here, inbound
SMS in messaging). A `key` makes it idempotent: a second call with the same recipient and
key changes nothing, so beat tasks and webhook replays never notify twice."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity, Notification


def notify(user, kind: str, title: str, url: str, organization_id: int, *, key: str = "") -> Notification | None:
    """Record a notification for `user` (a User or id); returns it, or None when one with
    this key already exists (or the user is not a member of the organization)."""
    from crm.models import Membership

    user_id = getattr(user, "pk", user)
    if not Membership.objects.filter(user_id=user_id, organization_id=organization_id, user__is_active=True).exists():
        return None  # never across organizations, nor to deactivated members
    kind = kind if kind in Notification.Kind.values else Notification.Kind.OTHER
    if key and Notification.objects.filter(recipient_id=user_id, key=key[:100]).exists():
        return None
    try:
        with transaction.atomic():  # a savepoint: a concurrent twin loses quietly
            return Notification.objects.create(organization_id=organization_id, recipient_id=user_id, kind=kind,
                                               title=title[:255], url=url[:500], key=key[:100])
    except IntegrityError:
        return None


def unread_count(user) -> int:
    return Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True).count()


def mark_read(user, ids=None) -> int:
    """Mark the user's notifications read (all, or those in `ids`); returns how many changed."""
    rows = Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    return rows.update(read_at=timezone.now())


DUE_WINDOW = datetime.timedelta(days=7)


def notify_due_tasks(now=None) -> int:
    """Beat: one "task due" notification per open task whose due time has come, to its
    assignee (or its author when unassigned). Idempotent (the key is the task), so running
    it every few minutes, twice, or after a pause notifies each task once."""
    now = now or timezone.now()
    already = Notification.objects.filter(key=_due_key_expr(), recipient_id=OuterRef("_recipient"))
    from django.db.models.functions import Coalesce

    # Tasks that fell due in the last week: a beat that was down for days still catches up,
    # and tasks left open for months are not rescanned every few minutes.
    due = (Activity.objects.filter(type=Activity.Type.TASK, completed_at__isnull=True,
                                   status=Activity.Status.PLANNED, due_at__lte=now,
                                   due_at__gt=now - DUE_WINDOW)
           .exclude(contact__deleted_at__isnull=False)  # tasks of contacts in the trash wait with them
           .annotate(_recipient=Coalesce("assigned_to_id", "actor_id"))
           .filter(_recipient__isnull=False)
           .annotate(_done=Exists(already)).filter(_done=False)
           .select_related("contact", "company")
           .order_by("due_at", "id"))
    from activities.services import _activity_url

    count = 0
    for task in due.iterator(chunk_size=500):
        what = task.contact or task.company
        created = notify(task._recipient, Notification.Kind.TASK_DUE,
                         f"Task due: {task.subject or 'Task'}" + (f" ({what})" if what else ""),
                         _activity_url(task), task.organization_id, key=f"task_due:{task.pk}")
        count += created is not None
    return count


def _due_key_expr():
    from django.db.models import CharField, Value
    from django.db.models.functions import Cast, Concat

    return Concat(Value("task_due:"), Cast(OuterRef("pk"), CharField()))


# -- the daily digest

def digest_for(membership, now=None) -> dict | None:
    """What a member's digest would say: unread notifications of the last day and their
    open tasks overdue or due today (in their time zone); None when there is nothing."""
    from activities.tasks_page import task_groups

    now = now or timezone.now()
    user = membership.user
    since = max(membership.last_digest_at or now - datetime.timedelta(days=1), now - datetime.timedelta(days=1))
    notifications = list(Notification.objects.filter(recipient=user, read_at__isnull=True, created_at__gt=since)
                         .order_by("-created_at")[:50])
    groups = task_groups(user, now=now, zone=membership.zone(), limit=50)
    if not notifications and not groups["overdue"] and not groups["today"]:
        return None
    return {"user": user, "notifications": notifications, "overdue": groups["overdue"], "today": groups["today"],
            "zone": groups["zone"], "base_url": getattr(settings, "KITH_PUBLIC_URL", "") or ""}


def send_digests(now=None) -> int:
    """Beat (daily): email each member who asked for a digest and has something to hear
    about; at most one digest per member per 20 hours, so a re-run does not send twice."""
    from crm.models import Membership

    now = now or timezone.now()
    members = (Membership.objects.filter(email_digest=True, user__is_active=True)
               .exclude(last_digest_at__gt=now - datetime.timedelta(hours=20)).select_related("user"))
    sent = 0
    for membership in members:
        context = digest_for(membership, now)
        if context is None:
            continue
        with transaction.atomic():
            # Claim the day first: a concurrent run skips this member.
            claimed = (Membership.objects.filter(pk=membership.pk)
                       .exclude(last_digest_at__gt=now - datetime.timedelta(hours=20))
                       .update(last_digest_at=now))
            if not claimed:
                continue
            send_mail("Your Kith digest", render_to_string("activities/digest_email.txt", context),
                      None, [membership.user.email])
        sent += 1
    return sent


def tasks_url() -> str:
    return reverse("activities:my_tasks")


@transaction.atomic
def set_preferences(*, user, timezone_name: str, email_digest: bool):
    """Save a member's time zone (for "today" on My tasks and in the digest) and digest
    choice; raises ValidationError naming `timezone`."""
    from django.core.exceptions import ValidationError

    from crm.models import Membership

    membership = Membership.objects.select_for_update().get(user=user)
    membership.timezone = (timezone_name or "").strip()
    membership.email_digest = bool(email_digest)
    try:
        membership.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise ValidationError({"timezone": exc.message_dict.get("timezone", exc.messages)}) from None
    membership.save(update_fields=["timezone", "email_digest", "updated_at"])
    return membership
