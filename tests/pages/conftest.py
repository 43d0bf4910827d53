"""Helpers for the page tests: people and records in the `world` of tests/conftest.py."""

from __future__ import annotations

import pytest

from companies.models import Company
from contacts.models import Contact
from contacts.services import create_contact, set_tags
from crm.models import Tag


def make_contact(world, first="Ann", last="", *, owner=None, team=None, tags=(), org=None, **data):
    score = data.pop("score", None)  # computed (contacts.scoring): set directly for list/filter tests
    contact = create_contact(organization=org or world.org,
                             data={"first_name": first, "last_name": last, "owner": owner, "team": team, **data})
    if score is not None:
        Contact.all_objects.filter(pk=contact.pk).update(score=score)
        contact.score = score
    if tags:
        set_tags(contact, tags)
    return contact


@pytest.fixture
def alices_contact(world):
    """Owned by alice (rep, team A): visible to admin, manager_a, alice, viewer_a."""
    return make_contact(world, "Ann", "Alpha", owner=world.alice, team=world.team_a, email="ann@example.com",
                        phone="+14155552671")


@pytest.fixture
def ritas_contact(world):
    """Owned by rita (rep, team B)."""
    return make_contact(world, "Rob", "Beta", owner=world.rita, team=world.team_b)


@pytest.fixture
def foreign_contact(world):
    """In the other organization."""
    return make_contact(world, "Olaf", "Other", owner=world.other_rep, org=world.other_org)


@pytest.fixture
def tags(world):
    return {
        "vip": Tag.objects.create(organization=world.org, name="VIP", colour="amber"),
        "hot": Tag.objects.create(organization=world.org, name="Hot", colour="red"),
        "foreign": Tag.objects.create(organization=world.other_org, name="Elsewhere"),
    }


@pytest.fixture
def company(world):
    return Company.objects.create(organization=world.org, name="Initech", domain="initech.test",
                                  owner=world.alice)


def body(response) -> str:
    return response.content.decode()
