from __future__ import annotations

from celery import shared_task

from crm import services


@shared_task(organization_of="crm.Organization")
def recount_tag_usage(organization_id: int) -> int:
    """Recompute every tag's usage count in one organization; returns how many changed."""
    return services.recount_tag_usage(organization_id)


@shared_task
def recount_all_tag_usage() -> None:
    """Beat: queue one recount per organization."""
    from crm.models import Organization

    for organization_id in Organization.objects.values_list("pk", flat=True):
        recount_tag_usage.delay(organization_id)


@shared_task(per_organization=True)
def requeue_stale_jobs() -> list[int]:
    """Beat: re-queue long jobs whose worker stopped sending heartbeats (they resume from their checkpoint)."""
    from crm import jobs

    return jobs.requeue_stale_jobs()


@shared_task(acks_late=True, per_organization=True)
def deliver_webhooks() -> int:
    """Send due webhook deliveries (on commit of a tracked write, and beat every few seconds);
    queues itself again when its time budget ran out with more due."""
    from crm import webhooks

    attempted = webhooks.deliver_due(budget_seconds=50.0)
    if webhooks.has_due():
        deliver_webhooks.delay()
    return attempted


@shared_task(per_organization=True)
def purge_webhook_events() -> int:
    """Beat (daily): delete webhook events and their delivery log past the retention."""
    from crm import webhooks

    return webhooks.purge_old_events()
