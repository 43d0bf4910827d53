"""Backups of the configured database (pg_dump custom format) and, optionally, of the media files.

`manage.py backup [PATH] [--media]` and `manage.py restore PATH --yes [--media]` call these.
The database is the one Django is configured with (DATABASE_URL, or the embedded server under
var/pgdata); the connection reaches pg_dump/pg_restore through PG* environment variables, so
no password shows in a process list. The binaries come from KITH_PG_BIN when set, else the
embedded server's package (pgserver, the newest major version: it dumps older servers too),
else PATH.

The media files (imports, exports, subject access exports) go to a gzipped tar beside the
dump: `<path>.media.tar.gz`."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from datetime import datetime, timezone
from pathlib import Path

from django.conf import settings
from django.db import connections

MAGIC = b"PGDMP"  # the first bytes of a pg_dump custom-format archive


class BackupError(Exception):
    pass


def binary(name: str) -> str:
    candidates = []
    if os.environ.get("KITH_PG_BIN"):
        candidates.append(Path(os.environ["KITH_PG_BIN"]) / name)
    try:
        from pgserver._commands import POSTGRES_BIN_PATH

        candidates.append(Path(POSTGRES_BIN_PATH) / name)
    except ImportError:  # not installed: a server of one's own and the client tools on PATH
        pass
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} not found: install the PostgreSQL client tools or set KITH_PG_BIN")
    return found


def connection_env(alias: str = "default") -> dict[str, str]:
    """libpq environment for the database of `alias` (host or socket directory, port, user, password)."""
    s = connections[alias].settings_dict
    options = s.get("OPTIONS") or {}
    env = {**os.environ, "PGDATABASE": s["NAME"], "PGUSER": s.get("USER") or "",
           "PGHOST": s.get("HOST") or options.get("host", ""), "PGPORT": str(s.get("PORT") or ""),
           "PGPASSWORD": s.get("PASSWORD") or "", "PGCONNECT_TIMEOUT": "10"}
    for option, variable in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT"),
                             ("sslcert", "PGSSLCERT"), ("sslkey", "PGSSLKEY")):
        if options.get(option):
            env[variable] = str(options[option])
    return env


def default_path() -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path(settings.VAR_DIR) / "backups" / f"kith-{stamp}.dump"


def media_path(dump: Path) -> Path:
    return dump.with_name(dump.name + ".media.tar.gz")


def _run(args: list[str], env: dict[str, str]) -> None:
    # Empty PG* values would override libpq defaults with "": leave them out.
    env = {key: value for key, value in env.items() if not (key.startswith("PG") and value == "")}
    result = subprocess.run(args, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tool = Path(args[0]).name
        detail = result.stderr.strip().splitlines()
        raise BackupError(f"{tool} failed: " + " / ".join(detail[-5:]) if detail else f"{tool} failed")


def backup(path: Path | None = None, *, media: bool = False, alias: str = "default") -> dict:
    path = Path(path) if path else default_path()
    if path.is_dir():
        raise BackupError(f"{path} is a directory: give the path of the file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        _run([binary("pg_dump"), "--format=custom", "--file", str(partial)], connection_env(alias))
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    result = {"database": str(path), "bytes": path.stat().st_size}
    if media:
        archive = media_path(path)
        root = Path(settings.MEDIA_ROOT)
        with tarfile.open(archive, "w:gz") as tar:
            if root.is_dir():
                for child in sorted(root.iterdir()):
                    tar.add(child, arcname=child.name)
        result["media"] = str(archive)
    return result


def check_archive(path: Path) -> None:
    if not path.exists():
        raise BackupError(f"backup file {path} does not exist")
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    with path.open("rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise BackupError(f"{path} is not a pg_dump custom-format archive (made by manage.py backup)")


def check_media(path: Path) -> Path:
    archive = media_path(path)
    if not archive.exists():
        raise BackupError(f"media archive {archive} does not exist (was the backup made with --media?)")
    if not tarfile.is_tarfile(archive):
        raise BackupError(f"{archive} is not a tar archive")
    return archive


def restore(path: Path, *, media: bool = False, alias: str = "default") -> dict:
    """Replace the database's contents with the archive's, in one transaction (all or nothing)."""
    path = Path(path)
    check_archive(path)
    archive = check_media(path) if media else None
    connections[alias].close()  # our own session must not hold locks on what is dropped
    _run([binary("pg_restore"), "--clean", "--if-exists", "--single-transaction", "--dbname",
          connection_env(alias)["PGDATABASE"], str(path)], connection_env(alias))
    result = {"database": str(path)}
    if archive:
        root = Path(settings.MEDIA_ROOT)
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(root, filter="data")  # no absolute paths, links out of root or devices
        result["media"] = str(archive)
    return result
