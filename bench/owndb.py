"""Benchmarks that need a database of their own (`<name>_bench_<suffix>` on the same server):
the module runs itself again inside it, after migrating it, and drops it afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _admin_sql(url, sql):
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def in_own_database(suffix: str, module: str, argv: list[str], run, *, keep: bool = False) -> None:
    """Call `run()` when this process is already in a benchmark database (`python -m bench`
    or the child started here); otherwise create `<name>_bench_<suffix>`, migrate it, run
    `python -m <module> <argv>` in it and drop it unless `keep`."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from crm.db import database_url

    s = connection.settings_dict
    if "_bench" in s["NAME"]:
        run()
        return
    bench_db = f"{s['NAME']}_bench_{suffix}"
    admin_url = database_url(s, "postgres")
    _admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{bench_db}" WITH (FORCE)')
    _admin_sql(admin_url, f'CREATE DATABASE "{bench_db}"')
    env = {**os.environ, "DATABASE_URL": database_url(s, bench_db)}
    try:
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], env=env, check=True)
        subprocess.run([sys.executable, "-m", module, *argv], env=env, check=True, cwd=ROOT)
    finally:
        if not keep:
            _admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{bench_db}" WITH (FORCE)')
