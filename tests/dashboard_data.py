"""Hand-built data for the dashboard tests (pages and API): contacts in known stages, sources,
industries and consent, messages with known statuses and replies, activities by known reps.

Dates are relative to now ("N days ago"); the default range is the last 30 days.

  contact  owner  team  created  stage     source    industry  sms consent
  a1       alice  A     100 d    lead      website   Software  granted
  a2       alice  A      60 d    customer  referral  software  -
  a3       alice  A      10 d    lead      referral  Retail    -
  b1       bob    A       5 d    mql       event     Software  granted
  r1       rita   B      20 d    customer  website   Retail    granted
  o1       (another organization)  3 d  lead website  Software  granted
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from django.utils import timezone

from activities.services import log_activity
from contacts.models import Contact
from contacts.services import create_contact, record_consent
from messaging.models import Message


def ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def day_ago(days: int) -> str:
    return (timezone.localdate() - dt.timedelta(days=days)).isoformat()


def contact(org, name, *, created, owner=None, team=None, stage="lead", source="", industry="", sms=False):
    c = create_contact(organization=org, data={"first_name": name, "owner": owner, "team": team,
                                               "lifecycle_stage": stage, "source": source, "industry": industry})
    Contact.all_objects.filter(pk=c.pk).update(created_at=ago(created))
    if sms:
        record_consent(contact=c, channel="sms", status="granted", source="manual")
    return c


def message(c, direction, status, *, days, org=None):
    m = Message.objects.create(organization=org or c.organization, contact=c, direction=direction, status=status,
                               to_number="+14155550100", body="Hello")
    Message.objects.filter(pk=m.pk).update(created_at=ago(days))
    return m


def activity(c, type_, actor, *, days):
    return log_activity(organization_id=c.organization_id,
                        data={"contact": c, "type": type_, "occurred_at": ago(days)}, actor=actor)


def build(world) -> SimpleNamespace:
    org, other = world.org, world.other_org
    a1 = contact(org, "a1", created=100, owner=world.alice, team=world.team_a, stage="lead", source="website",
                 industry="Software", sms=True)
    a2 = contact(org, "a2", created=60, owner=world.alice, team=world.team_a, stage="customer", source="referral",
                 industry="software")
    a3 = contact(org, "a3", created=10, owner=world.alice, team=world.team_a, stage="lead", source="referral",
                 industry="Retail")
    b1 = contact(org, "b1", created=5, owner=world.bob, team=world.team_a, stage="mql", source="event",
                 industry="Software", sms=True)
    r1 = contact(org, "r1", created=20, owner=world.rita, team=world.team_b, stage="customer", source="website",
                 industry="Retail", sms=True)
    o1 = contact(other, "o1", created=3, owner=world.other_rep, stage="lead", source="website",
                 industry="Software", sms=True)

    # Messages (last 30 days unless said otherwise)
    message(a1, "outbound", "delivered", days=3)
    message(a1, "inbound", "received", days=2)        # a1 replied
    message(a2, "inbound", "received", days=5)        # before a2 was texted: not a reply
    message(a2, "outbound", "failed", days=3)         # texted, no reply
    message(b1, "outbound", "undelivered", days=4)
    message(b1, "outbound", "sent", days=3)
    message(b1, "inbound", "received", days=1)        # b1 replied
    message(r1, "outbound", "queued", days=2)         # texted (pending), no reply
    message(a3, "outbound", "scheduled", days=1)      # not texted yet (pending)
    message(a1, "outbound", "delivered", days=50)     # outside the default range
    unmatched = Message.objects.create(organization=org, contact=None, direction="inbound", status="received",
                                       to_number="+14155550100", from_number="+14155550199", body="Who is this?")
    Message.objects.filter(pk=unmatched.pk).update(created_at=ago(2))
    message(o1, "outbound", "delivered", days=2)
    message(o1, "inbound", "received", days=1)

    # Activities
    activity(a1, "call", world.alice, days=2)
    activity(a1, "note", world.alice, days=1)
    activity(a1, "call", world.alice, days=48)        # a1 active in [55, 45] days ago too
    activity(a2, "call", world.alice, days=50)
    activity(b1, "call", world.bob, days=3)
    activity(r1, "meeting_held", world.rita, days=4)
    activity(a3, "note", world.admin, days=1)
    activity(o1, "call", world.charlie, days=1)
    return SimpleNamespace(a1=a1, a2=a2, a3=a3, b1=b1, r1=r1, o1=o1)


def grow(world, n=6):
    """More of everything (for the constant-query-count tests): contacts, messages and
    activities by more actors and of more types."""
    types = ["call", "note", "email_sent", "meeting_held", "sms_sent", "task"]
    people = [world.alice, world.bob, world.rita, world.manager_a, world.manager_b, world.admin]
    for i in range(n):
        owner = people[i % len(people)]
        c = contact(world.org, f"extra{i}", created=i + 1, owner=owner if owner in (world.alice, world.bob, world.rita)
                    else None, team=world.team_a if i % 2 else world.team_b, stage="sql", source="partner",
                    industry=f"Industry {i}", sms=bool(i % 2))
        message(c, "outbound", "delivered", days=1)
        message(c, "inbound", "received", days=0.5)
        activity(c, types[i % len(types)], people[i % len(people)], days=1)
