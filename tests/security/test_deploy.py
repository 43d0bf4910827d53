"""Production mode (KITH_PUBLIC_URL set, DEBUG off, a long SECRET_KEY), checked in a separate
process with exactly that environment: Django's deployment checks pass without a warning, the
session and CSRF cookies are HTTPS-only, and pages carry HSTS next to the other headers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "k" * 20 + "-production-secret-key-for-the-deploy-check-0123456789"


def production_env(tmp_path) -> dict:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("KITH_", "SECURE_", "DEBUG", "SECRET_KEY", "PYTEST", "DJANGO_"))}
    env.update({"KITH_PUBLIC_URL": "https://crm.example.com", "DEBUG": "false", "SECRET_KEY": SECRET,
                "DJANGO_SETTINGS_MODULE": "crm.settings", "KITH_VAR_DIR": str(tmp_path)})
    return env


def run(args, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=production_env(tmp_path), capture_output=True,
                          text=True, timeout=120)


def test_check_deploy_has_no_warnings_in_production_mode(tmp_path):
    assert len(SECRET) >= 50
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output, output
    assert "WARNING" not in output and "?: (" not in output, output


PROBE = r"""
import json
import django
django.setup()
from django.conf import settings
from django.test import Client
# Pages render without running collectstatic (the probe is about headers, not static files).
settings.STORAGES = {**settings.STORAGES,
                     "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
client = Client(HTTP_HOST="crm.example.com")
page = client.get("/login/", secure=True)
plain = client.get("/login/")
print(json.dumps({
    "settings": {name: getattr(settings, name) for name in (
        "PRODUCTION", "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
        "SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SAMESITE", "SESSION_COOKIE_AGE", "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "DATA_UPLOAD_MAX_MEMORY_SIZE",
        "FILE_UPLOAD_MAX_MEMORY_SIZE", "DATA_UPLOAD_MAX_NUMBER_FIELDS", "DATA_UPLOAD_MAX_NUMBER_FILES")},
    "status": page.status_code, "headers": dict(page.headers),
    "cookies": {name: dict(morsel) for name, morsel in page.cookies.items()},
    "plain_status": plain.status_code, "plain_location": plain.headers.get("Location"),
}))
"""


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    result = run(["-c", PROBE], tmp_path_factory.mktemp("var"))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_session_and_csrf_cookies(production):
    s = production["settings"]
    assert s["PRODUCTION"] is True and s["DEBUG"] is False
    assert s["SESSION_COOKIE_SECURE"] is True and s["CSRF_COOKIE_SECURE"] is True
    assert s["SESSION_COOKIE_HTTPONLY"] is True
    assert s["SESSION_COOKIE_SAMESITE"] == "Lax" and s["CSRF_COOKIE_SAMESITE"] == "Lax"
    assert 0 < s["SESSION_COOKIE_AGE"] <= 24 * 3600
    # The CSRF cookie the sign-in page sets, as the browser gets it.
    csrf = production["cookies"]["csrftoken"]
    assert csrf["secure"] is True and csrf["samesite"] == "Lax"


def test_production_redirects_to_https_and_sends_hsts(production):
    assert production["plain_status"] == 301
    assert production["plain_location"] == "https://crm.example.com/login/"
    assert production["status"] == 200
    headers = production["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_upload_limits_are_explicit(production):
    s = production["settings"]
    assert s["DATA_UPLOAD_MAX_MEMORY_SIZE"] == 5 * 1024 * 1024
    assert s["FILE_UPLOAD_MAX_MEMORY_SIZE"] == 2_621_440
    assert s["DATA_UPLOAD_MAX_NUMBER_FIELDS"] == 2000
    assert s["DATA_UPLOAD_MAX_NUMBER_FILES"] == 20
