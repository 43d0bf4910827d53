"""/contacts/new/ and /contacts/<id>/edit/: scoped choices, custom fields, errors naming the field."""

import pytest

from contacts.models import Contact
from crm.models import CustomFieldDefinition

from .conftest import body, make_contact

pytestmark = pytest.mark.django_db


def form_data(world, **overrides):
    data = {
        "first_name": "Nina", "last_name": "North", "email": "Nina@Example.com", "phone": "+1 415 555 2671",
        "lifecycle_stage": "lead", "score": "10", "preferred_contact_time": "any", "owner": world.alice.pk,
        "team": world.team_a.pk,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_create_contact(client, world, tags):
    client.force_login(world.alice)
    page = client.get("/contacts/new/")
    assert page.status_code == 200 and 'name="first_name"' in body(page)
    response = client.post("/contacts/new/", form_data(world, tags=[tags["vip"].pk], preferred_channels=["sms"]))
    contact = Contact.objects.get(first_name="Nina")
    assert response.status_code == 302 and response["Location"] == f"/contacts/{contact.pk}/"
    assert contact.email == "nina@example.com" and str(contact.phone) == "+14155552671"
    assert contact.owner == world.alice and contact.created_by == world.alice
    assert contact.organization == world.org and contact.preferred_channels == ["sms"]
    assert list(contact.tags.values_list("name", flat=True)) == ["VIP"]
    detail = client.get(response["Location"])
    assert "Added Nina North." in body(detail)


def test_the_score_is_computed_not_typed(client, world):
    client.force_login(world.alice)
    assert client.post("/contacts/new/", form_data(world, score="90")).status_code == 302
    assert Contact.objects.get(first_name="Nina").score == 0  # contacts.scoring computes it


@pytest.mark.parametrize("field, value, message", [
    ("phone", "12345", "Enter a valid phone number"),
    ("email", "not-an-email", "Enter a valid email address."),
    ("first_name", "", "This field is required."),
    ("country", "Germany", "Ensure this value has at most 2 characters"),
    ("timezone", "Mars/Base", "is not a time zone"),
    ("website", "notaurl", "Enter a valid URL."),
])
def test_create_errors_name_the_field(client, world, field, value, message):
    client.force_login(world.alice)
    response = client.post("/contacts/new/", form_data(world, **{field: value}))
    assert response.status_code == 400
    page = body(response)
    assert message in page
    # The message sits in the field's own block.
    block = page.split(f'name="{field}"')[1].split('<div class="field')[0]
    assert message in block, block[:500]
    assert not Contact.objects.filter(first_name="Nina").exists()


def test_duplicate_email_is_reported_on_the_email_field_without_a_name(client, world):
    make_contact(world, "Hidden", "Person", email="nina@example.com", owner=world.rita)
    client.force_login(world.alice)
    response = client.post("/contacts/new/", form_data(world))
    assert response.status_code == 400
    page = body(response)
    block = page.split('name="email"')[1].split('<div class="field')[0]
    assert "A contact with this email already exists in your organization." in block
    assert "Hidden" not in page


def test_owner_team_and_tag_choices_are_scoped(client, world, tags):
    client.force_login(world.manager_a)
    page = body(client.get("/contacts/new/"))
    assert "Alice Rep" in page and "Rita Rep" in page and "Olga Other" not in page
    assert "Team B" in page and "Elsewhere" not in page
    response = client.post("/contacts/new/", form_data(world, owner=world.other_rep.pk))
    assert response.status_code == 400 and "Select a valid choice" in body(response)
    response = client.post("/contacts/new/", form_data(world, tags=[tags["foreign"].pk]))
    assert response.status_code == 400 and "Select a valid choice" in body(response)


def test_rep_can_only_own_their_contacts(client, world):
    client.force_login(world.alice)
    page = body(client.get("/contacts/new/"))
    owner_select = page.split('name="owner"')[1].split("</select>")[0]
    assert "Alice Rep" in owner_select and "Bob Rep" not in owner_select and "---" not in owner_select
    response = client.post("/contacts/new/", form_data(world, owner=world.bob.pk))
    assert response.status_code == 400
    assert not Contact.objects.filter(first_name="Nina").exists()


def test_custom_fields_are_typed_inputs_and_validated(client, world):
    for key, label, t, options in [
        ("budget", "Budget", "number", []), ("renewal", "Renewal", "date", []), ("vip", "VIP", "boolean", []),
        ("plan", "Plan", "select", ["basic", "pro"]), ("langs", "Languages", "multiselect", ["en", "de"]),
        ("site", "Portal", "url", []), ("billing", "Billing email", "email", []), ("hotline", "Hotline", "phone", []),
        ("notes", "Notes", "text", []),
    ]:
        CustomFieldDefinition.objects.create(organization=world.org, model="contact", key=key, label=label,
                                             field_type=t, options=options, required=(key == "plan"))
    client.force_login(world.alice)
    page = body(client.get("/contacts/new/"))
    assert 'name="cf_budget" step="any"' in page or 'type="number" name="cf_budget"' in page
    assert 'type="date" name="cf_renewal"' in page and 'name="cf_langs"' in page and 'type="tel" name="cf_hotline"' in page
    response = client.post("/contacts/new/", form_data(world, cf_budget="12.5", cf_hotline="nope", cf_plan=""))
    assert response.status_code == 400
    page = body(response)
    assert "Enter a valid phone number" in page.split('name="cf_hotline"')[1].split('<div class="field')[0]
    assert "This field is required." in page.split('name="cf_plan"')[1].split('<div class="field')[0]
    response = client.post("/contacts/new/", form_data(
        world, cf_budget="12.5", cf_renewal="2026-03-01", cf_vip="true", cf_plan="pro", cf_langs=["en", "de"],
        cf_site="https://portal.example.com", cf_billing="Bills@Example.com", cf_hotline="+1 415 555 0100",
        cf_notes="hello"))
    assert response.status_code == 302, body(response)
    contact = Contact.objects.get(first_name="Nina")
    assert contact.custom_fields == {
        "budget": 12.5, "renewal": "2026-03-01", "vip": True, "plan": "pro", "langs": ["en", "de"],
        "site": "https://portal.example.com", "billing": "bills@example.com", "hotline": "+14155550100",
        "notes": "hello"}
    edit = body(client.get(f"/contacts/{contact.pk}/edit/"))
    assert 'value="2026-03-01"' in edit and 'value="+14155550100"' in edit
    assert '<option value="true" selected>Yes</option>' in edit


def test_edit_contact(client, world, alices_contact, tags):
    client.force_login(world.alice)
    page = body(client.get(f"/contacts/{alices_contact.pk}/edit/"))
    assert 'value="Ann"' in page and 'value="ann@example.com"' in page
    response = client.post(f"/contacts/{alices_contact.pk}/edit/", form_data(
        world, first_name="Annie", email="ann@example.com", tags=[tags["hot"].pk]))
    assert response.status_code == 302
    contact = Contact.objects.get(pk=alices_contact.pk)
    assert contact.first_name == "Annie" and contact.display_name == "Annie North"
    assert list(contact.tags.values_list("name", flat=True)) == ["Hot"]
    # Nothing changed: still a redirect, nothing broken.
    response = client.post(f"/contacts/{alices_contact.pk}/edit/", form_data(
        world, first_name="Annie", email="ann@example.com", tags=[tags["hot"].pk]))
    assert response.status_code == 302


def test_failed_edit_changes_nothing(client, world, alices_contact, tags):
    make_contact(world, "Other", email="taken@example.com", owner=world.alice)
    client.force_login(world.alice)
    response = client.post(f"/contacts/{alices_contact.pk}/edit/", form_data(
        world, first_name="Changed", email="taken@example.com", tags=[tags["vip"].pk]))
    assert response.status_code == 400
    contact = Contact.objects.get(pk=alices_contact.pk)
    assert contact.first_name == "Ann" and not contact.tags.exists()


@pytest.mark.parametrize("who, status", [
    ("viewer_a", 403), ("bob", 404), ("rita", 404), ("manager_b", 404), ("charlie", 404), ("other_rep", 404),
    ("manager_a", 200), ("admin", 200), ("alice", 200),
])
def test_edit_permissions(client, world, alices_contact, who, status):
    client.force_login(getattr(world, who))
    assert client.get(f"/contacts/{alices_contact.pk}/edit/").status_code == status
    response = client.post(f"/contacts/{alices_contact.pk}/edit/", form_data(world, first_name="Hacked",
                                                                             owner=getattr(world, who).pk))
    assert response.status_code in ({status} if status != 200 else {302, 400})
    if status != 200:
        assert Contact.objects.get(pk=alices_contact.pk).first_name == "Ann"


def test_viewer_cannot_create(client, world):
    client.force_login(world.viewer_a)
    assert client.get("/contacts/new/").status_code == 403
    assert client.post("/contacts/new/", form_data(world)).status_code == 403
    assert "Your role is read-only." in body(client.get("/contacts/new/"))


def test_anonymous_create_and_edit_redirect_to_login(client, world, alices_contact):
    for url in ("/contacts/new/", f"/contacts/{alices_contact.pk}/edit/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_rep_editing_a_shared_contact_keeps_its_owner(client, world, ritas_contact):
    from guardian.shortcuts import assign_perm

    assign_perm("change_contact", world.alice, ritas_contact)
    client.force_login(world.alice)
    page = body(client.get(f"/contacts/{ritas_contact.pk}/edit/"))
    owner_select = page.split('name="owner"')[1].split("</select>")[0]
    assert "Rita Rep" in owner_select and "Alice Rep" in owner_select and "Bob Rep" not in owner_select
    response = client.post(f"/contacts/{ritas_contact.pk}/edit/", form_data(
        world, first_name="Robert", email="", phone="", owner=world.rita.pk, team=world.team_b.pk))
    assert response.status_code == 302
    contact = Contact.objects.get(pk=ritas_contact.pk)
    assert contact.first_name == "Robert" and contact.owner == world.rita
