"""Export throughput on a seeded database (run by `python -m bench`, DATABASE_URL set).

Every organization is exported by its org admin through contacts.exports (start_export's
validation, then the chunked job runner, the same code a Celery worker runs) to CSV and to
XLSX, with every standard column and the organization's custom fields; the rows of all
organizations add up to every contact of the database. Reports rows/s per format (targets:
CSV >= 20,000, XLSX >= 5,000) and, measured in the same run as a baseline, openpyxl's normal
(non-streaming) mode writing a sample of the same cells, with the ratio to our XLSX path.
Files go to a temporary MEDIA_ROOT that is deleted afterwards."""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TARGETS = {"csv": 20_000, "xlsx": 5_000}


def _admins():
    from crm.models import Membership
    from crm.permissions import Role

    seen, admins = set(), []
    for m in Membership.objects.filter(role=Role.ADMIN).select_related("user").order_by("organization_id", "id"):
        if m.organization_id not in seen:
            seen.add(m.organization_id)
            admins.append(m.user)
    return admins


def _columns(user):
    from contacts import exports

    return [key for key, _ in exports.column_choices(user)]


def export_all(fmt: str, column_set: str) -> tuple[int, float, float, int]:
    """Export every organization in `fmt`; returns (rows, wall seconds, CPU seconds of this
    process, bytes). The CPU time leaves out PostgreSQL's and other processes' share, so it
    is the figure to compare on a busy machine."""
    from contacts import exports
    from crm import jobs

    # In a request more than 1,000 rows go to Celery; here the same runner runs in this process.
    enqueue, jobs.enqueue = jobs.enqueue, lambda job, **options: None
    rows = size = 0
    started, cpu = time.perf_counter(), time.process_time()
    try:
        for admin in _admins():
            columns = _columns(admin) if column_set == "all" else exports.DEFAULT_COLUMNS
            job = exports.start_export(admin, format=fmt, columns=columns, filters={})
            if job.is_active:
                job = exports.run(job.pk)
            assert job.status == "done", job.error
            rows += job.params["rows"]
            size += job.params["size"]
            print(f"  {fmt} ({column_set} columns) org {job.organization_id}: {job.params['rows']:,} rows, "
                  f"{job.params['size'] / 1e6:.1f} MB", flush=True)
    finally:
        jobs.enqueue = enqueue
    return rows, time.perf_counter() - started, time.process_time() - cpu, size


def openpyxl_baseline(sample: int) -> tuple[int, float, float]:
    """openpyxl normal mode writing `sample` rows of the same cells; and our XLSX path on the
    same rows. Returns (rows, openpyxl seconds, our seconds)."""
    import openpyxl

    from contacts import exports
    from contacts.models import Contact

    admin = _admins()[0]
    columns = _columns(admin)
    from crm.permissions import Scope

    org = Scope.of(admin).organization_id
    writer = exports.Writer("xlsx", columns, exports.custom_definitions(org), org)
    ids = list(Contact.objects.visible_to(admin).order_by("pk").values_list("pk", flat=True)[:sample])
    started = time.perf_counter()
    job = exports.start_export(admin, format="xlsx", columns=columns, ids=ids)
    if job.is_active:
        job = exports.run(job.pk)
    ours = time.perf_counter() - started

    rows = exports.selection(admin, {"ids": ids})
    started = time.perf_counter()
    # The same query work, then openpyxl's in-memory workbook.
    _, records = writer.fetch(rows, size=len(ids))
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(writer.header())
    for cells in records:
        sheet.append(cells)
    with tempfile.TemporaryFile() as out:
        book.save(out)
    return len(records), time.perf_counter() - started, ours


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=20_000, help="rows for the openpyxl baseline")
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--columns", default="all,default",
                        help="column sets: all (every standard column and custom field, 35 on the demo data) "
                             "and/or default (the export form's 11)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    media = tempfile.mkdtemp(prefix="kith-bench-export-")
    os.environ["MEDIA_ROOT"] = media
    sys.path.insert(0, str(ROOT))
    import logging

    import django

    django.setup()
    logging.getLogger("kith.audit").setLevel(logging.WARNING)
    from contacts.models import Contact

    total = Contact.objects.count()
    print(f"\n== Export ({total:,} contacts, every organization by its admin) ==", flush=True)
    results = []
    try:
        for column_set in args.columns.split(","):
            for fmt in args.formats.split(","):
                rows, seconds, cpu, size = export_all(fmt, column_set)
                results.append((f"{fmt}/{column_set}", fmt, rows, seconds, cpu, size))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        n, theirs, ours = openpyxl_baseline(args.sample)
    finally:
        shutil.rmtree(media, ignore_errors=True)
    print(f"\n{'format/columns':<14} {'rows':>10} {'seconds':>8} {'rows/s':>8} {'rows/cpu-s':>10} {'MB':>7} "
          f"{'target':>7}")
    for name, fmt, rows, seconds, cpu, size in results:
        rate = rows / seconds if seconds else 0
        flag = "" if rate >= TARGETS.get(fmt, 0) else "  UNDER TARGET"
        print(f"{name:<14} {rows:>10,} {seconds:>8.1f} {rate:>8,.0f} {rows / cpu if cpu else 0:>10,.0f} "
              f"{size / 1e6:>7.1f} {TARGETS.get(fmt, 0):>7,}{flag}")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"\nopenpyxl normal mode, {n:,} rows: {n / theirs:,.0f} rows/s; our XLSX path on the same rows "
          f"{n / ours:,.0f} rows/s ({theirs / ours:.1f}x faster)")
    print(f"peak memory of this process before the baseline: {peak:,.0f} MB; after it: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB", flush=True)


if __name__ == "__main__":
    main()
