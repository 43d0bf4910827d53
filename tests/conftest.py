"""Shared fixtures: one organization with two teams and a person in every role,
plus a second organization (charlie) that must never see anything of the first."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from crm.models import Organization, Team, User
from crm.permissions import Role
from crm.services import add_member, create_organization

PASSWORD = "correct-horse-battery-9"


@dataclass
class World:
    org: Organization
    team_a: Team
    team_b: Team
    admin: User
    manager_a: User
    manager_b: User
    alice: User  # rep, team A
    bob: User  # rep, team A
    rita: User  # rep, team B
    viewer_a: User
    other_org: Organization
    charlie: User  # org admin of the other organization
    other_rep: User


def make_world() -> World:
    org, admin, _ = create_organization("Acme Sales", admin_email="admin@acme.test", admin_password=PASSWORD,
                                        admin_name="Ada Admin")
    team_a = Team.objects.create(organization=org, name="Team A")
    team_b = Team.objects.create(organization=org, name="Team B")
    other_org, charlie, _ = create_organization("Globex", admin_email="charlie@globex.test",
                                                admin_password=PASSWORD, admin_name="Charlie Other")
    other_team = Team.objects.create(organization=other_org, name="Team A")

    def member(email, role, team, name):
        return add_member(team.organization if team else org, email=email, password=PASSWORD, role=role,
                          team=team, full_name=name)

    return World(
        org=org, team_a=team_a, team_b=team_b, admin=admin,
        manager_a=member("manager.a@acme.test", Role.MANAGER, team_a, "Mona Manager"),
        manager_b=member("manager.b@acme.test", Role.MANAGER, team_b, "Max Manager"),
        alice=member("alice@acme.test", Role.REP, team_a, "Alice Rep"),
        bob=member("bob@acme.test", Role.REP, team_a, "Bob Rep"),
        rita=member("rita@acme.test", Role.REP, team_b, "Rita Rep"),
        viewer_a=member("viewer@acme.test", Role.VIEWER, team_a, "Vic Viewer"),
        other_org=other_org, charlie=charlie,
        other_rep=member("rep@globex.test", Role.REP, other_team, "Olga Other"),
    )


@pytest.fixture(scope="session")
def _media_root(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _test_settings(settings, _media_root):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Uploaded and generated files (imports, exports) stay out of var/media.
    settings.MEDIA_ROOT = str(_media_root)
    # Pages render without a collectstatic manifest in tests.
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture
def world(db) -> World:
    return make_world()


def fresh(user):
    """The same user without cached scope (as on a new request)."""
    return User.objects.get(pk=user.pk)


# A real Celery worker (tests marked celery_worker, with transactional databases)

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def redis_reachable() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def database_url() -> str:
    from crm.db import database_url as url

    return url(connection.settings_dict)


@pytest.fixture
def broker(tmp_path):
    if redis_reachable():
        return {"url": f"redis://{REDIS_HOST}:{REDIS_PORT}/15", "transport_options": {}}
    if os.environ.get("CI") == "true":
        pytest.fail("CI must run the Celery test against Redis at 127.0.0.1:6379; .ci/run starts it.")
    folders = {k: tmp_path / k for k in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir()
    return {"url": "filesystem://", "transport_options": {
        "data_folder_in": str(folders["queue"]), "data_folder_out": str(folders["queue"]),
        "processed_folder": str(folders["processed"]), "control_folder": str(folders["control"])}}


@pytest.fixture
def worker(broker, tmp_path):
    queue = f"kith-test-{uuid.uuid4().hex[:8]}"
    from django.conf import settings

    env = {**os.environ, "DATABASE_URL": database_url(), "CELERY_BROKER_URL": broker["url"],
           "CELERY_TASK_DEFAULT_QUEUE": queue, "DJANGO_SETTINGS_MODULE": "crm.settings",
           "MEDIA_ROOT": str(settings.MEDIA_ROOT),  # the worker reads the files the test uploaded
           # As in production, the worker connects as the app role, under row-level security (crm.rls):
           # every task must run in its organization's context to find its rows.
           "KITH_DB_ROLE": "app"}
    if broker["url"] == "filesystem://":
        # The worker reads the same folders through settings' default filesystem broker.
        env.pop("CELERY_BROKER_URL")
        env["KITH_VAR_DIR"] = str(tmp_path / "var")
        Path(env["KITH_VAR_DIR"]).mkdir()
        base = Path(env["KITH_VAR_DIR"]) / "celery"
        base.mkdir()
        for name, key in (("queue", "data_folder_in"), ("processed", "processed_folder"),
                          ("control", "control_folder")):
            (base / name).symlink_to(broker["transport_options"][key])
        env["SECRET_KEY"] = "test-only-secret-key-for-the-worker-process-0123456789"
    log = tmp_path / "worker.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "-Q", f"{queue},{queue}.background", "--pool", "solo",
         "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
        env=env, cwd=Path(__file__).resolve().parents[1], stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    yield {"queue": queue, "log": log, "process": process, **broker}
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_for(predicate, timeout, worker):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if worker["process"].poll() is not None:
            break
        time.sleep(0.25)
    pytest.fail(f"condition not met in {timeout}s; worker log:\n{worker['log'].read_text()[-4000:]}")
