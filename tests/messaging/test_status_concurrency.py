"""Concurrent status callbacks for one message: the row is locked while it changes, so a `sent`
racing a `delivered` never wins however they interleave."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from contacts.services import create_contact
from messaging.inbound import apply_status_callback
from messaging.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


def test_racing_callbacks_only_move_forward(world):
    contact = create_contact(organization=world.org, data={"first_name": "Sam", "mobile": "+14155550111"})
    for round_ in range(5):
        sid = f"SM{round_:032d}"
        message = Message.objects.create(organization=world.org, contact=contact, to_number="+14155550111",
                                         body="hi", provider_sid=sid, status=Message.Status.QUEUED)
        barrier = threading.Barrier(3)
        errors = []

        def post(status):
            try:
                barrier.wait()
                apply_status_callback(world.org, {"MessageSid": sid, "MessageStatus": status})
            except Exception as exc:
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=post, args=(s,)) for s in ("delivered", "sent", "sending")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        message.refresh_from_db()
        assert message.status == "delivered" and message.delivered_at is not None
