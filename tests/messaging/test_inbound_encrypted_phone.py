"""Inbound SMS in an organization that encrypts phone numbers (contacts.phones): the text lands on
the contact whose (encrypted) mobile or phone is the sender, found by its blind index; a new
lead from an unknown number is stored encrypted too."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.urls import reverse

from contacts.models import Contact
from contacts.services import create_contact
from crm.models import Organization
from messaging.models import Message

pytestmark = pytest.mark.django_db


def inbound(post_webhook, org, body, sender):
    params = {"MessageSid": f"SM{uuid.uuid4().hex}", "AccountSid": "AC1", "From": sender, "To": "+14155550100",
              "Body": body, "NumSegments": "1"}
    return post_webhook(reverse("messaging:twilio_inbound", args=[org.public_id]), params)


def test_inbound_matches_an_encrypted_number(twilio_org, post_webhook):
    world = twilio_org
    Organization.objects.filter(pk=world.org.pk).update(encrypt_phone_numbers=True)
    contact = create_contact(organization=world.org, data={"first_name": "Sam", "mobile": "+14155550111"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT mobile, mobile_sealed FROM contacts_contact WHERE id = %s", [contact.pk])
        mobile, sealed = cursor.fetchone()
    assert mobile == "" and sealed and "4155550111" not in sealed
    assert inbound(post_webhook, world.org, "See you Tuesday", "+14155550111").status_code == 200
    message = Message.objects.get(direction="inbound")
    assert message.contact == contact
    assert Contact.objects.filter(organization=world.org).count() == 1

    assert inbound(post_webhook, world.org, "Who is this?", "+14155550122").status_code == 200
    lead = Contact.objects.get(organization=world.org, source="inbound_sms")
    assert str(lead.mobile) == "+14155550122"
    with connection.cursor() as cursor:
        cursor.execute("SELECT mobile, phone_digits FROM contacts_contact WHERE id = %s", [lead.pk])
        assert cursor.fetchone() == ("", "")
