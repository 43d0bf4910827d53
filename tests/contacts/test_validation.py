"""Bad input on the core models: a message naming the field, nothing stored."""

import pytest
from django.core.exceptions import ValidationError

from companies.models import Company
from contacts.models import Contact
from contacts.services import create_contact, update_contact
from crm.models import CustomFieldDefinition, Tag

pytestmark = pytest.mark.django_db


def errors_of(excinfo) -> dict:
    return excinfo.value.message_dict


def assert_rejected(world, data, field, fragment):
    before = Contact.all_objects.count()
    with pytest.raises(ValidationError) as excinfo:
        create_contact(organization=world.org, data=data, actor=world.admin)
    errors = errors_of(excinfo)
    assert field in errors, errors
    assert fragment.lower() in " ".join(errors[field]).lower(), errors
    assert Contact.all_objects.count() == before


def test_valid_contact_is_normalized(world):
    contact = create_contact(
        organization=world.org, actor=world.admin,
        data={"first_name": "  Ana ", "last_name": "López", "email": " Ana.Lopez@Example.COM ",
              "phone": "(415) 555-2671", "mobile": "+44 7911 123456"},
    )
    contact.refresh_from_db()
    assert contact.display_name == "Ana López"
    assert contact.email == "ana.lopez@example.com"
    assert str(contact.phone) == "+14155552671"
    assert str(contact.mobile) == "+447911123456"
    assert contact.created_by == world.admin


def test_first_name_required(world):
    assert_rejected(world, {"first_name": "   ", "email": "x@example.com"}, "first_name", "first name")


def test_invalid_phone(world):
    assert_rejected(world, {"first_name": "Ann", "phone": "12"}, "phone", "phone number entered is not valid")


def test_invalid_mobile(world):
    assert_rejected(world, {"first_name": "Ann", "mobile": "not a number"}, "mobile", "phone number entered is not valid")


def test_invalid_email(world):
    assert_rejected(world, {"first_name": "Ann", "email": "ann@@example"}, "email", "valid email")


def test_duplicate_email_in_same_organization_does_not_reveal_the_other_contact(world):
    create_contact(organization=world.org, data={"first_name": "Secret", "last_name": "Person",
                                                 "email": "dup@example.com"})
    before = Contact.all_objects.count()
    with pytest.raises(ValidationError) as excinfo:
        create_contact(organization=world.org, data={"first_name": "Ann", "email": "DUP@example.com"})
    message = " ".join(errors_of(excinfo)["email"])
    assert message == "A contact with this email already exists in your organization."
    assert "Secret" not in message
    assert Contact.all_objects.count() == before


def test_same_email_allowed_in_another_organization_and_after_soft_delete(world):
    first = create_contact(organization=world.org, data={"first_name": "A", "email": "same@example.com"})
    create_contact(organization=world.other_org, data={"first_name": "B", "email": "same@example.com"})
    first.soft_delete()
    create_contact(organization=world.org, data={"first_name": "C", "email": "same@example.com"})
    assert Contact.all_objects.filter(email="same@example.com").count() == 3


def test_unknown_field_is_rejected(world):
    assert_rejected(world, {"first_name": "Ann", "organization": world.other_org}, "organization", "cannot be set")


def test_owner_from_another_organization_is_rejected(world):
    assert_rejected(world, {"first_name": "Ann", "owner": world.charlie}, "owner", "member of your organization")


def test_team_from_another_organization_is_rejected(world):
    from crm.models import Team

    other_team = Team.objects.get(organization=world.other_org)
    assert_rejected(world, {"first_name": "Ann", "team": other_team}, "team", "your organization")


@pytest.fixture
def custom_fields(world):
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="budget", label="Budget",
                                         field_type="number")
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="insurance",
                                         label="Insurance provider", field_type="text", required=True)
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="language",
                                         label="Language", field_type="select", options=["en", "de"])


def test_custom_field_of_wrong_type(world, custom_fields):
    assert_rejected(world, {"first_name": "Ann", "custom_fields": {"insurance": "Aetna", "budget": "lots"}},
                    "custom_fields", "budget: Enter a number")


def test_custom_field_missing_required(world, custom_fields):
    assert_rejected(world, {"first_name": "Ann", "custom_fields": {"budget": 10}},
                    "custom_fields", "insurance: Insurance provider is required")


def test_custom_field_unknown_key_and_bad_choice(world, custom_fields):
    assert_rejected(world, {"first_name": "Ann", "custom_fields": {"insurance": "A", "colour": "red"}},
                    "custom_fields", "colour: no such custom field")
    assert_rejected(world, {"first_name": "Ann", "custom_fields": {"insurance": "A", "language": "fr"}},
                    "custom_fields", "language: Choose one of: en, de")


def test_custom_fields_are_cleaned(world, custom_fields):
    contact = create_contact(organization=world.org, data={
        "first_name": "Ann", "custom_fields": {"insurance": "Aetna", "budget": "1200.50", "language": "de"}})
    contact.refresh_from_db()
    assert contact.custom_fields == {"insurance": "Aetna", "budget": 1200.5, "language": "de"}


@pytest.mark.parametrize("field_type,options,good,cleaned,bad,message", [
    ("text", [], "hi", "hi", "x" * 300, "at most 255"),
    ("textarea", [], "long", "long", {"a": 1}, "Enter text"),
    ("number", [], "42", 42, "4 2", "Enter a number"),
    ("currency", [], "19.999", 20.0, "ten", "Enter a number"),
    ("date", [], "2026-02-03", "2026-02-03", "03/02/2026", "YYYY-MM-DD"),
    ("datetime", [], "2026-02-03T10:00:00+00:00", "2026-02-03T10:00:00+00:00", "tomorrow", "ISO 8601"),
    ("boolean", [], "yes", True, "maybe", "yes or no"),
    ("select", ["a", "b"], "a", "a", "c", "Choose one of"),
    ("multiselect", ["a", "b"], ["b", "a", "b"], ["b", "a"], ["z"], "Unknown choice"),
    ("url", [], "https://kith.test/x", "https://kith.test/x", "kith dot test", "valid URL"),
    ("email", [], "A@B.test", "a@b.test", "nope", "valid email"),
    ("phone", [], "+1 (415) 555-2671", "+14155552671", "555", "valid phone"),
])
def test_each_custom_field_type(world, field_type, options, good, cleaned, bad, message):
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="f", label="F",
                                         field_type=field_type, options=options)
    contact = create_contact(organization=world.org, data={"first_name": "Ann", "custom_fields": {"f": good}})
    assert Contact.objects.get(pk=contact.pk).custom_fields == {"f": cleaned}
    with pytest.raises(ValidationError) as excinfo:
        update_contact(contact=contact, data={"custom_fields": {"f": bad}})
    assert message in " ".join(errors_of(excinfo)["custom_fields"])
    assert Contact.objects.get(pk=contact.pk).custom_fields == {"f": cleaned}


def test_custom_field_definition_validation(world):
    definition = CustomFieldDefinition(organization=world.org, model="contact", key="Bad Key", label="X",
                                       field_type="select")
    with pytest.raises(ValidationError) as excinfo:
        definition.full_clean()
    assert {"key", "options"} <= set(errors_of(excinfo))


def test_update_with_invalid_phone_changes_nothing(world):
    contact = create_contact(organization=world.org, data={"first_name": "Ann", "phone": "+14155552671"})
    with pytest.raises(ValidationError) as excinfo:
        update_contact(contact=contact, data={"phone": "abc", "last_name": "Changed"})
    assert "phone" in errors_of(excinfo)
    stored = Contact.objects.get(pk=contact.pk)
    assert str(stored.phone) == "+14155552671" and stored.last_name == ""


def test_company_cycle_is_rejected(world):
    a = Company.objects.create(organization=world.org, name="A")
    b = Company.objects.create(organization=world.org, name="B", parent=a)
    c = Company.objects.create(organization=world.org, name="C", parent=b)
    a.parent = c
    with pytest.raises(ValidationError) as excinfo:
        a.full_clean()
    assert "cycle" in " ".join(errors_of(excinfo)["parent"])
    a.parent = a
    with pytest.raises(ValidationError) as excinfo:
        a.full_clean()
    assert "own parent" in " ".join(errors_of(excinfo)["parent"])
    assert Company.objects.get(pk=a.pk).parent_id is None


def test_company_domain_unique_per_organization_and_normalized(world):
    first = Company(organization=world.org, name="Acme", domain="https://www.Acme.test/about")
    first.full_clean()
    first.save()
    assert first.domain == "acme.test"
    dup = Company(organization=world.org, name="Acme 2", domain="acme.test")
    with pytest.raises(ValidationError) as excinfo:
        dup.full_clean()
    assert errors_of(excinfo)["domain"] == ["A company with this domain already exists in your organization."]
    other = Company(organization=world.other_org, name="Acme", domain="acme.test")
    other.full_clean()


def test_company_parent_from_another_organization(world):
    foreign = Company.objects.create(organization=world.other_org, name="Foreign")
    company = Company(organization=world.org, name="Mine", parent=foreign)
    with pytest.raises(ValidationError) as excinfo:
        company.full_clean()
    assert "parent" in errors_of(excinfo)


def test_unknown_tag_colour(world):
    tag = Tag(organization=world.org, name="VIP", colour="octarine")
    with pytest.raises(ValidationError) as excinfo:
        tag.full_clean()
    assert "colour" in errors_of(excinfo)
    assert not Tag.objects.filter(name="VIP").exists()


def test_tag_name_unique_per_organization_case_insensitive(world):
    Tag.objects.create(organization=world.org, name="VIP")
    with pytest.raises(ValidationError) as excinfo:
        Tag(organization=world.org, name="vip").full_clean()
    assert "already exists" in str(excinfo.value)
    Tag(organization=world.other_org, name="vip").full_clean()


def test_invalid_timezone(world):
    assert_rejected(world, {"first_name": "Ann", "timezone": "Mars/Olympus"}, "timezone", "not a time zone")
    contact = create_contact(organization=world.org, data={"first_name": "Ann", "timezone": "Europe/Berlin"})
    assert contact.timezone == "Europe/Berlin"


def test_database_keeps_emails_normalized_even_for_bulk_writes(world):
    from django.db import IntegrityError, transaction

    contact = create_contact(organization=world.org, data={"first_name": "Ann", "email": "ann@example.com"})
    with pytest.raises(IntegrityError, match="contact_email_normalized"), transaction.atomic():
        Contact.objects.filter(pk=contact.pk).update(email="Ann@Example.com")
    assert Contact.objects.get(pk=contact.pk).email == "ann@example.com"


def test_duplicate_names_and_links_are_reported_on_their_field(world):
    from contacts.models import ContactCompany, ContactRelationship
    from crm.models import Team

    Tag.objects.create(organization=world.org, name="VIP")
    with pytest.raises(ValidationError) as excinfo:
        Tag(organization=world.org, name="vip").full_clean()
    assert "name" in errors_of(excinfo)
    with pytest.raises(ValidationError) as excinfo:
        Team(organization=world.org, name="team a").full_clean()
    assert "name" in errors_of(excinfo)
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="k", label="K",
                                         field_type="text")
    with pytest.raises(ValidationError) as excinfo:
        CustomFieldDefinition(organization=world.org, model="contact", key="k", label="K2",
                              field_type="text").full_clean()
    assert "key" in errors_of(excinfo)
    a = create_contact(organization=world.org, data={"first_name": "A"})
    b = create_contact(organization=world.org, data={"first_name": "B"})
    co1 = Company.objects.create(organization=world.org, name="One")
    co2 = Company.objects.create(organization=world.org, name="Two")
    ContactCompany.objects.create(organization=world.org, contact=a, company=co1, is_primary=True)
    with pytest.raises(ValidationError) as excinfo:
        ContactCompany(organization=world.org, contact=a, company=co1).full_clean()
    assert "company" in errors_of(excinfo)
    with pytest.raises(ValidationError) as excinfo:
        ContactCompany(organization=world.org, contact=a, company=co2, is_primary=True).full_clean()
    assert errors_of(excinfo)["is_primary"] == ["A contact can have only one primary company."]
    ContactRelationship.objects.create(organization=world.org, from_contact=a, to_contact=b, type="colleague")
    with pytest.raises(ValidationError) as excinfo:
        ContactRelationship(organization=world.org, from_contact=a, to_contact=b, type="colleague").full_clean()
    assert "to_contact" in errors_of(excinfo)


def test_a_unique_constraint_lost_to_a_concurrent_write_names_the_field(world, monkeypatch):
    """Validation passed, then another request saved the same email first."""
    from crm.services import save_validated

    create_contact(organization=world.org, data={"first_name": "First", "email": "race@example.com"})
    late = Contact(organization=world.org, first_name="Late", email="race@example.com")
    monkeypatch.setattr(late, "full_clean", lambda: None)
    with pytest.raises(ValidationError) as excinfo:
        save_validated(late)
    assert errors_of(excinfo) == {"email": ["A contact with this email already exists in your organization."]}
    dup = Company(organization=world.org, name="Dup", domain="dup.test")
    Company.objects.create(organization=world.org, name="Orig", domain="dup.test")
    monkeypatch.setattr(dup, "full_clean", lambda: None)
    with pytest.raises(ValidationError) as excinfo:
        save_validated(dup)
    assert "domain" in errors_of(excinfo)
