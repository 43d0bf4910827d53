"""Messages per second per sender, held in the shared cache (so across workers)."""

from __future__ import annotations

import pytest

from messaging import ratelimit, services
from messaging.models import Message, MessagingSettings
from messaging.tasks import send_message

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(1_800_000_000.25)
    monkeypatch.setattr(ratelimit.time, "time", clock)
    return clock


def test_one_slot_per_second(clock):
    assert ratelimit.acquire("org:+1500", 1) == 0
    assert ratelimit.acquire("org:+1500", 1) == pytest.approx(0.75)
    assert ratelimit.acquire("org:+1600", 1) == 0  # another sender has its own slots
    clock.now += 0.8
    assert ratelimit.acquire("org:+1500", 1) == 0
    assert ratelimit.acquire("org:+1500", 1) == pytest.approx(0.95)


def test_faster_rates(clock):
    assert [ratelimit.acquire("s", 4) for _ in range(2)] == [0, pytest.approx(0.25)]
    clock.now += 0.25
    assert ratelimit.acquire("s", 4) == 0


def test_sends_beyond_the_rate_wait_for_their_slot(world, twilio, tess, clock, monkeypatch,
                                                  django_capture_on_commit_callbacks):
    MessagingSettings.objects.filter(organization=world.org).update(messages_per_second=1)
    queued = []
    monkeypatch.setattr(services, "enqueue", lambda pk, countdown=None: queued.append((pk, countdown)))
    twilio.responses = [(201, {"sid": f"SM{i:032d}", "status": "queued"}) for i in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        first = services.send_sms(world.alice, tess, body="One")
        second = services.send_sms(world.alice, tess, body="Two")
    # the first took this second's slot; the second waits for the next one, not counted as an attempt
    assert len(twilio.requests) == 1
    assert queued == [(second.pk, pytest.approx(0.75))]
    assert Message.objects.get(pk=second.pk).attempts == 0
    assert send_message.apply(args=[second.pk]).get() == "throttled"
    assert len(twilio.requests) == 1
    clock.now += 1
    assert send_message.apply(args=[second.pk]).get() == "queued"
    assert len(twilio.requests) == 2
    assert Message.objects.get(pk=first.pk).provider_sid != Message.objects.get(pk=second.pk).provider_sid
