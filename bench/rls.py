"""Row-level security cost (crm/rls.py): the same cases in one process, as the owner (RLS does not
apply) and as the app role with the organization set (RLS applies), on a seeded database.

    DATABASE_URL=… python -m bench.rls [--requests 200]

Cases: the contact list page (first page, 50 rows, whole Django request) and the API list as the
org admin of the first organization, and search (autocomplete and full text) as that admin and a
sales rep. p50/p95 in ms; the two runs alternate case by case so load on the machine hits both."""

from __future__ import annotations

import argparse
import contextvars
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_ALIAS = "rls_app"
_alias: contextvars.ContextVar[str | None] = contextvars.ContextVar("bench_alias", default=None)


class _Router:
    def db_for_read(self, model, **hints):
        return _alias.get()

    db_for_write = db_for_read

    def allow_relation(self, *args, **hints):
        return True


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.db import connections, router
    from django.test import Client
    from rest_framework.authtoken.models import Token
    from rest_framework.settings import api_settings

    from bench.cases import _sample, _users
    from bench.latency import measure
    from contacts.search import autocomplete, full_text

    api_settings.DEFAULT_THROTTLE_CLASSES = []
    owner = settings.DATABASES["default"]
    connections.settings[APP_ALIAS] = {**owner, "USER": settings.KITH_DB_APP_ROLE, "PASSWORD": "",
                                       "TEST": {"MIRROR": "default"}}
    connections.settings = connections.configure_settings(connections.settings)
    router.routers.append(_Router())

    admin, rep = _users()
    from crm.permissions import Scope

    organization_id = Scope.of(admin).organization_id
    with connections[APP_ALIAS].cursor() as cursor:
        cursor.execute("SELECT set_config('kith.organization_id', %s, false)", [str(organization_id)])
        cursor.execute("SELECT current_user, (SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user)")
        print("app connection:", cursor.fetchone(), flush=True)
    token, _ = Token.objects.get_or_create(user=admin)
    page, api = Client(), Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    page.force_login(admin)
    sample = _sample(admin)
    cases = [
        ("contact list page, admin, first 50", lambda: page.get("/contacts/")),
        ("contact list API, admin, first 50", lambda: api.get("/api/contacts/")),
        ("autocomplete admin: full name", lambda: autocomplete(admin, f"{sample.first_name} {sample.last_name}")),
        ("autocomplete admin: 3 letters", lambda: autocomplete(admin, sample.first_name[:3])),
        ("autocomplete rep: 3 letters", lambda: autocomplete(rep, sample.first_name[:3])),
        ("full text admin: common word", lambda: full_text(admin, "john")),
        ("full text rep: common word", lambda: full_text(rep, "john")),
    ]
    print(f"\n== RLS cost ({args.requests} requests per case; ms) ==", flush=True)
    print(f"{'case':<42} {'owner p50':>10} {'owner p95':>10} {'app p50':>9} {'app p95':>9}", flush=True)
    for name, fn in cases:
        row = []
        for alias in (None, APP_ALIAS):
            token_ = _alias.set(alias)
            try:
                # Fresh users each run: Scope caches on the user object.
                admin.__dict__.pop("_kith_scope", None)
                rep.__dict__.pop("_kith_scope", None)
                row += measure(fn, args.requests)
            finally:
                _alias.reset(token_)
        print(f"{name:<42} {row[0]:10.2f} {row[1]:10.2f} {row[2]:9.2f} {row[3]:9.2f}", flush=True)


if __name__ == "__main__":
    main()
