"""The same contract checked on every endpoint (NetBox-style generated API tests):
CRUD for an admin, validation errors naming the field, another organization's rows
invisible (404, absent from lists) and unusable in bodies, viewers 403 on visible rows,
strict query parameters and bodies, and a query count that does not grow with the page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from activities.models import Activity
from companies.models import Company
from contacts.models import AssignmentRule, Contact, ContactCompany, ContactRelationship, FormLayout
from contacts.services import save_layout, save_rule
from crm.models import CustomFieldDefinition, Tag
from tests.api.conftest import ids

pytestmark = pytest.mark.django_db


@dataclass
class Endpoint:
    url: str
    model: type
    visible: Callable  # book -> a row admin and viewer_a see
    foreign: Callable  # book -> the other organization's row
    create: Callable  # (world, book) -> a valid body
    update: dict
    invalid: Callable  # (world, book) -> (body, field named in the error)
    foreign_fks: Callable = lambda world, book: []  # -> [(body with another organization's id, field)]
    many: Callable = None  # (world, book, n) -> creates n more visible rows
    expand: str = ""
    soft_delete: bool = False

    def __str__(self):
        return self.url


def _many_contacts(world, book, n):
    for i in range(n):
        c = Contact.objects.create(organization=world.org, first_name=f"Many{i}", owner=world.alice,
                                   team=world.team_a)
        c.tags.through.objects.create(organization=world.org, contact=c, tag=book.vip)
        c.tags.through.objects.create(organization=world.org, contact=c, tag=book.hot)
        ContactCompany.objects.create(organization=world.org, contact=c, company=book.acme_co)


def _many_companies(world, book, n):
    Company.objects.bulk_create([Company(organization=world.org, name=f"Co {i}", owner=world.alice,
                                         parent=book.acme_co) for i in range(n)])


def _many_tags(world, book, n):
    Tag.objects.bulk_create([Tag(organization=world.org, name=f"Tag {i}") for i in range(n)])


def _many_custom_fields(world, book, n):
    CustomFieldDefinition.objects.bulk_create([
        CustomFieldDefinition(organization=world.org, model="company", key=f"f{i}", label=f"F{i}",
                              field_type="text") for i in range(n)])


def _many_links(world, book, n):
    for i in range(n):
        c = Contact.objects.create(organization=world.org, first_name=f"Linked{i}", owner=world.alice)
        ContactCompany.objects.create(organization=world.org, contact=c, company=book.bolt_co)


def _many_relationships(world, book, n):
    for i in range(n):
        c = Contact.objects.create(organization=world.org, first_name=f"Rel{i}", owner=world.alice)
        ContactRelationship.objects.create(organization=world.org, from_contact=c, to_contact=book.bob_own,
                                           type="colleague")


def _many_activities(world, book, n):
    Activity.objects.bulk_create([
        Activity(organization=world.org, contact=book.alice_own, company=book.acme_co, type="call",
                 actor=world.alice, assigned_to=world.bob, subject=f"Call {i}") for i in range(n)])


def _layout(definition, industry="Healthcare"):
    """The layout of `definition`'s organization for `industry` (made on first use)."""
    layout = FormLayout.objects.filter(organization_id=definition.organization_id, industry=industry).first()
    return layout or save_layout(layout=FormLayout(organization_id=definition.organization_id), industry=industry,
                                 fields=[(definition, True)])


def _rule(team, name="Inbound"):
    rule = AssignmentRule.objects.filter(organization_id=team.organization_id, name=name).first()
    return rule or save_rule(rule=AssignmentRule(organization_id=team.organization_id), data={
        "name": name, "team": team, "industry": "Healthcare"})


@pytest.fixture
def book(book):
    """The shared book, plus a form layout and an assignment rule in each organization."""
    _layout(book.budget), _layout(book.other_cf)
    _rule(book.alice_own.team), _rule(book.other_contact.team)
    return book


def _many_layouts(world, book, n):
    for i in range(n):
        _layout(book.budget, industry=f"Industry {i}")


def _many_rules(world, book, n):
    for i in range(n):
        save_rule(rule=AssignmentRule(organization=world.org), data={
            "name": f"Rule {i}", "team": world.team_a, "owner_strategy": "fixed", "owner": world.alice})


ENDPOINTS = [
    Endpoint(
        url="/api/contacts/", model=Contact,
        visible=lambda b: b.alice_own, foreign=lambda b: b.other_contact,
        create=lambda w, b: {"first_name": "Neo", "email": "NEO@acme.test", "owner": w.alice.pk,
                             "team": w.team_a.pk, "tags": [b.vip.pk], "custom_fields": {"budget": 10}},
        update={"job_title": "CEO"},
        invalid=lambda w, b: ({"first_name": "Neo", "email": "not-an-email"}, "email"),
        foreign_fks=lambda w, b: [({"first_name": "X", "tags": [b.other_tag.pk]}, "tags"),
                                  ({"first_name": "X", "owner": w.other_rep.pk}, "owner"),
                                  ({"first_name": "X", "team": b.other_contact.team_id}, "team")],
        many=_many_contacts, expand="owner,team,tags,companies", soft_delete=True,
    ),
    Endpoint(
        url="/api/companies/", model=Company,
        visible=lambda b: b.acme_co, foreign=lambda b: b.other_co,
        create=lambda w, b: {"name": "Newco", "domain": "https://www.Newco.test/", "owner": w.alice.pk,
                             "parent": b.acme_co.pk},
        update={"industry": "Software"},
        invalid=lambda w, b: ({"name": "Newco", "domain": "not a domain"}, "domain"),
        foreign_fks=lambda w, b: [({"name": "X", "parent": b.other_co.pk}, "parent"),
                                  ({"name": "X", "owner": w.other_rep.pk}, "owner")],
        many=_many_companies, expand="owner,parent", soft_delete=True,
    ),
    Endpoint(
        url="/api/tags/", model=Tag,
        visible=lambda b: b.vip, foreign=lambda b: b.other_tag,
        create=lambda w, b: {"name": "Cold", "colour": "blue"},
        update={"colour": "red"},
        invalid=lambda w, b: ({"name": "Cold", "colour": "plaid"}, "colour"),
        many=_many_tags,
    ),
    Endpoint(
        url="/api/custom-fields/", model=CustomFieldDefinition,
        visible=lambda b: b.budget, foreign=lambda b: b.other_cf,
        create=lambda w, b: {"model": "contact", "key": "shoe_size", "label": "Shoe size", "field_type": "number"},
        update={"label": "Budget (USD)"},
        invalid=lambda w, b: ({"model": "contact", "key": "Bad Key", "label": "X", "field_type": "text"}, "key"),
        many=_many_custom_fields,
    ),
    Endpoint(
        url="/api/contact-companies/", model=ContactCompany,
        visible=lambda b: b.link, foreign=lambda b: b.other_link,
        create=lambda w, b: {"contact": b.bob_own.pk, "company": b.acme_co.pk, "role": "CTO"},
        update={"role": "CEO"},
        invalid=lambda w, b: ({"contact": b.bob_own.pk, "company": b.acme_co.pk, "decision_role": "king"},
                              "decision_role"),
        foreign_fks=lambda w, b: [({"contact": b.bob_own.pk, "company": b.other_co.pk}, "company"),
                                  ({"contact": b.other_contact.pk, "company": b.acme_co.pk}, "contact")],
        many=_many_links, expand="contact,company",
    ),
    Endpoint(
        url="/api/relationships/", model=ContactRelationship,
        visible=lambda b: b.rel, foreign=lambda b: b.other_rel,
        create=lambda w, b: {"from_contact": b.bob_own.pk, "to_contact": b.alice_own.pk, "type": "manages"},
        update={"note": "Since 2020"},
        invalid=lambda w, b: ({"from_contact": b.bob_own.pk, "to_contact": b.bob_own.pk, "type": "colleague"},
                              "to_contact"),
        foreign_fks=lambda w, b: [
            ({"from_contact": b.bob_own.pk, "to_contact": b.other_contact.pk, "type": "colleague"}, "to_contact"),
            ({"from_contact": b.other_contact.pk, "to_contact": b.bob_own.pk, "type": "colleague"}, "from_contact")],
        many=_many_relationships, expand="from_contact,to_contact",
    ),
    Endpoint(
        url="/api/activities/", model=Activity,
        visible=lambda b: b.call, foreign=lambda b: b.other_call,
        create=lambda w, b: {"contact": b.bob_own.pk, "type": "call", "subject": "Intro", "direction": "outbound"},
        update={"subject": "Follow-up"},
        invalid=lambda w, b: ({"contact": None, "type": "call", "subject": "About nobody"}, "contact"),
        foreign_fks=lambda w, b: [({"contact": b.other_contact.pk, "type": "call"}, "contact"),
                                  ({"company": b.other_co.pk, "type": "note"}, "company"),
                                  ({"contact": b.bob_own.pk, "type": "task", "assigned_to": w.other_rep.pk},
                                   "assigned_to")],
        many=_many_activities, expand="contact,company,actor,assigned_to",
    ),
    Endpoint(
        url="/api/form-layouts/", model=FormLayout,
        visible=lambda b: _layout(b.budget), foreign=lambda b: _layout(b.other_cf),
        create=lambda w, b: {"industry": "Legal", "custom_fields": [{"definition": b.budget.pk, "required": True}]},
        update={"industry": "Law"},
        invalid=lambda w, b: ({"industry": ""}, "industry"),
        foreign_fks=lambda w, b: [({"industry": "X", "custom_fields": [{"definition": b.other_cf.pk}]},
                                   "custom_fields")],
        many=_many_layouts,
    ),
    Endpoint(
        url="/api/assignment-rules/", model=AssignmentRule,
        visible=lambda b: _rule(b.alice_own.team), foreign=lambda b: _rule(b.other_contact.team),
        create=lambda w, b: {"name": "Referrals", "source": "referral", "team": w.team_a.pk,
                             "owner_strategy": "fixed", "owner": w.alice.pk},
        update={"name": "Renamed"},
        invalid=lambda w, b: ({"name": "X", "team": w.team_a.pk, "country": "Germany"}, "country"),
        foreign_fks=lambda w, b: [({"name": "X", "team": b.other_contact.team_id}, "team"),
                                  ({"name": "X", "team": w.team_a.pk, "owner_strategy": "fixed",
                                    "owner": w.other_rep.pk}, "owner")],
        many=_many_rules, expand="team,owner",
    ),
]

endpoints = pytest.mark.parametrize("ep", ENDPOINTS, ids=str)
expandable_endpoints = pytest.mark.parametrize("ep", [e for e in ENDPOINTS if e.expand], ids=str)


def count(ep):
    manager = Contact.all_objects if ep.model is Contact else ep.model.objects
    return manager.count()


@endpoints
def test_admin_crud(world, book, api, ep):
    client = api(world.admin)
    row = ep.visible(book)
    assert row.pk in ids(client.get(ep.url))
    detail = client.get(f"{ep.url}{row.pk}/")
    assert detail.status_code == 200 and detail.json()["id"] == row.pk

    created = client.post(ep.url, ep.create(world, book), format="json")
    assert created.status_code == 201, created.content
    new_id = created.json()["id"]
    assert ep.model._base_manager.get(pk=new_id).organization_id == world.org.id

    patched = client.patch(f"{ep.url}{new_id}/", ep.update, format="json")
    assert patched.status_code == 200, patched.content
    for key, value in ep.update.items():
        assert patched.json()[key] == value

    full = {**ep.create(world, book), **ep.update}
    put = client.put(f"{ep.url}{new_id}/", full, format="json")
    assert put.status_code == 200, put.content

    deleted = client.delete(f"{ep.url}{new_id}/")
    assert deleted.status_code == 204
    assert client.get(f"{ep.url}{new_id}/").status_code == 404
    assert ep.model._base_manager.filter(pk=new_id).exists() == ep.soft_delete


@endpoints
def test_validation_errors_name_the_field_and_write_nothing(world, book, api, ep):
    client = api(world.admin)
    before = count(ep)
    body, field_name = ep.invalid(world, book)
    response = client.post(ep.url, body, format="json")
    assert response.status_code == 400
    assert field_name in response.json(), response.json()
    row = ep.visible(book)
    response = client.patch(f"{ep.url}{row.pk}/", body, format="json")
    assert response.status_code == 400 and field_name in response.json(), response.json()
    assert count(ep) == before


@endpoints
def test_another_organizations_rows_are_invisible(world, book, api, ep):
    admin = api(world.admin)
    foreign = ep.foreign(book)
    assert foreign.pk not in ids(admin.get(ep.url))
    for method in ("get", "patch", "put", "delete"):
        response = getattr(admin, method)(f"{ep.url}{foreign.pk}/", {}, format="json")
        assert response.status_code == 404, (method, response.content)
    assert admin.post(f"{ep.url}999999999/", {}, format="json").status_code in (404, 405)
    # and the other way round
    charlie = api(world.charlie)
    listed = ids(charlie.get(ep.url))
    assert foreign.pk in listed and ep.visible(book).pk not in listed
    assert charlie.get(f"{ep.url}{ep.visible(book).pk}/").status_code == 404


@endpoints
def test_ids_of_another_organization_in_bodies_are_rejected(world, book, api, ep):
    client = api(world.admin)
    before = count(ep)
    for body, field_name in ep.foreign_fks(world, book):
        response = client.post(ep.url, body, format="json")
        assert response.status_code == 400, response.content
        assert field_name in response.json()
        assert "Invalid pk" in str(response.json()[field_name]) or "does not exist" in str(response.json())
        row = ep.visible(book)
        patch = {k: v for k, v in body.items() if k == field_name}
        response = client.patch(f"{ep.url}{row.pk}/", patch, format="json")
        assert response.status_code == 400 and field_name in response.json()
    assert count(ep) == before


@endpoints
def test_viewer_may_read_but_writing_a_visible_row_is_forbidden(world, book, api, ep):
    viewer = api(world.viewer_a)
    row = ep.visible(book)
    assert viewer.get(f"{ep.url}{row.pk}/").status_code == 200
    before = count(ep)
    assert viewer.patch(f"{ep.url}{row.pk}/", ep.update, format="json").status_code == 403
    assert viewer.put(f"{ep.url}{row.pk}/", ep.create(world, book), format="json").status_code == 403
    assert viewer.delete(f"{ep.url}{row.pk}/").status_code == 403
    assert viewer.post(ep.url, ep.create(world, book), format="json").status_code == 403
    assert count(ep) == before
    # a row outside their view stays a 404, also for writes
    foreign = ep.foreign(book)
    assert viewer.patch(f"{ep.url}{foreign.pk}/", ep.update, format="json").status_code == 404
    assert viewer.delete(f"{ep.url}{foreign.pk}/").status_code == 404


@endpoints
def test_organization_in_a_body_is_rejected(world, book, api, ep):
    client = api(world.admin)
    before = count(ep)
    response = client.post(ep.url, {**ep.create(world, book), "organization": world.other_org.pk}, format="json")
    assert response.status_code == 400
    assert "read-only" in response.json()["organization"][0]
    row = ep.visible(book)
    response = client.patch(f"{ep.url}{row.pk}/", {"organization": world.other_org.pk}, format="json")
    assert response.status_code == 400 and "organization" in response.json()
    assert count(ep) == before
    assert ep.model._base_manager.get(pk=row.pk).organization_id == world.org.pk


@endpoints
def test_read_only_and_unknown_body_fields_are_rejected(world, book, api, ep):
    client = api(world.admin)
    row = ep.visible(book)
    response = client.patch(f"{ep.url}{row.pk}/", {"created_at": "2020-01-01T00:00:00Z", "id": 5,
                                                    "nonsense": 1}, format="json")
    assert response.status_code == 400
    assert response.json() == {"created_at": ["This field is read-only."], "id": ["This field is read-only."],
                               "nonsense": ["Unknown field."]}


@endpoints
def test_query_parameters_are_strict(world, book, api, ep):
    client = api(world.admin)
    assert client.get(ep.url, {"colour_of_sky": "blue"}).json() == {"colour_of_sky": ["Unknown query parameter."]}
    assert client.get(ep.url, {"fields": "id,nope"}).status_code == 400
    assert "fields" in client.get(ep.url, {"fields": "id,nope"}).json()
    assert "expand" in client.get(ep.url, {"expand": "everything"}).json()
    assert "ordering" in client.get(ep.url, {"ordering": "colour_of_sky"}).json()
    assert "cursor" in client.get(ep.url, {"cursor": "bm90IGEgY3Vyc29y"}).json()
    assert "page_size" in client.get(ep.url, {"page_size": "0"}).json()
    assert "page_size" in client.get(ep.url, {"page_size": "201"}).json()
    row = ep.visible(book)
    assert client.get(f"{ep.url}{row.pk}/", {"q": "x"}).json() == {"q": ["Unknown query parameter."]}
    sparse = client.get(f"{ep.url}{row.pk}/", {"fields": "id"})
    assert sparse.json() == {"id": row.pk}


@expandable_endpoints
def test_expand_renders_related_rows(world, book, api, ep):
    client = api(world.admin)
    plain = client.get(f"{ep.url}{ep.visible(book).pk}/").json()
    expanded = client.get(f"{ep.url}{ep.visible(book).pk}/", {"expand": ep.expand}).json()
    for name in ep.expand.split(","):
        value = expanded[name]
        if isinstance(value, list):
            assert [item["id"] for item in value] == plain[name]
        elif value is not None:
            assert value["id"] == plain[name]


@endpoints
def test_list_query_count_does_not_grow_with_page_size(world, book, api, ep, django_assert_max_num_queries):
    ep.many(world, book, 55)
    client = api(world.admin)
    params = {"expand": ep.expand} if ep.expand else {}
    client.get(ep.url, params)  # warm up (content types, cache table)
    with CaptureQueriesContext(connection) as few:
        response = client.get(ep.url, {**params, "page_size": 5})
    assert len(response.json()["results"]) == 5
    with CaptureQueriesContext(connection) as many:
        response = client.get(ep.url, {**params, "page_size": 50})
    assert len(response.json()["results"]) == 50
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    with django_assert_max_num_queries(12):
        client.get(ep.url, {**params, "page_size": 50})


@endpoints
def test_anonymous_is_401_and_members_of_no_organization_403(world, book, api, ep):
    from crm.models import User

    assert api().get(ep.url).status_code == 401
    loner = User.objects.create_user("loner@example.com", "x")
    response = api(loner).get(ep.url)
    assert response.status_code == 403
