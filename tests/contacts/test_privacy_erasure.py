"""Erasure completeness: a person whose email, phone and name are everywhere (created over the
API and edited, notes and a company note mentioning them, SMS out and in, an import file, CSV
and XLSX exports, a merged duplicate, a task with its notification, consent events), erased;
then nothing through the ORM, nothing in a raw pg_dump of the database (Fernet tokens of
encrypted columns decrypted and checked too), no file under MEDIA_ROOT and no captured log
line holds the email, the phone (E.164 and national spellings) or the name."""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from cryptography.fernet import InvalidToken
from django.apps import apps
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from encrypted_fields.fields import EncryptedCharField
from rest_framework.test import APIClient

from activities.models import Activity, Notification
from activities.services import log_activity
from companies.models import Company
from contacts import exports, imports, privacy
from contacts.merge import merge
from contacts.models import Contact, ContactImport, ErasureTombstone, PrivacyRequest
from contacts.services import create_contact, record_consent
from contacts.signals import contact_erasing
from messaging.inbound import receive_message
from messaging.models import Message, MessagingSettings
from messaging.services import send_sms
from tests.conftest import fresh

pytestmark = pytest.mark.django_db(transaction=True)

FIRST, LAST = "Zebulon", "Quixotegrove"
NAME = f"{FIRST} {LAST}"
EMAIL = "zebulon.quixotegrove@example.org"
WORK_EMAIL = "zq.work@quixote-example.net"
E164 = "+14155550142"
NATIONAL = ["(415) 555-0142", "415-555-0142", "4155550142", "415 555 0142"]
NEEDLES = [EMAIL, WORK_EMAIL, E164, *NATIONAL, NAME, LAST]


def pg_dump_path() -> str:
    """pg_dump next to the embedded server's postgres binary; the system one for an external server."""
    try:
        from pgserver._commands import POSTGRES_BIN_PATH

        candidate = Path(POSTGRES_BIN_PATH) / "pg_dump"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("pg_dump")
    assert found, "pg_dump not found"
    return found


def dump_database() -> str:
    s = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": s.get("PASSWORD") or ""}
    cmd = [pg_dump_path(), "--no-owner", "-U", s.get("USER") or "postgres", "-d", s["NAME"]]
    if s.get("HOST"):
        cmd += ["-h", s["HOST"]]
    if s.get("PORT"):
        cmd += ["-p", str(s["PORT"])]
    result = subprocess.run(cmd, env=env, capture_output=True, check=True)
    return result.stdout.decode("utf-8", errors="replace")


def decrypted_tokens(text: str) -> list[str]:
    """Every Fernet token in `text` that our keys decrypt, as plaintext."""
    fernet = EncryptedCharField(max_length=10).f
    plain = []
    for token in set(re.findall(r"gAAAAA[A-Za-z0-9_\-]+=*", text)):
        try:
            plain.append(fernet.decrypt(token.encode()).decode("utf-8", errors="replace"))
        except InvalidToken:
            continue
    return plain


def holds_person(text: str) -> list[str]:
    lowered = text.lower()
    return [n for n in NEEDLES if n.lower() in lowered]


def media_files() -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def file_text(path: Path) -> str:
    data = path.read_bytes()
    texts = [data]
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            texts += [archive.read(n) for n in archive.namelist()]
    return "\n".join(t.decode("utf-8", errors="ignore") for t in texts)


@pytest.fixture
def media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


def build_person(world):
    """The person, present everywhere a CRM keeps people."""
    admin = fresh(world.admin)
    # Everything that copies a person's data elsewhere is switched on: webhooks (the outbox keeps
    # payloads), sensitive custom fields (encrypted) and encrypted phone numbers.
    from crm import webhooks
    from crm.models import WEBHOOK_EVENT_TYPES
    from contacts.services import apply_preset, set_phone_encryption

    webhooks.create_endpoint(organization_id=world.org.pk, url="http://127.0.0.1:9/hook",
                             event_types=list(WEBHOOK_EVENT_TYPES))
    apply_preset(world.org, "healthcare")
    set_phone_encryption(world.org, encrypt=True, inline=True)
    api = APIClient()
    api.force_authenticate(admin)
    created = api.post("/api/contacts/", {"first_name": "Zeb", "last_name": LAST, "email": EMAIL,
                                           "mobile": E164, "team": world.team_a.pk, "owner": world.alice.pk,
                                           "description": f"Met {NAME} at the fair"}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    for patch in ({"first_name": FIRST}, {"job_title": "Head of Windmills"},
                  {"phone": "+1 415 555 0142", "description": f"Call {NAME} on (415) 555-0142"}):
        response = api.patch(f"/api/contacts/{pk}/", patch, format="json")
        assert response.status_code == 200, response.content
    response = api.patch(f"/api/contacts/{pk}/", {"custom_fields": {"medical_notes": f"{NAME}: allergic",
                                                                     "insurance_provider": "Acme Health"}},
                         format="json")
    assert response.status_code == 200, response.content
    contact = Contact.objects.get(pk=pk)
    assert contact.custom_fields["medical_notes"].startswith(NAME)

    record_consent(contact=contact, channel="sms", status="granted", source="web_form",
                   evidence=f"{NAME} ticked the box, {EMAIL}")
    record_consent(contact=contact, channel="email", status="granted", source="api", evidence="signup form")
    contact.refresh_from_db()
    MessagingSettings.objects.update_or_create(organization=world.org, defaults={
        "quiet_hours_start": "00:00", "quiet_hours_end": "00:00"})

    log_activity(organization_id=world.org.pk, actor=admin, data={
        "contact": contact, "type": Activity.Type.NOTE, "subject": f"Lunch with {NAME}",
        "body": f"{EMAIL} / {E164}"})
    log_activity(organization_id=world.org.pk, actor=admin, data={
        "contact": contact, "type": Activity.Type.TASK, "subject": f"Call {NAME}", "assigned_to": world.alice,
        "due_at": "2030-01-01T10:00:00Z"})
    company = Company.objects.create(organization=world.org, name="Windmill Works", domain="windmill.example")
    company_note = log_activity(organization_id=world.org.pk, actor=admin, data={
        "company": company, "type": Activity.Type.NOTE, "subject": "Board meeting",
        "body": f"{NAME} (415) 555-0142 will attend; write to {EMAIL}. Also Bob attends."})
    send_sms(admin, contact, body=f"Hi {FIRST}, see you Tuesday")
    receive_message(world.org, {"MessageSid": "SMerase0001", "From": E164, "To": "+15005550006",
                                "Body": f"Thanks! {NAME}"})
    assert Notification.objects.filter(url__startswith=f"/contacts/{contact.pk}/").count() == 2  # task, SMS

    # A duplicate of the same person, merged into them.
    duplicate = create_contact(organization=world.org, data={"first_name": FIRST, "last_name": LAST,
                                                              "email": WORK_EMAIL, "team": world.team_a})
    merge(admin, "contact", contact.pk, [duplicate.pk], fields={"email": contact.pk})
    contact.refresh_from_db()
    assert contact.email == EMAIL

    # An import file that holds them (updates the contact) and another person.
    text = ("First Name,Last Name,Email,Mobile Phone,Job Title\n"
            f"{FIRST},{LAST},{EMAIL},(415) 555-0142,Chief Windmill Officer\n"
            "Other,Person,other.person@example.com,,Clerk\n")
    imp = imports.upload(admin, SimpleUploadedFile("people.csv", text.encode()))
    imp = imports.configure(imp, admin, mapping=imp.mapping, options={"mode": "update"})
    assert imp.stage == ContactImport.Stage.PREVIEWED, imp.error
    imp = imports.start_import(imp, admin)
    assert imp.stage == ContactImport.Stage.IMPORTED, imp.error
    assert Contact.objects.filter(email=EMAIL).count() == 1  # the row updated them

    # Exports that hold them (CSV and XLSX).
    other = Contact.objects.get(email="other.person@example.com")
    for fmt in ("csv", "xlsx"):
        job = exports.start_export(admin, format=fmt, columns=["first_name", "last_name", "email", "mobile", "phone"],
                                   ids=[contact.pk, other.pk])
        assert job.status == "done", job.error
    return contact, other, company_note


def test_erasure_leaves_nothing_of_the_person(world, media, caplog):
    caplog.set_level(logging.DEBUG)
    contact, other, company_note = build_person(world)
    signalled = []
    receiver = lambda sender, contact, organization, **kw: signalled.append(  # noqa: E731
        (contact.pk, connection.in_atomic_block))
    contact_erasing.connect(receiver)
    try:
        # Before: the person is in the dump and in files (the test can fail).
        before = dump_database()
        assert {EMAIL, NAME} <= set(holds_person(before))
        sealed = " ".join(decrypted_tokens(before))  # encrypted at rest, yet decryptable: counts too
        assert f"{NAME}: allergic" in sealed and E164 in sealed
        from crm.models import WebhookEvent
        assert WebhookEvent.objects.filter(object_type="contact", object_id=contact.pk).exists()
        assert any(holds_person(file_text(p)) for p in media_files())

        admin = fresh(world.admin)
        api = APIClient()
        api.force_authenticate(admin)
        response = api.post(f"/api/contacts/{contact.pk}/erase/")
        assert response.status_code == 202, response.content
        request = PrivacyRequest.objects.get(pk=response.json()["id"])
        job = privacy.run_erasure(request.job_id)
        assert job.status == "done", job.error
    finally:
        contact_erasing.disconnect(receiver)
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.DONE
    # Sent for the contact and the duplicate merged into it, inside the erasure's transaction.
    assert sorted(pk for pk, _ in signalled)[0] == contact.pk and len(signalled) == 2
    assert all(atomic for _, atomic in signalled)

    # Through the ORM: no row of any model mentions the person.
    assert not Contact.all_objects.filter(pk=contact.pk).exists()
    assert Contact.all_objects.filter(pk=other.pk).exists()  # the other person stays
    assert not Message.objects.filter(to_number=E164).exists() and not Message.objects.filter(
        from_number=E164).exists()
    company_note.refresh_from_db()
    assert LAST not in company_note.body and "Also Bob attends." in company_note.body
    for model in apps.get_models():
        text_fields = [f.name for f in model._meta.concrete_fields
                       if f.get_internal_type() in ("CharField", "TextField", "JSONField", "EmailField")]
        for row in model._default_manager.all().values_list(*text_fields) if text_fields else []:
            found = holds_person(" ".join(str(v) for v in row))
            assert not found, f"{model._meta.label} still holds {found}: {row}"

    # The raw database dump, with encrypted columns decrypted.
    dump = dump_database()
    assert not holds_person(dump), holds_person(dump)
    for plain in decrypted_tokens(dump):
        assert not holds_person(plain)

    # Files: nothing under MEDIA_ROOT holds them (the other person's data may stay).
    for path in media_files():
        assert not holds_person(file_text(path)), path

    # Logs: no captured line names them.
    for record in caplog.records:
        line = record.getMessage() + (record.exc_text or "")
        assert not holds_person(line), line

    # The tombstone keeps only keyed hashes.
    stones = list(ErasureTombstone.objects.values_list("kind", "digest"))
    assert {kind for kind, _ in stones} == {"email", "phone"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for _, d in stones)


def test_a_merged_record_in_the_trash_goes_with_its_survivor_only(world, media):
    """Retention purge of a survivor's merged record leaves the survivor's mentions alone
    (values another contact still has are not scrubbed)."""
    admin = fresh(world.admin)
    survivor = create_contact(organization=world.org, data={"first_name": FIRST, "last_name": LAST, "email": EMAIL,
                                                             "team": world.team_a})
    twin = create_contact(organization=world.org, data={"first_name": FIRST, "last_name": LAST,
                                                         "email": WORK_EMAIL, "team": world.team_a})
    note = log_activity(organization_id=world.org.pk, actor=admin, data={
        "contact": survivor, "type": Activity.Type.NOTE, "body": f"{NAME} likes tea"})
    merge(admin, "contact", survivor.pk, [twin.pk])
    privacy.erase(Contact.all_objects.get(pk=twin.pk), tombstone_values=False)
    note.refresh_from_db()
    assert note.body == f"{NAME} likes tea"
    assert Contact.objects.filter(pk=survivor.pk).exists()
    assert not ErasureTombstone.objects.exists()
