"""`manage.py embed`: compute the embeddings of contacts and companies that have none."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from contacts import semantic
from crm.models import Job, Organization


class Command(BaseCommand):
    help = ("Embed the contacts and companies that have no embedding yet (new, changed, or all with "
            "--rebuild), one organization at a time, showing progress. --queue leaves the work to "
            "the Celery worker (progress then shows on the job).")

    def add_arguments(self, parser):
        parser.add_argument("--organization", help="Slug of one organization (default: all).")
        parser.add_argument("--rebuild", action="store_true", help="Re-embed everything, not only what is missing.")
        parser.add_argument("--queue", action="store_true", help="Queue a job per organization for the worker.")

    def handle(self, *args, organization=None, rebuild=False, queue=False, **options):
        organizations = Organization.objects.order_by("pk")
        if organization:
            organizations = organizations.filter(slug=organization)
            if not organizations.exists():
                raise CommandError(f'No organization with the slug "{organization}".')
        for org in organizations:
            started = time.monotonic()
            job = semantic.start_backfill(org.pk, rebuild=rebuild, queue=queue)
            if queue:
                self.stdout.write(f"{org.slug}: queued job #{job.pk} for {job.total:,} records")
                continue
            job = semantic.run_backfill(job.pk, self._progress(org))
            seconds = max(time.monotonic() - started, 1e-6)
            if job.status != Job.Status.DONE:
                raise CommandError(f"{org.slug}: job #{job.pk} {job.status}: {job.error}")
            self.stdout.write(self.style.SUCCESS(
                f"{org.slug}: embedded {job.succeeded:,} of {job.total:,} in {seconds:.1f} s "
                f"({job.succeeded / seconds:,.0f}/s)" + (f", {job.failed:,} changed meanwhile (left for the "
                                                        f"worker)" if job.failed else "")))

    def _progress(self, org):
        def show(job):
            self.stdout.write(f"{org.slug}: {job.processed:,} of {job.total:,}", ending="\r")
            self.stdout.flush()
        return show
