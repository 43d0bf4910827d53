"""Industry form layouts: presets, required custom fields per industry (model, services, form)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from contacts.forms import ContactForm
from contacts.models import Contact, FormLayout, FormLayoutField, contact_custom_definitions
from contacts.services import PRESETS, apply_preset, create_contact, save_layout, update_contact
from crm.models import CustomFieldDefinition

pytestmark = pytest.mark.django_db

HEALTHCARE_KEYS = ["date_of_birth", "insurance_provider", "emergency_contact_name", "emergency_contact_phone",
                   "medical_notes"]


def layout_keys(layout):
    return [(e.definition.key, e.required) for e in layout.entries.select_related("definition")
            .order_by("position", "id")]


def state(org):
    """Everything a preset may write, to compare before and after."""
    return (
        sorted(CustomFieldDefinition.objects.filter(organization=org).values_list(
            "key", "label", "field_type", "options", "required", "position")),
        sorted(FormLayout.objects.filter(organization=org).values_list("industry", "updated_at")),
        sorted(FormLayoutField.objects.filter(organization=org).values_list(
            "layout__industry", "definition__key", "position", "required")),
    )


def test_healthcare_preset_creates_fields_and_layout(world):
    layout, created = apply_preset(world.org, "healthcare")
    assert created and layout.industry == "Healthcare" and layout.organization == world.org
    assert [k for k, _ in layout_keys(layout)] == HEALTHCARE_KEYS
    assert dict(layout_keys(layout))["insurance_provider"] is True
    types = dict(CustomFieldDefinition.objects.filter(organization=world.org).values_list("key", "field_type"))
    assert types == {"date_of_birth": "date", "insurance_provider": "text", "emergency_contact_name": "text",
                     "emergency_contact_phone": "phone", "medical_notes": "textarea"}
    # Optional everywhere else: only the layout makes them required.
    assert not CustomFieldDefinition.objects.filter(organization=world.org, required=True).exists()


def test_legal_preset_has_select_fields_with_options(world):
    layout, _ = apply_preset(world.org, "legal")
    assert [k for k, _ in layout_keys(layout)] == ["case_type", "case_status", "attorney_notes"]
    case_type = CustomFieldDefinition.objects.get(organization=world.org, key="case_type")
    case_status = CustomFieldDefinition.objects.get(organization=world.org, key="case_status")
    assert case_type.field_type == case_status.field_type == "select"
    assert "Family" in case_type.options and "Closed" in case_status.options


@pytest.mark.parametrize("preset", list(PRESETS))
def test_presets_are_idempotent(world, preset):
    apply_preset(world.org, preset)
    before = state(world.org)
    layout, created = apply_preset(world.org, preset)
    assert not created
    assert state(world.org) == before
    assert state(world.other_org) == ([], [], [])


def test_preset_reuses_definitions_by_key_and_keeps_admin_changes(world):
    existing = CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="case_type",
                                                    label="Matter", field_type="select", options=["A", "B"])
    extra = CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="court",
                                                 label="Court", field_type="text")
    layout, _ = apply_preset(world.org, "legal")
    assert CustomFieldDefinition.objects.filter(organization=world.org, key="case_type").count() == 1
    existing.refresh_from_db()
    assert existing.label == "Matter" and existing.options == ["A", "B"]
    # An admin drops a preset field, adds their own and relaxes a flag; re-applying only re-adds the missing one.
    save_layout(layout=layout, industry="Legal", fields=[(existing, False), (extra, True)])
    apply_preset(world.org, "legal")
    assert layout_keys(layout) == [("case_type", False), ("court", True), ("case_status", True),
                                   ("attorney_notes", False)]


def test_unknown_preset_is_an_error_naming_it(world):
    with pytest.raises(ValidationError) as exc:
        apply_preset(world.org, "astrology")
    assert "preset" in exc.value.message_dict


def test_layout_industry_is_unique_per_organization_case_insensitively(world):
    save_layout(layout=FormLayout(organization=world.org), industry="Healthcare", fields=[])
    with pytest.raises(ValidationError) as exc:
        save_layout(layout=FormLayout(organization=world.org), industry="  healthCARE ", fields=[])
    assert "industry" in exc.value.message_dict
    # Another organization may have its own.
    save_layout(layout=FormLayout(organization=world.other_org), industry="healthcare", fields=[])


def test_layout_refuses_another_organizations_or_a_company_field(world):
    foreign = CustomFieldDefinition.objects.create(organization=world.other_org, model="contact", key="x",
                                                   label="X", field_type="text")
    company_field = CustomFieldDefinition.objects.create(organization=world.org, model="company", key="y",
                                                         label="Y", field_type="text")
    for definition in (foreign, company_field):
        with pytest.raises(ValidationError) as exc:
            save_layout(layout=FormLayout(organization=world.org), industry="Legal", fields=[(definition, True)])
        assert "custom_fields" in exc.value.message_dict
    assert not FormLayout.objects.filter(organization=world.org).exists()


# -- required per industry, enforced by the model for every entry point

def healthcare_values(**overrides):
    values = {"date_of_birth": "1980-02-03", "insurance_provider": "Aetna"}
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def test_layout_required_fields_are_enforced_on_create(world):
    apply_preset(world.org, "healthcare")
    with pytest.raises(ValidationError) as exc:
        create_contact(organization=world.org, data={"first_name": "Pat", "industry": " HEALTHCARE",
                                                     "custom_fields": healthcare_values(insurance_provider=None)})
    assert exc.value.message_dict == {"custom_fields": ["insurance_provider: Insurance provider is required."]}
    assert not Contact.objects.filter(first_name="Pat").exists()
    contact = create_contact(organization=world.org, data={"first_name": "Pat", "industry": "Healthcare",
                                                           "custom_fields": healthcare_values()})
    assert contact.custom_fields == {"date_of_birth": "1980-02-03", "insurance_provider": "Aetna"}


def test_required_only_for_the_industry_of_the_layout(world):
    apply_preset(world.org, "healthcare")
    create_contact(organization=world.org, data={"first_name": "Lee", "industry": "Retail"})
    create_contact(organization=world.org, data={"first_name": "Lee", "industry": ""})


def test_changing_the_industry_brings_its_required_fields(world):
    apply_preset(world.org, "legal")
    contact = create_contact(organization=world.org, data={"first_name": "Sam", "industry": "Retail"})
    with pytest.raises(ValidationError) as exc:
        update_contact(contact=contact, data={"industry": "legal"})
    assert exc.value.message_dict["custom_fields"] == ["case_type: Case type is required.",
                                                       "case_status: Case status is required."]
    contact.refresh_from_db()
    assert contact.industry == "Retail"
    update_contact(contact=Contact.objects.get(pk=contact.pk), data={
        "industry": "Legal", "custom_fields": {"case_type": "Family", "case_status": "Open"}})


def test_a_field_required_everywhere_is_optional_where_a_layout_leaves_it_out(world):
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="budget", label="Budget",
                                         field_type="number", required=True)
    apply_preset(world.org, "healthcare")
    with pytest.raises(ValidationError):
        create_contact(organization=world.org, data={"first_name": "A", "industry": "Retail"})
    create_contact(organization=world.org, data={"first_name": "A", "industry": "Healthcare",
                                                  "custom_fields": healthcare_values()})
    # Still type-checked when given.
    with pytest.raises(ValidationError) as exc:
        create_contact(organization=world.org, data={"first_name": "A", "industry": "Healthcare",
                                                      "custom_fields": healthcare_values(budget="lots")})
    assert exc.value.message_dict["custom_fields"] == ["budget: Enter a number."]


def test_definitions_for_an_industry_come_in_layout_order(world):
    layout, _ = apply_preset(world.org, "legal")
    apply_preset(world.org, "healthcare")
    definitions, shown = contact_custom_definitions(world.org.pk, "legal")
    assert [d.key for d in definitions][:3] == ["case_type", "case_status", "attorney_notes"]
    assert len(shown) == 3 and len(definitions) == 8
    assert contact_custom_definitions(world.org.pk, "unknown")[1] is None


# -- the contact form

def form_data(world, **extra):
    return {"first_name": "Nina", "lifecycle_stage": "lead", "score": "0", "preferred_contact_time": "any",
            "owner": world.alice.pk, "team": world.team_a.pk, **extra}


def test_form_shows_exactly_the_layout_fields_in_order_with_its_flags(world):
    apply_preset(world.org, "healthcare")
    apply_preset(world.org, "legal")
    form = ContactForm(instance=Contact(industry="Healthcare"), user=world.alice)
    assert form.custom_field_names == [f"cf_{k}" for k in HEALTHCARE_KEYS]
    assert [form.fields[f"cf_{k}"].required for k in HEALTHCARE_KEYS] == [True, True, False, False, False]
    assert form.custom_fields_title == "Healthcare details"
    # Without a layout: every custom field, as before.
    form = ContactForm(instance=Contact(industry="Retail"), user=world.alice)
    assert len(form.custom_field_names) == 8 and not any(form.fields[n].required for n in form.custom_field_names)


def test_form_enforces_layout_required_fields_on_the_field(world):
    apply_preset(world.org, "legal")
    form = ContactForm(form_data(world, industry="legal", cf_case_type="Family"), instance=Contact(),
                       user=world.alice)
    assert not form.is_valid()
    assert form.errors["cf_case_status"] == ["This field is required."]
    form = ContactForm(form_data(world, industry="legal", cf_case_type="Family", cf_case_status="Open"),
                       instance=Contact(), user=world.alice)
    assert form.is_valid(), form.errors
    contact = form.save()
    assert contact.custom_fields == {"case_type": "Family", "case_status": "Open"}


def test_editing_with_a_layout_keeps_values_of_fields_it_does_not_show(world):
    apply_preset(world.org, "healthcare")
    apply_preset(world.org, "legal")
    contact = create_contact(organization=world.org, data={
        "first_name": "Kim", "owner": world.alice, "team": world.team_a, "industry": "Retail",
        "custom_fields": {"attorney_notes": "Old matter", "insurance_provider": "Cigna"}})
    data = form_data(world, first_name="Kim", industry="Healthcare", cf_date_of_birth="1990-01-01",
                     cf_insurance_provider="Aetna")
    form = ContactForm(data, instance=contact, user=world.alice)
    assert form.is_valid(), form.errors
    form.save()
    contact.refresh_from_db()
    assert contact.custom_fields == {"attorney_notes": "Old matter", "insurance_provider": "Aetna",
                                     "date_of_birth": "1990-01-01"}


def test_a_contact_from_before_the_layout_can_still_be_restored_from_the_trash(world):
    from contacts.services import restore_contact, soft_delete_contact

    contact = create_contact(organization=world.org, data={"first_name": "Old", "industry": "Healthcare"})
    soft_delete_contact(contact)
    apply_preset(world.org, "healthcare")
    restore_contact(Contact.all_objects.get(pk=contact.pk))
    assert Contact.objects.filter(pk=contact.pk).exists()
    # Saving it through the services asks for the layout's required fields.
    with pytest.raises(ValidationError) as exc:
        update_contact(contact=Contact.objects.get(pk=contact.pk), data={"job_title": "Nurse"})
    assert "custom_fields" in exc.value.message_dict
