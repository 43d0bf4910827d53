"""/settings/form-layouts/ and /settings/assignment-rules/ (org admins), and the contact form's
layout-driven custom-field section (re-rendered with htmx when the industry changes)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import AssignmentRule, Contact, FormLayout
from contacts.services import apply_preset, save_layout, save_rule
from crm.models import CustomFieldDefinition, Team

from .conftest import body

pytestmark = pytest.mark.django_db

LAYOUTS, RULES = "/settings/form-layouts/", "/settings/assignment-rules/"


def make_rule(world, org=None, **data):
    org = org or world.org
    data.setdefault("name", "Rule")
    data.setdefault("team", world.team_a if org == world.org else Team.objects.get(organization=org))
    return save_rule(rule=AssignmentRule(organization=org), data=data)


@pytest.fixture
def foreign(world):
    layout, _ = apply_preset(world.other_org, "legal")
    return {"layout": layout, "rule": make_rule(world, org=world.other_org, name="Globex rule")}


# -- who may open them

def settings_urls(world):
    layout, _ = apply_preset(world.org, "healthcare")
    rule = make_rule(world)
    return [LAYOUTS, f"{LAYOUTS}new/", f"{LAYOUTS}{layout.pk}/", RULES, f"{RULES}new/", f"{RULES}{rule.pk}/"]


@pytest.mark.parametrize("who", ["manager_a", "alice", "viewer_a"])
def test_settings_pages_are_for_org_admins(client, world, who):
    urls = settings_urls(world)
    client.force_login(getattr(world, who))
    for url in urls:
        assert client.get(url).status_code == 403, url
    rule = AssignmentRule.objects.get(organization=world.org)
    layout = FormLayout.objects.get(organization=world.org)
    for url in (f"{RULES}{rule.pk}/delete/", f"{RULES}{rule.pk}/toggle/", f"{RULES}{rule.pk}/move-up/",
                f"{LAYOUTS}{layout.pk}/delete/", f"{LAYOUTS}presets/", f"{LAYOUTS}new/", f"{RULES}new/"):
        assert client.post(url, {"preset": "legal", "industry": "X", "name": "X",
                                 "team": world.team_a.pk}).status_code == 403, url
    assert AssignmentRule.objects.filter(organization=world.org).count() == 1
    assert AssignmentRule.objects.filter(pk=rule.pk, is_active=True).exists()
    assert FormLayout.objects.filter(organization=world.org).count() == 1


def test_admin_of_another_organization_gets_404_for_our_rows(client, world):
    urls = settings_urls(world)
    client.force_login(world.charlie)
    for url in urls:
        expected = 200 if url.endswith(("/form-layouts/", "/assignment-rules/", "/new/")) else 404
        assert client.get(url).status_code == expected, url
    assert "Healthcare" not in body(client.get(LAYOUTS))
    # Their preset lands in their own organization.
    client.post(f"{LAYOUTS}presets/", {"preset": "healthcare"})
    assert FormLayout.objects.filter(organization=world.other_org, industry="Healthcare").exists()
    assert FormLayout.objects.filter(organization=world.org).count() == 1


def test_anonymous_is_sent_to_sign_in(client, world):
    for url in (LAYOUTS, RULES):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_another_organizations_rows_are_404(client, world, foreign):
    client.force_login(world.admin)
    layout, rule = foreign["layout"], foreign["rule"]
    for url in (f"{LAYOUTS}{layout.pk}/", f"{RULES}{rule.pk}/"):
        assert client.get(url).status_code == 404
    for url in (f"{LAYOUTS}{layout.pk}/delete/", f"{RULES}{rule.pk}/delete/", f"{RULES}{rule.pk}/toggle/",
                f"{RULES}{rule.pk}/move-down/"):
        assert client.post(url).status_code == 404
    assert FormLayout.objects.filter(pk=layout.pk).exists() and AssignmentRule.objects.get(pk=rule.pk).is_active
    assert "Globex" not in body(client.get(RULES)) and "Legal" not in body(client.get(LAYOUTS))


def test_settings_navigation_links_every_settings_page(client, world):
    client.force_login(world.admin)
    assert 'href="/settings/' in body(client.get("/"))
    for url in (LAYOUTS, RULES, "/settings/members/", "/settings/teams/"):
        page = body(client.get(url))
        for link in (LAYOUTS, RULES, "/settings/members/", "/settings/teams/"):
            assert f'href="{link}"' in page, (url, link)
    assert 'aria-current="page">Form layouts' in body(client.get(LAYOUTS))
    assert 'aria-current="page">Assignment rules' in body(client.get(RULES))
    client.force_login(world.manager_a)
    assert 'href="/settings/' not in body(client.get("/"))


# -- form layouts

def test_preset_buttons(client, world):
    client.force_login(world.admin)
    page = body(client.get(LAYOUTS))
    assert "No form layouts yet" in page and "Apply healthcare preset" in page and "Apply legal preset" in page
    response = client.post(f"{LAYOUTS}presets/", {"preset": "healthcare"}, follow=True)
    page = body(response)
    assert "Added the Healthcare form layout." in page
    assert "Date of birth" in page and "Medical notes" in page
    client.post(f"{LAYOUTS}presets/", {"preset": "healthcare"})
    assert FormLayout.objects.filter(organization=world.org).count() == 1
    assert CustomFieldDefinition.objects.filter(organization=world.org).count() == 5
    response = client.post(f"{LAYOUTS}presets/", {"preset": "nope"}, follow=True)
    assert "Unknown preset" in body(response)


def test_create_and_edit_a_layout(client, world):
    defs = [CustomFieldDefinition.objects.create(organization=world.org, model="contact", key=k, label=k.title(),
                                                 field_type="text") for k in ("alpha", "beta", "gamma")]
    CustomFieldDefinition.objects.create(organization=world.org, model="company", key="co", label="Company only",
                                         field_type="text")
    client.force_login(world.admin)
    page = body(client.get(f"{LAYOUTS}new/"))
    assert "Alpha" in page and "Company only" not in page
    a, b, g = defs
    response = client.post(f"{LAYOUTS}new/", {
        "industry": "Retail", f"use_{a.pk}": "on", f"order_{a.pk}": "2", f"use_{g.pk}": "on", f"order_{g.pk}": "1",
        f"required_{g.pk}": "on", f"order_{b.pk}": "3", f"required_{b.pk}": "on"})
    assert response.status_code == 302 and response["Location"] == LAYOUTS
    layout = FormLayout.objects.get(organization=world.org)
    entries = [(e.definition.key, e.required) for e in layout.entries.order_by("position")]
    assert entries == [("gamma", True), ("alpha", False)]
    page = body(client.get(f"{LAYOUTS}{layout.pk}/"))
    assert 'value="Retail"' in page and page.index("Gamma") < page.index("Alpha") < page.index("Beta")
    response = client.post(f"{LAYOUTS}{layout.pk}/", {"industry": "Retail stores", f"use_{b.pk}": "on"})
    assert response.status_code == 302
    layout.refresh_from_db()
    assert layout.industry == "Retail stores"
    assert [(e.definition.key, e.required) for e in layout.entries.all()] == [("beta", False)]
    response = client.post(f"{LAYOUTS}{layout.pk}/delete/")
    assert response.status_code == 302 and not FormLayout.objects.exists()


@pytest.mark.parametrize("data, field, message", [
    ({"industry": ""}, "industry", "This field is required."),
    ({"industry": "HEALTHCARE"}, "industry", "already exists"),
    ({"industry": "Retail", "order_X": "-1", "use_X": "on"}, "order_X", "greater than or equal to 1"),
])
def test_layout_errors_name_the_field(client, world, data, field, message):
    layout, _ = apply_preset(world.org, "healthcare")
    definition = CustomFieldDefinition.objects.get(organization=world.org, key="medical_notes")
    data = {k.replace("X", str(definition.pk)): v for k, v in data.items()}
    field = field.replace("X", str(definition.pk))
    client.force_login(world.admin)
    response = client.post(f"{LAYOUTS}new/", data)
    assert response.status_code == 400
    page = body(response)
    block = page.split(f'name="{field}"')[1][:800]
    assert message in block
    assert FormLayout.objects.filter(organization=world.org).count() == 1


def test_layout_list_query_count_does_not_grow(client, world, django_assert_max_num_queries):
    client.force_login(world.admin)
    apply_preset(world.org, "healthcare")
    client.get(LAYOUTS)
    with CaptureQueriesContext(connection) as few:
        client.get(LAYOUTS)
    apply_preset(world.org, "legal")
    definitions = list(CustomFieldDefinition.objects.filter(organization=world.org))
    for i in range(8):
        save_layout(layout=FormLayout(organization=world.org), industry=f"Industry {i}",
                    fields=[(d, True) for d in definitions])
    with django_assert_max_num_queries(len(few)):
        page = body(client.get(LAYOUTS))
    assert "Industry 7" in page


# -- assignment rules

def rule_data(world, **extra):
    data = {"name": "Healthcare leads", "industry": "Healthcare", "team": world.team_b.pk,
            "owner_strategy": "round_robin", "is_active": "on"}
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


def test_create_edit_move_toggle_delete_rules(client, world):
    client.force_login(world.admin)
    assert "No assignment rules yet" in body(client.get(RULES))
    response = client.post(f"{RULES}new/", rule_data(world))
    assert response.status_code == 302 and response["Location"] == RULES
    client.post(f"{RULES}new/", rule_data(world, name="US west", industry="", country="us", region="California",
                                          team=world.team_a.pk, owner_strategy="fixed", owner=world.alice.pk))
    first, second = AssignmentRule.objects.filter(organization=world.org)
    assert (second.country, second.owner) == ("US", world.alice)
    page = body(client.get(RULES))
    assert page.index("Healthcare leads") < page.index("US west")
    assert "industry is Healthcare" in page and "region is California, US" in page

    client.post(f"{RULES}{second.pk}/move-up/")
    assert list(AssignmentRule.objects.values_list("name", flat=True)) == ["US west", "Healthcare leads"]
    client.post(f"{RULES}{second.pk}/move-up/")  # already first: stays
    client.post(f"{RULES}{first.pk}/move-down/")
    assert list(AssignmentRule.objects.values_list("name", flat=True)) == ["US west", "Healthcare leads"]

    response = client.post(f"{RULES}{first.pk}/toggle/", follow=True)
    assert "Paused" in body(response)
    assert not AssignmentRule.objects.get(pk=first.pk).is_active

    response = client.post(f"{RULES}{first.pk}/", rule_data(world, name="Clinics", source="referral"))
    assert response.status_code == 302
    first.refresh_from_db()
    assert (first.name, first.source, first.is_active) == ("Clinics", "referral", True)

    client.post(f"{RULES}{second.pk}/delete/")
    assert list(AssignmentRule.objects.values_list("name", flat=True)) == ["Clinics"]


@pytest.mark.parametrize("extra, field, message", [
    ({"owner_strategy": "fixed"}, "owner", "Choose the owner"),
    ({"owner_strategy": "fixed", "owner": "alice"}, "owner", "member of the rule"),  # alice is in team A
    ({"owner": "other_rep"}, "owner", "Select a valid choice"),
    ({"team": "foreign"}, "team", "Select a valid choice"),
    ({"country": "XYZ"}, "country", "at most 2 characters"),
    ({"name": ""}, "name", "This field is required."),
])
def test_rule_errors_name_the_field(client, world, extra, field, message):
    values = {"alice": world.alice.pk, "other_rep": world.other_rep.pk,
              "foreign": Team.objects.get(organization=world.other_org).pk}
    client.force_login(world.admin)
    response = client.post(f"{RULES}new/", rule_data(world, **{k: values.get(v, v) for k, v in extra.items()}))
    assert response.status_code == 400
    block = body(response).split(f'name="{field}"')[1][:3000].split('<div class="field')[0]
    assert message in block, block
    assert not AssignmentRule.objects.exists()


def test_rule_list_query_count_does_not_grow(client, world, django_assert_max_num_queries):
    client.force_login(world.admin)
    make_rule(world, owner_strategy="fixed", owner=world.alice)
    client.get(RULES)
    with CaptureQueriesContext(connection) as few:
        client.get(RULES)
    for i in range(10):
        make_rule(world, name=f"Rule {i}", owner_strategy="fixed", owner=world.bob, industry=f"I{i}")
    with django_assert_max_num_queries(len(few)):
        page = body(client.get(RULES))
    assert "Rule 9" in page


# -- the contact form

def contact_data(world, **extra):
    return {"first_name": "Nina", "lifecycle_stage": "lead", "score": "0", "preferred_contact_time": "any",
            "owner": world.alice.pk, "team": world.team_a.pk, **extra}


def cf_names(page):
    section = page.split('id="contact-custom-fields"')[1].split("</section>")[0]
    return re.findall(r'name="(cf_[a-z_]+)"', section), section


def test_contact_form_shows_the_industrys_layout(client, world):
    apply_preset(world.org, "healthcare")
    apply_preset(world.org, "legal")
    client.force_login(world.alice)
    names, section = cf_names(body(client.get("/contacts/new/")))
    assert len(names) == 8  # no industry yet: every custom field
    contact = Contact.objects.create(organization=world.org, first_name="Lex", industry="legal", owner=world.alice)
    names, section = cf_names(body(client.get(f"/contacts/{contact.pk}/edit/")))
    assert names == ["cf_case_type", "cf_case_status", "cf_attorney_notes"] and "Legal details" in section
    assert 'hx-post="/contacts/' in body(client.get(f"/contacts/{contact.pk}/edit/"))


def test_changing_the_industry_rerenders_the_section_keeping_typed_values(client, world):
    apply_preset(world.org, "healthcare")
    apply_preset(world.org, "legal")
    client.force_login(world.alice)
    response = client.post("/contacts/new/custom-fields/", contact_data(
        world, industry="Healthcare", cf_insurance_provider="Aetna", cf_case_type="Family"),
        HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    names, section = cf_names(body(response))
    assert names[:5] == ["cf_date_of_birth", "cf_insurance_provider", "cf_emergency_contact_name",
                         "cf_emergency_contact_phone", "cf_medical_notes"]
    assert 'value="Aetna"' in section
    # The legal value rides along hidden, so switching back finds it again.
    assert '<input type="hidden" name="cf_case_type" value="Family">' in section
    assert "errorlist" not in section and "Healthcare details" in section
    response = client.post("/contacts/new/custom-fields/", contact_data(
        world, industry="legal", cf_insurance_provider="Aetna", cf_case_type="Family"))
    names, section = cf_names(body(response))
    assert names[:3] == ["cf_case_type", "cf_case_status", "cf_attorney_notes"]
    assert '<option value="Family" selected>' in section
    assert '<input type="hidden" name="cf_insurance_provider" value="Aetna">' in section


def test_custom_field_section_respects_visibility(client, world):
    other = Contact.objects.create(organization=world.org, first_name="Rob", owner=world.rita, team=world.team_b)
    client.force_login(world.alice)
    assert client.post(f"/contacts/{other.pk}/edit/custom-fields/", {"industry": "x"}).status_code == 404
    client.force_login(world.viewer_a)
    assert client.post("/contacts/new/custom-fields/", {"industry": "x"}).status_code == 403
    client.force_login(world.charlie)
    assert client.post(f"/contacts/{other.pk}/edit/custom-fields/", {"industry": "x"}).status_code == 404


def test_required_layout_field_is_enforced_on_the_contact_form_page(client, world):
    apply_preset(world.org, "healthcare")
    client.force_login(world.alice)
    response = client.post("/contacts/new/", contact_data(world, industry="Healthcare",
                                                          cf_date_of_birth="1980-01-01"))
    assert response.status_code == 400
    block = body(response).split('name="cf_insurance_provider"')[1].split('<div class="field')[0]
    assert "This field is required." in block
    assert not Contact.objects.filter(first_name="Nina").exists()
    response = client.post("/contacts/new/", contact_data(world, industry="Healthcare", cf_date_of_birth="1980-01-01",
                                                          cf_insurance_provider="Aetna"))
    assert response.status_code == 302
    contact = Contact.objects.get(first_name="Nina")
    assert contact.custom_fields == {"date_of_birth": "1980-01-01", "insurance_provider": "Aetna"}
    page = body(client.get(f"/contacts/{contact.pk}/"))
    assert "Insurance provider" in page and "Aetna" in page


def test_contact_created_on_the_page_without_owner_and_team_is_routed(client, world):
    make_rule(world, industry="Legal", team=world.team_b, owner_strategy="fixed", owner=world.rita)
    client.force_login(world.admin)
    response = client.post("/contacts/new/", contact_data(world, industry="Legal", owner="", team=""))
    assert response.status_code == 302
    contact = Contact.objects.get(first_name="Nina")
    assert (contact.team, contact.owner) == (world.team_b, world.rita)
