"""A sales rep texts a selection from the contact list in a real browser: "Send SMS" in the action
bar, a template picked into the message box (live segment counter), confirm, and the operation's page
with the contacts that were skipped and why. Screenshots of the bar and the result are saved."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from contacts.models import ConsentStatus
from messaging.models import Message, MessagingSettings, SmsTemplate
from tests.e2e.conftest import sign_in
from tests.messaging.conftest import LANDLINE, texting_contact

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_rep_texts_a_selection(page, world, screenshots):
    MessagingSettings.objects.update_or_create(organization=world.org, defaults={
        "messages_per_second": 1000, "quiet_hours_start": "00:00", "quiet_hours_end": "00:00"})
    SmsTemplate.objects.create(organization=world.org, name="Spring promo",
                               body="Hi {{first_name}}, 20% off renewals until Friday. Reply STOP to opt out.")
    texting_contact(world, "Ann")
    texting_contact(world, "Ben")
    texting_contact(world, "Cid", consent=ConsentStatus.UNKNOWN)
    texting_contact(world, "Dee", number=LANDLINE)
    sign_in(page, "alice@acme.test")
    page.goto("/contacts/")
    page.get_by_label("Select all on this page").check()
    page.locator("#bulk-action").select_option("send_sms")
    expect(page.locator("#bulk-sms-body")).to_have_attribute("data-sms-counter-bound", "1")  # its script ran
    page.locator("#bulk-sms-template").select_option(label="Spring promo")
    expect(page.locator("#bulk-sms-body")).to_have_value(
        "Hi {{first_name}}, 20% off renewals until Friday. Reply STOP to opt out.")
    expect(page.locator("#bulk-sms-count")).to_contain_text("1 segment")
    page.screenshot(path=str(screenshots / "contacts-bulk-sms.png"))
    page.once("dialog", lambda dialog: dialog.accept())  # "Text the selected contacts?"
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("done for 2 contacts")
    expect(page.locator("#bulk-status")).to_contain_text("landline")
    expect(page.locator("#bulk-status")).to_contain_text("cannot be unsent")
    expect(page.get_by_role("button", name="Undo")).to_have_count(0)
    page.screenshot(path=str(screenshots / "bulk-sms-operation.png"), full_page=True)
    assert sorted(Message.objects.values_list("body", flat=True)) == [
        "Hi Ann, 20% off renewals until Friday. Reply STOP to opt out.",
        "Hi Ben, 20% off renewals until Friday. Reply STOP to opt out."]
