"""Our pages under the Content-Security-Policy in a real browser: the key pages load without a
single CSP violation or script error, confirmations and the QR code still work, and a member
enrols in two-factor sign-in and signs in with a code."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import expect

from contacts.services import create_contact
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def watch(page) -> list[str]:
    problems: list[str] = []
    # (The browser's own /favicon.ico request on pages without an icon, the admin's, is not ours.)
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text} {msg.location.get('url')}")
            if (msg.type == "error" or "Content Security Policy" in msg.text)
            and not (msg.location.get("url") or "").endswith("/favicon.ico") else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("response", lambda response: problems.append(f"{response.status} {response.url}")
            if response.status >= 400 else None)
    # Violations are also reported as DOM events: count them from inside the page.
    page.add_init_script("""window.__csp = [];
        document.addEventListener('securitypolicyviolation',
            (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));""")
    return problems


def test_key_pages_load_without_csp_violations(page, world):
    contact = create_contact(organization=world.org, data={"first_name": "Carla", "last_name": "Policy",
                                                           "owner": world.admin, "email": "carla@example.com"})
    problems = watch(page)
    sign_in(page, "admin@acme.test")
    for url in ("/", "/contacts/", f"/contacts/{contact.pk}/", "/companies/", "/dashboard/", "/notifications/",
                "/tasks/", "/contacts/segments/new/", "/settings/members/", "/settings/security/",
                "/account/two-factor/", "/api/docs/", "/admin/"):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        violations = page.evaluate("window.__csp")
        assert not violations, (url, violations)
    assert not problems, problems
    # Swagger UI ran (its script is a separate file now).
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info")).to_be_visible()

    # data-confirm replaced the inline onsubmit: dismissing keeps the contact.
    page.goto(f"/contacts/{contact.pk}/")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name=re.compile("^Delete", re.I)).first.click()
    expect(page).to_have_url(re.compile(rf"/contacts/{contact.pk}/$"))
    assert not problems, problems


def test_enrol_and_sign_in_with_a_code(page, world):
    problems = watch(page)
    sign_in(page, "alice@acme.test")
    page.goto("/account/two-factor/")
    expect(page.locator(".qr-code svg")).to_be_visible()
    secret = page.locator("#two-factor-secret").inner_text().strip()
    page.get_by_label("Code").fill(pyotp.TOTP(secret).at(__import__("time").time() - 30))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.get_by_role("button", name="Log out").click()

    page.goto("/login/")
    page.get_by_label("Email").fill("alice@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your sign-in code")
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome back")
    assert not problems, problems
