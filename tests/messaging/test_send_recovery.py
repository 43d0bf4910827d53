"""A send whose worker died between Twilio accepting the text and the answer being saved: the
next attempt finds the text in Twilio's message list and records it instead of sending again;
queued messages nobody is sending are handed to the task again by the beat sweep. (The same
with a real worker killed mid-send: tests/faults/test_kill_worker_sms.py.)"""

from __future__ import annotations

import datetime
import email.utils

import pytest
from django.utils import timezone

from messaging import services
from messaging.models import Message
from tests.messaging.conftest import MOBILE, message_json

pytestmark = pytest.mark.django_db


def twilio_record(sid, when, body="Hello"):
    return {**message_json(sid=sid, body=body), "date_created": email.utils.format_datetime(when)}


def listing(*records):
    return (200, {"messages": list(records), "page": 0, "page_size": 20, "uri": "/x", "first_page_uri": "/x",
                  "next_page_uri": None, "previous_page_uri": None})


def dead_attempt(world, tess, minutes_ago=1):
    """A queued message whose last attempt was claimed and never saved an answer."""
    message = services.send_sms(world.alice, tess, body="Hello")  # on_commit send not run here
    started = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    Message.objects.filter(pk=message.pk).update(attempts=1, send_started_at=started)
    return message, started


def test_the_text_an_attempt_sent_before_dying_is_recorded_not_sent_again(world, twilio, tess):
    message, started = dead_attempt(world, tess)
    older = Message.objects.create(organization=world.org, contact=tess, to_number=MOBILE, body="Hello",
                                   provider_sid="SM" + "7" * 32, status="delivered")
    twilio.responses = [listing(twilio_record("SM" + "9" * 32, started + datetime.timedelta(seconds=1)),
                                twilio_record(older.provider_sid, started),  # already ours
                                twilio_record("SM" + "8" * 32, started, body="Other text"))]
    services.deliver(message.pk)
    message.refresh_from_db()
    assert [r["method"] for r in twilio.requests] == ["GET"]  # looked up, not sent again
    assert (message.provider_sid, message.status, message.attempts) == ("SM" + "9" * 32, "queued", 1)
    assert message.sent_at is not None and message.activity.status == "done"
    services.deliver(message.pk)  # a replayed task does nothing
    assert len(twilio.requests) == 1


def test_an_attempt_that_never_reached_twilio_is_sent_once(world, twilio, tess):
    message, started = dead_attempt(world, tess)
    twilio.responses = [listing(twilio_record("SM" + "6" * 32, started - datetime.timedelta(hours=1))),  # too old
                        (201, message_json(sid="SM" + "5" * 32))]
    services.deliver(message.pk)
    message.refresh_from_db()
    assert [r["method"] for r in twilio.requests] == ["GET", "POST"]
    assert (message.provider_sid, message.attempts) == ("SM" + "5" * 32, 2)


def test_a_send_claims_the_message_before_calling_twilio_and_clears_the_claim_on_an_answer(world, twilio, tess):
    message = services.send_sms(world.alice, tess, body="Hello")

    twilio.responses = [(503, {"status": 503, "code": 20503, "message": "Service unavailable"})]
    with pytest.raises(services.SendError):
        services.deliver(message.pk)
    message.refresh_from_db()
    # Twilio answered "no": nothing went out, so the next attempt sends without asking first.
    assert message.send_started_at is None and message.attempts == 1 and message.provider_sid == ""
    twilio.responses = [(201, message_json(sid="SM" + "4" * 32))]
    services.deliver(message.pk)
    assert [r["method"] for r in twilio.requests] == ["POST", "POST"]


def test_the_sweep_requeues_queued_messages_left_without_a_sender(world, twilio, tess, settings, monkeypatch,
                                                               django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(services, "enqueue", lambda pk, countdown=None: queued.append(pk))
    settings.KITH_SMS_STALE_SECONDS = 600
    old = services.send_sms(world.alice, tess, body="Left behind")
    fresh = services.send_sms(world.alice, tess, body="Just queued")
    sent = services.send_sms(world.alice, tess, body="Sent")
    long_ago = timezone.now() - datetime.timedelta(seconds=601)
    Message.objects.filter(pk__in=[old.pk, sent.pk]).update(updated_at=long_ago)
    Message.objects.filter(pk=sent.pk).update(provider_sid="SM" + "3" * 32)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.requeue_stale() == [old.pk]
    assert queued == [old.pk] and fresh.pk not in queued
    assert services.requeue_stale() == []  # touched: not again before another period
