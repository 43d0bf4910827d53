import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from crm.models import Membership, Organization, User
from crm.permissions import Role

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_create_org_creates_an_org_admin(capsys):
    call_command("create_org", "Initech", admin_email="Boss@Initech.test", admin_password="s3cret-pass-word")
    org = Organization.objects.get(name="Initech")
    admin = User.objects.get(email="boss@initech.test")
    assert admin.check_password("s3cret-pass-word") and admin.is_staff and not admin.is_superuser
    assert Membership.objects.get(user=admin).organization == org
    assert admin.membership.role == Role.ADMIN
    assert "Initech" in capsys.readouterr().out


def test_create_org_generates_and_prints_a_password(capsys):
    call_command("create_org", "Hooli", admin_email="gavin@hooli.test")
    out = capsys.readouterr().out
    password = out.split("Password: ")[1].split()[0]
    assert User.objects.get(email="gavin@hooli.test").check_password(password)


def test_create_org_rejects_a_taken_email_and_bad_email():
    call_command("create_org", "One", admin_email="a@one.test", admin_password="pw-long-enough-1")
    with pytest.raises(CommandError, match="--admin-email: A user with the email a@one.test already exists"):
        call_command("create_org", "Two", admin_email="A@one.test", admin_password="pw-long-enough-1")
    with pytest.raises(CommandError, match="--admin-email.*email"):
        call_command("create_org", "Three", admin_email="not-an-email", admin_password="pw-long-enough-1")
    assert set(Organization.objects.values_list("name", flat=True)) == {"One"}


def test_ensure_admin_uses_environment_once(monkeypatch, capsys):
    monkeypatch.setenv("KITH_ADMIN_EMAIL", "owner@kith.test")
    monkeypatch.setenv("KITH_ADMIN_PASSWORD", "from-the-env-123")
    call_command("ensure_admin")
    admin = User.objects.get(email="owner@kith.test")
    assert admin.is_superuser and admin.check_password("from-the-env-123")
    assert admin.membership.role == Role.ADMIN
    call_command("ensure_admin")
    assert User.objects.count() == 1
    assert "already exists" in capsys.readouterr().out


def test_ensure_admin_generates_a_password(monkeypatch, capsys):
    monkeypatch.delenv("KITH_ADMIN_EMAIL", raising=False)
    monkeypatch.delenv("KITH_ADMIN_PASSWORD", raising=False)
    call_command("ensure_admin")
    out = capsys.readouterr().out
    password = out.split("Password: ")[1].split()[0]
    assert User.objects.get(email="admin@kith.local").check_password(password)


def _check(env_extra):
    # Only what the test sets: nothing of the test runner's own environment (e.g. the browser
    # tests' DJANGO_ALLOW_ASYNC_UNSAFE) leaks into the production check.
    env = {k: v for k, v in os.environ.items()
           if k not in {"DEBUG", "KITH_PUBLIC_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(env_extra)
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True)


def test_check_deploy_is_clean_in_production_mode():
    result = _check({"KITH_PUBLIC_URL": "https://crm.example.com",
                     "SECRET_KEY": "x" * 20 + "production-secret-key-with-enough-entropy-0123456789"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_debug_mode():
    result = _check({"DEBUG": "true"})
    assert result.returncode != 0


def test_bad_boolean_setting_fails_loudly():
    result = _check({"DEBUG": "maybe"})
    assert result.returncode != 0 and "DEBUG='maybe' is not a boolean" in result.stderr
