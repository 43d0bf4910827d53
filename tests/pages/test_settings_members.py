"""/settings/members/ and /settings/teams/: org admins only; other organizations are 404."""

from __future__ import annotations

import pytest
from django.core import mail

from contacts.models import Contact
from crm.models import Membership, Team, User
from crm.permissions import Role
from tests.conftest import PASSWORD
from tests.pages.conftest import body, make_contact


def m(user) -> int:
    return Membership.objects.get(user=user).pk


NON_ADMINS = ["manager_a", "alice", "viewer_a"]


# -- navigation and access

def test_settings_link_only_for_org_admins(client, world):
    client.force_login(world.admin)
    assert 'href="/settings/members/"' in body(client.get("/"))
    for who in NON_ADMINS:
        client.force_login(getattr(world, who))
        assert 'href="/settings/members/"' not in body(client.get("/"))


@pytest.mark.parametrize("url", ["/settings/", "/settings/members/", "/settings/teams/"])
def test_non_admins_get_403_and_anonymous_the_login(client, world, url):
    assert client.get(url).status_code == 302
    for who in NON_ADMINS:
        client.force_login(getattr(world, who))
        assert client.get(url).status_code == 403


def test_non_admins_cannot_write(client, world):
    for who in NON_ADMINS:
        client.force_login(getattr(world, who))
        assert client.post("/settings/members/", {"invite-email": "x@acme.test", "invite-role": "rep"}).status_code == 403
        assert client.post(f"/settings/members/{m(world.bob)}/", {"role": "admin"}).status_code == 403
        assert client.post(f"/settings/members/{m(world.bob)}/deactivate/", {}).status_code == 403
        assert client.post("/settings/teams/", {"team-name": "Mine"}).status_code == 403
        assert client.post(f"/settings/teams/{world.team_a.pk}/delete/").status_code == 403
    assert not User.objects.filter(email="x@acme.test").exists()
    assert Membership.objects.get(user=world.bob).role == Role.REP and User.objects.get(pk=world.bob.pk).is_active
    assert Team.objects.filter(organization=world.org).count() == 2


def test_other_organizations_members_and_teams_are_404(client, world):
    client.force_login(world.charlie)
    page = body(client.get("/settings/members/"))
    assert "charlie@globex.test" in page and "alice@acme.test" not in page
    assert "Team B" not in body(client.get("/settings/teams/"))
    alice = m(world.alice)
    assert client.get(f"/settings/members/{alice}/").status_code == 404
    assert client.post(f"/settings/members/{alice}/", {"role": "viewer"}).status_code == 404
    assert client.post(f"/settings/members/{alice}/deactivate/", {}).status_code == 404
    assert client.post(f"/settings/members/{alice}/reactivate/").status_code == 404
    assert client.get(f"/settings/teams/{world.team_a.pk}/").status_code == 404
    assert client.post(f"/settings/teams/{world.team_a.pk}/delete/").status_code == 404
    assert Team.objects.filter(pk=world.team_a.pk).exists() and User.objects.get(pk=world.alice.pk).is_active


# -- members

def test_member_list_shows_role_team_status_and_owned_contacts(client, world):
    make_contact(world, "A1", owner=world.alice)
    make_contact(world, "A2", owner=world.alice)
    client.force_login(world.admin)
    response = client.get("/settings/members/")
    assert response.status_code == 200
    page = body(response)
    row = page.split("alice@acme.test")[1].split("</tr>")[0]
    assert "Sales rep" in row and "Team A" in row and ">2<" in row and "Active" in row
    assert 'aria-current="page"' in page.split('class="settings-nav"')[1].split("</nav>")[0]


def test_member_list_query_count_does_not_grow(client, world, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.services import add_member
    client.force_login(world.admin)
    with CaptureQueriesContext(connection) as few:
        client.get("/settings/members/")
    for i in range(20):
        user = add_member(world.org, email=f"extra{i}@acme.test", team=world.team_b, password=PASSWORD)
        make_contact(world, f"C{i}", owner=user)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/settings/members/")
    assert body(response).count("extra") >= 20


def test_team_list_query_count_does_not_grow(client, world, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(world.admin)
    with CaptureQueriesContext(connection) as few:
        client.get("/settings/teams/")
    for i in range(15):
        Team.objects.create(organization=world.org, name=f"Extra {i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get("/settings/teams/").status_code == 200


def test_invite_a_member(client, world, django_capture_on_commit_callbacks):
    client.force_login(world.admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/settings/members/", {"invite-email": "new@acme.test", "invite-full_name": "New Hire",
                                                      "invite-role": "manager", "invite-team": world.team_b.pk})
    assert response.status_code == 302 and response["Location"] == "/settings/members/"
    membership = Membership.objects.get(user__email="new@acme.test")
    assert membership.role == Role.MANAGER and membership.team_id == world.team_b.pk
    assert len(mail.outbox) == 1 and "http://testserver/reset/" in mail.outbox[0].body
    page = body(client.get("/settings/members/"))
    assert "Invited new@acme.test" in page and "Invited</span>" in page
    # The link in the email lets them choose a password and sign in.
    link = next(line for line in mail.outbox[0].body.splitlines() if "/reset/" in line).replace("http://testserver", "")
    client.logout()
    form_url = client.get(link)["Location"]
    response = client.post(form_url, {"new_password1": "a-Brand-new-pass-42", "new_password2": "a-Brand-new-pass-42"})
    assert response.status_code == 302
    assert client.login(email="new@acme.test", password="a-Brand-new-pass-42")


@pytest.mark.parametrize("data,field", [
    ({"invite-email": "alice@acme.test", "invite-role": "rep"}, "email"),
    ({"invite-email": "not-an-email", "invite-role": "rep"}, "email"),
    ({"invite-email": "x@acme.test", "invite-role": "owner"}, "role"),
    ({"invite-email": "x@acme.test", "invite-role": "rep", "invite-team": "other"}, "team"),
    ({"invite-email": "x@acme.test", "invite-role": "rep", "invite-password": "1"}, "password"),
])
def test_invite_validation(client, world, data, field):
    if data.get("invite-team") == "other":
        data = {**data, "invite-team": Team.objects.get(organization=world.other_org).pk}
    client.force_login(world.admin)
    before = User.objects.count()
    response = client.post("/settings/members/", data)
    assert response.status_code == 400
    assert f'id="id_invite-{field}_error' in body(response) or "errorlist" in body(response).split(
        f'name="invite-{field}"')[1].split("</div>")[0]
    assert User.objects.count() == before


def test_edit_role_and_team(client, world):
    client.force_login(world.admin)
    assert client.get(f"/settings/members/{m(world.alice)}/").status_code == 200
    response = client.post(f"/settings/members/{m(world.alice)}/", {"full_name": "Alice R.", "role": "manager",
                                                                   "team": world.team_b.pk})
    assert response.status_code == 302
    membership = Membership.objects.select_related("user").get(user=world.alice)
    assert (membership.role, membership.team_id, membership.user.full_name) == ("manager", world.team_b.pk, "Alice R.")


def test_last_admin_cannot_be_demoted_on_the_page(client, world):
    client.force_login(world.admin)
    response = client.post(f"/settings/members/{m(world.admin)}/", {"full_name": "Ada Admin", "role": "rep"})
    assert response.status_code == 400 and "at least one active admin" in body(response)
    assert Membership.objects.get(user=world.admin).role == Role.ADMIN


def test_deactivate_with_reassign_and_the_user_cannot_sign_in(client, world):
    contact = make_contact(world, "Ann", owner=world.alice, team=world.team_a)
    alice_client = type(client)()
    assert alice_client.login(email="alice@acme.test", password=PASSWORD)
    assert alice_client.get("/contacts/").status_code == 200
    client.force_login(world.admin)
    url = f"/settings/members/{m(world.alice)}/deactivate/"
    response = client.post(url, {})
    assert response.status_code == 400 and "reassign" in body(response).lower()
    assert User.objects.get(pk=world.alice.pk).is_active
    response = client.post(url, {"deactivate-reassign_to": m(world.other_rep)})
    assert response.status_code == 400 and User.objects.get(pk=world.alice.pk).is_active
    response = client.post(url, {"deactivate-reassign_to": m(world.bob)})
    assert response.status_code == 302
    assert Contact.objects.get(pk=contact.pk).owner_id == world.bob.pk
    assert not User.objects.get(pk=world.alice.pk).is_active
    # Her open session ends, and she cannot sign in again.
    assert alice_client.get("/contacts/").status_code == 302
    assert not alice_client.login(email="alice@acme.test", password=PASSWORD)
    page = body(client.get("/settings/members/"))
    assert "Deactivated Alice Rep" in page and "now belong to Bob Rep" in page
    # Reactivate.
    assert client.post(f"/settings/members/{m(world.alice)}/reactivate/").status_code == 302
    assert alice_client.login(email="alice@acme.test", password=PASSWORD)


def test_the_deactivate_choice_lists_only_other_active_members_of_the_organization(client, world):
    client.force_login(world.admin)
    page = body(client.get(f"/settings/members/{m(world.alice)}/"))
    choices = page.split('name="deactivate-reassign_to"')[1].split("</select>")[0]
    assert "Bob Rep" in choices and "Alice Rep" not in choices and "Olga" not in choices


def test_an_admin_cannot_deactivate_themselves(client, world):
    client.force_login(world.admin)
    assert "can't deactivate your own account" in body(client.get(f"/settings/members/{m(world.admin)}/"))
    response = client.post(f"/settings/members/{m(world.admin)}/deactivate/", {})
    assert response.status_code == 400 and User.objects.get(pk=world.admin.pk).is_active


def test_resend_invitation(client, world):
    from crm.services import invite_member

    membership = invite_member(world.org, email="pending@acme.test")
    client.force_login(world.admin)
    assert "Send the invitation again" in body(client.get(f"/settings/members/{membership.pk}/"))
    assert client.post(f"/settings/members/{membership.pk}/resend-invite/").status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["pending@acme.test"]
    client.post(f"/settings/members/{m(world.alice)}/resend-invite/")
    assert len(mail.outbox) == 1  # alice has a password: nothing sent


# -- teams

def test_create_rename_and_delete_a_team(client, world):
    client.force_login(world.admin)
    response = client.post("/settings/teams/", {"team-name": "Legal", "team-description": "Law firms"})
    assert response.status_code == 302
    team = Team.objects.get(organization=world.org, name="Legal")
    page = body(client.get("/settings/teams/"))
    assert "Created the team Legal" in page and "Law firms" in page
    response = client.post(f"/settings/teams/{team.pk}/", {"team-name": "Legal services", "team-description": ""})
    assert response.status_code == 302 and Team.objects.get(pk=team.pk).name == "Legal services"
    contact = make_contact(world, "Ann", team=world.team_b)
    response = client.post(f"/settings/teams/{world.team_b.pk}/delete/")
    assert response.status_code == 302 and not Team.objects.filter(pk=world.team_b.pk).exists()
    assert Contact.objects.get(pk=contact.pk).team_id is None
    assert Membership.objects.get(user=world.rita).team_id is None
    assert "1 contact(s) no longer have a team" in body(client.get("/settings/teams/"))


def test_team_validation(client, world):
    client.force_login(world.admin)
    for data in ({"team-name": "team a"}, {"team-name": ""}):
        response = client.post("/settings/teams/", data)
        assert response.status_code == 400 and "errorlist" in body(response)
    response = client.post(f"/settings/teams/{world.team_a.pk}/", {"team-name": "Team B"})
    assert response.status_code == 400 and "already exists" in body(response)
    assert sorted(Team.objects.filter(organization=world.org).values_list("name", flat=True)) == ["Team A", "Team B"]
    assert client.get("/settings/teams/999999/").status_code == 404
