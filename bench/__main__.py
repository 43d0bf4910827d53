"""`make bench`: benchmarks in a throwaway database `<name>_bench` on the same server.

    python -m bench [--contacts 1000000] [--orgs 10] [--keep] [--reuse] [--requests 200] [--only TEXT]
                    [--import-rows 1000000] [--import-args "..."]

Migrates it, runs `seed_demo` (wall time, contacts/s, database size), then the latency
benchmarks of bench/latency.py (p50/p95 per case, server-side), the export throughput of
bench/export.py and the import benchmark of bench/imports.py (a CSV of --import-rows rows into
the largest organization, with its baselines). `--only export` / `--only import` run just that
one (other --only texts select latency cases); `--only dedupe` runs bench/dedupe.py (duplicate
detection at --contacts, in a database of its own), `--only semantic` bench/semantic.py
(embedding, HNSW build, semantic and hybrid search at --contacts, in a database of its own). The database is dropped afterwards unless
--keep; --reuse skips the generator on a kept database.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _settings_dict():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    return connection.settings_dict


def database_url(settings_dict, name):
    from crm.db import database_url as url

    return url(settings_dict, name)


def _admin_sql(s, sql):
    import psycopg

    with psycopg.connect(database_url(s, "postgres"), autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--orgs", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse a kept benchmark database (migrate it, skip the data generator)")
    parser.add_argument("--requests", type=int, default=200, help="requests per latency case")
    parser.add_argument("--only", action="append", default=[],
                        help="run only the latency cases whose name contains this text (repeatable); "
                             "'export' and 'import' select those benchmarks")
    parser.add_argument("--import-rows", type=int, default=1_000_000, help="rows in the import benchmark's file")
    parser.add_argument("--import-args", default="", help="more options for bench.imports, e.g. '--no-baselines'")
    args = parser.parse_args(argv)
    for own in ("dedupe", "semantic"):
        if own in args.only:
            # Duplicate detection (a labelled organization) and search by meaning (seeded, then
            # embedded) at --contacts, each in a database of its own.
            subprocess.run([sys.executable, "-m", f"bench.{own}", "--contacts", str(args.contacts),
                            *(["--keep"] if args.keep else [])], check=True, cwd=ROOT)
            args.only = [text for text in args.only if text != own]
            if not args.only:
                return
    latency_only = [text for text in args.only if text not in ("import", "export")]
    run_latency = not args.only or bool(latency_only)

    s = _settings_dict()
    bench_db = f"{s['NAME']}_bench"
    exists = bool(_admin_sql(s, f"SELECT 1 FROM pg_database WHERE datname = '{bench_db}'"))
    reuse = args.reuse and exists
    if not reuse:
        _admin_sql(s, f'DROP DATABASE IF EXISTS "{bench_db}" WITH (FORCE)')
        _admin_sql(s, f'CREATE DATABASE "{bench_db}"')
    env = {**os.environ, "DATABASE_URL": database_url(s, bench_db)}
    manage = [sys.executable, str(ROOT / "manage.py")]
    try:
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
        if not reuse:
            seed(manage, env, args, s, bench_db)
        if run_latency:
            only = [arg for text in latency_only for arg in ("--only", text)]
            subprocess.run([sys.executable, "-m", "bench.latency", "--requests", str(args.requests), *only],
                           env=env, check=True, cwd=ROOT)
        if not args.only or "export" in args.only:
            subprocess.run([sys.executable, "-m", "bench.export"], env=env, check=True, cwd=ROOT)
        if not args.only or "import" in args.only:
            import shlex

            subprocess.run([sys.executable, "-m", "bench.imports", "--rows", str(args.import_rows),
                            *shlex.split(args.import_args)], env=env, check=True, cwd=ROOT)
    finally:
        if not args.keep:
            _admin_sql(s, f'DROP DATABASE IF EXISTS "{bench_db}" WITH (FORCE)')


def seed(manage, env, args, s, bench_db):
    print(f"seed_demo --contacts {args.contacts} --orgs {args.orgs} into {bench_db} …", flush=True)
    started = time.perf_counter()
    subprocess.run([*manage, "seed_demo", "--contacts", str(args.contacts), "--orgs", str(args.orgs)],
                   env=env, check=True)
    elapsed = time.perf_counter() - started
    size = _admin_sql(s, f"SELECT pg_size_pretty(pg_database_size('{bench_db}'))")[0][0]
    print("\n== Data generator ==")
    print(f"contacts: {args.contacts:,} in {args.orgs} organizations")
    print(f"wall time: {elapsed:.1f} s ({args.contacts / elapsed:,.0f} contacts/s; target 1M < 600 s)")
    print(f"database size: {size}", flush=True)


if __name__ == "__main__":
    main()
