"""/api/teams/ and /api/members/: members read, org admins write; other organizations see nothing."""

from __future__ import annotations

import pytest
from django.core import mail
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from contacts.models import Contact
from crm.models import Membership, Team, User
from crm.permissions import Role
from tests.api.conftest import ids, walk
from tests.conftest import PASSWORD
from tests.pages.conftest import make_contact

pytestmark = pytest.mark.django_db

TEAMS = "/api/teams/"
MEMBERS = "/api/members/"


def m(user) -> int:
    return Membership.objects.get(user=user).pk


# -- teams

@pytest.mark.parametrize("who", ["admin", "manager_a", "alice", "viewer_a"])
def test_every_member_reads_their_organizations_teams(world, api, who):
    response = api(getattr(world, who)).get(TEAMS)
    assert ids(response) == {world.team_a.pk, world.team_b.pk}
    row = next(r for r in response.json()["results"] if r["id"] == world.team_a.pk)
    assert row["name"] == "Team A" and row["member_count"] == 4


def test_other_organization_sees_only_its_own_teams(world, api):
    assert world.team_a.pk not in ids(api(world.charlie).get(TEAMS))
    assert api(world.charlie).get(f"{TEAMS}{world.team_a.pk}/").status_code == 404
    assert api(world.charlie).patch(f"{TEAMS}{world.team_a.pk}/", {"name": "X"}, format="json").status_code == 404
    assert api(world.charlie).delete(f"{TEAMS}{world.team_a.pk}/").status_code == 404
    assert Team.objects.filter(pk=world.team_a.pk, name="Team A").exists()


def test_admin_creates_renames_and_deletes_teams(world, api):
    client = api(world.admin)
    response = client.post(TEAMS, {"name": "Legal", "description": "Law firms"}, format="json")
    assert response.status_code == 201, response.content
    team_id = response.json()["id"]
    assert response.json()["member_count"] == 0
    assert Team.objects.get(pk=team_id).organization_id == world.org.pk
    response = client.patch(f"{TEAMS}{team_id}/", {"name": "Legal services"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Legal services"
    contact = make_contact(world, "Ann", team=world.team_b)
    assert client.delete(f"{TEAMS}{world.team_b.pk}/").status_code == 204
    assert Contact.objects.get(pk=contact.pk).team_id is None
    assert Membership.objects.get(user=world.rita).team_id is None


@pytest.mark.parametrize("payload,field", [
    ({"name": "team a"}, "name"), ({"name": ""}, "name"), ({}, "name"),
    ({"name": "X", "organization": 2}, "organization"), ({"name": "X", "member_count": 3}, "member_count"),
    ({"name": "X", "colour": "red"}, "colour"),
])
def test_team_validation_names_the_field(world, api, payload, field):
    response = api(world.admin).post(TEAMS, payload, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert Team.objects.filter(organization=world.org).count() == 2


@pytest.mark.parametrize("who", ["manager_a", "alice", "viewer_a"])
def test_non_admins_cannot_write_teams(world, api, who):
    client = api(getattr(world, who))
    assert client.post(TEAMS, {"name": "Mine"}, format="json").status_code == 403
    assert client.patch(f"{TEAMS}{world.team_a.pk}/", {"name": "Mine"}, format="json").status_code == 403
    assert client.delete(f"{TEAMS}{world.team_a.pk}/").status_code == 403
    assert sorted(Team.objects.filter(organization=world.org).values_list("name", flat=True)) == ["Team A", "Team B"]


# -- members

@pytest.mark.parametrize("who", ["admin", "manager_b", "rita", "viewer_a"])
def test_members_read_the_member_list_of_their_organization(world, api, who):
    rows = walk(api(getattr(world, who)), MEMBERS)
    assert {r["email"] for r in rows} == {"admin@acme.test", "manager.a@acme.test", "manager.b@acme.test",
                                          "alice@acme.test", "bob@acme.test", "rita@acme.test", "viewer@acme.test"}
    alice = next(r for r in rows if r["email"] == "alice@acme.test")
    assert alice == {"id": m(world.alice), "user": world.alice.pk, "email": "alice@acme.test",
                     "full_name": "Alice Rep", "role": "rep", "team": world.team_a.pk, "is_active": True,
                     "has_password": True, "created_at": alice["created_at"], "updated_at": alice["updated_at"]}
    assert "password" not in alice


def test_member_filters(world, api):
    client = api(world.admin)
    assert {r["email"] for r in walk(client, f"{MEMBERS}?role=manager")} == {"manager.a@acme.test",
                                                                            "manager.b@acme.test"}
    assert len(walk(client, f"{MEMBERS}?team={world.team_b.pk}")) == 2
    assert [r["email"] for r in walk(client, f"{MEMBERS}?q=rita")] == ["rita@acme.test"]
    other_team = Team.objects.get(organization=world.other_org)
    response = client.get(f"{MEMBERS}?team={other_team.pk}")
    assert response.status_code == 400 and "team" in response.json()
    assert client.get(f"{MEMBERS}?bogus=1").status_code == 400


def test_other_organization_members_are_404(world, api):
    client = api(world.charlie)
    assert {r["email"] for r in walk(client, MEMBERS)} == {"charlie@globex.test", "rep@globex.test"}
    alice = m(world.alice)
    assert client.get(f"{MEMBERS}{alice}/").status_code == 404
    assert client.patch(f"{MEMBERS}{alice}/", {"role": "viewer"}, format="json").status_code == 404
    assert client.post(f"{MEMBERS}{alice}/deactivate/", {}, format="json").status_code == 404
    assert client.post(f"{MEMBERS}{alice}/reactivate/", {}, format="json").status_code == 404
    assert Membership.objects.get(user=world.alice).role == Role.REP and User.objects.get(pk=world.alice.pk).is_active


def test_admin_invites_a_member(world, api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(world.admin).post(MEMBERS, {"email": "new@acme.test", "full_name": "New Hire",
                                                   "role": "manager", "team": world.team_b.pk}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "new@acme.test" and body["role"] == "manager" and body["has_password"] is False
    assert Membership.objects.get(user__email="new@acme.test").organization_id == world.org.pk
    assert len(mail.outbox) == 1 and "http://testserver/reset/" in mail.outbox[0].body


def test_admin_adds_a_member_with_a_password(world, api):
    response = api(world.admin).post(MEMBERS, {"email": "pw@acme.test", "password": PASSWORD}, format="json")
    assert response.status_code == 201 and response.json()["role"] == "rep" and response.json()["has_password"]
    token = APIClient().post("/api/auth/token/", {"email": "pw@acme.test", "password": PASSWORD}, format="json")
    assert token.status_code == 200


@pytest.mark.parametrize("payload,field", [
    ({"email": "alice@acme.test"}, "email"), ({"email": "charlie@globex.test"}, "email"),
    ({"email": "nope"}, "email"), ({}, "email"),
    ({"email": "x@acme.test", "role": "owner"}, "role"),
    ({"email": "x@acme.test", "team": "other"}, "team"),
    ({"email": "x@acme.test", "organization": 1}, "organization"),
    ({"email": "x@acme.test", "is_active": False}, "is_active"),
    ({"email": "x@acme.test", "password": "1"}, "password"),
])
def test_member_create_validation_names_the_field(world, api, payload, field):
    if payload.get("team") == "other":
        payload = {**payload, "team": Team.objects.get(organization=world.other_org).pk}
    before = User.objects.count()
    response = api(world.admin).post(MEMBERS, payload, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert User.objects.count() == before


def test_admin_changes_role_and_team(world, api):
    client = api(world.admin)
    response = client.patch(f"{MEMBERS}{m(world.alice)}/", {"role": "manager", "team": world.team_b.pk},
                            format="json")
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "manager" and response.json()["team"] == world.team_b.pk
    other_team = Team.objects.get(organization=world.other_org)
    response = client.patch(f"{MEMBERS}{m(world.alice)}/", {"team": other_team.pk}, format="json")
    assert response.status_code == 400 and "team" in response.json()
    for payload, field in (({"email": "x@acme.test"}, "email"), ({"organization": world.other_org.pk},
                                                                    "organization"),
                           ({"is_active": False}, "is_active"), ({"user": world.bob.pk}, "user")):
        response = client.patch(f"{MEMBERS}{m(world.alice)}/", payload, format="json")
        assert response.status_code == 400 and field in response.json(), (payload, response.content)
    membership = Membership.objects.get(user=world.alice)
    assert (membership.role, membership.team_id) == ("manager", world.team_b.pk)
    assert client.delete(f"{MEMBERS}{m(world.alice)}/").status_code == 405


def test_last_admin_protection(world, api):
    response = api(world.admin).patch(f"{MEMBERS}{m(world.admin)}/", {"role": "rep"}, format="json")
    assert response.status_code == 400 and "role" in response.json()
    assert Membership.objects.get(user=world.admin).role == Role.ADMIN


@pytest.mark.parametrize("who", ["manager_a", "alice", "viewer_a"])
def test_non_admins_cannot_write_members(world, api, who):
    client = api(getattr(world, who))
    assert client.post(MEMBERS, {"email": "x@acme.test"}, format="json").status_code == 403
    assert client.patch(f"{MEMBERS}{m(world.bob)}/", {"role": "admin"}, format="json").status_code == 403
    assert client.patch(f"{MEMBERS}{m(getattr(world, who))}/", {"role": "admin"}, format="json").status_code == 403
    assert client.post(f"{MEMBERS}{m(world.bob)}/deactivate/", {}, format="json").status_code == 403
    assert client.post(f"{MEMBERS}{m(world.bob)}/reactivate/", {}, format="json").status_code == 403
    assert Membership.objects.get(user=world.bob).role == Role.REP and User.objects.get(pk=world.bob.pk).is_active
    assert not User.objects.filter(email="x@acme.test").exists()


def test_deactivate_with_reassign_then_the_user_is_locked_out(world, api, book):
    token = Token.objects.create(user=world.alice)
    old_client = APIClient()
    old_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert old_client.get("/api/contacts/").status_code == 200
    response = api(world.admin).post(f"{MEMBERS}{m(world.alice)}/deactivate/", {"reassign_to": m(world.bob)},
                                     format="json")
    assert response.status_code == 200, response.content
    assert response.json()["member"]["is_active"] is False
    assert response.json()["reassigned"]["contacts"] == 1 and response.json()["reassigned"]["companies"] == 1
    assert Contact.objects.get(pk=book.alice_own.pk).owner_id == world.bob.pk
    assert old_client.get("/api/contacts/").status_code == 401
    login = APIClient().post("/api/auth/token/", {"email": "alice@acme.test", "password": PASSWORD}, format="json")
    assert login.status_code == 400
    # Reactivated: can sign in again (with a new token).
    response = api(world.admin).post(f"{MEMBERS}{m(world.alice)}/reactivate/", format="json")
    assert response.status_code == 200 and response.json()["is_active"] is True
    login = APIClient().post("/api/auth/token/", {"email": "alice@acme.test", "password": PASSWORD}, format="json")
    assert login.status_code == 200 and login.json()["token"] != token.key


@pytest.mark.parametrize("payload", [{}, {"reassign_to": None}, {"reassign_to": "x"}, {"reassign_to": 0},
                                     {"reassign_to": "self"}, {"reassign_to": "other_org"}, {"owner": 1}])
def test_deactivate_validation_names_reassign_to(world, api, book, payload):
    if payload.get("reassign_to") == "self":
        payload = {"reassign_to": m(world.alice)}
    if payload.get("reassign_to") == "other_org":
        payload = {"reassign_to": m(world.other_rep)}
    response = api(world.admin).post(f"{MEMBERS}{m(world.alice)}/deactivate/", payload, format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()) == ({"owner"} if "owner" in payload else {"reassign_to"})
    assert User.objects.get(pk=world.alice.pk).is_active
    assert Contact.objects.get(pk=book.alice_own.pk).owner_id == world.alice.pk


def test_deactivating_the_last_admin_is_refused(world, api):
    Membership.objects.filter(user=world.manager_a).update(role=Role.ADMIN)
    response = api(world.manager_a).post(f"{MEMBERS}{m(world.admin)}/deactivate/", {}, format="json")
    assert response.status_code == 200
    # manager_a is now the only active admin: cannot step down nor be deactivated (not even by themselves).
    response = api(world.manager_a).patch(f"{MEMBERS}{m(world.manager_a)}/", {"role": "rep"}, format="json")
    assert response.status_code == 400 and "role" in response.json()
    response = api(world.manager_a).post(f"{MEMBERS}{m(world.manager_a)}/deactivate/", {}, format="json")
    assert response.status_code == 400 and set(response.json()) <= {"role", "member"}
    assert User.objects.get(pk=world.manager_a.pk).is_active


@pytest.mark.parametrize("url", [MEMBERS, TEAMS])
def test_list_query_count_does_not_grow(world, api, url, django_assert_max_num_queries):
    client = api(world.admin)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    from crm.services import add_member, create_team
    for i in range(15):
        team = create_team(world.org, name=f"T{i}")
        add_member(world.org, email=f"extra{i}@acme.test", team=team)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(f"{url}?page_size=100")
    assert response.status_code == 200 and len(response.json()["results"]) >= 17


def test_schema_lists_the_new_endpoints(client):
    body = client.get("/api/schema/").content.decode()
    for path in ("/api/teams/", "/api/teams/{id}/", "/api/members/", "/api/members/{id}/deactivate/",
                 "/api/members/{id}/reactivate/", "/api/contacts/{id}/history/",
                 "/api/contacts/{id}/history/{event_id}/revert/", "/api/companies/{id}/history/{event_id}/revert/"):
        assert f"{path}:" in body, path
