"""Duplicate detection benchmark: precision and recall on a labelled set, the organization
scan's wall time, and the create-time check's latency.

    python -m bench.dedupe [--contacts 100000] [--dups N] [--keep]
    python -m bench --only dedupe --contacts 1000000      (the same, from the bench runner)

Builds a throwaway database `<name>_bench_dedupe` (unless DATABASE_URL already names a
`*_bench*` database), loads one organization with the labelled set of bench/dedupe_data.py by
COPY (as imports and the demo generator write rows: without blocking keys, so the scan's first
phase computes them all — the worst case), runs the scan job inline, and compares the pairs it
found with the planted ones. Targets: precision >= 0.95 and recall >= 0.90 at the default
threshold; 1M contacts scanned in < 10 minutes; the create-time check in a few ms.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.owndb import in_own_database


def load(organization_id: int, rows: list[dict]) -> dict[int, int]:
    """COPY the labelled rows into the organization's contacts; returns row key -> contact id."""
    from django.db import connection
    from django.utils import timezone

    from contacts.dedupe import e164
    from contacts.models import Contact, derived_values
    from crm.seeding import CopyTable, copy_text

    fields = ["organization", "created_at", "updated_at", "first_name", "last_name", "email", "phone", "mobile",
              "company_name", "display_name", "search_name", "search_name_rev", "phone_digits"]
    table = CopyTable(Contact, fields, with_pk=True)
    ids: dict[int, int] = {}
    now = timezone.now().isoformat()
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 20000):
            chunk = rows[start:start + 20000]
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                           [Contact._meta.db_table, len(chunk)])
            pks = [r[0] for r in cursor.fetchall()]
            lines = []
            for pk, row in zip(pks, chunk):
                phone, mobile = e164(row["phone"]), e164(row["mobile"])
                derived = derived_values(row["first_name"], "", row["last_name"], phone, mobile)
                values = [str(pk), str(organization_id), now, now, row["first_name"], row["last_name"],
                          row["email"].strip().lower(), phone, mobile, row["company_name"], derived["display_name"],
                          derived["search_name"], derived["search_name_rev"], derived["phone_digits"]]
                lines.append("\t".join(copy_text(v) for v in values) + table.suffix)
                ids[row["key"]] = pk
            with cursor.copy(table.sql) as copy:
                copy.write("".join(lines))
        cursor.execute(f"ANALYZE {Contact._meta.db_table}")
    return ids


def evaluate(organization_id: int, ids: dict[int, int], truth: set[tuple[int, int]]) -> dict:
    from contacts.models import ContactDuplicate, DuplicateStatus

    planted = {tuple(sorted((ids[a], ids[b]))) for a, b in truth}
    found = set(ContactDuplicate.objects.filter(organization_id=organization_id, status=DuplicateStatus.OPEN)
                .values_list("first_id", "second_id"))
    hits = len(found & planted)
    return {"found": len(found), "planted": len(planted), "true_positives": hits,
            "precision": hits / len(found) if found else 0.0, "recall": hits / len(planted) if planted else 0.0}


def make_organization(name="Dedupe Bench"):
    from crm.services import create_organization

    org, admin, _ = create_organization(name, admin_email=f"admin+{time.time_ns()}@dedupe.test",
                                        admin_password="bench-password-1234", admin_name="Bench Admin")
    return org, admin


def check_latency(admin, rows, samples=200) -> tuple[float, float]:
    import random

    from contacts.dedupe import find_contact_duplicates

    rng = random.Random(3)
    times = []
    for row in rng.sample(rows, min(samples, len(rows))):
        started = time.perf_counter()
        find_contact_duplicates(admin, row)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def run(contacts: int, dups: int) -> dict:
    from bench.dedupe_data import generate
    from contacts import duplicates
    from crm.models import Job

    started = time.perf_counter()
    rows, truth = generate(contacts, dups)
    generated = time.perf_counter() - started
    org, admin = make_organization()
    started = time.perf_counter()
    ids = load(org.pk, rows)
    loaded = time.perf_counter() - started
    print(f"labelled set: {contacts:,} contacts, {len(truth):,} planted pairs (generated in {generated:.1f} s, "
          f"loaded in {loaded:.1f} s)", flush=True)
    started = time.perf_counter()
    job = duplicates.start_scan(admin, inline=True)
    scan = time.perf_counter() - started
    assert job.status == Job.Status.DONE, job.error
    result = evaluate(org.pk, ids, truth)
    cp = job.checkpoint
    print(f"scan: {scan:.1f} s ({contacts / scan:,.0f} contacts/s; target 1M < 600 s); keys rewritten "
          f"{cp.get('keys_changed', 0):,}, blocks {cp.get('blocks', 0):,}; seconds per phase {cp.get('seconds')}")
    print(f"found {result['found']:,} pairs, {result['true_positives']:,} planted: precision "
          f"{result['precision']:.3f} (target >= 0.95), recall {result['recall']:.3f} (target >= 0.90)")
    from django.db import connection

    with connection.cursor() as cursor:  # as autovacuum would after the keys were written
        cursor.execute("ANALYZE contacts_contact")
    p50, p95 = check_latency(admin, rows)
    print(f"create-time check: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    started = time.perf_counter()
    job = duplicates.start_scan(admin, inline=True)
    print(f"second scan (keys already stored): {time.perf_counter() - started:.1f} s; seconds per phase "
          f"{job.checkpoint.get('seconds')}", flush=True)
    return {**result, "scan_seconds": scan}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.dedupe")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--dups", type=int, default=None, help="planted duplicates (default: contacts / 10)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args(argv)
    dups = args.dups if args.dups is not None else args.contacts // 10

    def bench():
        print("\n== Duplicate detection ==")
        run(args.contacts, dups)

    in_own_database("dedupe", "bench.dedupe", ["--contacts", str(args.contacts), "--dups", str(dups)], bench,
                    keep=args.keep)


if __name__ == "__main__":
    main()
