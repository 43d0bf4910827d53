"""The latency cases: search-as-you-type shapes (issue targets: p95 < 100 ms)."""

from __future__ import annotations

from contacts.models import Contact
from contacts.search import autocomplete, full_text
from crm.models import Membership
from crm.permissions import Role

SEARCH_TARGET_MS = 100


def _users():
    """The org admin and a sales rep of the first seeded organization."""
    admin = Membership.objects.filter(role=Role.ADMIN).order_by("organization_id").select_related("user").first()
    rep = (Membership.objects.filter(role=Role.REP, organization_id=admin.organization_id)
           .select_related("user").first())
    return admin.user, rep.user


def _sample(user):
    """Real values to search for, taken from contacts the user can see."""
    contact = (Contact.objects.visible_to(user).exclude(last_name="").exclude(phone="")
               .order_by("-created_at").first())
    return contact


def cases():
    admin, rep = _users()
    for who, user in (("admin", admin), ("rep", rep)):
        c = _sample(user)
        first, last = c.first_name, c.last_name
        typo = first[:-2] + first[-1] + first[-2] if len(first) > 3 else first + "x"
        shapes = [
            ("one letter", first[:1]),
            ("prefix (3 letters)", first[:3]),
            ("full name", f"{first} {last}"),
            ("last name first", f"{last} {first[:2]}"),
            ("phone fragment", str(c.phone)[-7:-3]),
            ("email prefix", c.email[:6] if c.email else first[:4]),
            ("unselective common word", "john"),
            ("typo", f"{typo} {last}"),
        ]
        for label, text in shapes:
            yield (f"autocomplete {who}: {label} {text!r}", lambda u=user, t=text: autocomplete(u, t),
                   SEARCH_TARGET_MS)
        for label, text in (("full text, selective", f"{first} {last}"), ("full text, common word", "john")):
            yield (f"search page {who}: {label} {text!r}", lambda u=user, t=text: full_text(u, t),
                   SEARCH_TARGET_MS)


LIST_TARGET_MS = 100


def _list_params(user):
    """One value per offered filter, taken from the data, plus every offered sort."""
    from contacts.models import ContactCompany, ContactTag
    from crm.models import Team

    c = Contact.objects.visible_to(user).exclude(owner=None).exclude(team=None).order_by("-created_at").first()
    tag = ContactTag.objects.filter(contact__organization_id=c.organization_id).values_list("tag_id", flat=True)[:1][0]
    company = (ContactCompany.objects.filter(contact__organization_id=c.organization_id)
               .values_list("company_id", flat=True)[:1][0])
    team = Team.objects.filter(organization_id=c.organization_id).values_list("pk", flat=True)[:1][0]
    filters = [
        ("no filter", {}),
        ("stage", {"lifecycle_stage": "customer"}),
        ("source", {"source": "referral"}),
        ("owner", {"owner": c.owner_id}),
        ("team", {"team": team}),
        ("tag", {"tags": tag}),
        ("company", {"company": company}),
        ("created range", {"created_after": "2025-01-01", "created_before": "2025-06-30"}),
        ("score range", {"score_min": 80, "score_max": 90}),
        ("has phone", {"has_phone": "true"}),
        ("sms consent", {"sms_consent": "unknown"}),
        ("custom field (select)", {"cf_preferred_language": "German"}),
        ("custom field (number range)", {"cf_annual_budget_min": 100000}),
        ("search q", {"q": c.first_name[:3]}),
    ]
    sorts = [("-created", {}), ("created", {"ordering": "created"}), ("-updated", {"ordering": "-updated"}),
             ("-last_activity", {"ordering": "-last_activity"}), ("name", {"ordering": "name"}),
             ("-score", {"ordering": "-score"})]
    return filters, sorts


def list_cases():
    from django.test import Client

    admin, rep = _users()
    for who, user in (("admin", admin), ("rep", rep)):
        client = Client()
        client.force_login(user)
        filters, sorts = _list_params(user)
        for kind, url, extra in (("page", "/contacts/", {"per_page": 50}),
                                 ("API", "/api/contacts/", {"page_size": 50})):
            for label, params in filters + [(f"sort {name}", p) for name, p in sorts[1:]]:
                def request(c=client, u=url, p={**params, **extra}):
                    response = c.get(u, p)
                    assert response.status_code == 200, (u, p, response.status_code, response.content[:300])
                yield f"{kind} {who}: {label}", request, LIST_TARGET_MS


SEGMENT_TARGET_MS = 500


def segment_cases():
    """A segment with 5 criteria counted through the visibility gate, as an org admin (the
    whole organization) and as a manager (their team): stage in (...), any of two tags,
    score >= 40, created in the last 365 days, an activity in the last 90 days."""
    from contacts.models import Segment, Sharing
    from contacts.segments import validate_criteria
    from crm.models import Tag

    admin, _rep = _users()
    manager = (Membership.objects.filter(role=Role.MANAGER, organization_id=admin.membership.organization_id)
               .select_related("user").order_by("id").first().user)
    org_id = admin.membership.organization_id
    # The two most used tags of the organization (the unselective case).
    tags = list(Tag.objects.filter(organization_id=org_id).order_by("-usage_count").values_list("pk", flat=True)[:2])
    criteria = validate_criteria({"op": "and", "rules": [
        {"field": "lifecycle_stage", "operator": "in", "value": ["lead", "mql", "sql"]},
        {"field": "tags", "operator": "any", "value": tags},
        {"field": "score", "operator": "gte", "value": 40},
        {"field": "created_at", "operator": "in_last_days", "value": 365},
        {"field": "activity_count", "operator": "gte", "value": 1, "days": 90},
    ]}, org_id)
    segment, _ = Segment.objects.update_or_create(
        organization_id=org_id, name="Bench: 5 criteria",
        defaults={"created_by": admin, "sharing": Sharing.ORGANIZATION, "criteria": criteria})
    for who, user in (("admin", admin), ("manager", manager)):
        def count(s=segment, u=user):
            # A fresh user each time: the scope lookup is part of a request's cost too.
            from crm.models import User

            fresh = User.objects.get(pk=u.pk)
            return Segment.objects.visible_to(fresh).get(pk=s.pk).contacts_for(fresh).count()
        yield f"segment with 5 criteria counted {who}", count, SEGMENT_TARGET_MS


DASHBOARD_TARGET_MS = 300


def _seed_messages(org_id):
    """seed_demo writes no SMS: give about 1 contact in 12 of the organization an outbound
    text in the last 120 days (statuses spread like real traffic) and a third of those a
    reply a few hours later, once (so the message and response-rate queries have rows to read)."""
    from django.db import connection

    from messaging.models import Message

    if Message.objects.filter(organization_id=org_id).exists():
        return
    common = ("organization_id, contact_id, direction, status, to_number, from_number, body, encoding, segments, "
              "provider_sid, backend, error_code, error_message, attempts, actor_id, created_at, updated_at")
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO messaging_message ({common})
            SELECT organization_id, id, 'outbound',
                   (ARRAY['delivered','delivered','delivered','delivered','delivered','delivered','sent',
                          'undelivered','failed','queued'])[1 + id %% 10],
                   '+14155550100', '', 'Hi, just checking in.', 'GSM-7', 1, '', 'console', '', '', 1, owner_id,
                   now() - make_interval(days => (id %% 120)::int, hours => (id %% 7)::int), now()
            FROM contacts_contact WHERE organization_id = %s AND deleted_at IS NULL AND id %% 12 = 0""", [org_id])
        cursor.execute(f"""
            INSERT INTO messaging_message ({common})
            SELECT organization_id, contact_id, 'inbound', 'received', '+14155550100', '+14155550199',
                   'Thanks!', 'GSM-7', 1, '', 'console', '', '', 0, NULL, created_at + interval '3 hours', now()
            FROM messaging_message WHERE organization_id = %s AND direction = 'outbound'
              AND status IN ('delivered', 'sent') AND contact_id %% 3 = 0""", [org_id])
        cursor.execute("ANALYZE messaging_message")


def dashboard_cases():
    """The dashboard page and GET /api/dashboard/ as the org admin (the whole organization) and a
    rep (their book): the default 30 days, a year (monthly buckets), and a team + industry filter."""
    import datetime as dt

    from django.test import Client
    from django.utils import timezone

    from crm.models import Team

    admin, rep = _users()
    org_id = admin.membership.organization_id
    _seed_messages(org_id)
    team = Team.objects.filter(organization_id=org_id).values_list("pk", flat=True).order_by("pk")[:1][0]
    industry = (Contact.objects.filter(organization_id=org_id).exclude(industry="")
                .values_list("industry", flat=True)[:1][0])
    today = timezone.localdate()
    shapes = [("30 days", {}),
              ("a year", {"from": (today - dt.timedelta(days=364)).isoformat(), "to": today.isoformat()}),
              ("team + industry", {"team": team, "industry": industry})]
    for who, user in (("admin", admin), ("rep", rep)):
        client = Client()
        client.force_login(user)
        for kind, url in (("page", "/dashboard/"), ("API", "/api/dashboard/")):
            for label, params in shapes:
                def request(c=client, u=url, p=params):
                    response = c.get(u, p)
                    assert response.status_code == 200, (u, p, response.status_code, response.content[:300])
                yield f"dashboard {kind} {who}: {label}", request, DASHBOARD_TARGET_MS
