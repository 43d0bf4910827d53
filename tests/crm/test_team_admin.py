"""Team and member management services (crm.services): teams, invitations, roles,
last-admin protection, deactivation with reassignment, reactivation."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.core import mail
from django.core.exceptions import ValidationError
from pghistory.models import Events
from rest_framework.authtoken.models import Token

from activities.models import Activity
from companies.models import Company
from contacts.models import Contact
from crm import services
from crm.models import Membership, Team, User
from crm.permissions import Role
from tests.conftest import PASSWORD
from tests.pages.conftest import make_contact


def errors(exc_info) -> dict:
    return exc_info.value.message_dict


# -- teams

def test_create_rename_team_and_duplicate_names(world):
    team = services.create_team(world.org, name="  Healthcare ", actor=world.admin)
    assert team.name == "Healthcare" and team.organization_id == world.org.pk
    with pytest.raises(ValidationError) as exc:
        services.create_team(world.org, name="team a")
    assert "name" in errors(exc)
    with pytest.raises(ValidationError) as exc:
        services.create_team(world.org, name="")
    assert "name" in errors(exc)
    # The same name in another organization is fine.
    assert services.create_team(world.other_org, name="Healthcare").pk
    services.update_team(team, data={"name": "Health"})
    assert Team.objects.get(pk=team.pk).name == "Health"
    with pytest.raises(ValidationError) as exc:
        services.update_team(team, data={"name": "Team B"})
    assert "name" in errors(exc)
    with pytest.raises(ValidationError) as exc:
        services.update_team(team, data={"organization": world.other_org.pk})
    assert "organization" in errors(exc)


def test_deleting_a_team_leaves_members_and_contacts_team_less(world):
    contact = make_contact(world, "Ann", team=world.team_a, owner=world.alice)
    queued = make_contact(world, "Queue", team=world.team_a)
    released = services.delete_team(world.team_a, actor=world.admin)
    assert released == {"members": 4, "contacts": 2}
    assert not Team.objects.filter(pk=world.team_a.pk).exists()
    assert Membership.objects.get(user=world.alice).team_id is None
    assert Contact.objects.get(pk=contact.pk).team_id is None
    # A team-less, owner-less contact is in the organization's queue: managers still see it.
    assert Contact.objects.visible_to(User.objects.get(pk=world.manager_b.pk)).filter(pk=queued.pk).exists()
    event = Events.objects.tracks(Contact.objects.get(pk=contact.pk)).order_by("-pgh_id").first()
    assert event.pgh_context["source"] == "settings" and event.pgh_context["user"] == world.admin.pk


# -- invitations

def test_invite_creates_a_user_without_password_and_emails_a_set_password_link(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        membership = services.invite_member(world.org, email=" New.Person@Example.com ", full_name="New Person",
                                            role=Role.MANAGER, team=world.team_b, actor=world.admin)
    user = membership.user
    assert user.email == "new.person@example.com" and not user.has_usable_password() and user.is_active
    assert (membership.role, membership.team_id, membership.organization_id) == (Role.MANAGER, world.team_b.pk,
                                                                               world.org.pk)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new.person@example.com"] and "Acme Sales" in message.subject
    assert "/reset/" in message.body and "Ada Admin invited you" in message.body


def test_add_with_a_password_can_sign_in_at_once_and_sends_no_email(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.invite_member(world.org, email="direct@acme.test", password=PASSWORD, role=Role.REP)
    assert authenticate(email="direct@acme.test", password=PASSWORD) is not None
    assert mail.outbox == []


@pytest.mark.parametrize("kwargs,field", [
    ({"email": "alice@acme.test"}, "email"),
    ({"email": "ALICE@acme.test"}, "email"),
    ({"email": "charlie@globex.test"}, "email"),
    ({"email": "not-an-email"}, "email"),
    ({"email": ""}, "email"),
    ({"email": "x@acme.test", "role": "owner"}, "role"),
    ({"email": "x@acme.test", "password": "123"}, "password"),
])
def test_invite_validation(world, kwargs, field):
    before = User.objects.count()
    with pytest.raises(ValidationError) as exc:
        services.invite_member(world.org, **kwargs)
    assert field in errors(exc)
    assert User.objects.count() == before


def test_invite_with_another_organizations_team_is_refused(world):
    other_team = Team.objects.get(organization=world.other_org)
    with pytest.raises(ValidationError) as exc:
        services.invite_member(world.org, email="x@acme.test", team=other_team)
    assert "team" in errors(exc) and not User.objects.filter(email="x@acme.test").exists()


# -- roles and teams

def test_change_role_and_team(world):
    membership = world.alice.membership
    services.update_member(membership, data={"role": Role.MANAGER, "team": world.team_b}, actor=world.admin)
    membership.refresh_from_db()
    assert (membership.role, membership.team_id) == (Role.MANAGER, world.team_b.pk)
    event = Events.objects.tracks(membership).order_by("-pgh_id").first()
    assert event.pgh_context["user"] == world.admin.pk
    with pytest.raises(ValidationError) as exc:
        services.update_member(membership, data={"team": Team.objects.get(organization=world.other_org)})
    assert "team" in errors(exc)
    with pytest.raises(ValidationError) as exc:
        services.update_member(membership, data={"role": "boss"})
    assert "role" in errors(exc)


def test_the_last_active_admin_cannot_be_demoted(world):
    with pytest.raises(ValidationError) as exc:
        services.update_member(world.admin.membership, data={"role": Role.MANAGER})
    assert "role" in errors(exc) and "at least one active admin" in errors(exc)["role"][0]
    assert Membership.objects.get(user=world.admin).role == Role.ADMIN
    # With a second admin, the first may step down.
    services.update_member(world.manager_a.membership, data={"role": Role.ADMIN})
    services.update_member(world.admin.membership, data={"role": Role.MANAGER})
    assert Membership.objects.get(user=world.admin).role == Role.MANAGER
    # An inactive admin does not count.
    services.update_member(world.admin.membership, data={"role": Role.ADMIN})
    services.deactivate_member(world.admin.membership, actor=world.manager_a)
    with pytest.raises(ValidationError) as exc:
        services.update_member(world.manager_a.membership, data={"role": Role.REP})
    assert "role" in errors(exc)


def test_the_last_active_admin_cannot_be_deactivated(world):
    with pytest.raises(ValidationError) as exc:
        services.deactivate_member(world.admin.membership, actor=None)
    assert "role" in errors(exc)
    assert User.objects.get(pk=world.admin.pk).is_active


def test_an_admin_cannot_deactivate_themselves(world):
    services.update_member(world.manager_a.membership, data={"role": Role.ADMIN})
    with pytest.raises(ValidationError) as exc:
        services.deactivate_member(world.admin.membership, actor=world.admin)
    assert "member" in errors(exc)


# -- deactivation

@pytest.fixture
def alices_book(world):
    contacts = [make_contact(world, f"C{i}", owner=world.alice, team=world.team_a) for i in range(3)]
    trashed = make_contact(world, "Trashed", owner=world.alice)
    trashed.soft_delete()
    company = Company.objects.create(organization=world.org, name="Alice Co", owner=world.alice)
    task = Activity.objects.create(organization=world.org, contact=contacts[0], type="task", assigned_to=world.alice,
                                   status="planned", subject="Follow up")
    done = Activity.objects.create(organization=world.org, contact=contacts[0], type="task", assigned_to=world.alice,
                                   subject="Done", completed_at="2024-01-01T00:00:00Z")
    return {"contacts": contacts, "trashed": trashed, "company": company, "task": task, "done": done}


def test_deactivate_reassigns_records_in_one_step(world, alices_book):
    Token.objects.create(user=world.alice)
    moved = services.deactivate_member(world.alice.membership, reassign_to=world.bob.membership, actor=world.admin)
    assert moved == {"contacts": 4, "companies": 1, "tasks": 1}
    assert set(Contact.all_objects.filter(owner=world.bob).values_list("pk", flat=True)) == {
        c.pk for c in alices_book["contacts"]} | {alices_book["trashed"].pk}
    assert Company.objects.get(pk=alices_book["company"].pk).owner_id == world.bob.pk
    assert Activity.objects.get(pk=alices_book["task"].pk).assigned_to_id == world.bob.pk
    assert Activity.objects.get(pk=alices_book["done"].pk).assigned_to_id == world.alice.pk  # history stays
    alice = User.objects.get(pk=world.alice.pk)
    assert not alice.is_active and not Token.objects.filter(user=alice).exists()
    assert authenticate(email="alice@acme.test", password=PASSWORD) is None
    # Audited per contact, with the admin as actor.
    event = Events.objects.tracks(alices_book["contacts"][0]).order_by("-pgh_id").first()
    assert event.pgh_diff["owner_id"] == [world.alice.pk, world.bob.pk]
    assert event.pgh_context["user"] == world.admin.pk and event.pgh_context["deactivated_user"] == world.alice.pk


def test_deactivate_requires_reassign_to_when_they_own_records(world, alices_book):
    with pytest.raises(ValidationError) as exc:
        services.deactivate_member(world.alice.membership, actor=world.admin)
    assert "reassign_to" in errors(exc)
    assert User.objects.get(pk=world.alice.pk).is_active


@pytest.mark.parametrize("target", ["alice", "other_rep", "inactive"])
def test_deactivate_refuses_a_bad_reassign_target(world, alices_book, target):
    if target == "inactive":
        services.deactivate_member(world.viewer_a.membership, actor=world.admin)
        membership = Membership.objects.get(user=world.viewer_a)
    else:
        membership = getattr(world, target).membership
    with pytest.raises(ValidationError) as exc:
        services.deactivate_member(world.alice.membership, reassign_to=membership, actor=world.admin)
    assert "reassign_to" in errors(exc)
    assert User.objects.get(pk=world.alice.pk).is_active
    assert Contact.objects.filter(owner=world.alice).count() == 3


def test_deactivate_without_records_needs_no_target_and_reactivate(world):
    services.deactivate_member(world.viewer_a.membership, actor=world.admin)
    assert not User.objects.get(pk=world.viewer_a.pk).is_active
    services.reactivate_member(Membership.objects.get(user=world.viewer_a), actor=world.admin)
    assert User.objects.get(pk=world.viewer_a.pk).is_active
    assert authenticate(email="viewer@acme.test", password=PASSWORD) is not None
