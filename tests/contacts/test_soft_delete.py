import pytest
from django.core.exceptions import ValidationError

from contacts.models import Contact, ContactTag
from contacts.services import create_contact, restore_contact, set_tags, soft_delete_contact
from crm.models import Tag

pytestmark = pytest.mark.django_db


def test_soft_delete_hides_from_default_queryset_and_restore_brings_back(world):
    contact = create_contact(organization=world.org, data={"first_name": "Ann", "email": "ann@example.com"})
    tag = Tag.objects.create(organization=world.org, name="VIP")
    set_tags(contact, [tag])
    assert Tag.objects.get(pk=tag.pk).usage_count == 1

    soft_delete_contact(contact)
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert Contact.all_objects.deleted().filter(pk=contact.pk).exists()
    assert Tag.objects.get(pk=tag.pk).usage_count == 0
    # The row and its links are kept, so restoring loses nothing.
    assert ContactTag.objects.filter(contact_id=contact.pk).count() == 1

    restore_contact(Contact.all_objects.get(pk=contact.pk))
    restored = Contact.objects.get(pk=contact.pk)
    assert restored.deleted_at is None and restored.email == "ann@example.com"
    assert Tag.objects.get(pk=tag.pk).usage_count == 1


def test_restore_refuses_when_the_email_was_taken_meanwhile(world):
    old = create_contact(organization=world.org, data={"first_name": "Ann", "email": "ann@example.com"})
    soft_delete_contact(old)
    create_contact(organization=world.org, data={"first_name": "New Ann", "email": "ann@example.com"})
    with pytest.raises(ValidationError) as excinfo:
        restore_contact(Contact.all_objects.get(pk=old.pk))
    assert excinfo.value.message_dict["email"] == ["A contact with this email already exists in your organization."]
    assert Contact.all_objects.get(pk=old.pk).deleted_at is not None


def test_tags_must_belong_to_the_contacts_organization(world):
    contact = create_contact(organization=world.org, data={"first_name": "Ann"})
    foreign = Tag.objects.create(organization=world.other_org, name="Foreign")
    with pytest.raises(ValidationError) as excinfo:
        set_tags(contact, [foreign])
    assert "tags" in excinfo.value.message_dict
    assert not ContactTag.objects.exists()


def test_consent_ledger_is_append_only(world):
    from django.db import ProgrammingError, transaction

    from contacts.models import ConsentEvent
    from contacts.services import record_consent

    contact = create_contact(organization=world.org, data={"first_name": "Ann"})
    event = record_consent(contact=contact, channel="sms", status="granted", source="web_form",
                           evidence="Checked 'Text me'")
    record_consent(contact=contact, channel="sms", status="revoked", source="sms_keyword", evidence="STOP")
    assert Contact.objects.get(pk=contact.pk).sms_consent == "revoked"
    assert ConsentEvent.objects.filter(contact=contact).count() == 2
    with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic():
        ConsentEvent.objects.filter(pk=event.pk).update(status="revoked")
    with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic():
        ConsentEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(ValidationError) as excinfo:
        record_consent(contact=contact, channel="fax", status="granted", source="manual")
    assert "channel" in excinfo.value.message_dict
