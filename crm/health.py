"""Health of the parts Kith needs: web, database, broker and the Celery worker.

`GET /healthz` (crm.views.healthz) reports each component with its status and latency:

- web: answering (this request);
- database: `SELECT 1` on the default connection (the only query the check makes);
- broker: a fresh connection to CELERY_BROKER_URL, given up after KITH_HEALTH_BROKER_TIMEOUT seconds;
- worker: the age of the heartbeat that running workers write to the cache every
  KITH_WORKER_HEARTBEAT_SECONDS (`start_worker_heartbeat`, from the worker_ready signal);
  older than KITH_WORKER_STALE_SECONDS (or none at all) is "stale".

The web node is healthy (HTTP 200) when the database and the broker answer: a stale worker
makes the overall status "degraded" but keeps 200, because pages and the API still work and a
load balancer must not take web nodes out for a worker problem; monitoring alerts on "degraded".
The database or the broker down is HTTP 503 ("down"). The body names no host, user or error text."""

from __future__ import annotations

import logging
import socket
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection

HEARTBEAT_KEY = "kith:worker-heartbeat"

logger = logging.getLogger("kith.health")


def _timed(check):
    started = time.perf_counter()
    try:
        result = check() or {}
        status = {"status": "ok", **result}
    except Exception as error:  # noqa: BLE001 - any failure of a dependency is "down", by its class only
        status = {"status": "down", "error": type(error).__name__}
    status["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return status


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _broker():
    from kombu import Connection

    timeout = settings.KITH_HEALTH_BROKER_TIMEOUT
    options = {**(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {})}
    if not settings.CELERY_BROKER_URL.startswith("filesystem"):
        options.setdefault("socket_timeout", timeout)
    broker = Connection(settings.CELERY_BROKER_URL, connect_timeout=timeout, transport_options=options)
    try:
        broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    finally:
        broker.release()


def _worker():
    started = time.perf_counter()
    try:
        beat = cache.get(HEARTBEAT_KEY)
    except Exception as error:  # noqa: BLE001 - the cache (database or Redis) is unreachable
        return {"status": "unknown", "error": type(error).__name__}
    latency = round((time.perf_counter() - started) * 1000, 1)
    if not beat:
        return {"status": "stale", "age_s": None, "latency_ms": latency}
    age = max(0.0, time.time() - float(beat))
    status = "ok" if age <= settings.KITH_WORKER_STALE_SECONDS else "stale"
    return {"status": status, "age_s": round(age, 1), "latency_ms": latency}


def report() -> tuple[dict, int]:
    """The health body and its HTTP status (200 ok or degraded, 503 down)."""
    components = {"web": {"status": "ok"}, "database": _timed(_database), "broker": _timed(_broker),
                  "worker": _worker()}
    if any(components[name]["status"] != "ok" for name in ("database", "broker")):
        overall, code = "down", 503
    elif components["worker"]["status"] != "ok":
        overall, code = "degraded", 200
    else:
        overall, code = "ok", 200
    return {"status": overall, "components": components}, code


def beat() -> None:
    """Record that a worker is alive now (any worker: the health check wants one)."""
    cache.set(HEARTBEAT_KEY, time.time(), timeout=None)


def start_worker_heartbeat(interval: float | None = None) -> threading.Thread:
    """A daemon thread in the worker's main process that beats every `interval` seconds.

    A thread, not a task: a worker busy with a long import is alive and must not look stale.
    It stops with the process, so a dead or hung-up worker goes stale."""
    interval = interval or settings.KITH_WORKER_HEARTBEAT_SECONDS

    def run():
        from django.db import close_old_connections

        while True:
            try:
                beat()
            except Exception:  # noqa: BLE001 - the next beat tries again; the check shows staleness
                logger.warning("worker heartbeat not recorded", exc_info=True)
            finally:
                close_old_connections()
            time.sleep(interval)

    thread = threading.Thread(target=run, name=f"kith-heartbeat-{socket.gethostname()}", daemon=True)
    thread.start()
    return thread
