"""Fault fixtures: Celery workers (real processes, `--pool solo`) that a test kills with SIGKILL
in the middle of a job and replaces with a new one.

The workers use Redis db 14, not db 15 where the other Celery tests run: with the short
visibility timeout here, kombu hands back every message unacknowledged for a few seconds, in
any queue of its database — also the long tasks of tests running next to these."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from crm.celery import app as celery_app
from tests.conftest import REDIS_HOST, REDIS_PORT, database_url, redis_reachable

ROOT = Path(__file__).resolve().parents[2]
VISIBILITY_TIMEOUT = 4  # seconds before Redis hands a killed worker's message to another worker


class Workers:
    """Starts, kills and restarts workers on one queue; `process` is the current one."""

    def __init__(self, tmp_path, env):
        self.tmp_path, self.env = tmp_path, env
        self.queue = env["CELERY_TASK_DEFAULT_QUEUE"]
        self.url = env["CELERY_BROKER_URL"]
        self.process: subprocess.Popen | None = None
        self.started = 0
        self.log = None

    def start(self, **extra_env) -> subprocess.Popen:
        self.started += 1
        self.log = self.tmp_path / f"worker-{self.started}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "crm", "worker", "-Q", self.queue, "--pool", "solo",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
             "-n", f"fault{self.started}-{self.queue}@%h"],
            env={**self.env, **extra_env}, cwd=ROOT, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        return self.process

    def kill(self) -> None:
        """SIGKILL: no task cleanup, no acknowledgement, no rejection, its connections just drop."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def connection(self):
        return celery_app.connection_for_write(self.url)

    def send_options(self, conn) -> dict:
        return {"connection": conn, "queue": self.queue}

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.tmp_path.glob("worker-*.log")))

    def wait_for(self, predicate, timeout: float, interval: float = 0.05):
        """Poll until `predicate()` is truthy (returns it); fails with the workers' logs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(interval)
        pytest.fail(f"condition not met in {timeout}s; worker logs:\n{self.logs()}")


@pytest.fixture
def workers(tmp_path, settings):
    if not redis_reachable():
        pytest.fail(f"The fault tests need Redis at {REDIS_HOST}:{REDIS_PORT} (CI starts one): "
                    "only Redis redelivers the message of a killed worker.")
    env = {**os.environ, "DATABASE_URL": database_url(),
           "CELERY_BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/14",
           "CELERY_TASK_DEFAULT_QUEUE": f"kith-fault-{uuid.uuid4().hex[:8]}",
           "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
           "DJANGO_SETTINGS_MODULE": "tests.faults.worker_settings",
           "MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    pool = Workers(tmp_path, env)
    yield pool
    pool.stop()
