"""Webhook events (crm/webhooks.py, triggers of migration crm/0007): every writer of contacts,
companies and activities produces its event with old → new changes, only for organizations
with a subscribed active endpoint; erasure removes the person's events."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from activities.services import delete_activity, log_activity, update_activity
from companies.services import create_company, delete_company, restore_company, update_company
from contacts import bulk, imports
from contacts.merge import merge, undo
from contacts.models import Contact
from contacts.services import create_contact, restore_contact, soft_delete_contact, update_contact
from contacts.signals import contact_erasing
from crm import webhooks
from crm.audit import change_context
from crm.models import WEBHOOK_EVENT_TYPES, WebhookDelivery, WebhookEvent

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def endpoint(world):
    return webhooks.create_endpoint(organization_id=world.org.pk, url="http://127.0.0.1:9/hook",
                                    event_types=WEBHOOK_EVENT_TYPES, actor=world.admin)


def events(type_=None):
    rows = WebhookEvent.objects.order_by("id")
    return list(rows.filter(type=type_) if type_ else rows)


def last(type_):
    found = events(type_)
    assert found, f"no {type_} event; got {[e.type for e in events()]}"
    return found[-1]


def make_contact(world, **data):
    return create_contact(organization=world.org, data={"first_name": "Ann", "last_name": "Lee", **data},
                          actor=world.admin)


def test_no_endpoint_no_event(world):
    make_contact(world, email="ann@example.com")
    assert not WebhookEvent.objects.exists()


def test_other_organizations_and_unsubscribed_types_make_no_event(world, endpoint):
    webhooks.update_endpoint(endpoint, data={"event_types": ["contact.updated"]})
    create_contact(organization=world.other_org, data={"first_name": "Olga"}, actor=world.charlie)
    contact = make_contact(world)
    assert not WebhookEvent.objects.exists()
    update_contact(contact=contact, data={"job_title": "CTO"}, actor=world.admin)
    assert [e.type for e in events()] == ["contact.updated"]
    webhooks.update_endpoint(endpoint, data={"is_active": False})
    update_contact(contact=contact, data={"job_title": "CEO"}, actor=world.admin)
    assert len(events()) == 1


def test_service_create_update_with_changes_and_one_delivery_per_endpoint(world, endpoint):
    second = webhooks.create_endpoint(organization_id=world.org.pk, url="http://127.0.0.1:9/other",
                                      event_types=["contact.updated"])
    with change_context(actor=world.admin, source="web"):
        contact = make_contact(world, email="ann@example.com")
        update_contact(contact=contact, data={"job_title": "CTO", "email": "ann@new.example.com"}, actor=world.admin)
    created = last("contact.created")
    assert created.object_id == contact.pk and created.payload["object"]["email"] == "ann@example.com"
    assert "embedding" not in created.payload["object"] and "search_vector" not in created.payload["object"]
    updated = last("contact.updated")
    assert updated.payload["changes"] == {"job_title": {"old": "", "new": "CTO"},
                                          "email": {"old": "ann@example.com", "new": "ann@new.example.com"}}
    assert updated.payload["context"] == {"source": "web", "user": world.admin.pk}
    assert set(WebhookDelivery.objects.filter(event=updated).values_list("endpoint_id", flat=True)) == {
        endpoint.pk, second.pk}
    assert WebhookDelivery.objects.filter(event=created).count() == 1
    assert len({e.event_id for e in events()}) == 2  # unique event ids


def test_a_save_that_changes_only_derived_columns_is_no_event(world, endpoint):
    contact = make_contact(world)
    before = len(events())
    Contact.objects.filter(pk=contact.pk).update(last_activity_at="2026-01-01T00:00:00Z")
    contact.save()
    assert len(events()) == before


def test_form_page_create_and_edit(client, world, endpoint):
    client.force_login(world.admin)
    response = client.post("/contacts/new/", {"first_name": "Bea", "last_name": "Form", "email": "bea@example.com",
                                              "lifecycle_stage": "lead", "preferred_contact_time": "any", "score": "10",
                                              "owner": world.admin.pk, "team": world.team_a.pk})
    assert response.status_code == 302, response.content.decode()[:2000]
    contact = Contact.objects.get(email="bea@example.com")
    assert last("contact.created").object_id == contact.pk
    assert last("contact.created").payload["context"]["source"] == "web"
    response = client.post(f"/contacts/{contact.pk}/edit/", {
        "first_name": "Bea", "last_name": "Form", "email": "bea@example.com", "lifecycle_stage": "customer",
        "preferred_contact_time": "any", "score": "10", "owner": world.admin.pk, "team": world.team_a.pk})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert last("contact.updated").payload["changes"]["lifecycle_stage"] == {"old": "lead", "new": "customer"}


def test_api_update(client, world, endpoint):
    contact = make_contact(world, job_title="Dev")
    client.force_login(world.admin)
    response = client.patch(f"/api/contacts/{contact.pk}/", {"job_title": "Lead dev"}, content_type="application/json")
    assert response.status_code == 200, response.content
    event = last("contact.updated")
    assert event.payload["changes"]["job_title"] == {"old": "Dev", "new": "Lead dev"}
    assert event.payload["context"]["source"] == "api"


def test_inline_edit(client, world, endpoint):
    contact = make_contact(world)
    client.force_login(world.admin)
    response = client.post(f"/contacts/{contact.pk}/field/job_title/", {"inline-job_title-job_title": "Head of Sales"},
                           **HTMX)
    assert response.status_code == 200
    assert last("contact.updated").payload["changes"]["job_title"] == {"old": "", "new": "Head of Sales"}


def test_bulk_edit_one_event_per_row(world, endpoint):
    people = [make_contact(world, email=f"p{i}@example.com") for i in range(3)]
    job = bulk.start(world.admin, action="set_stage", params={"lifecycle_stage": "customer"},
                     ids=[p.pk for p in people])
    job.refresh_from_db()
    updated = events("contact.updated")
    assert sorted(e.object_id for e in updated) == sorted(p.pk for p in people)
    assert all(e.payload["changes"]["lifecycle_stage"] == {"old": "lead", "new": "customer"} for e in updated)
    bulk.start(world.admin, action="delete", params={}, ids=[people[0].pk])
    assert last("contact.deleted").object_id == people[0].pk


def test_import_one_event_per_row(world, endpoint):
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["First Name", "Email"], ["Imo", "imo@example.com"], ["Ida", "ida@example.com"]])
    imp = imports.upload(world.admin, SimpleUploadedFile("people.csv", buffer.getvalue().encode()))
    imp = imports.configure(imp, world.admin, mapping=imp.mapping)
    imports.start_import(imp, world.admin)
    created = events("contact.created")
    assert sorted(e.payload["object"]["email"] for e in created) == ["ida@example.com", "imo@example.com"]
    assert {e.payload["context"].get("source") for e in created} == {"import"}


def test_soft_delete_restore_and_hard_delete(world, endpoint):
    contact = make_contact(world, email="ann@example.com")
    soft_delete_contact(contact)
    deleted = last("contact.deleted")
    assert deleted.payload["changes"]["deleted_at"]["old"] is None
    restore_contact(Contact.all_objects.get(pk=contact.pk))
    assert last("contact.restored").object_id == contact.pk
    before = len(events())
    Contact.all_objects.filter(pk=contact.pk).delete()
    hard = events()[before:]
    assert [e.type for e in hard] == ["contact.deleted"]
    # A row deleted for good leaves ids only in the outbox, none of the person's data.
    assert hard[0].payload["object"] == {"id": contact.pk, "organization_id": world.org.pk}


def test_merge_and_undo(world, endpoint):
    keep = make_contact(world, email="keep@example.com")
    gone = make_contact(world, first_name="Anne", email="gone@example.com")
    done = merge(world.admin, "contact", keep.pk, [gone.pk])
    merged = last("contact.merged")
    assert merged.object_id == gone.pk
    assert merged.payload["changes"]["merged_into_id"] == {"old": None, "new": keep.pk}
    undo(world.admin, done)
    assert last("contact.restored").object_id == gone.pk


def test_companies_and_activities(world, endpoint):
    company = create_company(organization=world.org, data={"name": "Initech"}, actor=world.admin)
    update_company(company=company, data={"industry": "Software"}, actor=world.admin)
    assert last("company.updated").payload["changes"]["industry"] == {"old": "", "new": "Software"}
    delete_company(company)
    restore_company(type(company).all_objects.get(pk=company.pk))
    assert [e.type for e in events() if e.object_type == "company"] == [
        "company.created", "company.updated", "company.deleted", "company.restored"]
    contact = make_contact(world)
    activity = log_activity(organization_id=world.org.pk, data={"contact": contact, "type": "note",
                                                                 "body": "Called about the renewal"},
                            actor=world.admin)
    update_activity(activity=activity, data={"body": "Renewal agreed"}, actor=world.admin)
    assert last("activity.updated").payload["changes"]["body"] == {"old": "Called about the renewal",
                                                                   "new": "Renewal agreed"}
    activity_id = activity.pk
    delete_activity(activity)
    assert last("activity.deleted").payload["object"] == {
        "id": activity_id, "organization_id": world.org.pk, "contact_id": contact.pk, "company_id": None,
        "type": "note"}


def test_erasure_deletes_the_persons_events_and_deliveries(world, endpoint):
    ann = make_contact(world, email="ann@example.com")
    update_contact(contact=ann, data={"job_title": "CTO"}, actor=world.admin)
    log_activity(organization_id=world.org.pk, data={"contact": ann, "type": "note", "body": "Ann's note"},
                 actor=world.admin)
    twin = make_contact(world, first_name="Annie", email="annie@example.com")
    merge(world.admin, "contact", ann.pk, [twin.pk])
    other = make_contact(world, first_name="Otto", email="otto@example.com")
    assert WebhookEvent.objects.filter(object_id=ann.pk).exists()
    contact_erasing.send(sender=Contact, contact=ann, organization=world.org)
    left = events()
    for needle in ("ann@example.com", "annie", "Ann's note", "CTO"):
        assert all(needle not in str(e.payload) for e in left), (needle, [e.payload for e in left])
    assert {e.object_id for e in left if e.object_type == "contact"} == {other.pk}
    assert not WebhookDelivery.objects.exclude(event__in=left).exists()


def test_old_events_are_purged_with_their_log_unless_still_pending(world, endpoint):
    from datetime import timedelta

    from django.utils import timezone

    make_contact(world, email="old@example.com")
    make_contact(world, first_name="Pending", email="pending@example.com")
    make_contact(world, first_name="New", email="new@example.com")
    old, waiting, new = events()
    WebhookEvent.objects.filter(pk__in=[old.pk, waiting.pk]).update(created_at=timezone.now() - timedelta(days=31))
    WebhookDelivery.objects.filter(event__in=[old, new]).update(status="succeeded")
    assert webhooks.purge_old_events() == 1
    assert [e.pk for e in events()] == [waiting.pk, new.pk]
    assert not WebhookDelivery.objects.filter(event_id=old.pk).exists()


def test_company_merge(world, endpoint):
    keep = create_company(organization=world.org, data={"name": "Initech"}, actor=world.admin)
    gone = create_company(organization=world.org, data={"name": "Initech Inc"}, actor=world.admin)
    merge(world.admin, "company", keep.pk, [gone.pk])
    merged = last("company.merged")
    assert merged.object_id == gone.pk and merged.payload["changes"]["merged_into_id"]["new"] == keep.pk


def test_encrypted_columns_are_never_sent_and_a_score_change_alone_is_no_event(world, endpoint):
    from contacts.services import apply_preset, set_phone_encryption

    apply_preset(world.org, "healthcare")
    set_phone_encryption(world.org, encrypt=True, inline=True)
    contact = make_contact(world, mobile="+14155550142", custom_fields={"medical_notes": "Allergic to nuts"})
    sent = last("contact.created").payload["object"]
    assert not {"custom_fields_sealed", "phone_sealed", "mobile_sealed", "phone_hash", "mobile_hash"} & set(sent)
    assert "Allergic" not in str(sent) and "4155550142" not in str(sent)
    count = len(events())
    Contact.objects.filter(pk=contact.pk).update(score=77)  # as the scoring worker writes it
    assert len(events()) == count
    update_contact(contact=contact, data={"job_title": "CTO"}, actor=world.admin)
    assert last("contact.updated").payload["changes"] == {"job_title": {"old": "", "new": "CTO"}}
