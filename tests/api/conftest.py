"""API fixtures: a client per user, and a book of rows of every kind in both organizations."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from activities.models import Activity
from companies.models import Company
from contacts.models import Contact, ContactCompany, ContactRelationship
from contacts.services import create_contact
from crm.models import CustomFieldDefinition, Tag, Team
from tests.conftest import fresh


@pytest.fixture
def api():
    """api(user) -> an APIClient signed in as a fresh copy of user (no cached scope); api() -> anonymous."""
    def client_for(user=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(fresh(user))
        return client
    return client_for


@dataclass
class Book:
    contacts: dict[str, Contact]
    vip: Tag
    hot: Tag
    acme_co: Company  # owned by alice
    bolt_co: Company  # owned by rita
    budget: CustomFieldDefinition
    link: ContactCompany  # alice_own @ acme_co
    rel: ContactRelationship  # alice_own reports to bob_own
    call: Activity  # on alice_own
    company_note: Activity  # on acme_co only
    # another organization's rows
    other_contact: Contact
    other_contact_2: Contact
    other_tag: Tag
    other_co: Company
    other_cf: CustomFieldDefinition
    other_link: ContactCompany
    other_rel: ContactRelationship
    other_call: Activity

    def __getattr__(self, name):
        contacts = self.__dict__.get("contacts", {})
        if name in contacts:
            return contacts[name]
        raise AttributeError(name)


@pytest.fixture
def book(world) -> Book:
    org, other = world.org, world.other_org
    other_team = Team.objects.get(organization=other)

    def contact(name, organization=org, **data):
        return create_contact(organization=organization, data={"first_name": name, **data})

    contacts = {
        "alice_own": contact("alice_own", owner=world.alice, team=world.team_a, email="alice.own@example.com"),
        "bob_own": contact("bob_own", owner=world.bob, team=world.team_a),
        "rita_own": contact("rita_own", owner=world.rita, team=world.team_b),
        "team_a_queue": contact("team_a_queue", team=world.team_a),
        "team_b_queue": contact("team_b_queue", team=world.team_b),
        "org_queue": contact("org_queue"),
    }
    acme_co = Company.objects.create(organization=org, name="Acme Co", domain="acme.test", owner=world.alice)
    bolt_co = Company.objects.create(organization=org, name="Bolt Co", domain="bolt.test", owner=world.rita)
    other_contact = contact("other_contact", organization=other, owner=world.other_rep, team=other_team)
    other_contact_2 = contact("other_contact_2", organization=other, owner=world.other_rep, team=other_team)
    other_co = Company.objects.create(organization=other, name="Globex Co", domain="globex.test")
    return Book(
        contacts=contacts,
        vip=Tag.objects.create(organization=org, name="VIP"),
        hot=Tag.objects.create(organization=org, name="Hot"),
        acme_co=acme_co,
        bolt_co=bolt_co,
        budget=CustomFieldDefinition.objects.create(organization=org, model="contact", key="budget",
                                                    label="Budget", field_type="number"),
        link=ContactCompany.objects.create(organization=org, contact=contacts["alice_own"], company=acme_co,
                                           is_primary=True, role="Buyer"),
        rel=ContactRelationship.objects.create(organization=org, from_contact=contacts["alice_own"],
                                               to_contact=contacts["bob_own"], type="reports_to"),
        call=Activity.objects.create(organization=org, contact=contacts["alice_own"], type="call",
                                     actor=world.alice, subject="Intro call"),
        company_note=Activity.objects.create(organization=org, company=acme_co, type="note", subject="Co note"),
        other_contact=other_contact,
        other_contact_2=other_contact_2,
        other_tag=Tag.objects.create(organization=other, name="Foreign"),
        other_co=other_co,
        other_cf=CustomFieldDefinition.objects.create(organization=other, model="contact", key="secret",
                                                      label="Secret", field_type="text"),
        other_link=ContactCompany.objects.create(organization=other, contact=other_contact, company=other_co),
        other_rel=ContactRelationship.objects.create(organization=other, from_contact=other_contact,
                                                     to_contact=other_contact_2, type="colleague"),
        other_call=Activity.objects.create(organization=other, contact=other_contact, type="call",
                                           subject="Foreign call"),
    )


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def walk(client, url) -> list[dict]:
    """Every row of a list, following next links."""
    rows = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        rows.extend(response.json()["results"])
        url = response.json()["next"]
    return rows
