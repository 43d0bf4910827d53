"""Twilio's webhooks with real signatures (twilio.request_validator): status callbacks move a
message forward only, inbound texts land on the right contact (or a new lead), STOP/START/HELP
act on consent, and nothing changes without a valid signature or for another organization."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity
from activities.services import log_activity
from contacts.models import ConsentEvent, Contact
from contacts.services import create_contact, record_consent
from messaging.models import Message
from tests.messaging.conftest import OTHER_TOKEN

pytestmark = pytest.mark.django_db

SID = "SM" + "a" * 32


def status_url(org):
    return reverse("messaging:twilio_status", args=[org.public_id])


def inbound_url(org):
    return reverse("messaging:twilio_inbound", args=[org.public_id])


def test_urls_carry_the_public_id(twilio_org):
    org = twilio_org.org
    assert status_url(org) == f"/webhooks/twilio/{org.public_id}/status/"
    assert inbound_url(org) == f"/webhooks/twilio/{org.public_id}/inbound/"


@pytest.fixture
def sent(twilio_org):
    """An outbound text to a contact, sent (status sent), with its timeline entry."""
    world = twilio_org
    contact = create_contact(organization=world.org, data={"first_name": "Sam", "mobile": "+14155550111",
                                                           "owner": world.alice, "team": world.team_a})
    message = Message.objects.create(organization=world.org, contact=contact, to_number="+14155550111",
                                     from_number="+14155550100", body="Hello Sam", provider_sid=SID,
                                     backend="twilio", status=Message.Status.SENT)
    message.activity = log_activity(organization_id=world.org.pk, data={
        "contact": contact, "type": Activity.Type.SMS_SENT, "direction": Activity.Direction.OUTBOUND,
        "body": "Hello Sam", "metadata": {"message_id": message.pk}})
    message.save()
    return message


def state(message):
    message.refresh_from_db()
    activity = Activity.objects.get(pk=message.activity_id)
    return message.status, message.error_code, activity.status, activity.metadata.get("status")


def callback(post_webhook, org, status, sid=SID, token=None, **extra):
    kw = {"token": token} if token else {}
    return post_webhook(status_url(org), {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC1",
                                          **extra}, **kw)


# -- status callbacks

def test_delivered_then_late_sent_changes_nothing(twilio_org, sent, post_webhook):
    org = twilio_org.org
    response = callback(post_webhook, org, "delivered")
    assert response.status_code == 200
    sent.refresh_from_db()
    assert sent.status == "delivered" and sent.delivered_at is not None and sent.status_changed_at is not None
    assert state(sent) == ("delivered", "", "done", "delivered")
    changed_at, updated_at = sent.status_changed_at, sent.updated_at
    for late in ("sent", "sending", "queued", "failed", "delivered"):  # late, out of order, or replayed
        assert callback(post_webhook, org, late, ErrorCode="30003").status_code == 200
    sent.refresh_from_db()
    assert (sent.status, sent.status_changed_at, sent.updated_at, sent.error_code) == (
        "delivered", changed_at, updated_at, "")


def test_progression_queued_sending_sent_failed_with_error_code(twilio_org, sent, post_webhook):
    org = twilio_org.org
    Message.objects.filter(pk=sent.pk).update(status="queued")
    assert callback(post_webhook, org, "sending").status_code == 200
    assert state(sent)[0] == "sending"
    assert callback(post_webhook, org, "sent").status_code == 200
    assert state(sent)[0] == "sent"
    assert callback(post_webhook, org, "queued").status_code == 200  # backwards: ignored
    assert state(sent)[0] == "sent"
    response = callback(post_webhook, org, "undelivered", ErrorCode="30003", ErrorMessage="Unreachable handset")
    assert response.status_code == 200
    assert state(sent) == ("undelivered", "30003", "failed", "undelivered")
    sent.refresh_from_db()
    assert sent.error_message == "Unreachable handset" and sent.delivered_at is None
    assert Activity.objects.get(pk=sent.activity_id).metadata["error_code"] == "30003"


def test_failed_marks_the_timeline_entry_failed(twilio_org, sent, post_webhook):
    assert callback(post_webhook, twilio_org.org, "failed", ErrorCode="30007").status_code == 200
    assert state(sent) == ("failed", "30007", "failed", "failed")
    assert callback(post_webhook, twilio_org.org, "delivered").status_code == 200  # final stays final
    assert state(sent)[0] == "failed"


def test_unknown_sid_is_200_and_changes_nothing(twilio_org, sent, post_webhook, caplog):
    with caplog.at_level("WARNING", logger="kith.sms"):
        response = callback(post_webhook, twilio_org.org, "delivered", sid="SM" + "f" * 32)
    assert response.status_code == 200
    assert state(sent)[0] == "sent"
    assert "unknown MessageSid" in caplog.text


def test_another_organizations_sid_is_not_touched(twilio_org, sent, post_webhook):
    # The other organization's webhook (its own token) naming this organization's sid: unknown there.
    response = callback(post_webhook, twilio_org.other_org, "failed", token=OTHER_TOKEN)
    assert response.status_code == 200
    assert state(sent)[0] == "sent"


@pytest.mark.parametrize("params, named", [
    ({"MessageStatus": "delivered"}, "MessageSid"),
    ({"MessageSid": SID}, "MessageStatus"),
    ({"MessageSid": SID, "MessageStatus": "exploded"}, "exploded"),
    ({}, "MessageSid"),
])
def test_malformed_status_body_is_400(twilio_org, sent, post_webhook, params, named):
    response = post_webhook(status_url(twilio_org.org), params)
    assert response.status_code == 400 and named in response.content.decode()
    assert state(sent)[0] == "sent"


@pytest.mark.parametrize("signature", [None, "", "bad", "c2lnbmF0dXJl"])
def test_status_without_a_valid_signature_is_403(twilio_org, sent, post_webhook, signature):
    response = post_webhook(status_url(twilio_org.org), {"MessageSid": SID, "MessageStatus": "delivered"},
                            signature=signature)
    assert response.status_code == 403
    assert state(sent)[0] == "sent"


def test_signature_of_another_token_or_other_params_is_403(twilio_org, sent, post_webhook, client):
    org = twilio_org.org
    params = {"MessageSid": SID, "MessageStatus": "delivered"}
    assert post_webhook(status_url(org), params, token=OTHER_TOKEN).status_code == 403
    # signed for "sent", posted as "failed"
    from tests.messaging.conftest import sign

    signature = sign("http://testserver" + status_url(org), {"MessageSid": SID, "MessageStatus": "sent"})
    response = client.post(status_url(org), {"MessageSid": SID, "MessageStatus": "failed"},
                           HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403
    # signed for another URL (the other organization's)
    signature = sign("http://testserver" + status_url(twilio_org.other_org), params)
    assert client.post(status_url(org), params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 403
    assert state(sent)[0] == "sent"


def test_unknown_organization_is_404(twilio_org, post_webhook, client):
    for path in (f"/webhooks/twilio/{uuid.uuid4()}/status/", f"/webhooks/twilio/{uuid.uuid4()}/inbound/"):
        assert post_webhook(path, {"MessageSid": SID, "MessageStatus": "sent"}).status_code == 404
    assert client.post("/webhooks/twilio/not-a-uuid/status/", {}).status_code == 404


def test_get_is_not_allowed(twilio_org, client):
    assert client.get(status_url(twilio_org.org)).status_code == 405


def test_organization_without_a_token_rejects_everything(world, post_webhook, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    assert post_webhook(status_url(world.org), {"MessageSid": SID, "MessageStatus": "sent"}).status_code == 403


def test_platform_token_validates_when_the_organization_has_none(world, post_webhook, settings):
    settings.TWILIO_AUTH_TOKEN = "platform-token-0123456789"
    response = post_webhook(status_url(world.org), {"MessageSid": SID, "MessageStatus": "sent"},
                            token="platform-token-0123456789")
    assert response.status_code == 200


def test_signature_is_checked_against_kith_public_url(twilio_org, sent, post_webhook, settings):
    settings.KITH_PUBLIC_URL = "https://crm.example.com"
    settings.ALLOWED_HOSTS = ["testserver", "crm.example.com"]
    org = twilio_org.org
    # What the server sees (http://testserver…) is not what Twilio signed: 403.
    assert callback(post_webhook, org, "delivered").status_code == 403
    assert state(sent)[0] == "sent"
    params = {"MessageSid": SID, "MessageStatus": "delivered"}
    response = post_webhook(status_url(org), params, base="https://crm.example.com")
    assert response.status_code == 200
    assert state(sent)[0] == "delivered"


def test_query_string_is_part_of_the_signed_url(twilio_org, sent, post_webhook):
    path = status_url(twilio_org.org) + "?attempt=2"
    assert post_webhook(path, {"MessageSid": SID, "MessageStatus": "delivered"}).status_code == 200
    assert state(sent)[0] == "delivered"


# -- inbound messages

def inbound(post_webhook, org, body, sender="+14155550111", sid=None, **kw):
    params = {"MessageSid": sid or f"SM{uuid.uuid4().hex}", "AccountSid": "AC1", "From": sender,
              "To": "+14155550100", "Body": body, "NumSegments": "1"}
    return post_webhook(inbound_url(org), params, **kw)


def test_inbound_lands_on_the_matching_contact(twilio_org, post_webhook):
    world = twilio_org
    contact = create_contact(organization=world.org, data={"first_name": "Sam", "phone": "+14155550111",
                                                           "owner": world.alice, "team": world.team_a})
    response = inbound(post_webhook, world.org, "Sounds good, see you Tuesday", sid=SID)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    assert response.content.decode().endswith("<Response />")
    message = Message.objects.get(provider_sid=SID)
    assert (message.contact, message.direction, message.status, message.body, message.from_number) == (
        contact, "inbound", "received", "Sounds good, see you Tuesday", "+14155550111")
    activity = message.activity
    assert (activity.contact, activity.type, activity.direction, activity.status) == (
        contact, "sms_received", "inbound", "done")
    contact.refresh_from_db()
    assert contact.last_contacted_at == activity.occurred_at == contact.last_activity_at
    assert Contact.objects.filter(organization=world.org).count() == 1


def test_several_matches_pick_the_most_recently_active(twilio_org, post_webhook):
    world = twilio_org
    old = create_contact(organization=world.org, data={"first_name": "Old", "mobile": "+14155550111"})
    recent = create_contact(organization=world.org, data={"first_name": "Recent", "phone": "+14155550111"})
    never = create_contact(organization=world.org, data={"first_name": "Never", "mobile": "+14155550111"})
    for contact, days in ((old, 30), (recent, 1)):
        Contact.objects.filter(pk=contact.pk).update(last_activity_at=timezone.now() - timedelta(days=days))
    deleted = create_contact(organization=world.org, data={"first_name": "Gone", "mobile": "+14155550111"})
    deleted.soft_delete()
    inbound(post_webhook, world.org, "hi", sid=SID)
    assert Message.objects.get(provider_sid=SID).contact == recent
    assert never.activities.count() == 0


def test_unknown_number_becomes_a_new_lead(twilio_org, post_webhook):
    world = twilio_org
    create_contact(organization=world.other_org, data={"first_name": "Other", "mobile": "+447400123456"})
    response = inbound(post_webhook, world.org, "Hi, is this the sales team?", sender="+447400123456", sid=SID)
    assert response.status_code == 200
    lead = Contact.objects.get(organization=world.org)
    assert (str(lead.mobile), lead.source, lead.lifecycle_stage) == ("+447400123456", "inbound_sms", "lead")
    assert lead.first_name == "+44 7400 123456"
    assert Message.objects.get(provider_sid=SID).contact == lead
    assert lead.activities.get().type == "sms_received"
    assert Contact.objects.filter(organization=world.other_org).count() == 1  # the other org's is untouched


def test_duplicate_message_sid_is_stored_once(twilio_org, post_webhook):
    world = twilio_org
    for _ in range(3):
        assert inbound(post_webhook, world.org, "Hello?", sender="+447400123456", sid=SID).status_code == 200
    assert Message.objects.filter(provider_sid=SID).count() == 1
    assert Contact.objects.filter(organization=world.org).count() == 1
    assert Activity.objects.filter(type="sms_received").count() == 1


def test_same_sid_in_two_organizations_is_two_messages(twilio_org, post_webhook):
    inbound(post_webhook, twilio_org.org, "one", sid=SID)
    inbound(post_webhook, twilio_org.other_org, "two", sid=SID, token=OTHER_TOKEN)
    assert sorted(Message.objects.filter(provider_sid=SID).values_list("body", flat=True)) == ["one", "two"]


@pytest.mark.parametrize("signature", [None, "bad"])
def test_inbound_without_a_valid_signature_is_403(twilio_org, post_webhook, signature):
    response = inbound(post_webhook, twilio_org.org, "STOP", signature=signature)
    assert response.status_code == 403
    assert not Message.objects.exists() and not Contact.objects.exists() and not ConsentEvent.objects.exists()


def test_inbound_signed_by_another_organization_is_403(twilio_org, post_webhook):
    assert inbound(post_webhook, twilio_org.org, "hi", token=OTHER_TOKEN).status_code == 403
    assert not Message.objects.exists()


@pytest.mark.parametrize("params, named", [
    ({"From": "+14155550111", "Body": "hi"}, "MessageSid"),
    ({"MessageSid": SID, "Body": "hi"}, "From"),
])
def test_malformed_inbound_is_400(twilio_org, post_webhook, params, named):
    response = post_webhook(inbound_url(twilio_org.org), params)
    assert response.status_code == 400 and named in response.content.decode()
    assert not Message.objects.exists() and not Contact.objects.exists()


def test_inbound_from_an_unassigned_number_is_kept_unmatched(twilio_org, post_webhook):
    # +44 7700 900… is a possible but never-assigned (drama) range: no lead made from it.
    assert inbound(post_webhook, twilio_org.org, "hi", sender="+447700900123", sid=SID).status_code == 200
    assert Message.objects.get(provider_sid=SID).contact is None and not Contact.objects.exists()


def test_inbound_from_a_short_code_is_kept_unmatched(twilio_org, post_webhook):
    response = inbound(post_webhook, twilio_org.org, "Your code is 1234", sender="CARRIER", sid=SID)
    assert response.status_code == 200
    message = Message.objects.get(provider_sid=SID)
    assert message.contact is None and message.activity is None
    assert not Contact.objects.exists()


# -- keywords

@pytest.fixture
def sam(twilio_org):
    contact = create_contact(organization=twilio_org.org, data={"first_name": "Sam", "mobile": "+14155550111"})
    record_consent(contact=contact, channel="sms", status="granted", source="web_form", evidence="signup")
    return contact


def consent(contact):
    contact.refresh_from_db()
    return contact.sms_consent


@pytest.mark.parametrize("body", ["STOP", "stop", " Stop ", "STOP.", "stopall", "Unsubscribe", "cancel",
                                  "END", "quit!", "  revoke\n", "OptOut"])
def test_opt_out_keywords_revoke_sms_consent(twilio_org, sam, post_webhook, body):
    response = inbound(post_webhook, twilio_org.org, body)
    assert response.status_code == 200 and response.content.decode().endswith("<Response />")
    assert consent(sam) == "revoked"
    event = ConsentEvent.objects.get(contact=sam, source="sms_keyword")
    assert (event.channel, event.status, event.source, event.evidence) == ("sms", "revoked", "sms_keyword", body)
    assert sam.activities.get().type == "sms_received"


@pytest.mark.parametrize("body", ["please stop texting me", "STOP IT", "stopp", "", "Start the demo"])
def test_other_texts_do_not_change_consent(twilio_org, sam, post_webhook, body):
    assert inbound(post_webhook, twilio_org.org, body).status_code == 200
    assert consent(sam) == "granted" and not ConsentEvent.objects.filter(source="sms_keyword").exists()


@pytest.mark.parametrize("body", ["START", "start", " Yes ", "unstop", "YES!"])
def test_opt_in_keywords_restore_consent(twilio_org, sam, post_webhook, body):
    inbound(post_webhook, twilio_org.org, "STOP")
    assert consent(sam) == "revoked"
    assert inbound(post_webhook, twilio_org.org, body).status_code == 200
    assert consent(sam) == "granted"
    keyword_events = ConsentEvent.objects.filter(contact=sam, source="sms_keyword").order_by("id")
    assert list(keyword_events.values_list("status", "source")) == [("revoked", "sms_keyword"),
                                                                     ("granted", "sms_keyword")]


def test_replayed_stop_records_one_ledger_row(twilio_org, sam, post_webhook):
    for _ in range(2):
        inbound(post_webhook, twilio_org.org, "STOP", sid=SID)
    assert ConsentEvent.objects.filter(contact=sam, source="sms_keyword").count() == 1


def test_stop_from_an_unknown_number_creates_an_opted_out_lead(twilio_org, post_webhook):
    inbound(post_webhook, twilio_org.org, "stop", sender="+447400123456")
    lead = Contact.objects.get(organization=twilio_org.org)
    assert lead.sms_consent == "revoked" and lead.consent_events.get().status == "revoked"


@pytest.mark.parametrize("body", ["HELP", "help", " Help? ", "info"])
def test_help_answers_with_the_organizations_text(twilio_org, sam, post_webhook, body):
    response = inbound(post_webhook, twilio_org.org, body)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    assert response.content.decode() == ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
                                         'Acme Sales: reply STOP to opt out. Help: help@acme.test'
                                         '</Message></Response>')
    assert consent(sam) == "granted"
    assert sam.activities.get().type == "sms_received"


def test_help_of_the_other_organization_answers_its_own_text(twilio_org, post_webhook):
    response = inbound(post_webhook, twilio_org.other_org, "HELP", token=OTHER_TOKEN)
    assert "Acme" not in response.content.decode()
    assert "Reply STOP to unsubscribe." in response.content.decode()  # the default text


def test_an_inbound_text_notifies_the_contacts_owner_once(twilio_org, post_webhook):
    from activities.models import Notification

    world = twilio_org
    contact = Contact.objects.create(organization=world.org, first_name="Nora", mobile="+14155550177",
                                     owner=world.alice, team=world.team_a)
    path = f"/webhooks/twilio/{world.org.public_id}/inbound/"
    params = {"MessageSid": "SM" + "7" * 32, "From": "+14155550177", "To": "+14155550100", "Body": "Call me back"}
    for _ in range(2):  # a replay notifies nobody twice
        assert post_webhook(path, params).status_code == 200
    notes = list(Notification.objects.filter(recipient=world.alice))
    assert [(n.kind, n.url) for n in notes] == [("sms_received", f"/contacts/{contact.pk}/")]
    assert "Call me back" in notes[0].title
    assert not Notification.objects.exclude(recipient=world.alice).exists()
