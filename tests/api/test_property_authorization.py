"""Property-level authorization (OWASP API3) for every serializer on the API router: read-only and computed
fields (ids, organization, created_by, score, timestamps …) ignore writes, and relations cannot point at
rows of another organization (400 naming the field). A serializer added to the router without an entry in
TARGETS fails test_every_router_serializer_has_cases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest
from rest_framework import serializers

from contacts.models import ImportMapping
from crm.api.urls import router
from crm.models import Team

pytestmark = pytest.mark.django_db

FORGED_INT = 987654
FORGED_TIME = "2001-02-03T04:05:06Z"
FORGED_TEXT = "FORGED"


@dataclass
class Target:
    actor: str  # a World attribute
    create: Callable | None  # (world, book) -> a valid body for POST, None when the route has no create
    row: Callable | None = None  # (world, book) -> a row the actor may edit, None when there is no update
    # Why a serializer has no create or update route through itself (its writes go through another one).
    note: str = ""
    # Fields whose stored value may legitimately change on any save.
    volatile: tuple = ("updated_at",)


def other_team(world):
    return Team.objects.get(organization=world.other_org)


def mapping(world, book):
    return ImportMapping.objects.create(organization=world.org, name="Mine", columns={}, options={},
                                        created_by=world.alice)


TARGETS: dict[type, Target] = {}


def target(serializer_name, **kwargs):
    TARGETS[serializer_name] = Target(**kwargs)


target("TagSerializer", actor="admin", create=lambda w, b: {"name": "New tag"}, row=lambda w, b: b.vip,
       volatile=("updated_at", "usage_count"))
target("CustomFieldDefinitionSerializer", actor="admin",
       create=lambda w, b: {"model": "contact", "key": "tier", "label": "Tier", "field_type": "text"},
       row=lambda w, b: b.budget)
target("TeamSerializer", actor="admin", create=lambda w, b: {"name": "Team C"}, row=lambda w, b: w.team_a)
target("MemberSerializer", actor="admin",
       create=lambda w, b: {"email": "new.rep@acme.test", "full_name": "New Rep", "role": "rep",
                            "team": w.team_a.pk, "password": "another-horse-battery-9"},
       row=lambda w, b: w.alice.membership if hasattr(w.alice, "membership") else None)
target("WebhookEndpointSerializer", actor="admin",
       create=lambda w, b: {"url": "https://hooks.example.com/kith", "event_types": ["contact.created"]},
       row=None)
target("ContactSerializer", actor="alice", create=lambda w, b: {"first_name": "Newt"},
       row=lambda w, b: b.alice_own, volatile=("updated_at", "duplicates"))
target("ContactCompanySerializer", actor="alice",
       create=lambda w, b: {"contact": b.alice_own.pk, "company": b.bolt_co.pk}, row=lambda w, b: b.link)
target("ContactRelationshipSerializer", actor="alice",
       create=lambda w, b: {"from_contact": b.alice_own.pk, "to_contact": b.team_a_queue.pk, "type": "colleague"},
       row=lambda w, b: b.rel)
target("SegmentSerializer", actor="alice", create=lambda w, b: {"name": "Mine", "criteria": {}}, row=None)
target("SavedViewSerializer", actor="alice", create=lambda w, b: {"name": "Mine", "filters": {}}, row=None)
target("FormLayoutSerializer", actor="admin", create=lambda w, b: {"industry": "Retail", "custom_fields": []},
       row=None)
target("AssignmentRuleSerializer", actor="admin", create=lambda w, b: {"name": "Retail", "team": w.team_a.pk},
       row=None)
target("ContactImportSerializer", actor="alice", create=None,
       note="uploads go through a multipart file upload; the serializer only answers (no update route)")
target("ImportMappingSerializer", actor="alice", create=None, row=mapping)
target("ExportSerializer", actor="manager_a", create=lambda w, b: {"format": "csv", "columns": ["first_name"],
                                                                  "ids": [b.alice_own.pk]},
       note="created through ExportRequestSerializer; no update route")
target("CompanySerializer", actor="alice", create=lambda w, b: {"name": "Newco"}, row=lambda w, b: b.acme_co)
target("ActivitySerializer", actor="alice",
       create=lambda w, b: {"contact": b.alice_own.pk, "type": "note", "subject": "Hello"},
       row=lambda w, b: b.call)
target("MessageSerializer", actor="alice", create=None,
       note="sending goes through SendSerializer (tests/messaging); a message is never updated")
target("SmsTemplateSerializer", actor="alice", create=lambda w, b: {"name": "Hi", "body": "Hello {first_name}"},
       row=None)


def router_serializers():
    found = {}
    for prefix, viewset, _ in router.registry:
        serializer = getattr(viewset, "serializer_class", None)
        if serializer is not None and any(hasattr(viewset, m) for m in ("create", "update", "partial_update")):
            found[serializer.__name__] = (prefix, serializer)
    return found


ROUTES = router_serializers()


def test_every_router_serializer_has_cases():
    assert set(ROUTES) == set(TARGETS), "add a Target for each new writable serializer on the router"


def forged_value(name, fld, world, book):
    """A value the caller may not set: another organization's row for relations, odd values otherwise."""
    if isinstance(fld, serializers.ManyRelatedField):
        return [book.other_tag.pk]
    if isinstance(fld, serializers.RelatedField) or name in ("owner", "created_by", "actor", "user", "team",
                                                             "last_assigned", "contact", "company"):
        return {"team": other_team(world).pk, "contact": book.other_contact.pk,
                "company": book.other_co.pk}.get(name, world.other_rep.pk)
    if isinstance(fld, (serializers.DateTimeField,)) or name.endswith("_at"):
        return FORGED_TIME
    if isinstance(fld, (serializers.IntegerField, serializers.DecimalField)) or name == "id":
        return FORGED_INT
    if isinstance(fld, serializers.BooleanField):
        return None
    if isinstance(fld, (serializers.JSONField, serializers.DictField)):
        return {"forged": FORGED_TEXT}
    if isinstance(fld, serializers.ListField):
        return [FORGED_TEXT]
    return FORGED_TEXT


def forged_body(serializer, world, book):
    body = {"organization": world.other_org.pk, "organization_id": world.other_org.pk}
    for name, fld in serializer().fields.items():
        if fld.read_only:
            value = forged_value(name, fld, world, book)
            if value is not None:
                body[name] = value
    return body


def refused_or_ignored(response, name, value, volatile=()):
    """A forged field is either refused (400 naming it) or ignored (the answer does not carry it)."""
    if response.status_code == 400:
        assert name in response.json(), response.json()
        return True
    assert response.status_code in (200, 201, 202), response.content
    if name in response.json() and name not in volatile:
        assert response.json()[name] != value, f"{name} took the forged value {value!r}"
    return False


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_read_only_fields_ignore_writes_on_create(name, world, book, api):
    spec, (prefix, serializer) = TARGETS[name], ROUTES[name]
    client = api(getattr(world, spec.actor))
    if spec.create is None:
        assert client.put(f"/api/{prefix}/1/", {}, format="json").status_code in (403, 404, 405)
        assert client.patch(f"/api/{prefix}/1/", {}, format="json").status_code in (403, 404, 405)
        return
    model = serializer.Meta.model
    for fname, value in forged_body(serializer, world, book).items():
        count = model.objects.count()
        body = spec.create(world, book)
        response = client.post(f"/api/{prefix}/", {**body, fname: value}, format="json")
        if refused_or_ignored(response, fname, value):
            assert model.objects.count() == count
            continue
        row = model.objects.get(pk=response.json()["id"])
        if hasattr(row, "organization_id"):
            assert row.organization_id == world.org.pk
        row.delete()  # the next body may need the same unique name


@pytest.mark.parametrize("name", sorted(n for n, t in TARGETS.items() if t.row))
def test_read_only_fields_ignore_writes_on_update(name, world, book, api):
    spec, (prefix, serializer) = TARGETS[name], ROUTES[name]
    client = api(getattr(world, spec.actor))
    row = spec.row(world, book)
    url = f"/api/{prefix}/{row.pk}/"
    before = client.get(url).json()
    for fname, value in forged_body(serializer, world, book).items():
        response = client.patch(url, {fname: value}, format="json")
        refused_or_ignored(response, fname, value, spec.volatile)
        after = client.get(url).json()
        for key in before:
            if key not in spec.volatile:
                assert after[key] == before[key], (fname, key)
    if hasattr(row, "organization_id"):
        assert type(row).objects.get(pk=row.pk).organization_id == world.org.pk


def relation_cases():
    for name, (prefix, serializer) in sorted(ROUTES.items()):
        if TARGETS[name].create is None:
            continue
        for fname, fld in serializer().fields.items():
            if not fld.read_only and isinstance(fld, (serializers.RelatedField, serializers.ManyRelatedField)):
                yield name, fname


@pytest.mark.parametrize(("name", "fname"), list(relation_cases()))
def test_relations_refuse_another_organizations_rows(name, fname, world, book, api):
    spec, (prefix, serializer) = TARGETS[name], ROUTES[name]
    client = api(getattr(world, spec.actor))
    value = forged_value(fname, serializer().fields[fname], world, book)
    model = serializer.Meta.model
    count = model.objects.count()
    response = client.post(f"/api/{prefix}/", {**spec.create(world, book), fname: value}, format="json")
    assert response.status_code == 400, response.content
    assert fname in response.json(), response.json()
    assert model.objects.count() == count
    if spec.row:
        row = spec.row(world, book)
        response = client.patch(f"/api/{prefix}/{row.pk}/", {fname: value}, format="json")
        assert response.status_code == 400, response.content
        assert fname in response.json(), response.json()


@pytest.mark.parametrize("url_row", ["contacts", "companies"])
def test_a_rep_cannot_hand_a_record_to_another_teams_user(url_row, world, book, api):
    row = book.alice_own if url_row == "contacts" else book.acme_co
    client = api(world.alice)
    response = client.patch(f"/api/{url_row}/{row.pk}/", {"owner": world.rita.pk}, format="json")
    assert response.status_code == 400, response.content
    assert "owner" in response.json()
    assert type(row).objects.get(pk=row.pk).owner_id == world.alice.pk


def test_a_rep_cannot_move_a_contact_to_another_team(world, book, api):
    response = api(world.alice).patch(f"/api/contacts/{book.alice_own.pk}/", {"team": world.team_b.pk},
                                      format="json")
    assert response.status_code == 400, response.content
    assert "team" in response.json()
    assert type(book.alice_own).objects.get(pk=book.alice_own.pk).team_id == world.team_a.pk


def test_null_characters_in_query_parameters_are_a_400_naming_them(world, api):
    client = api(world.alice)
    for url in ("/api/search/?q=a%00b", "/api/contacts/?search=a%00b", "/api/search/full-text/?q=a%00b"):
        response = client.get(url)
        assert response.status_code == 400, (url, response.content)
