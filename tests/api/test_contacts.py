"""/api/contacts/: visibility by role, ownership rules, services behind writes, trash,
filters, sparse fields and expansion, links and phone validation."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm
from pghistory.models import Events
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from companies.models import Company
from contacts.models import Contact, ContactCompany, ContactRelationship, ContactUserLink
from crm.models import Tag
from tests.api.conftest import ids, walk

pytestmark = pytest.mark.django_db

URL = "/api/contacts/"
ALL_ACME = {"alice_own", "bob_own", "rita_own", "team_a_queue", "team_b_queue", "org_queue"}


def names(response):
    assert response.status_code == 200, response.content
    return {row["first_name"] for row in response.json()["results"]}


@pytest.mark.parametrize("who,visible", [
    ("admin", ALL_ACME),
    ("manager_a", {"alice_own", "bob_own", "team_a_queue", "org_queue"}),
    ("manager_b", {"rita_own", "team_b_queue", "org_queue"}),
    ("alice", {"alice_own"}),
    ("rita", {"rita_own"}),
    ("viewer_a", {"alice_own", "bob_own", "team_a_queue"}),
    ("charlie", {"other_contact", "other_contact_2"}),
])
def test_each_role_lists_and_reads_what_the_gate_allows(world, book, api, who, visible):
    client = api(getattr(world, who))
    assert names(client.get(URL)) == visible
    everything = {**book.contacts, "other_contact": book.other_contact, "other_contact_2": book.other_contact_2}
    for name, contact in everything.items():
        expected = 200 if name in visible else 404
        assert client.get(f"{URL}{contact.pk}/").status_code == expected, name


def test_writes_follow_the_change_rules(world, book, api):
    alice = api(world.alice)
    assert alice.patch(f"{URL}{book.alice_own.pk}/", {"job_title": "CTO"}, format="json").status_code == 200
    assert alice.patch(f"{URL}{book.bob_own.pk}/", {"job_title": "CTO"}, format="json").status_code == 404
    manager = api(world.manager_a)
    assert manager.patch(f"{URL}{book.bob_own.pk}/", {"job_title": "VP"}, format="json").status_code == 200
    assert manager.patch(f"{URL}{book.rita_own.pk}/", {"job_title": "VP"}, format="json").status_code == 404
    assert Contact.objects.get(pk=book.bob_own.pk).job_title == "VP"


def test_a_view_only_share_reads_but_may_not_write(world, book, api):
    assign_perm("view_contact", world.alice, book.bob_own)
    alice = api(world.alice)
    assert alice.get(f"{URL}{book.bob_own.pk}/").status_code == 200
    response = alice.patch(f"{URL}{book.bob_own.pk}/", {"job_title": "CTO"}, format="json")
    assert response.status_code == 403
    assert "not change" in response.json()["detail"]
    assert alice.delete(f"{URL}{book.bob_own.pk}/").status_code == 403
    assign_perm("change_contact", world.alice, book.bob_own)
    alice = api(world.alice)
    # a full PUT that repeats bob as owner is not a reassignment
    body = {"first_name": "bob_own", "owner": world.bob.pk, "team": world.team_a.pk, "job_title": "CTO"}
    assert alice.put(f"{URL}{book.bob_own.pk}/", body, format="json").status_code == 200


def test_reps_assign_only_themselves_managers_anyone_in_the_organization(world, book, api):
    alice = api(world.alice)
    created = alice.post(URL, {"first_name": "Mine"}, format="json")
    assert created.status_code == 201 and created.json()["owner"] == world.alice.pk  # a rep's new lead is theirs
    response = alice.post(URL, {"first_name": "Gift", "owner": world.bob.pk}, format="json")
    assert response.status_code == 400 and "themselves" in response.json()["owner"][0]
    response = alice.patch(f"{URL}{book.alice_own.pk}/", {"owner": world.bob.pk}, format="json")
    assert response.status_code == 400 and "owner" in response.json()
    assert alice.post(URL, {"first_name": "Queue", "owner": None}, format="json").status_code == 201
    manager = api(world.manager_a)
    response = manager.patch(f"{URL}{book.alice_own.pk}/", {"owner": world.bob.pk}, format="json")
    assert response.status_code == 200
    assert Contact.objects.get(pk=book.alice_own.pk).owner_id == world.bob.pk


def test_validation_comes_from_the_model_and_services(world, book, api):
    client = api(world.admin)
    before = Contact.all_objects.count()
    response = client.post(URL, {"first_name": "Dup", "email": " Alice.Own@Example.com "}, format="json")
    assert response.status_code == 400
    assert response.json()["email"] == ["A contact with this email already exists in your organization."]
    response = client.post(URL, {"first_name": "Cf", "custom_fields": {"budget": "lots", "nope": 1}}, format="json")
    assert response.status_code == 400 and len(response.json()["custom_fields"]) == 2
    response = client.post(URL, {"first_name": "   "}, format="json")
    assert response.status_code == 400 and "first_name" in response.json()
    response = client.post(URL, {"first_name": "Ph", "phone": "12", "score": 101, "timezone": "Mars/Base",
                                 "country": "usa", "lifecycle_stage": "prospect"}, format="json")
    assert response.status_code == 400
    assert {"phone", "score", "lifecycle_stage"} <= set(response.json())
    # model validators run in full_clean, after the model's normalization
    response = client.post(URL, {"first_name": "Tz", "timezone": "Mars/Base", "country": "us"}, format="json")
    assert response.status_code == 400 and {"timezone", "country"} <= set(response.json())
    assert Contact.all_objects.count() == before


def test_create_normalizes_and_counts_tags(world, book, api):
    client = api(world.admin)
    response = client.post(URL, {"first_name": " Zoë ", "last_name": "Berg", "email": "ZOE@Example.COM",
                                 "phone": "(415) 555-2671", "tags": [book.vip.pk, book.hot.pk]}, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["first_name"], data["display_name"], data["email"], data["phone"]) == \
        ("Zoë", "Zoë Berg", "zoe@example.com", "+14155552671")
    assert data["search_name"] == "zoe berg" and data["created_by"] == world.admin.pk
    assert sorted(data["tags"]) == sorted([book.vip.pk, book.hot.pk])
    assert Tag.objects.get(pk=book.vip.pk).usage_count == 1
    response = client.patch(f"{URL}{data['id']}/", {"tags": [book.hot.pk]}, format="json")
    assert response.json()["tags"] == [book.hot.pk]
    assert Tag.objects.get(pk=book.vip.pk).usage_count == 0


@pytest.mark.parametrize("field,value", [
    ("display_name", "X"), ("search_name", "x"), ("search_name_rev", "x"), ("email_consent", "granted"),
    ("sms_consent", "granted"), ("deleted_at", None), ("created_at", "2020-01-01T00:00:00Z"),
    ("created_by", 1), ("enrichment", {}), ("last_activity_at", None), ("embedding", None),
    ("companies", []),
])
def test_read_only_fields_are_rejected_by_name(world, book, api, field, value):
    response = api(world.admin).patch(f"{URL}{book.alice_own.pk}/", {field: value}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_api_changes_are_audited_with_the_token_user(world, book):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=world.manager_a).key}")
    response = client.patch(f"{URL}{book.bob_own.pk}/", {"lifecycle_stage": "customer"}, format="json")
    assert response.status_code == 200
    event = Events.objects.filter(pgh_obj_model="contacts.Contact", pgh_obj_id=str(book.bob_own.pk)) \
        .order_by("-pgh_created_at", "-pgh_id").first()
    assert event.pgh_diff["lifecycle_stage"] == ["lead", "customer"]
    assert event.pgh_context["user"] == world.manager_a.pk
    assert event.pgh_context["source"] == "api"


def test_delete_moves_to_the_trash_and_restore_brings_it_back(world, book, api):
    client = api(world.alice)
    contact = book.alice_own
    assert client.delete(f"{URL}{contact.pk}/").status_code == 204
    assert Contact.all_objects.get(pk=contact.pk).deleted_at is not None
    assert client.get(f"{URL}{contact.pk}/").status_code == 404
    assert contact.pk not in ids(client.get(URL))
    # viewers see the team's trash but may not restore; other organizations get a 404
    assert api(world.viewer_a).post(f"{URL}{contact.pk}/restore/").status_code == 403
    assert api(world.charlie).post(f"{URL}{contact.pk}/restore/").status_code == 404
    assert api(world.rita).post(f"{URL}{contact.pk}/restore/").status_code == 404
    response = client.post(f"{URL}{contact.pk}/restore/")
    assert response.status_code == 200 and response.json()["deleted_at"] is None
    assert client.get(f"{URL}{contact.pk}/").status_code == 200
    assert client.post(f"{URL}{contact.pk}/restore/").status_code == 200  # already live: nothing to do


def test_restore_fails_naming_email_when_a_live_contact_took_it(world, book, api):
    client = api(world.admin)
    email = book.alice_own.email
    client.delete(f"{URL}{book.alice_own.pk}/")
    assert client.post(URL, {"first_name": "Newcomer", "email": email}, format="json").status_code == 201
    response = client.post(f"{URL}{book.alice_own.pk}/restore/")
    assert response.status_code == 400
    assert "already exists" in response.json()["email"][0]
    assert Contact.all_objects.get(pk=book.alice_own.pk).deleted_at is not None


def test_filters_are_the_contact_filterset(world, book, api):
    client = api(world.admin)
    book.alice_own.tags.through.objects.create(organization=world.org, contact=book.alice_own, tag=book.vip)
    assert names(client.get(URL, {"q": "alice"})) == {"alice_own"}
    assert names(client.get(URL, {"tags": book.vip.pk})) == {"alice_own"}
    assert names(client.get(URL, {"owner": [world.bob.pk, world.rita.pk]})) == {"bob_own", "rita_own"}
    assert names(client.get(URL, {"team": world.team_b.pk, "unowned": "true"})) == {"team_b_queue"}
    assert names(client.get(URL, {"company": book.acme_co.pk})) == {"alice_own"}
    assert names(client.get(URL, {"cf_budget_min": 5})) == set()
    response = client.get(URL, {"lifecycle_stage": "bogus", "score_min": "lots", "created_after": "yesterday"})
    assert response.status_code == 400
    assert {"lifecycle_stage", "score_min", "created_after"} <= set(response.json())
    assert set(client.get(URL, {"cf_nope": "x"}).json()) == {"cf_nope"}


def test_filter_ids_of_another_organization_are_invalid(world, book, api):
    response = api(world.admin).get(URL, {"tags": book.other_tag.pk, "owner": world.other_rep.pk,
                                          "company": book.other_co.pk})
    assert response.status_code == 400
    assert {"tags", "owner", "company"} <= set(response.json())


def test_sparse_fields_and_expansion(world, book, api):
    client = api(world.admin)
    ContactCompany.objects.create(organization=world.org, contact=book.alice_own, company=book.bolt_co)
    book.alice_own.tags.through.objects.create(organization=world.org, contact=book.alice_own, tag=book.vip)
    response = client.get(URL, {"fields": "id,display_name", "q": "alice"})
    assert response.json()["results"] == [{"id": book.alice_own.pk, "display_name": "alice_own"}]
    response = client.get(f"{URL}{book.alice_own.pk}/", {"fields": "id,owner,tags,companies,team",
                                                         "expand": "owner,team,tags,companies"})
    data = response.json()
    assert data["owner"] == {"id": world.alice.pk, "email": "alice@acme.test", "full_name": "Alice Rep"}
    assert data["team"] == {"id": world.team_a.pk, "name": "Team A"}
    assert data["tags"] == [{"id": book.vip.pk, "name": "VIP", "colour": "gray"}]
    assert [c["name"] for c in data["companies"]] == ["Acme Co", "Bolt Co"]
    # expanded fields stay writable by id
    response = client.patch(f"{URL}{book.alice_own.pk}/?expand=owner", {"owner": world.bob.pk}, format="json")
    assert response.status_code == 200 and response.json()["owner"]["id"] == world.bob.pk


def test_no_500_on_odd_input(world, book, api):
    client = api(world.admin)
    for body in ([1, 2], "text", {"first_name": ["a"]}, {"first_name": {"x": 1}}, {"owner": "abc"},
                 {"owner": 10**30}, {"tags": "1"}, {"tags": [None]}, {"custom_fields": [1]},
                 {"preferred_channels": ["pigeon"]}, {"birth_date": "31/12/2020"}, {"score": "1e9"}):
        response = client.post(URL, body, format="json")
        assert response.status_code == 400, (body, response.content)
    assert client.post(URL, "{bad json", content_type="application/json").status_code == 400
    assert client.get(f"{URL}{10**30}/").status_code == 404
    assert client.get(f"{URL}abc/").status_code == 404
    assert client.get(URL, {"owner": "abc", "score_min": "NaN"}).status_code == 400
    assert client.get("/api/nowhere/").json() == {"detail": "Not found."}


# POST /api/contacts/{id}/relationships/

def link(client, contact, **body):
    return client.post(f"{URL}{contact.pk}/relationships/", body, format="json")


def test_links_to_a_contact_a_user_and_a_company(world, book, api):
    client = api(world.admin)
    response = link(client, book.bob_own, entity_type="contact", entity_id=book.alice_own.pk, role="manages")
    assert response.status_code == 201, response.content
    assert response.json()["entity_type"] == "contact" and response.json()["role"] == "manages"
    assert ContactRelationship.objects.filter(from_contact=book.bob_own, to_contact=book.alice_own,
                                              type="manages").exists()
    response = link(client, book.bob_own, entity_type="user", entity_id=world.rita.pk, role="account_manager")
    assert response.status_code == 201, response.content
    assert ContactUserLink.objects.get(pk=response.json()["id"]).user == world.rita
    response = link(client, book.bob_own, entity_type="company", entity_id=book.bolt_co.pk, role="CTO",
                    is_primary=True)
    assert response.status_code == 201, response.content
    created = ContactCompany.objects.get(pk=response.json()["id"])
    assert (created.company, created.role, created.is_primary) == (book.bolt_co, "CTO", True)
    assert Contact.objects.get(pk=book.bob_own.pk).company_name == "Bolt Co"


def test_link_errors_name_the_field(world, book, api):
    client = api(world.admin)
    before = (ContactRelationship.objects.count(), ContactUserLink.objects.count(), ContactCompany.objects.count())
    cases = [
        ({"entity_type": "planet", "entity_id": 1}, "entity_type"),
        ({"entity_type": "contact", "entity_id": book.alice_own.pk, "role": "nemesis"}, "role"),
        ({"entity_type": "user", "entity_id": world.rita.pk, "role": "best_friend"}, "role"),
        ({"entity_type": "contact", "entity_id": book.other_contact.pk, "role": "colleague"}, "entity_id"),
        ({"entity_type": "user", "entity_id": world.other_rep.pk, "role": "other"}, "entity_id"),
        ({"entity_type": "company", "entity_id": book.other_co.pk}, "entity_id"),
        ({"entity_type": "contact", "entity_id": book.bob_own.pk, "role": "colleague"}, "entity_id"),  # itself
        ({"entity_type": "contact", "entity_id": book.alice_own.pk, "role": "colleague", "is_primary": True},
         "is_primary"),
        ({"entity_type": "company", "entity_id": book.bolt_co.pk, "organization": world.other_org.pk},
         "organization"),
        ({"entity_type": "company", "entity_id": "abc"}, "entity_id"),
    ]
    for body, field_name in cases:
        response = link(client, book.bob_own, **body)
        assert response.status_code == 400, (body, response.content)
        assert field_name in response.json(), (body, response.json())
    # a second identical link
    assert link(client, book.alice_own, entity_type="company", entity_id=book.acme_co.pk).status_code == 400
    assert before == (ContactRelationship.objects.count(), ContactUserLink.objects.count(),
                      ContactCompany.objects.count())


def test_links_follow_the_contacts_visibility(world, book, api):
    body = {"entity_type": "company", "entity_id": book.acme_co.pk}
    assert link(api(world.viewer_a), book.bob_own, **body).status_code == 403
    assert link(api(world.rita), book.bob_own, **body).status_code == 404
    assert link(api(world.charlie), book.bob_own, **body).status_code == 404
    alice = api(world.alice)
    # alice cannot point at bob's contact, which she cannot see
    response = link(alice, book.alice_own, entity_type="contact", entity_id=book.bob_own.pk, role="colleague")
    assert response.status_code == 400 and "entity_id" in response.json()
    assert link(alice, book.alice_own, entity_type="company", entity_id=book.bolt_co.pk).status_code == 201


# POST /api/contacts/validate-phone/

def test_validate_phone(world, api):
    client = api(world.viewer_a)  # a read-only helper: any member may use it
    url = f"{URL}validate-phone/"
    data = client.post(url, {"phone": "(201) 555-0123"}, format="json").json()
    assert data["valid"] is True and data["e164"] == "+12015550123" and data["region"] == "US"
    assert data["number_type"] in ("mobile", "fixed_line_or_mobile")  # the US does not tell them apart
    assert data["national"] == "(201) 555-0123"
    data = client.post(url, {"phone": "07400 123456", "region": "GB"}, format="json").json()
    assert data == {"valid": True, "possible": True, "e164": "+447400123456", "region": "GB",
                    "number_type": "mobile", "national": "07400 123456", "international": "+44 7400 123456",
                    "carrier": None, "line_type": None, "lookup": None, "lookup_error": None}
    data = client.post(url, {"phone": "020 7946 0018", "region": "gb"}, format="json").json()
    assert data["number_type"] == "fixed_line" and data["e164"] == "+442079460018"
    data = client.post(url, {"phone": "+1 555 0100"}, format="json").json()
    assert data["valid"] is False and data["e164"] is None
    response = client.post(url, {"phone": "not a phone"}, format="json")
    assert response.status_code == 400 and "phone" in response.json()
    response = client.post(url, {"phone": "0201234567", "region": "XX"}, format="json")
    assert response.status_code == 400 and "region" in response.json()
    assert "phone" in client.post(url, {}, format="json").json()
    assert client.post(url, {"phone": "1", "fields": "x"}, format="json").status_code == 400
    assert client.post(f"{url}?fields=id", {"phone": "+12015550123"}, format="json").status_code == 400


def test_walk_visible_contacts_as_a_manager(world, book, api):
    for i in range(7):
        Contact.objects.create(organization=world.org, first_name=f"Q{i}", team=world.team_a)
    rows = walk(api(world.manager_a), f"{URL}?page_size=3&ordering=name")
    assert len(rows) == len({r["id"] for r in rows}) == 4 + 7
    assert [r["search_name"] for r in rows] == sorted(r["search_name"] for r in rows)


def test_companies_in_bodies_must_be_visible(world, book, api):
    # Companies are visible organization-wide, so a rep may link any company of theirs,
    # but never another organization's.
    response = api(world.alice).post("/api/contact-companies/", {"contact": book.alice_own.pk,
                                                                 "company": book.other_co.pk}, format="json")
    assert response.status_code == 400 and "company" in response.json()
    assert Company.objects.filter(organization=world.org).count() == 2
