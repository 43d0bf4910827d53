"""The database restarts under steady web traffic: a PRIVATE PostgreSQL server (initdb on a
temporary directory, never the shared or CI one) with a copy of the test database, gunicorn with
two workers on it, threads sending requests (a health check that queries the database and an
API list with a token). The server is stopped and started again; the app is not. Requests fail
only around the restart, and every request succeeds afterwards: each worker's persistent
connection (CONN_MAX_AGE) is found dead by CONN_HEALTH_CHECKS and replaced."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from contacts.models import Contact
from tests.faults.conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

SLACK = 1.0  # seconds around the restart in which a request may still fail


def pg_bin(name: str) -> str:
    from pgserver._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def run(*args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=120, **kwargs)


class PrivateServer:
    """A PostgreSQL server of its own on a temporary directory, started by pgserver (which runs
    it as its own system user when we are root, as PostgreSQL requires)."""

    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="kith-pg-"))  # short: unix socket paths have a limit
        self.pgdata = self.base / "data"
        self.socket_dir = ""

    def start(self):
        import pgserver

        server = pgserver.get_server(self.pgdata, cleanup_mode=None)
        self.socket_dir = str(server.get_postmaster_info().socket_dir)
        self.user = server.system_user

    def pg_ctl(self, *args, timeout=60):
        # pg_ctl's children keep inherited pipes open: its output goes to a file.
        with (self.base / "pg_ctl.log").open("a") as out:
            subprocess.run([pg_bin("pg_ctl"), "-D", str(self.pgdata), *args], check=True, stdout=out,
                           stderr=subprocess.STDOUT, timeout=timeout,
                           user=self.user if os.geteuid() == 0 else None)

    def stop(self):
        # The server's own options (socket directory …) for starting it again.
        self.options = shlex.split((self.pgdata / "postmaster.opts").read_text())[3:]
        self.pg_ctl("-m", "fast", "-w", "-t", "60", "stop")

    def start_again(self):
        self.pg_ctl("-o", shlex.join(self.options), "-l", str(self.pgdata / "restart.log"),
                    "-w", "-t", "60", "start")

    def remove(self):
        if (self.pgdata / "postmaster.pid").exists():
            self.pg_ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@{quote(self.socket_dir, safe='')}/{database}"


@pytest.fixture
def private_server():
    server = PrivateServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_requests_recover_after_a_database_restart_without_restarting_the_app(world, private_server, tmp_path,
                                                                            settings):
    for i in range(30):
        Contact.objects.create(organization=world.org, first_name=f"C{i}", team=world.team_a, owner=world.alice)
    token = Token.objects.create(user=world.alice).key
    # The private server gets a copy of this (migrated, filled) test database.
    source = connection.settings_dict
    run(pg_bin("createdb"), "-h", private_server.socket_dir, "-U", "postgres", "kith")
    dump = tmp_path / "db.dump"
    run(pg_bin("pg_dump"), "-h", source["HOST"], "-U", source["USER"] or "postgres", "-Fc", "-f", str(dump),
        source["NAME"])
    run(pg_bin("pg_restore"), "-h", private_server.socket_dir, "-U", "postgres", "-d", "kith",
        "--no-owner", "--no-privileges", str(dump))  # no grants to the app role, which the copy lacks

    port = free_port()
    env = {**os.environ, "DATABASE_URL": private_server.url("kith"), "DB_CONN_MAX_AGE": "600",
           "SECRET_KEY": settings.SECRET_KEY, "DJANGO_SETTINGS_MODULE": "crm.settings", "DEBUG": "false",
           "KITH_VAR_DIR": str(tmp_path / "var")}
    log = tmp_path / "gunicorn.log"
    app = subprocess.Popen([sys.executable, "-m", "gunicorn", "crm.wsgi:application", "--bind", f"127.0.0.1:{port}",
                            "--workers", "2", "--timeout", "60"],
                           env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert app.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)

        results: list[tuple[float, float, str, int]] = []  # (start, end, path, status or 0 for no answer)
        stop = threading.Event()

        def client(path, headers):
            session = requests.Session()
            while not stop.is_set():
                started = time.monotonic()
                try:
                    status = session.get(base + path, headers=headers, timeout=15).status_code
                except requests.RequestException:
                    status = 0
                results.append((started, time.monotonic(), path, status))
                time.sleep(0.02)

        auth = {"Authorization": f"Token {token}"}
        threads = [threading.Thread(target=client, args=args) for args in
                   [("/healthz", {}), ("/healthz", {}), ("/api/contacts/", auth), ("/api/contacts/", auth)]]
        for thread in threads:
            thread.start()
        try:
            time.sleep(3)
            down = time.monotonic()
            private_server.stop()
            time.sleep(1)  # down for a second
            private_server.start_again()
            up = time.monotonic()
            time.sleep(4)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
    finally:
        app.terminate()
        app.wait(timeout=20)

    before = [r for r in results if r[1] < down]
    after = [r for r in results if r[0] > up + SLACK]
    failed = [r for r in results if r[3] != 200]
    assert len(before) >= 10 and all(r[3] == 200 for r in before), before[-5:]
    assert len(after) >= 10, (len(after), log.read_text()[-3000:])
    # After the restart every request succeeds, with no restart of the app.
    assert all(r[3] == 200 for r in after), (sum(r[3] != 200 for r in after), len(after), log.read_text()[-6000:])
    assert {r[2] for r in after} == {"/healthz", "/api/contacts/"}
    # Failures only for requests in flight around the restart: none started well before it.
    assert all(r[1] >= down and r[0] <= up + SLACK for r in failed), failed
    assert all(r[3] in (0, 500, 502, 503) for r in failed), failed
    print(f"\n{len(results)} requests, {len(failed)} failed, all within the restart window of "
          f"{up - down:.1f}s; {len(after)} after it, all answered 200")
