"""An org admin sets up Twilio in a real browser: reaches Messaging from the settings
navigation, enters the credentials, saves, and finds the auth token stored but not shown."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from messaging.models import MessagingSettings
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_admin_sets_up_twilio(page, world, screenshots):
    sign_in(page, world.admin.email)
    page.goto("/settings/members/")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Messaging").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Messaging")
    expect(page.locator("#webhook-inbound")).to_contain_text(f"/webhooks/twilio/{world.org.public_id}/inbound/")
    page.get_by_label("Backend", exact=True).select_option("twilio")
    page.get_by_label("Twilio account SID").fill("AC" + "ab" * 16)
    page.get_by_label("Twilio auth token").fill("browser-secret-token-123")
    page.get_by_label("From number").fill("+1 415 555 0100")
    page.get_by_label("HELP reply").fill("Acme Sales: reply STOP to opt out.")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Saved the messaging settings.")).to_be_visible()
    expect(page.locator("#token-state")).to_have_text("An auth token is stored.")
    expect(page.get_by_label("Twilio auth token")).to_have_value("")
    expect(page.get_by_label("From number")).to_have_value("+14155550100")
    assert "browser-secret-token-123" not in page.content()
    page.screenshot(path=str(screenshots / "messaging-settings.png"), full_page=True)
    row = MessagingSettings.objects.get(organization=world.org)
    assert row.backend == "twilio" and row.twilio_auth_token == "browser-secret-token-123"
