from __future__ import annotations

from celery import shared_task


@shared_task
def run_bulk_operation(job_id: int) -> str | None:
    """Run or resume a bulk operation on contacts from its checkpoint (contacts.bulk)."""
    from contacts import bulk

    job = bulk.run(job_id)
    return job.status if job is not None else None
