"""`make load`: the load scenario (bench/load/locustfile.py) against gunicorn and a real Celery
worker on this machine, in a database of 1,000,000 contacts.

    python -m bench.load [--users 50] [--duration 300] [--contacts 1000000] [--orgs 10]
                         [--web-workers 4] [--reuse] [--keep] [--out FILE]

Creates `<name>_load` next to the configured database (or reuses a kept one with --reuse), seeds it
with `seed_demo`, gives each simulated user an account of its own (45 reps and 5 managers, spread
over the organizations) with an API token, starts gunicorn and a Celery worker (2 processes, as `make run`) against it (Redis
for the broker and the cache when it answers at 127.0.0.1:6379, as in production), runs locust
headless with --users concurrent users (statistics reset once all have started), and prints
throughput and p50/p95/p99 per request, the 5xx and the unexpected 4xx. The database is dropped
afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.__main__ import ROOT, _admin_sql, _settings_dict, database_url

REPS, MANAGERS = 45, 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def prepare_users(path: Path) -> None:
    """In the load database (this process's DATABASE_URL): accounts, tokens, sample contacts."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    django.setup()
    from rest_framework.authtoken.models import Token

    from contacts.models import Contact
    from crm.models import Membership
    from crm.permissions import Role

    rng = random.Random(7)
    members = list(Membership.objects.filter(role__in=[Role.REP, Role.MANAGER]).select_related("user")
                   .order_by("organization_id", "user_id"))
    reps = [m for m in members if m.role == Role.REP]
    managers = [m for m in members if m.role == Role.MANAGER]
    chosen = ([("rep", m) for m in reps[::max(1, len(reps) // REPS)][:REPS]]
              + [("manager", m) for m in managers[::max(1, len(managers) // MANAGERS)][:MANAGERS]])
    if len(chosen) < REPS + MANAGERS:
        raise SystemExit(f"the database has too few reps/managers for {REPS}+{MANAGERS} users")
    users = []
    for role, membership in chosen:
        user = membership.user
        token, _ = Token.objects.get_or_create(user=user)
        rows = list(Contact.objects.visible_to(user).order_by("-created_at", "-id")
                    .values_list("id", "first_name", "last_name")[:300])
        words = sorted({w for _, first, last in rows for w in (first, last) if w and len(w) >= 3})
        users.append({"id": user.pk, "email": user.email, "role": role, "token": token.key,
                      "organization": membership.organization_id,
                      "contacts": [pk for pk, _, _ in rows], "words": rng.sample(words, min(60, len(words)))})
    path.write_text(json.dumps(users))
    print(f"{len(users)} accounts with tokens ({sum(u['role'] == 'rep' for u in users)} reps, "
          f"{sum(u['role'] == 'manager' for u in users)} managers) in "
          f"{len({u['organization'] for u in users})} organizations", flush=True)


def _wait_http(url: str, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer in {timeout:.0f} s")


def report(prefix: str, status_file: Path, args) -> str:
    with open(f"{prefix}_stats.csv") as stats:
        rows = list(csv.DictReader(stats))
    status = json.loads(status_file.read_text())
    five = sum(c for _, s, c in status["status"] if s >= 500)
    transport = sum(c for _, s, c in status["status"] if s == 0)
    unexpected_4xx = sum(c for _, s, c in status["unexpected"] if 400 <= s < 500)
    lines = [f"== Load: {args.users} concurrent users (reps and managers 9:1, one account each), {args.duration} s measured, "
             f"gunicorn {args.web_workers} workers + Celery workers (2 processes for jobs, 1 for background work), {args.contacts:,} contacts ==",
             "",
             "| request | requests | req/s | p50 ms | p95 ms | p99 ms | failures |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        name = "**all requests**" if row["Name"] == "Aggregated" else row["Name"]
        lines.append(f"| {name} | {int(row['Request Count']):,} | {float(row['Requests/s']):.1f} | "
                     f"{row['50%']} | {row['95%']} | {row['99%']} | {row['Failure Count']} |")
    lines += ["", f"Over the whole run, ramp-up included: 5xx answers: {five}; unexpected 4xx answers: {unexpected_4xx}; "
              f"connection errors: {transport}",
              "status codes: " + ", ".join(f"{n} {s}: {c}" for n, s, c in status["status"])]
    if status["unexpected"]:
        lines.append("unexpected: " + ", ".join(f"{n} {s}: {c}" for n, s, c in status["unexpected"]))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=int, default=300, help="seconds measured after the ramp-up")
    parser.add_argument("--spawn-rate", type=float, default=5)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--orgs", type=int, default=10)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--reuse", action="store_true", help="reuse a kept load database (skip seeding)")
    parser.add_argument("--keep", action="store_true", help="keep the load database")
    parser.add_argument("--database", help="database name (default: <configured name>_load)")
    parser.add_argument("--out", help="also write the table to this file")
    parser.add_argument("--prepare-users", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prepare_users:
        prepare_users(Path(args.prepare_users))
        return

    s = _settings_dict()
    load_db = args.database or f"{s['NAME']}_load"
    exists = bool(_admin_sql(s, f"SELECT 1 FROM pg_database WHERE datname = '{load_db}'"))
    if not (args.reuse and exists):
        _admin_sql(s, f'DROP DATABASE IF EXISTS "{load_db}" WITH (FORCE)')
        _admin_sql(s, f'CREATE DATABASE "{load_db}"')
    work = Path(tempfile.mkdtemp(prefix="kith-load-"))
    env = {**os.environ, "DATABASE_URL": database_url(s, load_db), "DJANGO_SETTINGS_MODULE": "crm.settings",
           "MEDIA_ROOT": str(work / "media"), "KITH_ENRICHMENT_DNS": "0",
           # A simulated manager imports or exports every 20-40 s, far past a person's hourly
           # quotas (crm/quotas.py): the load measures throughput, so the quotas are off here.
           "KITH_QUOTA_IMPORTS_PER_HOUR": "0", "KITH_QUOTA_IMPORTS_PER_HOUR_ORG": "0",
           "KITH_QUOTA_EXPORTS_PER_HOUR": "0", "KITH_QUOTA_EXPORTS_PER_HOUR_ORG": "0"}
    if _redis():
        env.update(CELERY_BROKER_URL="redis://127.0.0.1:6379/14", REDIS_URL="redis://127.0.0.1:6379/13",
                   CELERY_TASK_DEFAULT_QUEUE=f"kith-load-{os.getpid()}")
    manage = [sys.executable, str(ROOT / "manage.py")]
    processes = []
    try:
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
        if not (args.reuse and exists):
            started = time.perf_counter()
            subprocess.run([*manage, "seed_demo", "--contacts", str(args.contacts), "--orgs", str(args.orgs)],
                           env=env, check=True)
            print(f"seeded {args.contacts:,} contacts in {time.perf_counter() - started:.0f} s", flush=True)
        users = work / "users.json"
        subprocess.run([sys.executable, "-m", "bench.load", "--prepare-users", str(users)], env=env, check=True,
                       cwd=ROOT)
        # Web and workers as the Procfile runs them: on the app role, behind row-level security.
        app_env = {**env, "KITH_DB_ROLE": "app"}
        port = _free_port()
        log = open(work / "services.log", "w")
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "crm.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", str(args.web_workers), "--access-logfile", "/dev/null"],
            env=app_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        queue = env.get("CELERY_TASK_DEFAULT_QUEUE", "kith")
        for queues, concurrency in ((queue, "2"), (f"{queue}.background", "1")):  # as the Procfile runs them
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "crm", "worker", "-Q", queues, "--concurrency", concurrency,
                 "--loglevel", "WARNING"],
                env=app_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        _wait_http(f"http://127.0.0.1:{port}/healthz")
        prefix, status_file = str(work / "locust"), work / "status.json"
        ramp = int(args.users / args.spawn_rate) + 1
        subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name("locustfile.py")), "--headless",
             "--users", str(args.users), "--spawn-rate", str(args.spawn_rate), "--run-time",
             f"{args.duration + ramp}s", "--reset-stats", "--host", f"http://127.0.0.1:{port}", "--csv", prefix,
             "--only-summary", "--stop-timeout", "30", "--loglevel", "WARNING"],
            env={**env, "KITH_LOAD_USERS": str(users), "KITH_LOAD_STATUS": str(status_file)}, cwd=ROOT,
            check=False)
        table = report(prefix, status_file, args)
        print("\n" + table, flush=True)
        if args.out:
            Path(args.out).write_text(table + "\n")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if not args.keep:
            _admin_sql(s, f'DROP DATABASE IF EXISTS "{load_db}" WITH (FORCE)')


if __name__ == "__main__":
    main()
