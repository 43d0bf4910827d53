"""OpenAPI schema and Swagger UI, served from our own static files."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_lists_the_endpoints(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    body = response.content.decode()
    for path in ("/api/contacts/", "/api/contacts/{id}/restore/", "/api/contacts/{id}/relationships/",
                 "/api/contacts/validate-phone/", "/api/companies/", "/api/tags/", "/api/custom-fields/",
                 "/api/contact-companies/", "/api/relationships/", "/api/activities/", "/api/auth/token/"):
        assert f"{path}:" in body, path


def test_swagger_ui_uses_only_local_static_files(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode().lower()
    for cdn in ("cdn", "unpkg", "jsdelivr", "https://", "http://"):
        assert cdn not in html, cdn
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.content.decode())
    # The page's own script comes from the page's URL (?script), so no inline script is needed (CSP).
    assert assets and all(url.startswith(("/static/", "/api/docs/?script")) or url == "/api/schema/"
                          for url in assets), assets
    for url in assets:
        if url.startswith(("/static/", "/api/docs/")):
            assert client.get(url).status_code == 200, url


def test_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
