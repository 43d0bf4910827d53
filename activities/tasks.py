from __future__ import annotations

from celery import shared_task


@shared_task(per_organization=True)
def notify_due_tasks() -> int:
    """Beat (every few minutes): one "task due" notification per task whose due time came."""
    from activities.notifications import notify_due_tasks as run

    return run()


@shared_task(per_organization=True)
def send_daily_digests() -> int:
    """Beat (daily): the email digest for members who turned it on and have something to read."""
    from activities.notifications import send_digests

    return send_digests()
