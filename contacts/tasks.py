from __future__ import annotations

from celery import shared_task


@shared_task(organization_of="crm.Job")
def run_bulk_operation(job_id: int) -> str | None:
    """Run or resume a bulk operation on contacts from its checkpoint (contacts.bulk)."""
    from contacts import bulk

    job = bulk.run(job_id)
    return job.status if job is not None else None


@shared_task(organization_of="crm.Job")
def run_import_job(job_id: int) -> str | None:
    """Run or resume the preview, import or revert of a contact import (contacts.imports)."""
    from contacts import imports

    job = imports.run(job_id)
    return job.status if job is not None else None


@shared_task(organization_of="crm.Job")
def run_export(job_id: int) -> str | None:
    """Run or resume an export of contacts from its checkpoint (contacts.exports)."""
    from contacts import exports

    job = exports.run(job_id)
    return job.status if job is not None else None


@shared_task(per_organization=True)
def purge_expired_exports() -> list[int]:
    """Beat: delete the files of exports whose download link has expired."""
    from contacts import exports

    return exports.purge_expired()


@shared_task(per_organization=True)
def embed_pending() -> int:
    """After saves (debounced) and every minute from beat: embed contacts and companies whose
    embedding is missing or was cleared by a change. One run at a time."""
    from django.core.cache import cache

    from contacts import semantic

    if not cache.add("embeddings:running", 1, timeout=600):
        return 0
    try:
        return semantic.embed_pending()
    finally:
        cache.delete("embeddings:running")


@shared_task(organization_of="crm.Job")
def run_embedding_backfill(job_id: int) -> str | None:
    """Run or resume the embedding of a whole organization (contacts.semantic, `manage.py embed`)."""
    from contacts import semantic

    job = semantic.run_backfill(job_id)
    return job.status if job is not None else None


@shared_task(organization_of="crm.Job")
def run_bulk_merge(job_id: int) -> str | None:
    """Run or resume a bulk merge from its checkpoint (contacts.merge)."""
    from contacts import merge

    job = merge.run_bulk(job_id)
    return job.status if job is not None else None


@shared_task(organization_of="crm.Job")
def run_dedupe_scan(job_id: int) -> str | None:
    """Run or resume a duplicate scan of an organization from its checkpoint (contacts.duplicates)."""
    from contacts import duplicates

    job = duplicates.run(job_id)
    return job.status if job is not None else None


@shared_task(bind=True, organization_of="contacts.Contact")
def enrich_contact(self, contact_id: int, only=None, attempt: int = 1, actor_id: int | None = None,
                   force: bool = False) -> list[str] | None:
    """Enrich one contact (after a save that changed its inputs, the Enrich button, the API).
    Providers that failed are retried alone, with exponential backoff, KITH_ENRICHMENT_MAX_RETRIES
    times; each failure is recorded on the contact and overwrites nothing. Returns the failed
    providers' names (None when the contact is gone)."""
    from django.conf import settings

    from contacts import enrichment

    result = enrichment.enrich_contact(contact_id, only=only, attempt=attempt, actor_id=actor_id, force=force)
    if result is None:
        return None
    retries = attempt - 1
    if result["failed"] and retries < settings.KITH_ENRICHMENT_MAX_RETRIES:
        raise self.retry(kwargs={"only": result["failed"], "attempt": attempt + 1, "actor_id": actor_id,
                                 "force": force},
                         countdown=enrichment.retry_delay(retries),
                         max_retries=settings.KITH_ENRICHMENT_MAX_RETRIES)
    return result["failed"]


@shared_task(organization_of="crm.Job")
def run_enrichment_job(job_id: int) -> str | None:
    """Run or resume the enrichment of many contacts (after an import) from its checkpoint."""
    from contacts import enrichment

    job = enrichment.run_job(job_id)
    return job.status if job is not None else None


@shared_task(organization_of="crm.Job")
def run_privacy_export(job_id: int) -> str | None:
    """A subject access export (contacts.privacy)."""
    from contacts import privacy

    job = privacy.run_export(job_id)
    return job.status if job is not None else None


@shared_task(organization_of="crm.Job")
def run_erasure(job_id: int) -> str | None:
    """A GDPR erasure (contacts.privacy): the contact and every copy of the person's data."""
    from contacts import privacy

    job = privacy.run_erasure(job_id)
    return job.status if job is not None else None


@shared_task(per_organization=True)
def purge_privacy() -> dict:
    """Beat: expired subject access exports and request-log entries older than 30 days."""
    from contacts import privacy

    return privacy.purge_privacy()


@shared_task(per_organization=True)
def purge_trash() -> int:
    """Beat: erase contacts kept in the trash longer than their organization's retention."""
    from contacts import privacy

    return privacy.purge_trash()


@shared_task(organization_of="crm.Job")
def run_reseal(job_id: int) -> str | None:
    """Run or resume a job moving stored values between plain and encrypted columns (contacts.reseal)."""
    from contacts import reseal

    job = reseal.run(job_id)
    return job.status if job is not None else None


@shared_task(per_organization=True)
def score_pending() -> int:
    """After writes that change score inputs (debounced) and every minute from beat: rescore the
    contacts the triggers queued (contacts.scoring). Overlapping runs share the queue (SKIP LOCKED)."""
    from contacts import scoring

    return scoring.score_pending()


@shared_task(organization_of="crm.Job")
def run_scoring_job(job_id: int) -> str | None:
    """Run or resume an organization-wide score recompute from its checkpoint (contacts.scoring)."""
    from contacts import scoring

    job = scoring.run(job_id)
    return job.status if job is not None else None


@shared_task(per_organization=True)
def nightly_rescore() -> list[int]:
    """Beat, nightly: rescore every organization (recency decay changes scores without writes)."""
    from contacts import scoring

    return scoring.nightly()
