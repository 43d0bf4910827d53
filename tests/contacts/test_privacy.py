"""GDPR features (contacts.privacy): subject access export content and download, tombstones
blocking re-creation and re-import until consent is recorded, the request log and its 30-day
purge, trash retention, who may do what (404 outside the user's view, 403 for non-admins),
the consent ledger over the API, and masked log lines."""

from __future__ import annotations

import csv
import io
import json
import logging
import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from activities.models import Activity
from activities.services import log_activity
from companies.models import Company
from contacts import imports, privacy
from contacts.models import (
    ConsentEvent, Contact, ContactCompany, ContactImport, ContactRelationship, ErasureTombstone, ImportRow,
    PrivacyRequest,
)
from contacts.services import create_contact, record_consent, set_tags, soft_delete_contact, update_contact
from crm.models import CustomFieldDefinition, Job, Tag
from messaging.models import Message
from rest_framework.test import APIClient

from tests.conftest import fresh

pytestmark = pytest.mark.django_db

EMAIL, PHONE = "ottilie.exportwell@example.org", "+14155550199"


@pytest.fixture
def api():
    """api(user) -> an APIClient signed in as a fresh copy of user."""
    def client_for(user):
        client = APIClient()
        client.force_authenticate(fresh(user))
        return client
    return client_for


@pytest.fixture
def person(world):
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="budget", label="Budget",
                                         field_type="number")
    contact = create_contact(organization=world.org, data={
        "first_name": "Ottilie", "last_name": "Exportwell", "email": EMAIL, "mobile": PHONE,
        "team": world.team_a, "owner": world.alice, "custom_fields": {"budget": 1500}}, actor=world.admin)
    update_contact(contact=contact, data={"job_title": "Buyer"}, actor=world.admin)
    set_tags(contact, [Tag.objects.create(organization=world.org, name="VIP")])
    company = Company.objects.create(organization=world.org, name="Initech", domain="initech.example")
    ContactCompany.objects.create(organization=world.org, contact=contact, company=company, role="Buyer",
                                  is_primary=True)
    colleague = create_contact(organization=world.org, data={"first_name": "Col", "team": world.team_a})
    ContactRelationship.objects.create(organization=world.org, from_contact=contact, to_contact=colleague,
                                       type="reports_to")
    record_consent(contact=contact, channel="sms", status="granted", source="web_form", evidence="signup")
    log_activity(organization_id=world.org.pk, actor=world.admin, data={
        "contact": contact, "type": Activity.Type.CALL, "subject": "Intro call", "body": "Went well"})
    log_activity(organization_id=world.org.pk, actor=world.admin, data={
        "contact": contact, "type": Activity.Type.TASK, "subject": "Send quote", "assigned_to": world.alice})
    Message.objects.create(organization=world.org, contact=contact, to_number=PHONE, body="Hello Ottilie")
    Contact.all_objects.filter(pk=contact.pk).update(enrichment={"timezone": {"value": "America/Los_Angeles",
                                                                              "source": "phone"}}, score=42)
    contact.refresh_from_db()
    return contact


def read_zip(job) -> zipfile.ZipFile:
    with default_storage.open(job.params["file"], "rb") as f:
        return zipfile.ZipFile(io.BytesIO(f.read()))


# -- subject access export --------------------------------------------------------------------

def test_export_holds_everything_about_the_contact(world, person, api):
    response = api(world.admin).post(f"/api/contacts/{person.pk}/privacy-export/")
    assert response.status_code == 202, response.content
    request = PrivacyRequest.objects.get(pk=response.json()["id"])
    assert (request.kind, request.status, request.contact_id) == ("export", "queued", person.pk)
    job = privacy.run_export(request.job_id)
    assert job.status == Job.Status.DONE, job.error
    archive = read_zip(job)
    names = set(archive.namelist())
    for kind in ("contact", "custom_fields", "tags", "companies", "relationships", "consent", "activities",
                 "tasks", "messages", "enrichment", "insights", "history"):
        assert f"{kind}.csv" in names
    data = json.loads(archive.read("subject.json"))
    assert data["contact"]["email"] == EMAIL and data["contact"]["mobile"] == PHONE
    assert data["custom_fields"] == [{"key": "budget", "label": "Budget", "value": 1500}]
    assert data["tags"] == [{"tag": "VIP"}]
    assert data["companies"][0]["company"] == "Initech" and data["companies"][0]["role"] == "Buyer"
    assert data["relationships"][0]["type"] == "reports_to"
    assert [(c["channel"], c["status"], c["evidence"]) for c in data["consent"]] == [("sms", "granted", "signup")]
    assert [a["subject"] for a in data["activities"]] == ["Intro call"]
    assert [t["subject"] for t in data["tasks"]] == ["Send quote"]
    assert data["messages"][0]["body"] == "Hello Ottilie"
    assert data["enrichment"][0]["field"] == "timezone"
    assert data["insights"][0]["score"] == 42
    assert any(h["event"] == "update" and h["row"].get("job_title") == "Buyer" for h in data["history"])
    rows = list(csv.reader(io.StringIO(archive.read("contact.csv").decode("utf-8-sig"))))
    assert ["email", EMAIL] in rows and ["mobile", "'" + PHONE] in rows  # neutralized like every export

    # Downloadable by org admins through the API while it is kept, then deleted by the purge.
    listed = api(world.admin).get("/api/privacy-requests/").json()["results"]
    url = listed[0]["download_url"]
    assert url
    download = api(world.admin).get(url)
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))).read("subject.json")
    assert api(world.manager_a).get(url).status_code == 404
    Job.objects.filter(pk=job.pk).update(finished_at=timezone.now() - privacy.export_ttl() - timedelta(minutes=1))
    assert api(world.admin).get(url).status_code == 404
    assert privacy.purge_privacy()["files"] == 1
    assert not default_storage.exists(job.params["file"])


def test_export_page_flow_and_download(world, person, client):
    client.force_login(world.admin)
    page = client.get(f"/contacts/{person.pk}/")
    assert f"/contacts/{person.pk}/privacy/erase/" in page.content.decode()
    confirm = client.get(f"/contacts/{person.pk}/privacy/export/")
    assert confirm.status_code == 200 and "Export everything about" in confirm.content.decode()
    assert client.post(f"/contacts/{person.pk}/privacy/export/").status_code == 302
    request = PrivacyRequest.objects.get()
    privacy.run_export(request.job_id)
    settings_page = client.get("/settings/privacy/").content.decode()
    assert f"contact #{person.pk}" in settings_page and "Exportwell" not in settings_page
    download = client.get(f"/settings/privacy/requests/{request.pk}/download/")
    assert download.status_code == 200


# -- permissions ------------------------------------------------------------------------------

@pytest.mark.parametrize("who, code", [("charlie", 404), ("other_rep", 404), ("rita", 404), ("manager_b", 404),
                                       ("alice", 403), ("viewer_a", 403), ("manager_a", 403), ("admin", 202)])
@pytest.mark.parametrize("action", ["erase", "privacy-export"])
def test_only_org_admins_export_or_erase_others_get_404_or_403(world, person, api, who, code, action):
    response = api(getattr(world, who)).post(f"/api/contacts/{person.pk}/{action}/")
    assert response.status_code == code, response.content
    assert PrivacyRequest.objects.count() == (1 if code == 202 else 0)
    assert Contact.objects.filter(pk=person.pk).exists()


@pytest.mark.parametrize("who, code", [("charlie", 404), ("rita", 404), ("alice", 403), ("viewer_a", 403),
                                       ("admin", 200)])
def test_confirmation_pages_follow_the_same_rules(world, person, client, who, code):
    client.force_login(getattr(world, who))
    assert client.get(f"/contacts/{person.pk}/privacy/erase/").status_code == code
    if code != 200:
        assert client.post(f"/contacts/{person.pk}/privacy/erase/").status_code == code
        assert not PrivacyRequest.objects.exists()


def test_privacy_card_only_for_admins(world, person, client):
    client.force_login(world.alice)
    assert "/privacy/erase/" not in client.get(f"/contacts/{person.pk}/").content.decode()


def test_request_log_is_for_admins_only(world, person, api, client):
    privacy.request_erasure(fresh(world.admin), person.pk)
    assert [r["reference"] for r in api(world.admin).get("/api/privacy-requests/").json()["results"]] == [
        f"contact #{person.pk}"]
    for who in ("manager_a", "alice", "charlie"):
        assert api(getattr(world, who)).get("/api/privacy-requests/").json()["results"] == []
    client.force_login(world.manager_a)
    assert client.get("/settings/privacy/").status_code == 403
    body = json.dumps(api(world.admin).get("/api/privacy-requests/").json())
    assert EMAIL not in body and "Ottilie" not in body


def test_request_log_entries_are_purged_after_30_days(world, person):
    old = privacy.request_export(fresh(world.admin), person.pk)
    recent = privacy.request_export(fresh(world.admin), person.pk)
    PrivacyRequest.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    PrivacyRequest.objects.filter(pk=recent.pk).update(created_at=timezone.now() - timedelta(days=29))
    assert privacy.purge_privacy()["requests"] == 1
    assert list(PrivacyRequest.objects.values_list("pk", flat=True)) == [recent.pk]


# -- tombstones -------------------------------------------------------------------------------

def erased(world, person):
    request = privacy.request_erasure(fresh(world.admin), person.pk)
    job = privacy.run_erasure(request.job_id)
    assert job.status == Job.Status.DONE, job.error
    assert not Contact.all_objects.filter(pk=person.pk).exists()


def test_tombstone_blocks_recreation_until_consent_is_recorded(world, person, api):
    erased(world, person)
    client = api(world.admin)
    again = client.post("/api/contacts/", {"first_name": "O", "email": EMAIL.upper(), "team": world.team_a.pk},
                        format="json")
    assert again.status_code == 400 and "erased at their request" in again.json()["email"][0]
    by_phone = client.post("/api/contacts/", {"first_name": "O", "phone": "(415) 555-0199",
                                              "team": world.team_a.pk}, format="json")
    assert by_phone.status_code == 400 and "phone" in by_phone.json()
    assert Contact.all_objects.count() == 1  # only the colleague

    # Non-admins cannot lift; bad input names the field.
    assert api(world.manager_a).post("/api/privacy-tombstones/lift/", {"email": EMAIL, "evidence": "x"}).status_code \
        == 403
    assert "evidence" in client.post("/api/privacy-tombstones/lift/", {"email": EMAIL}).json()
    assert "email" in client.post("/api/privacy-tombstones/lift/", {"email": "nobody@example.org",
                                                                    "evidence": "form"}).json()
    lifted = client.post("/api/privacy-tombstones/lift/", {"email": EMAIL, "evidence": "Asked by email on 4 Dec"})
    assert lifted.status_code == 200 and lifted.json() == {"lifted": 1}
    stone = ErasureTombstone.objects.get(kind="email")
    assert stone.lifted_by_id == world.admin.pk and stone.evidence == "Asked by email on 4 Dec"
    back = client.post("/api/contacts/", {"first_name": "O", "email": EMAIL, "team": world.team_a.pk},
                       format="json")
    assert back.status_code == 201, back.content
    # The phone is still blocked until its own consent is recorded.
    assert client.patch(f"/api/contacts/{back.json()['id']}/", {"mobile": PHONE}, format="json").status_code == 400


def test_tombstone_skips_the_import_row_without_keeping_its_cells(world, person):
    erased(world, person)
    text = ("First Name,Email,Mobile Phone\n"
            f"Ottilie,{EMAIL},\n"
            "Someone,,(415) 555-0199\n"
            "Fine,fine@example.org,\n")
    imp = imports.upload(world.admin, SimpleUploadedFile("again.csv", text.encode()))
    imp = imports.configure(imp, world.admin, mapping=imp.mapping)
    imp = imports.start_import(imp, world.admin)
    assert imp.stage == ContactImport.Stage.IMPORTED, imp.error
    rows = {r.line: r for r in ImportRow.objects.filter(contact_import=imp)}
    assert rows[2].outcome == "skipped" and rows[2].message.startswith("Row 2: Email: This person's data was erased")
    assert rows[3].outcome == "skipped" and "Mobile" in rows[3].message
    assert rows[2].data is None and rows[3].data is None
    assert rows[4].outcome == "created"
    assert not Contact.objects.filter(email=EMAIL).exists()


def test_a_shared_phone_does_not_block_edits_of_the_other_contact(world, person):
    sibling = create_contact(organization=world.org, data={"first_name": "Sib", "phone": PHONE,
                                                           "team": world.team_a})
    erased(world, person)
    sibling = Contact.objects.get(pk=sibling.pk)
    update_contact(contact=sibling, data={"job_title": "Twin"})
    assert Contact.objects.get(pk=sibling.pk).job_title == "Twin"


def test_tombstones_are_per_organization(world, person):
    erased(world, person)
    other = create_contact(organization=world.other_org, data={"first_name": "O", "email": EMAIL})
    assert other.pk


# -- retention --------------------------------------------------------------------------------

def test_trash_is_purged_after_the_retention_without_tombstone(world, person):
    soft_delete_contact(person)
    Contact.all_objects.filter(pk=person.pk).update(deleted_at=timezone.now() - timedelta(days=29))
    assert privacy.purge_trash() == 0
    Contact.all_objects.filter(pk=person.pk).update(deleted_at=timezone.now() - timedelta(days=31))
    assert privacy.purge_trash() == 1
    assert not Contact.all_objects.filter(pk=person.pk).exists()
    assert not ConsentEvent.objects.exists() and not Message.objects.exists()
    assert not ErasureTombstone.objects.exists()
    # Purged, the person can be added again.
    assert create_contact(organization=world.org, data={"first_name": "O", "email": EMAIL}).pk


def test_retention_is_an_organization_setting(world, person, client):
    soft_delete_contact(person)
    Contact.all_objects.filter(pk=person.pk).update(deleted_at=timezone.now() - timedelta(days=31))
    client.force_login(world.admin)
    bad = client.post("/settings/privacy/", {"form": "retention", "retention-trash_retention_days": "0"})
    assert bad.status_code == 400 and "greater than or equal to 1" in bad.content.decode()
    ok = client.post("/settings/privacy/", {"form": "retention", "retention-trash_retention_days": "60"})
    assert ok.status_code == 302
    world.org.refresh_from_db()
    assert world.org.trash_retention_days == 60
    assert privacy.purge_trash() == 0
    assert Contact.all_objects.filter(pk=person.pk).exists()


def test_lift_form_on_the_settings_page(world, person, client):
    erased(world, person)
    client.force_login(world.admin)
    missing = client.post("/settings/privacy/", {"form": "lift", "lift-email": EMAIL})
    assert missing.status_code == 400
    done = client.post("/settings/privacy/", {"form": "lift", "lift-phone": "415 555 0199",
                                              "lift-evidence": "Called us"})
    assert done.status_code == 302
    assert ErasureTombstone.objects.get(kind="phone").lifted_at is not None


# -- consent ledger over the API --------------------------------------------------------------

def test_consent_ledger_in_the_api(world, person, api):
    url = f"/api/contacts/{person.pk}/consent/"
    ledger = api(world.alice).get(url)
    assert ledger.status_code == 200 and [e["channel"] for e in ledger.json()] == ["sms"]
    recorded = api(world.alice).post(url, {"channel": "email", "status": "revoked", "source": "email_link"})
    assert recorded.status_code == 201, recorded.content
    person.refresh_from_db()
    assert person.email_consent == "revoked"
    assert "status" in api(world.alice).post(url, {"channel": "email", "status": "unknown",
                                                   "source": "manual"}).json()
    assert api(world.viewer_a).post(url, {"channel": "sms", "status": "revoked", "source": "manual"}).status_code \
        == 403
    assert api(world.charlie).get(url).status_code == 404
    assert api(world.rita).get(url).status_code == 404
    assert ConsentEvent.objects.count() == 2


# -- logs -------------------------------------------------------------------------------------

def test_log_lines_mask_emails_and_phone_numbers(caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("kith.sms").warning("Twilio said: number %s of %s is invalid", "+1 (415) 555-0199", EMAIL)
    line = caplog.records[-1].getMessage()
    assert "555-0199" not in line and "4155550199" not in line and EMAIL not in line
    assert "@example.org" in line  # still says which domain


def test_a_text_from_an_erased_number_creates_no_new_lead(world, person):
    from messaging.inbound import receive_message

    erased(world, person)
    result = receive_message(world.org, {"MessageSid": "SMafter1", "From": PHONE, "To": "+15005550006",
                                         "Body": "hello again"})
    assert result.message.contact_id is None
    assert not Contact.all_objects.filter(mobile=PHONE).exists()


def test_erasure_clears_registered_cache_keys(world, person, monkeypatch, django_capture_on_commit_callbacks):
    from django.core.cache import cache

    monkeypatch.setattr(privacy, "CACHE_KEYS", [lambda contact: [f"test:lookup:{contact.email}"]])
    cache.set(f"test:lookup:{EMAIL}", {"deliverable": True})
    with django_capture_on_commit_callbacks(execute=True):
        erased(world, person)
    assert cache.get(f"test:lookup:{EMAIL}") is None


def test_the_contact_form_names_the_erased_field(world, person, client):
    erased(world, person)
    client.force_login(world.alice)
    response = client.post("/contacts/new/", {
        "first_name": "Ottie", "email": EMAIL, "lifecycle_stage": "lead", "score": "0",
        "preferred_contact_time": "any", "owner": world.alice.pk, "team": world.team_a.pk})
    assert response.status_code == 400
    assert "erased at their request" in response.content.decode()
    assert not Contact.objects.filter(first_name="Ottie").exists()


def test_erasure_takes_trashed_copies_with_the_same_email_and_restore_checks_tombstones(world, person):
    old_copy = create_contact(organization=world.org, data={"first_name": "Ottilie", "email": "other@example.org"})
    soft_delete_contact(old_copy)
    Contact.all_objects.filter(pk=old_copy.pk).update(email=EMAIL)  # an earlier record of the person, deleted
    erased(world, person)
    assert not Contact.all_objects.filter(pk=old_copy.pk).exists()

    # A trashed record that got the email some other way cannot be restored while the tombstone stands.
    stray = create_contact(organization=world.org, data={"first_name": "Stray", "email": "stray@example.org"})
    soft_delete_contact(stray)
    Contact.all_objects.filter(pk=stray.pk).update(email=EMAIL)
    stray = Contact.all_objects.get(pk=stray.pk)
    with pytest.raises(ValidationError) as exc:
        stray.restore()
    assert "email" in exc.value.message_dict
    assert Contact.all_objects.get(pk=stray.pk).deleted_at is not None


def test_mentions_are_scrubbed_in_this_organization_only(world, person):
    from django.contrib.admin.models import CHANGE as ADMIN_CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    company_type = ContentType.objects.get_for_model(Company)
    ours = LogEntry.objects.create(user=world.admin, content_type=company_type, object_id="1",
                                   object_repr="Ottilie Exportwell Ltd", action_flag=ADMIN_CHANGE)
    theirs = LogEntry.objects.create(user=world.charlie, content_type=company_type, object_id="2",
                                     object_repr="Ottilie Exportwell Ltd", action_flag=ADMIN_CHANGE)
    note = log_activity(organization_id=world.other_org.pk, data={
        "company": Company.objects.create(organization=world.other_org, name="Globex Co"),
        "type": Activity.Type.NOTE, "body": "Ottilie Exportwell, their own contact"})
    erased(world, person)
    ours.refresh_from_db(), theirs.refresh_from_db(), note.refresh_from_db()
    assert ours.object_repr == "[erased] Ltd"
    assert theirs.object_repr == "Ottilie Exportwell Ltd" and note.body.startswith("Ottilie Exportwell")


def test_an_import_update_cannot_give_another_contact_an_erased_email(world, person):
    erased(world, person)
    other = create_contact(organization=world.org, data={"first_name": "Pat", "mobile": "+14155550123",
                                                         "team": world.team_a})
    text = f"First Name,Email,Mobile Phone\nPat,{EMAIL},+1 415 555 0123\n"
    imp = imports.upload(world.admin, SimpleUploadedFile("update.csv", text.encode()))
    imp = imports.configure(imp, world.admin, mapping=imp.mapping, options={"match_by": "phone"})
    imp = imports.start_import(imp, world.admin)
    row = ImportRow.objects.get(contact_import=imp)
    assert row.outcome == "skipped" and row.message.startswith("Row 2: Email: This person's data was erased")
    assert Contact.objects.get(pk=other.pk).email == ""


def test_request_log_queries_do_not_grow_with_rows(world, person, api, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def counts():
        with CaptureQueriesContext(connection) as on_api:
            assert api(world.admin).get("/api/privacy-requests/").status_code == 200
        client.force_login(world.admin)
        with CaptureQueriesContext(connection) as on_page:
            assert client.get("/settings/privacy/").status_code == 200
        return len(on_api), len(on_page)

    privacy.request_export(fresh(world.admin), person.pk)
    few = counts()
    for _ in range(6):
        request = privacy.request_export(fresh(world.admin), person.pk)
    privacy.run_export(request.job_id)
    assert counts() == few


def test_a_running_export_holding_the_person_is_cancelled(world, person, settings):
    from django.db import transaction

    from contacts import exports

    settings.KITH_EXPORT_CHUNK_SIZE = 1
    create_contact(organization=world.org, data={"first_name": "Later", "team": world.team_a})
    job = Job.objects.create(organization=world.org, kind=exports.KIND, task=exports.TASK, actor=world.admin,
                             params={"format": "csv", "columns": ["first_name", "email"],
                                     "ids": [person.pk] + list(Contact.objects.exclude(pk=person.pk)
                                                              .values_list("pk", flat=True)), "downloads": 0})
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        locked.status = Job.Status.RUNNING
        assert exports._step(locked) is False  # the first chunk (the person) is a part in storage
        locked.save()
    part = Job.objects.get(pk=job.pk).checkpoint["parts"][0]
    assert default_storage.exists(part)
    erased(world, person)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED and not default_storage.exists(part)
