"""Row-level security (crm/rls.py), the second wall behind `visible_to`: the app role sees and writes
only the rows of the organization its connection is set to, whatever the query says."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.test import Client

from contacts.models import Contact, ContactTag
from crm import rls
from crm.celery import app as celery_app
from crm.models import Organization, Tag, User
from tests.conftest import make_world, wait_for

ROOT = Path(__file__).resolve().parents[2]


def app_connection(organization_id=None):
    """A connection to the test database as the app role, optionally set to one organization."""
    s = connection.settings_dict
    conn = psycopg.connect(dbname=s["NAME"], user=settings.KITH_DB_APP_ROLE,
                           host=s.get("HOST") or s.get("OPTIONS", {}).get("host") or None,
                           port=s.get("PORT") or None, autocommit=True)
    if organization_id is not None:
        conn.execute("SELECT set_config('kith.organization_id', %s, false)", [str(organization_id)])
    return conn


def owner_counts(table) -> dict[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT organization_id, count(*) FROM "{table}" GROUP BY 1')
        return dict(cursor.fetchall())


# -- the schema ------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_every_table_with_an_organization_has_rls_forced_and_the_tenant_policy():
    with connection.cursor() as cursor:
        tables = rls.tenant_tables(cursor)
        cursor.execute("SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                       "WHERE relname = ANY(%s) AND relnamespace = current_schema()::regnamespace", [tables])
        flags = {name: (enabled, forced) for name, enabled, forced in cursor.fetchall()}
        cursor.execute("SELECT tablename, qual, with_check, roles FROM pg_policies "
                       "WHERE schemaname = current_schema() AND policyname = %s", [rls.TENANT_POLICY])
        policies = {name: (qual, check, roles) for name, qual, check, roles in cursor.fetchall()}
    # Every model with an organization column (domain rows, history events, join rows) is covered.
    models = {m._meta.db_table for m in apps.get_models()
              if any(getattr(f, "column", None) == "organization_id" for f in m._meta.concrete_fields)}
    assert models and models <= set(tables), sorted(models - set(tables))
    assert {"contacts_contact", "companies_company", "activities_activity", "crm_membership",
            "messaging_message", "contacts_contactevent"} <= set(tables)
    for table in tables:
        assert flags[table] == (True, True), f"{table}: RLS not enabled and forced"
        qual, check, roles = policies[table]
        for expression in (qual, check):
            assert "current_setting('kith.organization_id'" in expression and "organization_id =" in expression, table
        assert roles == ["public"], table


@pytest.mark.django_db
def test_the_app_role_is_neither_superuser_nor_bypassrls_and_cannot_truncate():
    role = settings.KITH_DB_APP_ROLE
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls, rolcanlogin, rolcreaterole, rolcreatedb FROM pg_roles "
                       "WHERE rolname = %s", [role])
        assert cursor.fetchone() == (False, False, True, False, False)
        cursor.execute("SELECT has_table_privilege(%s, 'contacts_contact', 'SELECT, INSERT, UPDATE, DELETE'), "
                       "has_table_privilege(%s, 'contacts_contact', 'TRUNCATE')", [role, role])
        assert cursor.fetchone() == (True, False)  # TRUNCATE ignores row-level security


@pytest.mark.django_db
def test_a_table_of_a_later_migration_gets_grants_and_policies():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE kith_rls_probe (id bigserial PRIMARY KEY, organization_id bigint NOT NULL)")
        cursor.execute("SELECT has_table_privilege(%s, 'kith_rls_probe', 'SELECT, INSERT'), "
                       "has_sequence_privilege(%s, 'kith_rls_probe_id_seq', 'USAGE')",
                       [settings.KITH_DB_APP_ROLE] * 2)
        assert cursor.fetchone() == (True, True)  # default privileges
        cursor.execute("SELECT relrowsecurity FROM pg_class WHERE relname = 'kith_rls_probe'")
        assert cursor.fetchone() == (False,)  # until migrate's post_migrate step runs
        rls.apply_schema(connection)
        cursor.execute("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'kith_rls_probe'")
        assert cursor.fetchone() == (True, True)
        cursor.execute("SELECT count(*) FROM pg_policies WHERE tablename = 'kith_rls_probe'")
        assert cursor.fetchone() == (2,)


# -- unfiltered queries as each organization ---------------------------------------------------------

@pytest.fixture
def two_seeded_orgs(transactional_db):
    from crm import seeding

    seeding.seed_demo(contacts=40, orgs=2, jobs=1, analyze=False, out=lambda line: None)
    world = make_world()
    tag = Tag.objects.create(organization=world.org, name="VIP")
    for org in (world.org, world.other_org):
        contact = Contact.objects.create(organization=org, first_name=f"Own {org.name}")
        if org == world.org:
            ContactTag.objects.create(organization=org, contact=contact, tag=tag)
    return world


@pytest.mark.django_db(transaction=True)
def test_unfiltered_queries_as_each_organization_see_only_its_rows(two_seeded_orgs):
    with connection.cursor() as cursor:
        tables = rls.tenant_tables(cursor)
    counts = {table: owner_counts(table) for table in tables}
    # The check means something: many tables hold rows of several organizations.
    shared = [t for t, c in counts.items() if len(c) >= 2]
    assert len(shared) >= 10, shared
    organization_ids = list(Organization.objects.values_list("pk", flat=True))
    assert len(organization_ids) >= 4
    for organization_id in organization_ids:
        with app_connection(organization_id) as conn:
            for table in tables:
                seen = conn.execute(f'SELECT count(*), count(*) FILTER (WHERE organization_id <> %s) FROM "{table}"',
                                    [organization_id]).fetchone()
                assert seen == (counts[table].get(organization_id, 0), 0), (table, organization_id)
    with app_connection() as conn:  # no organization set: nothing
        for table in tables:
            assert conn.execute(f'SELECT count(*) FROM "{table}"').fetchone() == (0,), table
        conn.execute("SELECT set_config('kith.organization_id', '', false)")
        assert conn.execute("SELECT count(*) FROM contacts_contact").fetchone() == (0,)


@pytest.mark.django_db(transaction=True)
def test_writes_into_another_organization_are_refused():
    world = make_world()
    theirs = Contact.objects.create(organization=world.other_org, first_name="Theirs")
    mine = Contact.objects.create(organization=world.org, first_name="Mine")
    with app_connection(world.org.pk) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("INSERT INTO crm_team (organization_id, name, description, created_at, updated_at) "
                         "VALUES (%s, 'Intruders', '', now(), now())", [world.other_org.pk])
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("UPDATE contacts_contact SET organization_id = %s WHERE id = %s",
                         [world.other_org.pk, mine.pk])
        assert conn.execute("UPDATE contacts_contact SET first_name = 'Changed' WHERE id = %s",
                            [theirs.pk]).rowcount == 0
        assert conn.execute("DELETE FROM contacts_contact WHERE id = %s", [theirs.pk]).rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("TRUNCATE contacts_contact CASCADE")
    with app_connection() as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("INSERT INTO crm_team (organization_id, name, description, created_at, updated_at) "
                         "VALUES (%s, 'Nobody', '', now(), now())", [world.org.pk])
    assert Contact.objects.get(pk=theirs.pk).first_name == "Theirs"
    assert Contact.objects.get(pk=mine.pk).organization_id == world.org.pk


@pytest.mark.django_db
def test_per_organization_tasks_run_once_for_each_organization(world, settings):
    settings.KITH_DB_ROLE = "app"  # the loop only runs where RLS applies
    assert rls.run_per_organization(lambda: [rls.current()]) == list(
        Organization.objects.order_by("pk").values_list("pk", flat=True))
    assert rls.current() is None
    assert rls.combine([1, 2]) == 3 and rls.combine([{"a": 1}, {"a": 2, "b": 1}]) == {"a": 3, "b": 1}


# -- a real server as the app role -------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app_server(transactional_db, tmp_path):
    from tests.conftest import database_url

    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "KITH_DB_ROLE": "app", "DJANGO_SETTINGS_MODULE":
           "crm.settings", "SECRET_KEY": settings.SECRET_KEY,  # the sessions the test signs in
           "KITH_VAR_DIR": str(tmp_path), "DEBUG": "false", "KITH_API_RATE_USER": "100000/hour"}
    log = tmp_path / "server.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "crm.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2)
            break
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail(log.read_text()[-3000:])
    if process.poll() is not None:
        pytest.fail(log.read_text()[-3000:])
    yield base, log
    process.terminate()
    process.wait(timeout=20)


def get(url, **headers):
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.status, response.read().decode()


@pytest.mark.django_db(transaction=True)
def test_a_server_on_the_app_role_shows_each_organization_only_its_own_data(app_server):
    from rest_framework.authtoken.models import Token

    base, log = app_server
    world = make_world()
    Contact.objects.create(organization=world.org, first_name="Acmeonly")
    Contact.objects.create(organization=world.other_org, first_name="Globexonly")
    # API, token authentication.
    for user, own, other in ((world.admin, "Acmeonly", "Globexonly"), (world.charlie, "Globexonly", "Acmeonly")):
        token = Token.objects.create(user=user)
        status, body = get(base + "/api/contacts/", Authorization=f"Token {token.key}")
        names = [row["first_name"] for row in json.loads(body)["results"]]
        assert status == 200 and names == [own], (names, log.read_text()[-2000:])
    # Pages, session authentication.
    for user, own, other in ((world.admin, "Acmeonly", "Globexonly"), (world.charlie, "Globexonly", "Acmeonly")):
        client = Client()
        client.force_login(user)
        status, body = get(base + "/contacts/", Cookie=f"sessionid={client.cookies['sessionid'].value}")
        assert status == 200 and own in body and other not in body, log.read_text()[-2000:]
    # Platform staff in the Django admin: the owner connection, every organization.
    staff = User.objects.create_superuser(email="staff@platform.test", password="x-Platform-9-staff")
    client = Client()
    client.force_login(staff)
    status, body = get(base + "/admin/contacts/contact/", Cookie=f"sessionid={client.cookies['sessionid'].value}")
    assert status == 200 and "Acmeonly" in body and "Globexonly" in body, log.read_text()[-2000:]


# -- a real worker as the app role -------------------------------------------------------------------

@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_on_the_app_role_runs_tasks_in_their_organization(world, worker):
    from django_celery_results.models import TaskResult

    from crm.tasks import recount_all_tag_usage

    tags = {}
    for org in (world.org, world.other_org):
        tags[org.pk] = Tag.objects.create(organization=org, name="VIP")
        for i in range(2 if org == world.org else 3):
            contact = Contact.objects.create(organization=org, first_name=f"C{i}")
            ContactTag.objects.create(organization=org, contact=contact, tag=tags[org.pk])
    with celery_app.connection_for_write(worker["url"], transport_options=worker["transport_options"]) as conn:
        # Published outside any organization: the worker fans out one recount per organization, each
        # published with its organization in the headers.
        recount_all_tag_usage.apply_async(connection=conn, queue=worker["queue"])
    wait_for(lambda: TaskResult.objects.filter(task_name="crm.tasks.recount_tag_usage", status="SUCCESS")
             .count() >= 2, 90, worker)
    assert Tag.objects.get(pk=tags[world.org.pk].pk).usage_count == 2
    assert Tag.objects.get(pk=tags[world.other_org.pk].pk).usage_count == 3
