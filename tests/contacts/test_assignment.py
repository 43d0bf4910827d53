"""Assignment rules: new contacts without owner and team are routed to a team and owner."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from contacts.models import AssignmentRule, Contact
from contacts.services import create_contact, move_rule, save_rule
from crm.permissions import Role
from crm.services import add_member
from tests.conftest import PASSWORD, fresh

pytestmark = pytest.mark.django_db


def rule(world, **data):
    data.setdefault("name", "Rule")
    data.setdefault("team", world.team_a)
    return save_rule(rule=AssignmentRule(organization=world.org), data=data)


def new(world, **data):
    return create_contact(organization=world.org, data={"first_name": "Lead", **data})


def test_round_robin_spreads_evenly_over_the_teams_reps_and_managers(world):
    rule(world, industry="Healthcare")
    owners = [new(world, industry="healthcare").owner_id for _ in range(6)]
    # manager_a, alice and bob are team A's reps and managers (viewer_a is not eligible).
    members = sorted([world.manager_a.pk, world.alice.pk, world.bob.pk])
    assert Counter(owners) == {pk: 2 for pk in members}
    assert owners == members * 2  # in turn, not at random
    assert set(Contact.objects.filter(first_name="Lead").values_list("team_id", flat=True)) == {world.team_a.pk}


def test_round_robin_skips_inactive_members(world):
    rule(world)
    world.bob.is_active = False
    world.bob.save()
    owners = [new(world).owner_id for _ in range(4)]
    assert Counter(owners) == {world.manager_a.pk: 2, world.alice.pk: 2}


def test_round_robin_takes_in_a_member_who_joins(world):
    r = rule(world)
    first = [new(world).owner_id for _ in range(3)]
    newcomer = add_member(world.org, email="nia@acme.test", password=PASSWORD, role=Role.REP, team=world.team_a)
    later = [new(world).owner_id for _ in range(4)]
    assert sorted(first) == sorted([world.manager_a.pk, world.alice.pk, world.bob.pk])
    assert later == [newcomer.pk, *sorted(first)]
    r.refresh_from_db()
    assert r.last_assigned_id == later[-1]


def test_an_empty_team_leaves_the_contact_in_the_teams_queue(world):
    from crm.models import Team

    empty = Team.objects.create(organization=world.org, name="Empty")
    rule(world, team=empty)
    contact = new(world)
    assert contact.team == empty and contact.owner is None


def test_first_matching_active_rule_wins_in_position_order(world):
    general = rule(world, name="Everything else", team=world.team_b, owner_strategy="team_queue")
    legal = rule(world, name="Legal", industry="Legal", owner_strategy="fixed", owner=world.alice)
    paused = rule(world, name="Paused", industry="Legal", team=world.team_b, is_active=False)
    # Catch-all first: it takes everything.
    assert new(world, industry="Legal").team == world.team_b
    move_rule(general, +1)
    move_rule(general, +1)
    assert list(AssignmentRule.objects.filter(organization=world.org).values_list("name", flat=True)) == [
        "Legal", "Paused", "Everything else"]
    contact = new(world, industry="legal")
    assert (contact.team, contact.owner) == (world.team_a, world.alice)
    move_rule(paused, -1)
    save_rule(rule=paused, data={"is_active": True})
    contact = new(world, industry="LEGAL")
    assert contact.team == world.team_b and contact.owner in (world.manager_b, world.rita)
    assert new(world, industry="Retail").team == world.team_b


@pytest.mark.parametrize("conditions, contact, matches", [
    ({"industry": "Healthcare"}, {"industry": " healthcare "}, True),
    ({"industry": "Healthcare"}, {"industry": "Health"}, False),
    ({"industry": "Healthcare"}, {}, False),
    ({"country": "us"}, {"country": "US"}, True),
    ({"country": "US"}, {"country": "DE"}, False),
    ({"region": "California"}, {"country": "US", "region": "california"}, True),
    ({"country": "US", "region": "CA"}, {"country": "US", "region": "NY"}, False),
    ({"source": "website"}, {"source": "website"}, True),
    ({"source": "website"}, {"source": "referral"}, False),
    ({"industry": "Legal", "source": "event"}, {"industry": "Legal", "source": "event"}, True),
    ({"industry": "Legal", "source": "event"}, {"industry": "Legal", "source": "website"}, False),
    ({}, {"industry": "Anything"}, True),
])
def test_conditions(world, conditions, contact, matches):
    rule(world, owner_strategy="fixed", owner=world.bob, **conditions)
    created = new(world, **contact)
    assert (created.owner == world.bob and created.team == world.team_a) is matches
    if not matches:
        assert created.owner is None and created.team is None


def test_no_matching_rule_records_nothing(world):
    r = rule(world, industry="Healthcare")
    before = AssignmentRule.objects.values().get(pk=r.pk)
    contact = new(world, industry="Retail")
    assert contact.owner is None and contact.team is None
    assert AssignmentRule.objects.values().get(pk=r.pk) == before


@pytest.mark.parametrize("explicit", ["owner", "team"])
def test_an_explicit_owner_or_team_wins(world, explicit):
    r = rule(world)
    value = {"owner": world.rita, "team": world.team_b}[explicit]
    contact = new(world, **{explicit: value})
    assert getattr(contact, explicit) == value
    assert (contact.owner if explicit == "team" else contact.team) is None
    r.refresh_from_db()
    assert r.last_assigned_id is None


def test_failed_creation_does_not_advance_round_robin(world):
    r = rule(world)
    with pytest.raises(ValidationError):
        new(world, email="not-an-email")
    r.refresh_from_db()
    assert r.last_assigned_id is None


def test_manager_of_the_target_team_sees_the_contact_others_do_not(world):
    rule(world, industry="Healthcare", team=world.team_b, owner_strategy="fixed", owner=world.rita)
    contact = new(world, industry="Healthcare")
    assert contact.owner == world.rita

    def sees(user):
        return Contact.objects.visible_to(fresh(user)).filter(pk=contact.pk).exists()

    assert sees(world.manager_b) and sees(world.rita) and sees(world.admin)
    assert not sees(world.manager_a) and not sees(world.alice) and not sees(world.charlie)


def test_manager_sees_team_queue_contacts(world):
    rule(world, team=world.team_b, owner_strategy="team_queue")
    contact = new(world)
    assert Contact.objects.visible_to(fresh(world.manager_b)).filter(pk=contact.pk).exists()
    assert not Contact.objects.visible_to(fresh(world.rita)).filter(pk=contact.pk).exists()


@pytest.mark.parametrize("data, field", [
    ({"owner_strategy": "fixed"}, "owner"),
    ({"owner_strategy": "fixed", "owner": "rita"}, "owner"),  # another team
    ({"owner_strategy": "fixed", "owner": "other_rep"}, "owner"),  # another organization
    ({"owner_strategy": "round_robin", "owner": "alice"}, "owner"),
    ({"team": "foreign"}, "team"),
    ({"country": "USA"}, "country"),
    ({"name": "  "}, "name"),
    ({"source": "carrier_pigeon"}, "source"),
])
def test_rule_validation_names_the_field(world, data, field):
    from crm.models import Team

    people = {"rita": world.rita, "alice": world.alice, "other_rep": world.other_rep,
              "foreign": Team.objects.get(organization=world.other_org)}
    data = {k: people.get(v, v) if isinstance(v, str) else v for k, v in data.items()}
    with pytest.raises(ValidationError) as exc:
        rule(world, **data)
    assert field in exc.value.message_dict
    assert not AssignmentRule.objects.exists()


def test_a_fixed_owner_who_left_the_team_is_not_assigned(world):
    rule(world, owner_strategy="fixed", owner=world.alice)
    membership = world.alice.membership
    membership.team = world.team_b
    membership.save()
    contact = new(world)
    assert contact.team == world.team_a and contact.owner is None


@pytest.mark.django_db(transaction=True)
def test_concurrent_creations_take_turns(world):
    """Six contacts created by three concurrent connections: each member still gets two."""
    rule(world)
    errors, barrier = [], threading.Barrier(3)

    def work():
        try:
            barrier.wait()
            for _ in range(2):
                new(world)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    owners = Counter(Contact.objects.filter(first_name="Lead").values_list("owner_id", flat=True))
    assert owners == {world.manager_a.pk: 2, world.alice.pk: 2, world.bob.pk: 2}


def test_a_deactivated_fixed_owner_leaves_contacts_in_the_team_queue(world):
    from crm.services import deactivate_member

    rule(world, owner_strategy="fixed", owner=world.bob)
    deactivate_member(world.bob.membership, reassign_to=world.alice.membership, actor=world.admin)
    contact = new(world)
    assert contact.team == world.team_a and contact.owner is None
