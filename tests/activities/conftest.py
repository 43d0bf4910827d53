"""People and records for the timeline tests (the `world` of tests/conftest.py)."""

from __future__ import annotations

import pytest

from companies.models import Company
from contacts.models import ContactCompany
from contacts.services import create_contact


def make_contact(world, first="Ann", *, org=None, **data):
    return create_contact(organization=org or world.org, data={"first_name": first, **data})


@pytest.fixture
def ann(world):
    """alice's contact (team A): seen by admin, manager_a, alice, viewer_a; not by bob, rita, manager_b."""
    return make_contact(world, "Ann", last_name="Alpha", owner=world.alice, team=world.team_a)


@pytest.fixture
def rob(world):
    """rita's contact (team B)."""
    return make_contact(world, "Rob", owner=world.rita, team=world.team_b)


@pytest.fixture
def initech(world, ann, rob):
    """A company with ann and rob working there."""
    company = Company.objects.create(organization=world.org, name="Initech", domain="initech.test", owner=world.alice)
    ContactCompany.objects.create(organization=world.org, contact=ann, company=company)
    ContactCompany.objects.create(organization=world.org, contact=rob, company=company)
    return company


@pytest.fixture
def olaf(world):
    return make_contact(world, "Olaf", org=world.other_org, owner=world.other_rep)
