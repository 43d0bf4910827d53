"""Texting a contact in a real browser: the live counter goes from 1 to 2 segments while
typing, the text is sent (console backend) and shows on the contact's timeline. The
counter's JavaScript is also checked against messaging.segments on known cases."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from messaging.models import Message, MessagingSettings, SmsTemplate
from messaging.segments import count
from tests.e2e.conftest import sign_in
from tests.messaging.conftest import texting_contact

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

FIRST = ("Hi Tess, thanks for your time on the phone today. I have put the proposal and the pricing sheet "
         "in your inbox; happy to walk you through")
MORE = " it on Thursday if that suits you?"


def test_text_a_contact(page, world, screenshots):
    MessagingSettings.objects.create(organization=world.org, quiet_hours_start="00:00", quiet_hours_end="00:00")
    SmsTemplate.objects.create(organization=world.org, name="Follow-up",
                               body="Hi {{first_name}}, just checking in. Any questions about the proposal?")
    tess = texting_contact(world)
    sign_in(page, world.alice.email)
    page.goto(f"/contacts/{tess.pk}/")

    counter = page.locator(f"#sms-counter-{tess.pk}")
    message = page.get_by_role("textbox", name="Message")
    # A template fills in the text, merged for this contact.
    page.get_by_label("Template").select_option(label="Follow-up")
    expect(message).to_have_value("Hi Tess, just checking in. Any questions about the proposal?")
    expect(counter).to_have_text("1 segment · 60/160 GSM-7")

    message.fill(FIRST)
    expect(counter).to_have_text(f"1 segment · {len(FIRST)}/160 GSM-7")
    message.press_sequentially(MORE, delay=15)
    text = FIRST + MORE
    expect(counter).to_have_text(f"2 segments · {len(text)}/306 GSM-7")
    page.locator("#sms-panel").screenshot(path=str(screenshots / "sms-compose.png"))

    # The counter's JavaScript agrees with messaging/segments.py.
    cases = ["", "a" * 160, "a" * 161, "a" * 306, "a" * 307, "€" * 80, "a" * 159 + "€", "a" * 152 + "€" + "a" * 10,
             "ç" * 70, "ç" * 71, "Hi 👋", "👋" * 36, "ç" * 66 + "👋" + "ç" * 5, "^{}\\[~]|"]
    results = page.evaluate("cases => cases.map(c => window.KithSms.count(c))", cases)
    for case, result in zip(cases, results):
        info = count(case)
        assert (result["encoding"], result["units"], result["segments"], result["limit"]) == (
            info.encoding, info.units, info.segments, info.limit), case

    page.get_by_role("button", name="Send").click()
    expect(page.locator(".messages")).to_contain_text("Text sent to Tess Texter")
    timeline = page.locator(".timeline").first
    expect(timeline).to_contain_text("SMS")
    expect(timeline).to_contain_text("Thursday if that suits you?")
    stored = Message.objects.get()
    assert stored.status == "sent" and stored.body == text and stored.segments == 2
    assert re.match(r"console-[0-9a-f-]{36}$", stored.provider_sid)
    page.screenshot(path=str(screenshots / "sms-sent.png"), full_page=True)


def test_panel_explains_why_it_is_disabled(page, world):
    contact = texting_contact(world, "Nora", consent="unknown")
    sign_in(page, world.alice.email)
    page.goto(f"/contacts/{contact.pk}/")
    expect(page.locator("#sms-disabled")).to_contain_text("has not agreed to receive text messages")
    expect(page.get_by_role("button", name="Send")).to_be_disabled()


def test_templates_page(page, world, screenshots):
    sign_in(page, world.alice.email)
    page.goto("/messages/templates/")
    page.get_by_role("link", name="Add the first template").click()
    page.get_by_label("Name").fill("Appointment reminder")
    page.get_by_label("Kind").select_option(label="Appointment reminder")
    page.get_by_label("Body").fill("Hi {{first_name}}, see you {{meeting_time}} at {{meeting_place}}. Reply STOP to opt out.")
    expect(page.locator("#template-counter")).to_contain_text("1 segment")
    page.screenshot(path=str(screenshots / "sms-template-form.png"), full_page=True)
    page.get_by_role("button", name="Save template").click()
    expect(page.locator(".messages")).to_contain_text("Saved the template Appointment reminder")
    expect(page.locator("table")).to_contain_text("{{meeting_place}}")
    page.screenshot(path=str(screenshots / "sms-templates.png"), full_page=True)
    assert SmsTemplate.objects.get().kind == "reminder"
