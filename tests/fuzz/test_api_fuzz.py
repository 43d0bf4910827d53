"""Schemathesis against our own OpenAPI schema: every operation and method, signed in as a rep (token),
in-process through the WSGI app against the test database. No response may be a server error, and every
response must match the schema: a documented status code, the documented content type and body.

KITH_FUZZ_EXAMPLES sets the examples per operation (default 5 here; `make fuzz` runs 200). Half the
strategy is schema-valid data, half deliberately invalid data (schemathesis' negative mode).
Object routes get ids of rows the rep can reach, another organization's ids, and random ids.
Each example runs in a savepoint that is rolled back, so a DELETE or a merge does not starve later ones.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.checks import (
    content_type_conformance, not_a_server_error, response_schema_conformance, status_code_conformance,
)

from crm.wsgi import application
from tests.api.conftest import book  # noqa: F401  (fixture)
from tests.fuzz.seeds import seed_ids

EXAMPLES = int(os.environ.get("KITH_FUZZ_EXAMPLES", "5"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Operations not fuzzed, each with the reason. Keep this empty unless fuzzing one is impossible.
EXCLUDED: dict[str, str] = {}
ONLY = os.environ.get("KITH_FUZZ_ONLY", "")  # e.g. "POST /api/contacts/" while debugging

pytestmark = pytest.mark.django_db


@contextmanager
def keep_connection():
    # As Django's test client does: the WSGI app must not close the test transaction's connection.
    # (Django's test client reconnects these signals after each request, so nothing may use it inside.)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def with_seeded_id(case, ids):
    pool = ids.get(case.path.split("/")[2], [])
    generated = (case.path_parameters or {}).get("id")
    if pool and isinstance(generated, int):
        # Mostly rows the rep can reach (or another organization's), sometimes the generated id itself.
        choices = [*pool, generated]
        case.path_parameters["id"] = choices[abs(generated) % len(choices)]
    return case


def fuzz(operation, headers, ids) -> list[str]:
    failures: list[str] = []
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                         operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case):
        with_seeded_id(case, ids)
        with transaction.atomic():
            try:
                case.call_and_validate(headers=headers, checks=CHECKS)
            except FailureGroup as error:
                failures.append(f"{error}\n{case.as_curl_command(headers={'Authorization': 'Token ...'})}")
            finally:
                transaction.set_rollback(True)

    run()
    return failures


def test_every_operation_conforms_to_the_schema(world, book):  # noqa: F811
    token = Token.objects.create(user=world.alice)
    headers = {"Authorization": f"Token {token.key}"}
    ids = seed_ids(world, book, token.key)
    failures, fuzzed, started = {}, 0, time.monotonic()
    with keep_connection():
        api_schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
        for result in api_schema.get_all_operations():
            operation = result.ok()
            if operation.label in EXCLUDED or (ONLY and ONLY not in operation.label):
                continue
            fuzzed += 1
            if found := fuzz(operation, headers, ids):
                failures[operation.label] = found
    print(f"fuzzed {fuzzed} operations, {EXAMPLES} examples each, in {time.monotonic() - started:.0f} s")
    assert ONLY or fuzzed >= 180
    assert not failures, "\n\n".join(f"== {label} ({len(f)} failing examples)\n{f[0]}"
                                     for label, f in failures.items())
