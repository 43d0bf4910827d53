"""The one visibility gate: each role against own, teammate's, other team's,
unassigned, shared and another organization's records."""

import pytest
from guardian.shortcuts import assign_perm

from activities.models import Activity
from companies.models import Company
from contacts.models import ConsentEvent, Contact, ContactCompany, ContactRelationship, ContactTag
from crm.models import CustomFieldDefinition, Tag, Team
from tests.conftest import fresh

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(world):
    """Contacts of every kind of ownership, by name."""
    def contact(name, org=None, owner=None, team=None):
        return Contact.objects.create(organization=org or world.org, first_name=name, owner=owner, team=team)

    other_team = Team.objects.get(organization=world.other_org)
    return {
        "alice_own": contact("alice_own", owner=world.alice, team=world.team_a),
        "bob_own": contact("bob_own", owner=world.bob, team=world.team_a),
        "rita_own": contact("rita_own", owner=world.rita, team=world.team_b),
        "team_a_queue": contact("team_a_queue", team=world.team_a),
        "team_b_queue": contact("team_b_queue", team=world.team_b),
        "org_queue": contact("org_queue"),
        "other_org": contact("other_org", org=world.other_org, owner=world.other_rep, team=other_team),
    }


def names(qs):
    return set(qs.values_list("first_name", flat=True))


ALL_ACME = {"alice_own", "bob_own", "rita_own", "team_a_queue", "team_b_queue", "org_queue"}


@pytest.mark.parametrize("who,view,change", [
    ("admin", ALL_ACME, ALL_ACME),
    ("manager_a", {"alice_own", "bob_own", "team_a_queue", "org_queue"},
     {"alice_own", "bob_own", "team_a_queue", "org_queue"}),
    ("manager_b", {"rita_own", "team_b_queue", "org_queue"}, {"rita_own", "team_b_queue", "org_queue"}),
    ("alice", {"alice_own"}, {"alice_own"}),
    ("rita", {"rita_own"}, {"rita_own"}),
    ("viewer_a", {"alice_own", "bob_own", "team_a_queue"}, set()),
    ("charlie", {"other_org"}, {"other_org"}),
    ("other_rep", {"other_org"}, {"other_org"}),
])
def test_contact_visibility_by_role(world, book, who, view, change):
    user = fresh(getattr(world, who))
    assert names(Contact.objects.visible_to(user, "view")) == view
    assert names(Contact.objects.visible_to(user, "change")) == change
    assert names(Contact.objects.visible_to(user, "delete")) == change


def test_guardian_grant_shares_one_contact(world, book):
    bob_contact = book["bob_own"]
    assign_perm("view_contact", world.alice, bob_contact)
    alice = fresh(world.alice)
    assert names(Contact.objects.visible_to(alice, "view")) == {"alice_own", "bob_own"}
    assert names(Contact.objects.visible_to(alice, "change")) == {"alice_own"}
    assign_perm("change_contact", world.alice, bob_contact)
    assert names(Contact.objects.visible_to(fresh(world.alice), "change")) == {"alice_own", "bob_own"}
    # A grant on the viewer never makes it writable.
    assign_perm("change_contact", world.viewer_a, book["rita_own"])
    viewer = fresh(world.viewer_a)
    assert "rita_own" in names(Contact.objects.visible_to(viewer, "view"))
    assert names(Contact.objects.visible_to(viewer, "change")) == set()


def test_grant_on_another_organizations_contact_does_not_leak(world, book):
    assign_perm("view_contact", world.alice, book["other_org"])
    assert "other_org" not in names(Contact.objects.visible_to(fresh(world.alice)))


def test_visibility_uses_no_duplicate_rows_and_one_query(world, book, django_assert_num_queries):
    assign_perm("view_contact", world.manager_a, book["alice_own"])
    assign_perm("change_contact", world.manager_a, book["alice_own"])
    manager = fresh(world.manager_a)
    with django_assert_num_queries(2):  # membership once, then the list
        rows = list(Contact.objects.visible_to(manager))
    assert len(rows) == len({r.pk for r in rows}) == 4


def test_anonymous_and_memberless_users_see_nothing(world, book):
    from django.contrib.auth.models import AnonymousUser

    from crm.models import User

    assert not Contact.objects.visible_to(AnonymousUser()).exists()
    loner = User.objects.create_user("loner@nowhere.test", "x")
    assert not Contact.objects.visible_to(loner).exists()
    inactive = fresh(world.admin)
    inactive.is_active = False
    assert not Contact.objects.visible_to(inactive).exists()


def test_platform_superuser_without_membership_sees_everything(world, book):
    from crm.models import User

    staff = User.objects.create_superuser("platform@kith.test", "x")
    assert names(Contact.objects.visible_to(staff)) == ALL_ACME | {"other_org"}


def test_soft_deleted_contacts_are_not_visible(world, book):
    book["alice_own"].soft_delete()
    assert "alice_own" not in names(Contact.objects.visible_to(fresh(world.admin)))
    assert "alice_own" in names(Contact.all_objects.visible_to(fresh(world.admin)).deleted())


def test_related_rows_follow_their_contact(world, book):
    tag = Tag.objects.create(organization=world.org, name="VIP")
    company = Company.objects.create(organization=world.org, name="Initech")
    ContactTag.objects.create(organization=world.org, contact=book["bob_own"], tag=tag)
    ContactCompany.objects.create(organization=world.org, contact=book["bob_own"], company=company)
    ContactRelationship.objects.create(organization=world.org, from_contact=book["bob_own"],
                                       to_contact=book["alice_own"], type="colleague")
    ConsentEvent.objects.create(organization=world.org, contact=book["bob_own"], channel="sms", status="granted",
                                source="manual")
    Activity.objects.create(organization=world.org, contact=book["bob_own"], type="note", subject="bob's note")
    company_note = Activity.objects.create(organization=world.org, company=company, type="note", subject="co note")
    alice, bob = fresh(world.alice), fresh(world.bob)
    for model in (ContactTag, ContactCompany, ContactRelationship, ConsentEvent):
        assert not model.objects.visible_to(alice).exists(), model
        assert model.objects.visible_to(bob).count() == 1, model
        assert not model.objects.visible_to(fresh(world.charlie)).exists(), model
    assert list(Activity.objects.visible_to(alice)) == [company_note]
    assert set(Activity.objects.visible_to(bob)) == {company_note, Activity.objects.get(subject="bob's note")}
    assert not Activity.objects.visible_to(fresh(world.charlie)).exists()
    assert not Activity.objects.visible_to(fresh(world.viewer_a), "change").exists()


def test_companies_are_shared_but_changed_by_admins_managers_and_owner(world):
    owned = Company.objects.create(organization=world.org, name="Owned", owner=world.alice)
    other = Company.objects.create(organization=world.org, name="Other", owner=world.bob)
    foreign = Company.objects.create(organization=world.other_org, name="Foreign")
    for who in ("admin", "manager_a", "alice", "rita", "viewer_a"):
        assert set(Company.objects.visible_to(fresh(getattr(world, who)))) == {owned, other}, who
    assert set(Company.objects.visible_to(fresh(world.alice), "change")) == {owned}
    assert set(Company.objects.visible_to(fresh(world.manager_b), "change")) == {owned, other}
    assert set(Company.objects.visible_to(fresh(world.admin), "delete")) == {owned, other}
    assert not Company.objects.visible_to(fresh(world.viewer_a), "change").exists()
    assert set(Company.objects.visible_to(fresh(world.charlie))) == {foreign}


def test_reference_data_is_organization_wide_and_admin_managed(world):
    tag = Tag.objects.create(organization=world.org, name="VIP")
    Tag.objects.create(organization=world.other_org, name="Foreign")
    definition = CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="k", label="K",
                                                      field_type="text")
    for model, obj in ((Tag, tag), (CustomFieldDefinition, definition)):
        assert list(model.objects.visible_to(fresh(world.alice))) == [obj]
        assert not model.objects.visible_to(fresh(world.alice), "change").exists()
        assert list(model.objects.visible_to(fresh(world.admin), "change")) == [obj]
    assert set(Team.objects.visible_to(fresh(world.viewer_a))) == {world.team_a, world.team_b}


def test_unknown_action_is_an_error(world):
    with pytest.raises(ValueError):
        Contact.objects.visible_to(world.admin, "publish")


def test_rows_of_a_contact_in_the_trash_are_hidden(world, book):
    note = Activity.objects.create(organization=world.org, contact=book["alice_own"], type="note")
    tag = Tag.objects.create(organization=world.org, name="VIP")
    ContactTag.objects.create(organization=world.org, contact=book["alice_own"], tag=tag)
    for who in ("admin", "alice", "manager_a"):
        assert list(Activity.objects.visible_to(fresh(getattr(world, who)))) == [note]
    book["alice_own"].soft_delete()
    for who in ("admin", "alice", "manager_a"):
        user = fresh(getattr(world, who))
        assert not Activity.objects.visible_to(user).exists(), who
        assert not ContactTag.objects.visible_to(user).exists(), who
