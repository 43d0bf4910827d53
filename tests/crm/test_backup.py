"""manage.py backup / restore: a real round trip on a database of its own (a copy of the test
database), media files included; and clear errors for what cannot be restored."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from crm.db import database_url

ROOT = Path(__file__).resolve().parents[2]

SEED = """
import django; django.setup()
from crm.services import create_organization
from contacts.services import create_contact
from companies.services import create_company
org, admin, _ = create_organization("Backup Co", admin_email="admin@backup.test", admin_password="pw-12345678x")
acme = create_company(organization=org, data={"name": "Acme"}, actor=admin)
for i in range(25):
    create_contact(organization=org, actor=admin, data={
        "first_name": f"Person{i}", "last_name": "Ünïcode", "email": f"p{i}@backup.test",
        "phone": f"+1415555{i:04d}", "owner": admin, "city": acme.name})
"""

CHANGE = """
import django; django.setup()
from contacts.models import Contact
from contacts.services import create_contact
Contact.all_objects.filter(first_name__in=["Person1", "Person2", "Person3"]).delete()
Contact.objects.filter(first_name="Person4").update(last_name="Changed")
first = Contact.objects.first()
create_contact(organization=first.organization, data={"first_name": "Newcomer"})
"""

FINGERPRINT = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname
"""


def fingerprint(url: str) -> dict[str, str]:
    """Every table's rows (md5 of the sorted row texts) and every sequence's position."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [row[0] for row in conn.execute(FINGERPRINT)]
        result = {table: conn.execute(
            f'SELECT count(*) || \':\' || md5(coalesce(string_agg(t::text, \'|\' ORDER BY t::text), \'\')) '
            f'FROM "{table}" t').fetchone()[0] for table in tables}
        sequences = "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
        for name, value in conn.execute(sequences):
            result[f"sequence {name}"] = str(value)
    return result


@pytest.fixture
def source_db(transactional_db, django_db_blocker):
    """A database of its own, copied from the migrated test database, dropped afterwards."""
    name = f"{connection.settings_dict['NAME']}_backup_src"
    with django_db_blocker.unblock():
        template = connection.settings_dict["NAME"]
        connections.close_all()  # no session may be connected to a template
        admin_url = database_url(connection.settings_dict, "postgres")
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        yield database_url(connection.settings_dict, name)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env, *args, script=None):
    command = [sys.executable, "-c", script] if script else [sys.executable, "manage.py", *args]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def test_backup_and_restore_round_trip(source_db, tmp_path):
    media = tmp_path / "media"
    (media / "exports").mkdir(parents=True)
    (media / "exports" / "list.csv").write_text("first_name\nPerson0\n")
    env = {**os.environ, "DATABASE_URL": source_db, "MEDIA_ROOT": str(media), "KITH_VAR_DIR": str(tmp_path / "var"),
           "KITH_ENRICHMENT_ON_SAVE": "0", "DJANGO_SETTINGS_MODULE": "crm.settings"}
    env.pop("CELERY_BROKER_URL", None)
    (tmp_path / "var").mkdir()
    seeded = manage(env, script=SEED)
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    before = fingerprint(source_db)
    assert before["contacts_contact"].startswith("25:")

    dump = tmp_path / "backups" / "kith.dump"
    started = time.monotonic()
    made = manage(env, "backup", str(dump), "--media")
    took = time.monotonic() - started
    assert made.returncode == 0, made.stderr[-3000:]
    assert dump.read_bytes()[:5] == b"PGDMP" and (tmp_path / "backups" / "kith.dump.media.tar.gz").exists()
    assert f"backed up to {dump}" in made.stdout
    print(f"backup {took:.1f}s, {dump.stat().st_size:,} bytes")

    changed = manage(env, script=CHANGE)
    assert changed.returncode == 0, changed.stderr[-3000:]
    (media / "exports" / "list.csv").unlink()
    after_change = fingerprint(source_db)
    assert after_change["contacts_contact"] != before["contacts_contact"]
    assert after_change["contacts_contact"].startswith("23:")

    # Without confirmation (and no terminal to ask on): refused, nothing touched.
    refused = manage(env, "restore", str(dump))
    assert refused.returncode != 0 and "--yes" in refused.stderr
    assert fingerprint(source_db) == after_change

    started = time.monotonic()
    restored = manage(env, "restore", str(dump), "--yes", "--media")
    took = time.monotonic() - started
    assert restored.returncode == 0, restored.stderr[-3000:]
    print(f"restore {took:.1f}s")
    assert fingerprint(source_db) == before
    assert (media / "exports" / "list.csv").read_text() == "first_name\nPerson0\n"

    # The restored database works for the app: the encrypted fields read back with the same key.
    check = manage(env, script="import django; django.setup(); from contacts.models import Contact; "
                               "c = Contact.objects.get(first_name='Person7'); print(c.phone, c.city)")
    assert check.returncode == 0, check.stderr[-3000:]
    assert check.stdout.split() == ["+14155550007", "Acme"]


def test_restore_refuses_what_is_not_a_backup(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("restore", str(tmp_path / "missing.dump"), "--yes")
    text = tmp_path / "notes.dump"
    text.write_text("SELECT 1;\n")
    with pytest.raises(CommandError, match="not a pg_dump custom-format archive"):
        call_command("restore", str(text), "--yes")
    with pytest.raises(CommandError, match="is not a file"):
        call_command("restore", str(tmp_path), "--yes")
    fake = tmp_path / "fake.dump"
    fake.write_bytes(b"PGDMP" + b"\0" * 64)
    with pytest.raises(CommandError, match="media archive .* does not exist"):
        call_command("restore", str(fake), "--yes", "--media")
    (tmp_path / "fake.dump.media.tar.gz").write_text("not a tar")
    with pytest.raises(CommandError, match="is not a tar archive"):
        call_command("restore", str(fake), "--yes", "--media")


def test_backup_into_a_directory_is_refused(tmp_path):
    with pytest.raises(CommandError, match="is a directory"):
        call_command("backup", str(tmp_path))
