"""Insights (contacts.insights): engagement trend, days since last contact, best time to reach,
score trend, and each rule of the suggested next action."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from activities.services import log_activity
from contacts import insights
from contacts.models import Contact, ScoreHistory
from contacts.services import create_contact, record_consent

pytestmark = pytest.mark.django_db


def contact(world, **data):
    return create_contact(organization=world.org, data={"first_name": "Lee", **data})


def activity(world, person, kind, *, when=None, days_ago=0.0, **extra):
    return log_activity(organization_id=world.org.pk, data={
        "contact": person, "type": kind, "occurred_at": when or timezone.now() - timedelta(days=days_ago), **extra})


def fresh(person):
    return Contact.objects.get(pk=person.pk)


def set_score(person, score, *, then=None, days_ago=40):
    """The contact's score now, and (optionally) what it was `days_ago` days ago."""
    Contact.all_objects.filter(pk=person.pk).update(score=score)
    if then is not None:
        ScoreHistory.objects.create(organization_id=person.organization_id, contact=person, score=then,
                                    computed_at=timezone.now() - timedelta(days=days_ago), reason="change")


@pytest.mark.parametrize("recent, previous, expected", [
    (0, 0, "steady"), (1, 0, "steady"), (2, 0, "rising"), (5, 4, "steady"), (12, 10, "rising"),
    (8, 10, "falling"), (11, 20, "falling"), (18, 20, "steady"), (0, 2, "falling"),
])
def test_engagement_trend_rule(recent, previous, expected):
    assert insights.trend(recent, previous) == expected


def test_engagement_counts_only_engagement_in_each_window(world):
    person = contact(world)
    for days in (1, 5, 10):
        activity(world, person, "call", days_ago=days)
    activity(world, person, "note", days_ago=2)  # not engagement
    activity(world, person, "call", days_ago=3, status="cancelled")  # cancelled
    activity(world, person, "email_received", days_ago=45, direction="inbound")
    facts = insights.insights(fresh(person))
    assert (facts["last_30"], facts["previous_30"], facts["engagement_trend"]) == (3, 1, "rising")


def test_days_since_last_contact(world):
    person = contact(world)
    assert insights.insights(fresh(person))["days_since_contact"] is None
    activity(world, person, "note", days_ago=1)  # a note is not contact
    activity(world, person, "call", days_ago=12.5)
    assert insights.insights(fresh(person))["days_since_contact"] == 12


def test_best_time_to_reach_in_the_contacts_time_zone(world):
    person = contact(world, timezone="Europe/Paris")
    paris = ZoneInfo("Europe/Paris")
    # Tuesdays around 15:00 Paris time (three of them), and one Friday morning.
    for day in (3, 10, 17):
        activity(world, person, "sms_received", direction="inbound",
                 when=datetime(2026, 11, day, 15, 20, tzinfo=paris))
    activity(world, person, "email_received", direction="inbound", when=datetime(2026, 11, 6, 9, 0, tzinfo=paris))
    activity(world, person, "sms_sent", direction="outbound", when=datetime(2026, 11, 7, 3, 0, tzinfo=paris))
    best = insights.insights(fresh(person))["best_time"]
    assert best["enough"] and best["weekday"] == "Tuesday" and best["replies"] == 4
    assert (best["start_hour"], best["end_hour"]) == (14, 16)
    assert best["label"] == "Tuesdays, 14:00–16:00 (Europe/Paris), from 4 replies."
    # Without a time zone the same replies read in UTC (Paris is UTC+1 in November).
    Contact.all_objects.filter(pk=person.pk).update(timezone="")
    best = insights.insights(fresh(person))["best_time"]
    assert (best["start_hour"], best["timezone"]) == (13, "UTC")


def test_best_time_needs_enough_replies(world):
    person = contact(world)
    activity(world, person, "sms_received", direction="inbound", days_ago=2)
    activity(world, person, "sms_sent", direction="outbound", days_ago=1)
    activity(world, person, "sms_sent", direction="outbound", days_ago=1)
    best = insights.insights(fresh(person))["best_time"]
    assert best["enough"] is False and best["label"].startswith("Not enough replies (1 of 3")


def test_score_trend_against_30_days_ago(world):
    person = contact(world)
    set_score(person, 40, then=20)
    assert insights.score_trend(fresh(person), timezone.now()) == ("rising", 20)
    set_score(person, 12)
    assert insights.score_trend(fresh(person), timezone.now()) == ("falling", 20)
    set_score(person, 22)
    assert insights.score_trend(fresh(person), timezone.now()) == ("steady", 20)


def action(person):
    return insights.insights(fresh(person))["next_action"]


def test_rule_1_do_not_contact_when_every_channel_is_revoked(world):
    person = contact(world)
    for channel in ("email", "sms", "call"):
        record_consent(contact=person, channel=channel, status="revoked", source="manual")
    activity(world, person, "meeting_scheduled", status="planned", days_ago=-3)
    assert action(person)["rule"] == 1 and action(person)["action"] == "Do not contact"


def test_rule_2_prepare_for_a_planned_meeting(world):
    person = contact(world)
    activity(world, person, "meeting_scheduled", status="planned", days_ago=-3)
    activity(world, person, "sms_received", direction="inbound", days_ago=1)
    assert action(person)["rule"] == 2


def test_rule_3_reply_to_an_unanswered_message(world):
    person = contact(world)
    activity(world, person, "sms_sent", direction="outbound", days_ago=3)
    activity(world, person, "sms_received", direction="inbound", days_ago=2)
    assert action(person)["action"] == "Reply"
    activity(world, person, "sms_sent", direction="outbound", days_ago=1)  # answered
    assert action(person)["rule"] != 3


def test_rule_4_no_contact_in_30_days_and_score_rising_call(world):
    person = contact(world, phone="+14155550100")
    activity(world, person, "email_sent", direction="outbound", days_ago=40)
    set_score(person, 35, then=10)
    found = action(person)
    assert (found["rule"], found["action"]) == (4, "Call")
    assert "no contact in 40 days and the score is rising (10 → 35)" in found["why"].lower()
    record_consent(contact=person, channel="call", status="revoked", source="manual")
    assert action(person)["action"] == "Email"  # no calls, no mobile: email


def test_rule_5_reach_out_to_a_stale_high_score(world):
    person = contact(world)
    activity(world, person, "call", days_ago=31)
    set_score(person, 60, then=60)
    assert action(person)["rule"] == 5


def test_rule_6_re_engage_when_engagement_falls(world):
    person = contact(world)
    for days in (35, 40, 45, 50):
        activity(world, person, "email_opened", days_ago=days)
    activity(world, person, "call", days_ago=2)
    assert action(person)["rule"] == 6


def test_rule_7_qualify_a_high_scoring_lead(world):
    person = contact(world)
    activity(world, person, "call", days_ago=2)
    set_score(person, 75, then=74)
    assert action(person)["rule"] == 7


def test_rule_8_and_9(world):
    person = contact(world)
    assert action(person)["rule"] == 8
    activity(world, person, "call", days_ago=2)
    assert action(person)["rule"] == 9


def test_insights_take_three_queries(world, django_assert_max_num_queries):
    person = fresh(contact(world))
    with django_assert_max_num_queries(3):
        insights.insights(person)
