"""/healthz: web, database, broker and worker heartbeat, each with its status and latency.

All up with a real worker (its heartbeat thread writes the timestamp), the broker on a closed
port (503), the database unreachable (a web process of its own whose DATABASE_URL points at a
closed port: 503), and a stale heartbeat (degraded, still 200)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.cache import cache

from crm import health
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(client):
    response = client.get("/healthz")
    return response.status_code, response.json()


@pytest.fixture
def heartbeat_worker(monkeypatch, request):
    """A real worker that beats every second."""
    monkeypatch.setenv("KITH_WORKER_HEARTBEAT_SECONDS", "1")
    cache.delete(health.HEARTBEAT_KEY)
    return request.getfixturevalue("worker")


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_all_up_with_a_real_worker(client, settings, heartbeat_worker):
    settings.CELERY_BROKER_URL = heartbeat_worker["url"]
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = heartbeat_worker["transport_options"]
    settings.KITH_WORKER_STALE_SECONDS = 5
    started = time.monotonic()
    wait_for(lambda: get(client)[1]["components"]["worker"]["status"] == "ok", 60, heartbeat_worker)
    print(f"first heartbeat seen {time.monotonic() - started:.1f}s after the worker started")
    code, body = get(client)
    assert code == 200 and body["status"] == "ok", body
    parts = body["components"]
    assert set(parts) == {"web", "database", "broker", "worker"}
    assert all(parts[name]["status"] == "ok" for name in parts)
    for name in ("database", "broker", "worker"):
        assert isinstance(parts[name]["latency_ms"], float)
    assert 0 <= parts["worker"]["age_s"] <= 5
    print("latency ms:", {name: parts[name].get("latency_ms") for name in parts})

    # The worker stops: its heartbeat goes stale, the web stays up (degraded, 200).
    heartbeat_worker["process"].terminate()
    heartbeat_worker["process"].wait(timeout=20)
    settings.KITH_WORKER_STALE_SECONDS = 2
    time.sleep(3)
    code, body = get(client)
    assert (code, body["status"], body["components"]["worker"]["status"]) == (200, "degraded", "stale"), body


def test_stale_or_missing_heartbeat_is_degraded_not_down(client, db, settings):
    settings.KITH_WORKER_STALE_SECONDS = 60
    cache.set(health.HEARTBEAT_KEY, time.time() - 61, timeout=None)
    code, body = get(client)
    assert (code, body["status"]) == (200, "degraded")
    assert body["components"]["worker"]["status"] == "stale" and body["components"]["worker"]["age_s"] >= 61
    assert body["components"]["database"]["status"] == "ok" and body["components"]["broker"]["status"] == "ok"

    cache.delete(health.HEARTBEAT_KEY)
    code, body = get(client)
    assert (code, body["status"], body["components"]["worker"]) [:2] == (200, "degraded")
    assert body["components"]["worker"]["status"] == "stale" and body["components"]["worker"]["age_s"] is None

    health.beat()
    code, body = get(client)
    assert (code, body["status"], body["components"]["worker"]["status"]) == (200, "ok", "ok")


def test_broker_down_is_503(client, db, settings):
    health.beat()
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    started = time.monotonic()
    code, body = get(client)
    assert time.monotonic() - started < 5
    assert (code, body["status"]) == (503, "down")
    assert body["components"]["broker"]["status"] == "down"
    assert body["components"]["database"]["status"] == "ok"
    assert "127.0.0.1" not in json.dumps(body)  # no hosts or error texts in the body


def test_database_down_is_503():
    """A separate process whose database is unreachable (the test database stays untouched)."""
    port = closed_port()
    env = {**os.environ, "DATABASE_URL": f"postgresql://kith:secret@127.0.0.1:{port}/kith",
           "DJANGO_SETTINGS_MODULE": "crm.settings"}
    env.pop("CELERY_BROKER_URL", None)  # the filesystem broker: up
    script = ("import django, json; django.setup(); from django.test import Client; "
              "r = Client().get('/healthz'); print(json.dumps({'code': r.status_code, 'body': r.json()}))")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"health check in a fresh process {time.monotonic() - started:.1f}s")
    assert (out["code"], out["body"]["status"]) == (503, "down")
    parts = out["body"]["components"]
    assert parts["database"] == {"status": "down", "error": "OperationalError",
                                 "latency_ms": parts["database"]["latency_ms"]}
    assert parts["broker"]["status"] == "ok" and parts["web"]["status"] == "ok"
    assert "secret" not in json.dumps(out["body"]) and str(port) not in json.dumps(out["body"])


def test_health_is_not_redirected_to_https(client, db, settings):
    """Production redirects http to https; the load balancer's plain-http probe still gets an answer."""
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/login/").status_code == 301
    response = client.get("/healthz")
    assert response.status_code == 200 and response["Cache-Control"].startswith("max-age=0")
