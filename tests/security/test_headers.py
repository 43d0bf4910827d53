"""Security headers on our pages and on the API: a Content-Security-Policy that allows our own
scripts only (no inline script, no eval), frame denial, referrer policy, nosniff, COOP."""

from __future__ import annotations

import re

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def policy(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in header.split(";")) if part}


def assert_security_headers(response):
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_pages_carry_the_security_headers(client, world):
    assert_security_headers(client.get("/login/"))
    client.force_login(world.alice)
    for url in ("/", "/contacts/", "/companies/", "/dashboard/", "/notifications/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_security_headers(response)


def test_api_carries_the_security_headers(world):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=world.alice).key}")
    response = api.get("/api/contacts/")
    assert response.status_code == 200
    assert_security_headers(response)
    assert_security_headers(APIClient().get("/api/contacts/"))  # 401 too


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\s on[a-z]+\s*=", re.I)


def test_our_pages_have_no_inline_script(client, world):
    """What the policy would block: inline <script> blocks and on*= handler attributes."""
    client.force_login(world.admin)
    from contacts.models import Contact

    contact = Contact.objects.create(organization=world.org, first_name="Ann", owner=world.admin)
    for url in ("/login/", "/", "/contacts/", f"/contacts/{contact.pk}/", "/companies/", "/dashboard/",
                "/notifications/", "/contacts/segments/", "/settings/members/", "/api/docs/"):
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert not INLINE_SCRIPT.search(html), (url, INLINE_SCRIPT.search(html).group(0))
        assert not INLINE_HANDLER.search(html), (url, INLINE_HANDLER.search(html).group(0))


def test_api_docs_script_is_served_separately(client, world):
    client.force_login(world.alice)
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("application/javascript")
