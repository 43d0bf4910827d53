"""Every change to a contact or company is recorded: who, when, old → new,
including bulk updates that never call save()."""

import pytest

from companies.models import Company
from contacts.models import Contact
from contacts import bulk
from contacts.services import create_contact, update_contact
from crm.audit import change_context, history_for

pytestmark = pytest.mark.django_db


def events(obj):
    return list(history_for(obj).order_by("pgh_created_at", "pgh_id"))


def test_create_update_delete_are_recorded_with_actor(world):
    with change_context(actor=world.alice, source="test"):
        contact = create_contact(organization=world.org, data={"first_name": "Ann", "email": "ann@example.com"},
                                 actor=world.alice)
    with change_context(actor=world.bob, source="test"):
        update_contact(contact=contact, data={"last_name": "Lee", "lifecycle_stage": "customer"})
    contact_id = contact.pk
    with change_context(actor=world.admin, source="test"):
        Contact.all_objects.filter(pk=contact_id).delete()

    from pghistory.models import Events

    history = list(Events.objects.filter(pgh_obj_model="contacts.Contact", pgh_obj_id=str(contact_id))
                   .order_by("pgh_created_at", "pgh_id"))
    assert [e.pgh_label for e in history] == ["insert", "update", "delete"]
    insert, update, delete = history
    assert insert.pgh_context["user"] == world.alice.pk
    assert update.pgh_context["user"] == world.bob.pk
    assert update.pgh_diff["last_name"] == ["", "Lee"]
    assert update.pgh_diff["lifecycle_stage"] == ["lead", "customer"]
    assert update.pgh_diff["display_name"] == ["Ann", "Ann Lee"]
    assert "email" not in update.pgh_diff
    assert delete.pgh_context["user"] == world.admin.pk
    assert delete.pgh_data["email"] == "ann@example.com"


def test_bulk_update_records_one_event_per_row_with_old_and_new(world):
    contacts = [Contact.objects.create(organization=world.org, first_name=f"C{i}", lifecycle_stage="lead")
                for i in range(3)]
    job = bulk.start(world.manager_a, action="set_stage", params={"lifecycle_stage": "sql"},
                     ids=[c.pk for c in contacts])
    assert job.succeeded == 3
    for contact in contacts:
        last = events(contact)[-1]
        assert last.pgh_label == "update"
        assert last.pgh_diff["lifecycle_stage"] == ["lead", "sql"]
        assert last.pgh_context["user"] == world.manager_a.pk
        assert last.pgh_context["source"] == "bulk"
        assert last.pgh_context["operation"] == job.pk


def test_bulk_update_validates_values(world):
    from django.core.exceptions import ValidationError

    contact = Contact.objects.create(organization=world.org, first_name="C")
    with pytest.raises(ValidationError) as excinfo:
        bulk.start(world.admin, action="set_stage", params={"lifecycle_stage": "bogus"}, ids=[contact.pk])
    assert "lifecycle_stage" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        bulk.start(world.admin, action="set_stage", params={"organization_id": world.other_org.pk}, ids=[contact.pk])
    assert "organization_id" in excinfo.value.message_dict
    assert Contact.objects.get(pk=contact.pk).lifecycle_stage == "lead"


def test_soft_delete_and_restore_are_recorded(world):
    contact = Contact.objects.create(organization=world.org, first_name="Ann")
    contact.soft_delete()
    contact.restore()
    diffs = [e.pgh_diff for e in events(contact)[1:]]
    assert diffs[0]["deleted_at"][0] is None and diffs[0]["deleted_at"][1] is not None
    assert diffs[1]["deleted_at"][1] is None


def test_company_changes_are_recorded(world):
    company = Company.objects.create(organization=world.org, name="Initech")
    Company.objects.filter(pk=company.pk).update(industry="Software")
    last = events(company)[-1]
    assert last.pgh_label == "update"
    assert last.pgh_diff["industry"] == ["", "Software"]
    assert "name" not in last.pgh_diff


def test_request_context_records_the_signed_in_user(world, client):
    contact = Contact.objects.create(organization=world.org, first_name="Ann")
    world.admin.is_superuser = True
    world.admin.save()
    client.force_login(world.admin)
    response = client.post(f"/admin/contacts/contact/{contact.pk}/change/", {
        "first_name": "Anne", "lifecycle_stage": "lead", "score": 0, "preferred_contact_time": "any",
        "contacttag_set-TOTAL_FORMS": 0, "contacttag_set-INITIAL_FORMS": 0,
        "company_links-TOTAL_FORMS": 0, "company_links-INITIAL_FORMS": 0,
        "organization": world.org.pk,
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    last = events(contact)[-1]
    assert last.pgh_diff["first_name"] == ["Ann", "Anne"]
    assert last.pgh_context["user"] == world.admin.pk
    assert last.pgh_context["source"] == "admin"
