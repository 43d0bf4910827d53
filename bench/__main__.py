"""`make bench`: benchmarks in a throwaway database `<name>_bench` on the same server.

    python -m bench [--contacts 1000000] [--orgs 10] [--keep]

Runs migrate and `seed_demo` there and reports the wall time, rows/s and database size.
The database is dropped afterwards unless --keep (later benchmarks reuse it).
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
    args = parser.parse_args(argv)

    s = _settings_dict()
    bench_db = f"{s['NAME']}_bench"
    _admin_sql(s, f'DROP DATABASE IF EXISTS "{bench_db}" WITH (FORCE)')
    _admin_sql(s, f'CREATE DATABASE "{bench_db}"')
    env = {**os.environ, "DATABASE_URL": database_url(s, bench_db)}
    manage = [sys.executable, str(ROOT / "manage.py")]
    try:
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
        print(f"seed_demo --contacts {args.contacts} --orgs {args.orgs} into {bench_db} …", flush=True)
        started = time.perf_counter()
        subprocess.run([*manage, "seed_demo", "--contacts", str(args.contacts), "--orgs", str(args.orgs)],
                       env=env, check=True)
        elapsed = time.perf_counter() - started
        size = _admin_sql(s, f"SELECT pg_size_pretty(pg_database_size('{bench_db}'))")[0][0]
        print("\n== Data generator ==")
        print(f"contacts: {args.contacts:,} in {args.orgs} organizations")
        print(f"wall time: {elapsed:.1f} s ({args.contacts / elapsed:,.0f} contacts/s; target 1M < 600 s)")
        print(f"database size: {size}")
    finally:
        if not args.keep:
            _admin_sql(s, f'DROP DATABASE IF EXISTS "{bench_db}" WITH (FORCE)')


if __name__ == "__main__":
    main()
