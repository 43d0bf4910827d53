"""PostgreSQL row-level security: the second wall behind `visible_to`.

Every table with an `organization_id` column has RLS enabled and forced, with two policies:

- `kith_tenant` (every role): a row is visible and writable only when its organization_id equals the
  connection's `kith.organization_id` setting; with no setting, nothing is.
- `kith_owner` (the role that ran the migrations): everything, for migrations, platform staff and the
  cross-organization management commands (seed_demo, create_org, ensure_admin).

The web server, Celery worker and beat connect as the app role (settings.KITH_DB_APP_ROLE, created by
crm/migrations/0012_row_level_security: LOGIN, NOSUPERUSER, NOBYPASSRLS) when KITH_DB_ROLE=app, and
set the organization before they touch a tenant row:

- requests: `OrganizationContextMiddleware` (after authentication) and the DRF token authentication
  (`TokenAuthentication` here), reset at the end of the request (connections are persistent);
- Celery: the publisher's organization travels in the task headers (`before_task_publish`); a task
  published outside any organization (a management command, a test) takes it from its first argument
  (`organization_of` on the task: the pk of a Job, Contact, Message, or the organization itself);
  `task_prerun` sets it, `task_postrun` restores what was there; beat tasks that work across
  organizations (`per_organization=True`) run once per organization, each under its own context;
- platform staff (superusers) in the Django admin use the owner connection (the `platform` database
  alias, chosen by `PlatformRouter` while `platform()` is active).

The organization lives in a contextvar; `activate()` mirrors it onto the app connections with
`set_config('kith.organization_id', …, false)` (one query, skipped when the connection already has it).
With KITH_DB_ROLE=owner (tests' own process, management commands) the contextvar is kept but no query
is sent: the owner policy sees everything anyway.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

SETTING = "kith.organization_id"
HEADER = "kith_organization_id"
TENANT_POLICY = "kith_tenant"
OWNER_POLICY = "kith_owner"
# Aliases whose connections are the app role when KITH_DB_ROLE=app.
APP_ALIASES = ("default",)
PLATFORM_ALIAS = "platform"

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# The organization of the current request or task: an int, None (no organization: sees nothing under
# RLS), or a zero-argument callable resolved on first use (owner connections only: see middleware).
_organization: contextvars.ContextVar = contextvars.ContextVar("kith_organization", default=None)
_platform: contextvars.ContextVar[bool] = contextvars.ContextVar("kith_platform", default=False)


def app_role() -> str:
    role = settings.KITH_DB_APP_ROLE
    if not _ROLE_NAME.match(role):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"KITH_DB_APP_ROLE={role!r} is not a plain PostgreSQL role name")
    return role


def enforced() -> bool:
    """Whether this process connects as the app role (subject to RLS)."""
    return settings.KITH_DB_ROLE == "app"


# -- context ---------------------------------------------------------------------------------------

def current() -> int | None:
    """The organization id of the current request or task, or None."""
    value = _organization.get()
    if callable(value):
        value = value()
        _organization.set(value)
    return value


def activate(organization_id: int | None) -> contextvars.Token:
    """Make `organization_id` the current organization (None: none) and tell the app connections."""
    token = _organization.set(organization_id)
    _sync(organization_id)
    return token


def activate_lazily(resolve) -> contextvars.Token:
    """The current organization is what `resolve()` returns, asked only when needed (owner role:
    no query unless a task is published)."""
    return _organization.set(resolve)


def restore(token: contextvars.Token) -> None:
    _organization.reset(token)
    value = _organization.get()
    _sync(None if callable(value) else value)


@contextlib.contextmanager
def organization(organization_id: int | None):
    """Run the block as one organization (tasks, per-organization commands)."""
    token = activate(organization_id)
    try:
        yield
    finally:
        restore(token)


def bind(iterable):
    """Iterate `iterable` as the current organization (a streamed response is iterated after the
    middleware has reset the context)."""
    organization_id = current()

    def generate():
        with organization(organization_id):
            yield from iterable

    return generate()


@contextlib.contextmanager
def copy_into(cursor, table: str, columns: list[str]):
    """COPY … FROM STDIN into a tenant table. PostgreSQL refuses COPY FROM into a table with
    row-level security, so on the app role the rows go through a temporary table and one
    INSERT … SELECT, which the policy checks; the owner copies straight in."""
    cols = ", ".join(f'"{c}"' for c in columns)
    if not enforced():
        with cursor.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
            yield copy
        return
    stage = f"kith_copy_{table}"[:63]
    cursor.execute(f'DROP TABLE IF EXISTS "{stage}"')
    cursor.execute(f'CREATE TEMP TABLE "{stage}" AS SELECT {cols} FROM "{table}" WITH NO DATA')
    with cursor.copy(f'COPY "{stage}" ({cols}) FROM STDIN') as copy:
        yield copy
    cursor.execute(f'INSERT INTO "{table}" ({cols}) SELECT {cols} FROM "{stage}"')
    cursor.execute(f'DROP TABLE "{stage}"')


def _sync(organization_id: int | None) -> None:
    if not enforced():
        return
    for alias in APP_ALIASES:
        apply_to(connections[alias], organization_id)


def apply_to(connection, organization_id: int | None) -> None:
    """Set kith.organization_id on `connection` unless it has that value already (the value is
    remembered per underlying connection, so a reconnect sets it again)."""
    value = "" if organization_id is None else str(int(organization_id))
    if connection.connection is None and value == "":
        return  # a new connection starts without an organization
    state = getattr(connection, "_kith_rls", None)
    if connection.connection is not None and state == (id(connection.connection), value):
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, false)", [SETTING, value])
    connection._kith_rls = (id(connection.connection), value)


def on_connection_created(sender, connection, **kwargs) -> None:
    """A connection opened mid-request or mid-task gets the current organization."""
    if enforced() and connection.alias in APP_ALIASES:
        connection._kith_rls = (id(connection.connection), "")
        value = _organization.get()
        if value is not None and not callable(value):
            apply_to(connection, value)


def activate_for_user(user) -> None:
    """Set the organization of a signed-in user (their membership), in one query on the app role.
    The membership table is itself behind RLS, so the lookup goes through kith_user_organization(),
    a SECURITY DEFINER function that returns nothing but the organization id."""
    if user is None or not getattr(user, "is_authenticated", False):
        activate(None)
        return
    if not enforced():
        from crm.permissions import Scope

        activate_lazily(lambda: getattr(Scope.of(user), "organization_id", None))
        return
    connection = connections["default"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, coalesce(kith_user_organization(%s)::text, ''), false)",
                       [SETTING, user.pk])
        value = cursor.fetchone()[0]
    connection._kith_rls = (id(connection.connection), value)
    _organization.set(int(value) if value else None)


# -- platform staff ----------------------------------------------------------------------------------

def platform_available() -> bool:
    return PLATFORM_ALIAS in settings.DATABASES


@contextlib.contextmanager
def platform():
    """Queries of the block go to the owner connection (platform staff in the Django admin)."""
    token = _platform.set(platform_available())
    try:
        yield
    finally:
        _platform.reset(token)


class PlatformRouter:
    """Sends every query to the `platform` (owner) alias while `platform()` is active."""

    def db_for_read(self, model, **hints):
        return PLATFORM_ALIAS if _platform.get() else None

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the same database

    def allow_migrate(self, db, app_label, **hints):
        return db != PLATFORM_ALIAS


# -- requests --------------------------------------------------------------------------------------

class OrganizationContextMiddleware:
    """After AuthenticationMiddleware: the signed-in user's organization for the whole request
    (superusers in the Django admin: the platform connection), reset at the end."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _organization.set(None)
        try:
            if enforced():
                user = request.user
                if (user.is_authenticated and user.is_superuser and platform_available()
                        and request.path.startswith(_admin_prefix())):
                    with platform():
                        return self.get_response(request)
                activate_for_user(user)
            else:
                # Resolved only if a task is published (to put the organization in its headers).
                activate_lazily(lambda: _user_organization(request))
            return self.get_response(request)
        finally:
            restore(token)


def _admin_prefix() -> str:
    from django.urls import reverse

    return reverse("admin:index")


def _user_organization(request):
    from crm.permissions import Scope

    scope = Scope.of(getattr(request, "user", None))
    return scope.organization_id if scope else None


def on_user_logged_in(sender, request, user, **kwargs) -> None:
    """After a sign-in the rest of the request is the user's organization."""
    if enforced():
        activate_for_user(user)


from rest_framework.authentication import TokenAuthentication as _DRFTokenAuthentication  # noqa: E402


class TokenAuthentication(_DRFTokenAuthentication):
    """DRF token authentication that sets the token user's organization (API requests carry no
    session, so the middleware saw an anonymous user)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None and enforced():
            activate_for_user(result[0])
        return result


# -- Celery ----------------------------------------------------------------------------------------

def _task_organization(task, args, kwargs) -> int | None:
    """The organization of a task published outside any organization, from its first argument."""
    model_label = getattr(task, "organization_of", None)
    if not model_label:
        return None
    value = args[0] if args else next(iter(kwargs.values()), None) if kwargs else None
    if value is None:
        return None
    from django.apps import apps

    model = apps.get_model(model_label)
    if model._meta.label == "crm.Organization":
        return int(value)
    return model._base_manager.filter(pk=value).values_list("organization_id", flat=True).first()


def before_task_publish(sender=None, headers=None, body=None, **kwargs) -> None:
    if headers is None or headers.get(HEADER) is not None:
        return
    organization_id = current()
    if organization_id is None:
        from celery import current_app

        task = current_app.tasks.get(sender)
        if task is None and isinstance(sender, str) and "." in sender:
            # Sent by name (send_task) from a process that has not imported the task's module yet.
            import importlib

            with contextlib.suppress(ImportError):
                importlib.import_module(sender.rsplit(".", 1)[0])
            task = current_app.tasks.get(sender)
        if task is not None:
            args, kwargs_ = (body[0], body[1]) if isinstance(body, (tuple, list)) and len(body) >= 2 else ((), {})
            try:
                organization_id = _task_organization(task, args, kwargs_)
            except Exception:  # a bad id: the task runs without an organization and finds nothing
                logger.exception("could not resolve the organization of task %s", sender)
    if organization_id is not None:
        headers[HEADER] = organization_id


_task_tokens: dict[str, list] = {}


def task_prerun(sender=None, task_id=None, task=None, **kwargs) -> None:
    value = getattr(task.request, HEADER, None) if task is not None else None
    if value is None and task is not None:
        value = (task.request.headers or {}).get(HEADER) if task.request.headers else None
    token = activate(int(value) if value not in (None, "") else None)
    _task_tokens.setdefault(task_id, []).append(token)


def task_postrun(sender=None, task_id=None, **kwargs) -> None:
    tokens = _task_tokens.get(task_id)
    if tokens:
        restore(tokens.pop())
        if not tokens:
            _task_tokens.pop(task_id, None)


def run_per_organization(body):
    """Run `body()` once per organization, each under its own context (beat tasks on the app role);
    numbers are summed, lists joined, dicts of numbers added up."""
    from crm.models import Organization

    results = []
    for organization_id in Organization.objects.order_by("pk").values_list("pk", flat=True):
        with organization(organization_id):
            results.append(body())
    return combine(results)


def combine(results):
    if all(isinstance(r, bool) or r is None for r in results):
        return any(results) if any(r is not None for r in results) else None
    if all(isinstance(r, int) for r in results):
        return sum(results)
    if all(isinstance(r, list) for r in results):
        return [item for r in results for item in r]
    if all(isinstance(r, dict) for r in results):
        merged: dict = {}
        for r in results:
            for key, value in r.items():
                merged[key] = merged.get(key, 0) + value if isinstance(value, (int, float)) else value
        return merged
    return results


# -- schema ----------------------------------------------------------------------------------------

def tenant_tables(cursor) -> list[str]:
    """Tables of the current schema with an organization_id column."""
    cursor.execute("""
        SELECT c.relname FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
        ORDER BY c.relname""")
    return [row[0] for row in cursor.fetchall()]


def create_role_sql(role: str) -> list[str]:
    """Create the app role if missing and grant it what the app does (no TRUNCATE: it skips RLS);
    default privileges cover the tables and sequences of later migrations."""
    return [
        f"""DO $$ BEGIN
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                BEGIN
                  CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- created meanwhile
                END;
              END IF;
            END $$""",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {role}",
        # The middleware's one lookup the membership policy would otherwise refuse: a user's
        # organization id, nothing else.
        """CREATE OR REPLACE FUNCTION kith_user_organization(user_id bigint) RETURNS bigint
           LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
           $$ SELECT organization_id FROM crm_membership WHERE crm_membership.user_id = $1 LIMIT 1 $$""",
        "REVOKE ALL ON FUNCTION kith_user_organization(bigint) FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION kith_user_organization(bigint) TO {role}",
    ]


POLICY_SQL = f"""
DO $$
DECLARE t record;
BEGIN
  FOR t IN
    SELECT c.oid, c.oid::regclass AS name, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
  LOOP
    IF NOT (t.relrowsecurity AND t.relforcerowsecurity) THEN
      EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', t.name);
    END IF;
    IF NOT EXISTS (SELECT FROM pg_policy WHERE polrelid = t.oid AND polname = '{TENANT_POLICY}') THEN
      EXECUTE format('CREATE POLICY {TENANT_POLICY} ON %s '
                     'USING (organization_id = NULLIF(current_setting(''{SETTING}'', true), '''')::bigint) '
                     'WITH CHECK (organization_id = NULLIF(current_setting(''{SETTING}'', true), '''')::bigint)',
                     t.name);
    END IF;
    IF NOT EXISTS (SELECT FROM pg_policy WHERE polrelid = t.oid AND polname = '{OWNER_POLICY}') THEN
      EXECUTE format('CREATE POLICY {OWNER_POLICY} ON %s TO CURRENT_USER USING (true) WITH CHECK (true)', t.name);
    END IF;
  END LOOP;
END $$"""


def apply_schema(connection) -> None:
    """Role, grants and policies on every tenant table (idempotent: the migration and every
    `migrate` afterwards run it, so tables added later are covered)."""
    with connection.cursor() as cursor:
        for statement in create_role_sql(app_role()):
            cursor.execute(statement)
        cursor.execute(POLICY_SQL)


def on_post_migrate(sender, using="default", **kwargs) -> None:
    if sender.name != "crm":
        return  # once per migrate
    apply_schema(connections[using])
