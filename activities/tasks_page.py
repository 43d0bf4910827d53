""""My tasks": a member's open tasks, grouped overdue / today / upcoming in their time zone."""

from __future__ import annotations

import datetime

from django.db.models import F
from django.utils import timezone

from activities.models import Activity

GROUP_LIMIT = 100


def open_tasks(user):
    """Open tasks assigned to `user` on records they can (still) see."""
    return (Activity.objects.visible_to(user)
            .filter(type=Activity.Type.TASK, assigned_to_id=user.pk, completed_at__isnull=True,
                    status=Activity.Status.PLANNED)
            .select_related("contact", "company", "actor"))


def day_bounds(now, zone) -> tuple[datetime.datetime, datetime.datetime]:
    """Start of today and of tomorrow in `zone` (aware datetimes)."""
    local = timezone.localtime(now, zone)
    start = datetime.datetime.combine(local.date(), datetime.time.min, tzinfo=zone)
    end = datetime.datetime.combine(local.date() + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone)
    return start, end


def task_groups(user, *, now=None, zone=None, limit: int = GROUP_LIMIT) -> dict:
    """{"overdue": [...], "today": [...], "upcoming": [...]}: overdue is past its due time,
    today is due later today (in `zone`), upcoming after today or without a due date (last);
    each capped at `limit`; one query per group."""
    now = now or timezone.now()
    if zone is None:
        membership = getattr(user, "membership", None)
        zone = membership.zone() if membership is not None else timezone.get_default_timezone()
    _, end = day_bounds(now, zone)
    rows = open_tasks(user)
    return {
        "overdue": list(rows.filter(due_at__lt=now).order_by("due_at", "id")[:limit]),
        "today": list(rows.filter(due_at__gte=now, due_at__lt=end).order_by("due_at", "id")[:limit]),
        "upcoming": list(rows.exclude(due_at__lt=end).order_by(F("due_at").asc(nulls_last=True), "id")[:limit]),
        "zone": zone,
        "limit": limit,
    }
