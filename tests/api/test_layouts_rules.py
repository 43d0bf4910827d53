"""/api/form-layouts/ (+ presets/) and /api/assignment-rules/; layouts' required fields and
assignment through /api/contacts/."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import AssignmentRule, Contact, FormLayout
from contacts.services import apply_preset, save_layout, save_rule
from crm.models import CustomFieldDefinition, Team
from tests.api.conftest import ids

pytestmark = pytest.mark.django_db

LAYOUTS, RULES = "/api/form-layouts/", "/api/assignment-rules/"


@pytest.fixture
def fields(world):
    def make(org, key, **extra):
        return CustomFieldDefinition.objects.create(organization=org, model="contact", key=key,
                                                    label=key.title(), field_type="text", **extra)
    return {"a": make(world.org, "alpha"), "b": make(world.org, "beta"),
            "foreign": make(world.other_org, "gamma")}


@pytest.fixture
def layout(world, fields):
    return save_layout(layout=FormLayout(organization=world.org), industry="Retail",
                       fields=[(fields["b"], True), (fields["a"], False)])


@pytest.fixture
def foreign_layout(world, fields):
    return save_layout(layout=FormLayout(organization=world.other_org), industry="Secret industry",
                       fields=[(fields["foreign"], True)])


def make_rule(world, org=None, **data):
    org = org or world.org
    data.setdefault("name", "Rule")
    data.setdefault("team", world.team_a if org == world.org else Team.objects.get(organization=org))
    return save_rule(rule=AssignmentRule(organization=org), data=data)


# -- form layouts

def test_admin_creates_reads_updates_and_deletes_a_layout(world, fields, api):
    client = api(world.admin)
    response = client.post(LAYOUTS, {"industry": "Healthcare", "custom_fields": [
        {"definition": fields["b"].pk, "required": True}, {"definition": fields["a"].pk}]}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["industry"] == "Healthcare"
    assert body["custom_fields"] == [
        {"definition": fields["b"].pk, "key": "beta", "label": "Beta", "required": True},
        {"definition": fields["a"].pk, "key": "alpha", "label": "Alpha", "required": False}]
    url = f"{LAYOUTS}{body['id']}/"
    assert client.get(url).json() == body
    response = client.put(url, {"industry": "Health care", "custom_fields": [{"definition": fields["a"].pk,
                                                                             "required": True}]}, format="json")
    assert response.status_code == 200, response.content
    assert [(f["key"], f["required"]) for f in response.json()["custom_fields"]] == [("alpha", True)]
    response = client.patch(url, {"industry": "Healthcare"}, format="json")
    assert response.status_code == 200 and len(response.json()["custom_fields"]) == 1
    assert client.delete(url).status_code == 204
    assert not FormLayout.objects.filter(pk=body["id"]).exists()
    assert CustomFieldDefinition.objects.filter(pk=fields["a"].pk).exists()


@pytest.mark.parametrize("payload, field", [
    ({"industry": ""}, "industry"),
    ({"industry": "retail"}, "industry"),  # duplicate, any capitalization
    ({"industry": "X", "custom_fields": [{"definition": "foreign"}]}, "custom_fields"),
    ({"industry": "X", "custom_fields": [{"definition": 999999}]}, "custom_fields"),
    ({"industry": "X", "custom_fields": [{"definition": "a"}, {"definition": "a"}]}, "custom_fields"),
    ({"industry": "X", "custom_fields": [{"definition": "a", "colour": "red"}]}, "custom_fields"),
    ({"industry": "X", "organization": 1}, "organization"),
])
def test_layout_validation_errors_name_the_field(world, fields, layout, api, payload, field):
    for entry in payload.get("custom_fields", []):
        if isinstance(entry["definition"], str):
            entry["definition"] = fields[entry["definition"]].pk
    before = FormLayout.objects.count()
    response = api(world.admin).post(LAYOUTS, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert FormLayout.objects.count() == before


@pytest.mark.parametrize("who", ["manager_a", "alice", "viewer_a"])
def test_members_read_layouts_but_only_admins_write(world, layout, foreign_layout, api, who, fields):
    client = api(getattr(world, who))
    assert ids(client.get(LAYOUTS)) == {layout.pk}
    assert client.get(f"{LAYOUTS}{layout.pk}/").status_code == 200
    assert client.post(LAYOUTS, {"industry": "New"}, format="json").status_code == 403
    assert client.patch(f"{LAYOUTS}{layout.pk}/", {"industry": "New"}, format="json").status_code == 403
    assert client.delete(f"{LAYOUTS}{layout.pk}/").status_code == 403
    assert client.post(f"{LAYOUTS}presets/", {"preset": "legal"}, format="json").status_code == 403
    assert FormLayout.objects.filter(organization=world.org).count() == 1


def test_another_organizations_layouts_are_invisible(world, layout, foreign_layout, api):
    client = api(world.admin)
    assert ids(client.get(LAYOUTS)) == {layout.pk}
    for method in ("get", "patch", "delete"):
        assert getattr(client, method)(f"{LAYOUTS}{foreign_layout.pk}/").status_code == 404
    assert api(world.charlie).get(LAYOUTS).json()["results"][0]["industry"] == "Secret industry"


def test_layout_filter_and_strict_params(world, layout, api):
    client = api(world.admin)
    assert ids(client.get(LAYOUTS, {"industry": "RETAIL"})) == {layout.pk}
    assert ids(client.get(LAYOUTS, {"industry": "Legal"})) == set()
    assert "nonsense" in client.get(LAYOUTS, {"nonsense": "1"}).json()


def test_presets_endpoint_creates_then_reuses(world, api):
    client = api(world.admin)
    response = client.post(f"{LAYOUTS}presets/", {"preset": "healthcare"}, format="json")
    assert response.status_code == 201, response.content
    assert [f["key"] for f in response.json()["custom_fields"]] == [
        "date_of_birth", "insurance_provider", "emergency_contact_name", "emergency_contact_phone", "medical_notes"]
    again = client.post(f"{LAYOUTS}presets/", {"preset": "healthcare"}, format="json")
    assert again.status_code == 200 and again.json() == response.json()
    assert CustomFieldDefinition.objects.filter(organization=world.org).count() == 5
    assert client.post(f"{LAYOUTS}presets/", {"preset": "legal"}, format="json").status_code == 201
    bad = client.post(f"{LAYOUTS}presets/", {"preset": "zoology"}, format="json")
    assert bad.status_code == 400 and "preset" in bad.json()
    assert "preset" in client.post(f"{LAYOUTS}presets/", {}, format="json").json()
    assert not FormLayout.objects.filter(organization=world.other_org).exists()


def test_layout_list_query_count_does_not_grow(world, fields, api, django_assert_max_num_queries):
    for i in range(12):
        save_layout(layout=FormLayout(organization=world.org), industry=f"Many {i}",
                    fields=[(fields["a"], True), (fields["b"], False)])
    client = api(world.admin)
    client.get(LAYOUTS)  # warm up (content types, cache table)
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(LAYOUTS, {"page_size": 2}).json()["results"]) == 2
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(LAYOUTS, {"page_size": 12}).json()["results"]) == 12
    assert len(many) == len(few)
    with django_assert_max_num_queries(10):
        client.get(LAYOUTS)


# -- required custom fields through /api/contacts/

def test_api_enforces_the_industrys_required_fields(world, api):
    apply_preset(world.org, "legal")
    client = api(world.admin)
    response = client.post("/api/contacts/", {"first_name": "Lex", "industry": "Legal",
                                              "custom_fields": {"case_type": "Family"}}, format="json")
    assert response.status_code == 400
    assert response.json() == {"custom_fields": ["case_status: Case status is required."]}
    assert not Contact.objects.filter(first_name="Lex").exists()
    response = client.post("/api/contacts/", {"first_name": "Lex", "industry": "Legal", "custom_fields": {
        "case_type": "Family", "case_status": "Open"}}, format="json")
    assert response.status_code == 201, response.content
    url = f"/api/contacts/{response.json()['id']}/"
    response = client.patch(url, {"custom_fields": {"case_type": "Family"}}, format="json")
    assert response.status_code == 400 and "custom_fields" in response.json()
    # Another industry: nothing required.
    assert client.patch(url, {"industry": "Retail", "custom_fields": {}}, format="json").status_code == 200


# -- assignment rules

def test_admin_manages_rules(world, api):
    client = api(world.admin)
    first = client.post(RULES, {"name": "Healthcare", "industry": "Healthcare", "team": world.team_b.pk},
                        format="json")
    assert first.status_code == 201, first.content
    assert first.json()["owner_strategy"] == "round_robin" and first.json()["position"] == 0
    second = client.post(RULES, {"name": "Big fish", "source": "referral", "team": world.team_a.pk,
                                 "owner_strategy": "fixed", "owner": world.alice.pk}, format="json")
    assert second.status_code == 201, second.content
    assert second.json()["position"] == 1
    assert [r["name"] for r in client.get(RULES).json()["results"]] == ["Healthcare", "Big fish"]
    url = f"{RULES}{second.json()['id']}/"
    response = client.patch(url, {"is_active": False, "position": 0}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert client.get(RULES, {"is_active": "true"}).json()["results"][0]["name"] == "Healthcare"
    expanded = client.get(url, {"expand": "team,owner"}).json()
    assert expanded["team"]["name"] == "Team A" and expanded["owner"]["email"] == "alice@acme.test"
    assert client.delete(url).status_code == 204
    assert AssignmentRule.objects.filter(organization=world.org).count() == 1


@pytest.mark.parametrize("payload, field", [
    ({"owner_strategy": "fixed", "owner": "rita"}, "owner"),  # a member of another team
    ({"owner_strategy": "fixed", "owner": "other_rep"}, "owner"),  # another organization
    ({"owner_strategy": "fixed"}, "owner"),
    ({"team": "foreign"}, "team"),
    ({"team": None}, "team"),
    ({"country": "Germany"}, "country"),
    ({"source": "pigeon"}, "source"),
    ({"owner_strategy": "random"}, "owner_strategy"),
    ({"last_assigned": "alice"}, "last_assigned"),
])
def test_rule_validation_errors_name_the_field(world, api, payload, field):
    people = {"rita": world.rita.pk, "other_rep": world.other_rep.pk, "alice": world.alice.pk,
              "foreign": Team.objects.get(organization=world.other_org).pk}
    body = {"name": "Rule", "team": world.team_a.pk, **{k: people.get(v, v) if isinstance(v, str) else v
                                                         for k, v in payload.items()}}
    response = api(world.admin).post(RULES, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not AssignmentRule.objects.exists()


@pytest.mark.parametrize("who", ["manager_a", "alice", "viewer_a"])
def test_members_read_rules_but_only_admins_write(world, api, who):
    rule = make_rule(world)
    foreign = make_rule(world, org=world.other_org)
    client = api(getattr(world, who))
    assert ids(client.get(RULES)) == {rule.pk}
    assert client.get(f"{RULES}{foreign.pk}/").status_code == 404
    assert client.post(RULES, {"name": "X", "team": world.team_a.pk}, format="json").status_code == 403
    assert client.patch(f"{RULES}{rule.pk}/", {"name": "X"}, format="json").status_code == 403
    assert client.delete(f"{RULES}{rule.pk}/").status_code == 403
    rule.refresh_from_db()
    assert rule.name == "Rule"


def test_another_organizations_rules_are_invisible(world, api):
    rule = make_rule(world)
    foreign = make_rule(world, org=world.other_org)
    client = api(world.admin)
    assert ids(client.get(RULES)) == {rule.pk}
    for method in ("get", "patch", "delete"):
        assert getattr(client, method)(f"{RULES}{foreign.pk}/", {}, format="json").status_code == 404
    assert AssignmentRule.objects.filter(pk=foreign.pk).exists()


def test_rule_list_query_count_does_not_grow(world, api, django_assert_max_num_queries):
    for i in range(12):
        make_rule(world, name=f"R{i}", owner_strategy="fixed", owner=world.bob)
    client = api(world.admin)
    params = {"expand": "team,owner"}
    client.get(RULES, params)  # warm up
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(RULES, {**params, "page_size": 2}).json()["results"]) == 2
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(RULES, {**params, "page_size": 12}).json()["results"]) == 12
    assert len(many) == len(few)
    with django_assert_max_num_queries(10):
        client.get(RULES, params)


def test_api_contacts_are_routed_unless_owner_or_team_given(world, api):
    make_rule(world, industry="Healthcare", team=world.team_b, owner_strategy="fixed", owner=world.rita)
    client = api(world.admin)
    routed = client.post("/api/contacts/", {"first_name": "Rou", "industry": "healthcare"}, format="json").json()
    assert routed["team"] == world.team_b.pk and routed["owner"] == world.rita.pk
    assert api(world.manager_b).get(f"/api/contacts/{routed['id']}/").status_code == 200
    assert api(world.manager_a).get(f"/api/contacts/{routed['id']}/").status_code == 404
    explicit = client.post("/api/contacts/", {"first_name": "Exp", "industry": "healthcare",
                                              "owner": world.bob.pk}, format="json").json()
    assert explicit["owner"] == world.bob.pk and explicit["team"] is None


def test_schema_documents_the_endpoints(client):
    schema = client.get("/api/schema/").content.decode()
    for path in ("/api/form-layouts/", "/api/form-layouts/{id}/", "/api/form-layouts/presets/",
                 "/api/assignment-rules/", "/api/assignment-rules/{id}/"):
        assert f"{path}:" in schema, path
