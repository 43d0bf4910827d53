"""Request ids and structured logs (crm.logs).

In this process: the id comes back in the response header (a sane incoming one is kept, any
other replaced by a uuid4) and is on every record logged during the request. End to end: a
gunicorn web process and a real Celery worker, both with LOG_FORMAT=json: the log lines of a
request that starts an export parse as JSON and carry the id of the response header, and the
worker's lines about the export task carry the same id."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from contacts.exports import INLINE_LIMIT
from contacts.models import Contact
from crm.logs import JsonFormatter, RequestIdFilter
from tests.conftest import database_url, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def json_records():
    """Everything logged in this process, formatted as the json LOG_FORMAT does it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


@pytest.mark.parametrize("incoming, kept", [
    ("edge-7f3a.42:b_c", True),
    ("x" * 128, True),
    ("x" * 129, False),
    ("has space", False),
    ("new\nline", False),
    ("<script>", False),
    ("alice@example.com", False),
    (None, False),
])
def test_the_request_id_is_in_the_header_and_on_every_line(client, world, json_records, incoming, kept):
    client.force_login(world.alice)
    before = len(json_records())  # the sign-in's own lines (django-axes) come before the request
    headers = {"HTTP_X_REQUEST_ID": incoming} if incoming is not None else {}
    response = client.get("/contacts/", **headers)
    assert response.status_code == 200
    request_id = response["X-Request-ID"]
    if kept:
        assert request_id == incoming
    else:
        assert request_id != incoming and re.fullmatch(r"[0-9a-f]{32}", request_id)
    records = json_records()[before:]
    assert records and all(record["request_id"] == request_id for record in records)
    access = [r for r in records if r["logger"] == "kith.request"]
    assert len(access) == 1
    assert (access[0]["method"], access[0]["path"], access[0]["status"]) == ("GET", "/contacts/", 200)
    assert access[0]["user_id"] == world.alice.pk and access[0]["level"] == "INFO"

    # Outside a request: no id.
    logging.getLogger("kith").warning("between requests")
    assert json_records()[-1]["request_id"] == "-"


def test_ids_do_not_leak_between_requests(client, db, json_records):
    first = client.get("/healthz", HTTP_X_REQUEST_ID="first-one")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert first == "first-one" and second != first
    assert [r["request_id"] for r in json_records() if r["logger"] == "kith.request"] == [first, second]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def json_worker(monkeypatch, tmp_path, request):
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("MEDIA_ROOT", str(tmp_path / "media"))
    return request.getfixturevalue("worker")


@pytest.fixture
def web(json_worker, tmp_path):
    """gunicorn on a free port, publishing to the worker's broker and queue, logging json."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "CELERY_BROKER_URL": json_worker["url"],
           "CELERY_TASK_DEFAULT_QUEUE": json_worker["queue"], "LOG_FORMAT": "json"}
    if json_worker["url"] == "filesystem://":  # the same folders as the worker (tests/conftest.py)
        env.pop("CELERY_BROKER_URL")
        env["KITH_VAR_DIR"] = str(tmp_path / "var")
        env["SECRET_KEY"] = "test-only-secret-key-for-the-worker-process-0123456789"
    log = tmp_path / "web.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "crm.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--timeout", "60"],
        env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2)
            return True
        except OSError:
            return False

    wait_for(up, 60, {"process": process, "log": log})
    yield {"base": base, "log": log, "process": process}
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def call(web, path, token, *, body=None, request_id=None):
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    if request_id:
        headers["X-Request-ID"] = request_id
    req = urllib.request.Request(web["base"] + path, data=json.dumps(body).encode() if body is not None else None,
                                 headers=headers, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(req, timeout=30) as response:
        return response.status, response.headers.get("X-Request-ID"), json.loads(response.read())


def json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_request_and_the_task_it_starts_log_the_same_id(world, web, json_worker):
    contacts = [Contact(organization=world.org, first_name=f"L{i:05d}", email=f"l{i}@example.com")
                for i in range(INLINE_LIMIT + 1)]  # more than runs in the request: a Celery task
    for contact in contacts:
        contact.derive_fields()
    Contact.objects.bulk_create(contacts)
    token = Token.objects.create(user=world.admin).key
    request_id = f"req-{uuid.uuid4().hex[:12]}"

    started = time.monotonic()
    status, header, body = call(web, "/api/exports/", token, request_id=request_id,
                                body={"format": "csv", "columns": ["first_name"], "filters": {}})
    assert (status, header) == (202, request_id)  # accepted: queued for the worker
    wait_for(lambda: call(web, f"/api/exports/{body['id']}/", token)[2]["status"] == "done", 90, json_worker)
    print(f"export of {len(contacts)} rows done by the worker {time.monotonic() - started:.1f}s after the request")

    # The web process: its lines are JSON; the request's carry its id, one of them the access line.
    web_lines = [line for line in web["log"].read_text().splitlines()
                 if not line.startswith("[")]  # gunicorn's own start/stop lines
    assert web_lines and all(json.loads(line) for line in web_lines)
    mine = [r for r in json_lines(web["log"]) if r["request_id"] == request_id]
    assert any(r["logger"] == "kith.request" and r["path"] == "/api/exports/" and r["status"] == 202
               for r in mine), web["log"].read_text()[-3000:]
    assert {"time", "level", "logger", "message", "request_id"} <= set(mine[0])

    # The worker: the task's lines carry the same id (and the task's name and id).
    task_lines = [r for r in json_lines(json_worker["log"]) if r.get("task_name") == "contacts.tasks.run_export"]
    assert task_lines, json_worker["log"].read_text()[-3000:]
    assert {r["request_id"] for r in task_lines} == {request_id}
    assert any("succeeded" in r["message"] for r in task_lines)


def test_log_format_is_json_or_text():
    from django.core.exceptions import ImproperlyConfigured

    from crm.logs import logging_settings

    assert logging_settings("json", "INFO", ())["handlers"]["console"]["formatter"] == "json"
    assert logging_settings("text", "INFO", ())["handlers"]["console"]["formatter"] == "text"
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT='xml' is not a log format"):
        logging_settings("xml", "INFO", ())
