"""Lead scoring: the organization-wide recompute (the nightly job) in contacts per second.

    python -m bench.scoring --contacts 5000 [--keep]

In a database of its own (`<name>_bench_scoring`, dropped afterwards unless --keep): `seed_demo`
loads --contacts contacts into one organization (with companies, activities, consent and
messages), a scoring model with target industries is stored; the queue the load filled (its
inserts fire the scoring triggers) is worked through as the worker would; then the recompute job
(contacts.scoring.start_recompute + run, the same steps the worker runs) is timed twice: the
first run writes most scores and their history, the second (nothing changed) only reads and
compares — the steady nightly case where few scores move.
"""

from __future__ import annotations

import argparse
import os
import time

from bench.owndb import in_own_database


def run(contacts: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    from activities.models import Activity
    from contacts import scoring
    from contacts.models import Contact, ScoreHistory, ScoringModel
    from crm.models import Organization

    started = time.perf_counter()
    call_command("seed_demo", contacts=contacts, orgs=1, stdout=open(os.devnull, "w"))
    print(f"seeded {contacts:,} contacts in {time.perf_counter() - started:.0f} s", flush=True)
    org = Organization.objects.order_by("pk").last()
    live = Contact.objects.filter(organization=org).count()
    activities = Activity.objects.filter(organization=org, contact__isnull=False).count()
    print(f"{live:,} contacts, {activities:,} activities on them", flush=True)
    ScoringModel.objects.update_or_create(organization=org, defaults={
        "target_industries": ["Software", "Healthcare", "Financial services"]})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_contact")
        cursor.execute("SELECT count(*) FROM contacts_scorepending")
        queued = cursor.fetchone()[0]
    # The seed's inserts queued every contact (the triggers): what the worker does after an import.
    started = time.perf_counter()
    done = scoring.score_pending()
    seconds = time.perf_counter() - started
    print(f"queue after the load: {queued:,} queued, {done:,} rescored in {seconds:.1f} s = "
          f"{done / seconds:,.0f} contacts/s", flush=True)
    Contact.objects.filter(organization=org).update(score=0)  # the nightly job starts from scratch
    for label in ("first run (writes scores and history)", "second run (nothing changed)"):
        job = scoring.start_recompute(org.pk, reason="nightly", queue=False)
        started = time.perf_counter()
        job = scoring.run(job.pk)
        seconds = time.perf_counter() - started
        print(f"{label}: {job.processed:,} contacts in {seconds:.1f} s = {job.processed / seconds:,.0f} contacts/s, "
              f"{job.succeeded:,} changed ({job.status})", flush=True)
    scores = list(Contact.objects.filter(organization=org).values_list("score", flat=True))
    print(f"scores: min {min(scores)}, max {max(scores)}, mean {sum(scores) / len(scores):.1f}; "
          f"{ScoreHistory.objects.filter(organization=org).count():,} history rows", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.scoring")
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args(argv)

    def bench():
        print(f"\n== Lead scoring recompute at {args.contacts:,} contacts ==")
        run(args.contacts)

    in_own_database("scoring", "bench.scoring", ["--contacts", str(args.contacts)], bench, keep=args.keep)


if __name__ == "__main__":
    main()
