"""`manage.py seed_demo`: the bulk-loaded demo data is valid, consistent and unaudited."""

from __future__ import annotations

import io
import re
from collections import Counter

import phonenumbers
import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db.models import Count, F
from django.utils import timezone
from pghistory.models import Event

from activities.models import Activity
from companies.models import Company, domain_validator
from contacts.models import (
    Channel, Contact, ContactCompany, ContactRelationship, ContactTag, LifecycleStage, NotificationTopic, Source,
    build_display_name,
)
from crm.custom_fields import clean_custom_fields, definitions_for
from crm.models import Membership, Organization, Tag, User

pytestmark = pytest.mark.django_db(transaction=True)


def event_models():
    from django.apps import apps

    return [m for m in apps.get_models() if issubclass(m, Event)]


def event_counts():
    return {m._meta.label: m.objects.count() for m in event_models()}


def seed(**options):
    out = io.StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def test_seed_demo_creates_valid_unaudited_data():
    events_before = event_counts()
    output = seed(contacts=300, orgs=2, seed=1)

    assert "password for every demo user: kith-demo-pass" in output
    assert Organization.objects.count() == 2
    assert Contact.all_objects.count() == 300
    orgs = list(Organization.objects.order_by("pk"))
    for org in orgs:
        assert Contact.all_objects.filter(organization=org).count() == 150

    # No audit events for anything the seeder wrote.
    assert event_counts() == events_before
    assert event_models(), "pghistory event models should exist"

    # Users: one known password, admin is staff, reps/managers on teams.
    admin = User.objects.get(email="admin@org1.kith.test")
    assert admin.is_staff and admin.membership.role == "admin"
    rep = User.objects.get(email="rep3.team1@org1.kith.test")
    assert authenticate(username=rep.email, password="kith-demo-pass") == rep
    assert rep.membership.team.name == "Enterprise"

    memberships = {m.user_id: m for m in Membership.objects.all()}
    now = timezone.now()
    definitions = {org.pk: definitions_for(org.pk, "contact") for org in orgs}
    import zoneinfo

    valid_timezones = zoneinfo.available_timezones()

    contacts = list(Contact.all_objects.all())
    for c in contacts:
        # Owner and team: the owner's membership team, or unowned (with or without a team).
        if c.owner_id:
            membership = memberships[c.owner_id]
            assert membership.organization_id == c.organization_id
            assert membership.role in ("manager", "rep")
            assert c.team_id == membership.team_id
        elif c.team_id:
            assert c.team.organization_id == c.organization_id
        assert c.display_name == build_display_name(c.first_name, c.middle_name, c.last_name)
        assert c.first_name.strip()
        assert c.email == c.email.lower()
        for number in (c.phone, c.mobile):
            if number:
                parsed = phonenumbers.parse(str(number))
                assert phonenumbers.is_valid_number(parsed), number
                assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == str(number)
        assert 0 <= c.score <= 100
        assert c.country == "" or re.fullmatch(r"[A-Z]{2}", c.country)
        assert c.timezone == "" or c.timezone in valid_timezones
        assert c.source in Source.values or c.source == ""
        assert c.lifecycle_stage in LifecycleStage.values
        assert set(c.preferred_channels) <= set(Channel.values)
        assert set(c.notification_opt_ins) <= set(NotificationTopic.values)
        assert c.created_at <= c.updated_at <= now
        assert c.created_at > now - timezone.timedelta(days=3 * 366)
        assert clean_custom_fields(c.organization_id, "contact", c.custom_fields,
                                   definitions[c.organization_id]) == c.custom_fields
        assert c.embedding is None
        assert c.email_consent == c.sms_consent == c.call_consent == "unknown"
        # Everything the model itself checks (fields, choices, validators, constraints, clean()).
        c.full_clean()

    # Emails unique per organization among live contacts (the DB constraint), some empty.
    emails = Counter((c.organization_id, c.email) for c in contacts if c.email and c.deleted_at is None)
    assert emails and max(emails.values()) == 1
    assert any(not c.email for c in contacts)

    # Tag usage counts are the real counts of live contacts.
    live_counts = dict(ContactTag.objects.filter(contact__deleted_at__isnull=True).values_list("tag")
                       .annotate(n=Count("*")).values_list("tag", "n"))
    tags = list(Tag.objects.all())
    assert 20 <= len(tags) <= 30
    for tag in tags:
        assert tag.usage_count == live_counts.get(tag.pk, 0)
    same_org = ContactTag.objects.filter(organization_id=F("contact__organization_id"),
                                         tag__organization_id=F("contact__organization_id"))
    assert same_org.count() == ContactTag.objects.count() > 0

    # Companies: valid, unique domains per org, parents in the same org and created before the child.
    companies = list(Company.objects.all())
    assert len(companies) == 2 * round(150 / 20)
    domains = Counter((co.organization_id, co.domain) for co in companies)
    assert max(domains.values()) == 1
    for co in companies:
        domain_validator(co.domain)
        co.full_clean()
        if co.parent_id:
            assert co.parent.organization_id == co.organization_id and co.parent_id != co.pk

    # Company links: one primary per contact, same organization.
    links = list(ContactCompany.objects.select_related("contact", "company"))
    assert links
    primaries = Counter(link.contact_id for link in links if link.is_primary)
    assert max(primaries.values()) == 1
    for link in links:
        assert link.organization_id == link.contact.organization_id == link.company.organization_id
        link.full_clean()

    for rel in ContactRelationship.objects.select_related("from_contact", "to_contact"):
        assert rel.from_contact_id != rel.to_contact_id
        assert rel.organization_id == rel.from_contact.organization_id == rel.to_contact.organization_id
        rel.full_clean()

    # Activities: on a contact of the same organization, in the past, and the contact's
    # last_activity_at is the newest of them.
    activities = list(Activity.objects.select_related("contact"))
    assert 150 <= len(activities) <= 500
    newest = {}
    for a in activities:
        assert a.contact_id and a.organization_id == a.contact.organization_id
        assert a.occurred_at <= now
        if a.contact.owner_id:
            assert a.actor_id == a.contact.owner_id
        newest[a.contact_id] = max(newest.get(a.contact_id, a.occurred_at), a.occurred_at)
        a.full_clean()
    for c in contacts:
        assert c.last_activity_at == newest.get(c.pk)


def test_seed_demo_twice_and_reproducible():
    seed(contacts=40, orgs=1, seed=7, batch=7)  # several COPY batches
    seed(contacts=40, orgs=1, seed=7)  # runs again on the same database: a new organization
    orgs = list(Organization.objects.order_by("pk"))
    assert len(orgs) == 2
    assert orgs[0].name != orgs[1].name
    assert User.objects.filter(email="admin@org2.kith.test").exists()
    # Same seed, same data whatever the batch size (apart from ids and the organization).
    fields = ["first_name", "last_name", "email", "phone", "score", "custom_fields", "tags__name",
              "company_links__company__domain"]
    first, second = (list(Contact.all_objects.filter(organization=org)
                          .order_by("id", "tags__name", "company_links__company__domain").values_list(*fields))
                     for org in orgs)
    assert first == second
    assert Activity.objects.filter(organization=orgs[0]).count() == Activity.objects.filter(
        organization=orgs[1]).count()


def test_seeded_search_keys_match_what_save_derives():
    seed(contacts=120, orgs=1, seed=3)
    for contact in Contact.all_objects.all()[:120]:
        stored = (contact.search_name, contact.search_name_rev, contact.company_name, contact.phone_digits)
        contact.derive_fields()
        link = ContactCompany.objects.filter(contact=contact).order_by("-is_primary", "id").first()
        assert stored == (contact.search_name, contact.search_name_rev,
                          link.company.name if link else "", contact.phone_digits)
