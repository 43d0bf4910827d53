"""Shared fixtures: one organization with two teams and a person in every role,
plus a second organization (charlie) that must never see anything of the first."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from crm.models import Organization, Team, User
from crm.permissions import Role
from crm.services import add_member, create_organization

PASSWORD = "correct-horse-battery-9"


@dataclass
class World:
    org: Organization
    team_a: Team
    team_b: Team
    admin: User
    manager_a: User
    manager_b: User
    alice: User  # rep, team A
    bob: User  # rep, team A
    rita: User  # rep, team B
    viewer_a: User
    other_org: Organization
    charlie: User  # org admin of the other organization
    other_rep: User


def make_world() -> World:
    org, admin, _ = create_organization("Acme Sales", admin_email="admin@acme.test", admin_password=PASSWORD,
                                        admin_name="Ada Admin")
    team_a = Team.objects.create(organization=org, name="Team A")
    team_b = Team.objects.create(organization=org, name="Team B")
    other_org, charlie, _ = create_organization("Globex", admin_email="charlie@globex.test",
                                                admin_password=PASSWORD, admin_name="Charlie Other")
    other_team = Team.objects.create(organization=other_org, name="Team A")

    def member(email, role, team, name):
        return add_member(team.organization if team else org, email=email, password=PASSWORD, role=role,
                          team=team, full_name=name)

    return World(
        org=org, team_a=team_a, team_b=team_b, admin=admin,
        manager_a=member("manager.a@acme.test", Role.MANAGER, team_a, "Mona Manager"),
        manager_b=member("manager.b@acme.test", Role.MANAGER, team_b, "Max Manager"),
        alice=member("alice@acme.test", Role.REP, team_a, "Alice Rep"),
        bob=member("bob@acme.test", Role.REP, team_a, "Bob Rep"),
        rita=member("rita@acme.test", Role.REP, team_b, "Rita Rep"),
        viewer_a=member("viewer@acme.test", Role.VIEWER, team_a, "Vic Viewer"),
        other_org=other_org, charlie=charlie,
        other_rep=member("rep@globex.test", Role.REP, other_team, "Olga Other"),
    )


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Pages render without a collectstatic manifest in tests.
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture
def world(db) -> World:
    return make_world()


def fresh(user):
    """The same user without cached scope (as on a new request)."""
    return User.objects.get(pk=user.pk)
