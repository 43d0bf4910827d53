"""A real Celery worker killed (SIGKILL) in the middle of a bulk SMS, while "Twilio" (a fake HTTP
server in this process that the worker's Twilio SDK talks to) has accepted a text and not yet
answered. A new worker and the beat sweep (send_due_messages) finish the send: every recipient
gets exactly one text (counted at the fake), none is lost, and the one whose answer was lost is
recorded from Twilio's message list instead of being sent again."""

from __future__ import annotations

import time

import pytest

from activities.models import Activity
from contacts import bulk
from contacts.models import Contact, ConsentStatus
from contacts.services import record_consent
from crm.celery import app as celery_app
from crm.models import Job, JobItem
from messaging.models import Message, MessagingSettings
from tests.faults.twilio_http import FakeTwilio

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

RECIPIENTS = 12
SID = "AC" + "f" * 32


def texting_contacts(world, n):
    contacts = []
    for i in range(n):
        contact = Contact(organization=world.org, first_name=f"T{i:02d}", team=world.team_a, owner=world.alice,
                          mobile=f"+1415555{i:04d}")
        contact.derive_fields()
        contact.save()
        record_consent(contact=contact, channel="sms", status=ConsentStatus.GRANTED, source="manual",
                       actor=world.alice)
        contacts.append(contact)
    return contacts


def test_bulk_sms_killed_while_twilio_answers_sends_each_text_once(world, workers, monkeypatch):
    MessagingSettings.objects.update_or_create(organization=world.org, defaults={
        "backend": "twilio", "twilio_account_sid": SID, "twilio_auth_token": "token-0123456789abcdef",
        "twilio_from_number": "+14155550100", "messages_per_second": 1000,
        "quiet_hours_start": "00:00", "quiet_hours_end": "00:00"})
    contacts = texting_contacts(world, RECIPIENTS)
    numbers = {c.mobile for c in contacts}
    monkeypatch.setattr(bulk, "INLINE_LIMIT", 0)  # this small operation runs in the worker too

    with FakeTwilio(delay=0.4) as twilio:
        worker_env = {"KITH_TWILIO_HTTP_CLIENT": "tests.faults.twilio_http.LocalTwilioHttp",
                      "KITH_FAKE_TWILIO_URL": twilio.url, "KITH_SMS_STALE_SECONDS": "1"}
        workers.start(**worker_env)
        with workers.connection() as conn:
            job = bulk.start(world.alice, action="send_sms", params={"body": "Hi {{first_name}}, 20% off"},
                             ids=[c.pk for c in contacts], send_options=workers.send_options(conn))

        # Some texts sent and recorded, one accepted by Twilio and its answer still on the way.
        def mid_send():
            recorded = Message.objects.exclude(provider_sid="").count()
            return 2 <= recorded < RECIPIENTS - 2 and twilio.in_flight > 0

        workers.wait_for(mid_send, 60, interval=0.02)
        workers.kill()
        accepted_at_kill = len(twilio.created)
        recorded_at_kill = Message.objects.exclude(provider_sid="").count()
        assert accepted_at_kill == recorded_at_kill + 1  # the text whose answer is lost
        workers.start(**worker_env)

        # Beat's every-minute sweep, sent here every second, hands the unsent messages to the task.
        def all_recorded():
            if Message.objects.filter(provider_sid="").exists():
                with workers.connection() as conn:
                    celery_app.send_task("messaging.tasks.send_due_messages", connection=conn,
                                         queue=workers.queue)
                time.sleep(1)
                return False
            return True

        workers.wait_for(all_recorded, 90, interval=0)
        time.sleep(1.5)  # a late duplicate would show up at the fake now

        assert twilio.sent_to() == {number: 1 for number in numbers}  # one text per recipient
        assert twilio.lists >= 1  # the lost answer was looked up, not sent again

    job = Job.objects.get(pk=job.pk)
    assert job.status == Job.Status.DONE, job.error
    assert (job.total, job.processed, job.succeeded, job.failed) == (RECIPIENTS,) * 3 + (0,)
    assert JobItem.objects.filter(job=job).count() == RECIPIENTS
    messages = Message.objects.filter(job=job)
    assert messages.count() == RECIPIENTS
    assert set(messages.values_list("to_number", flat=True)) == numbers
    assert set(messages.values_list("provider_sid", flat=True)) == {m["sid"] for m in twilio.created}
    assert set(messages.values_list("status", flat=True)) == {Message.Status.QUEUED}  # as Twilio answered
    assert messages.filter(sent_at__isnull=False).count() == RECIPIENTS
    entries = Activity.objects.filter(type=Activity.Type.SMS_SENT)
    assert entries.count() == RECIPIENTS and set(entries.values_list("status", flat=True)) == {"done"}
