"""The Django admin's contact import (django-import-export) goes through contacts.imports:
its preview is our dry run, the confirmed import is one of ours (audited, revertable)."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from contacts.models import Contact, ContactImport, ImportRow

pytestmark = pytest.mark.django_db

CSV = b"First Name,Last Name,Email,Mobile\r\nAnn,Lee,ann@example.com,+1 415 555 0100\r\nBob,,bad-email,\r\n"


def csv_format_index(response) -> str:
    match = re.search(r'<option value="(\d+)"[^>]*>csv</option>', response.content.decode())
    assert match, "the import form offers CSV"
    return match.group(1)


def test_admin_preview_uses_our_validation_and_writes_nothing(client, world):
    client.force_login(world.admin)
    url = reverse("admin:contacts_contact_import")
    fmt = csv_format_index(client.get(url))
    response = client.post(url, {"format": fmt, "import_file": SimpleUploadedFile("people.csv", CSV)})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Row 3, column C (Email)" in body  # our message, naming row and column
    assert not Contact.objects.exists()
    assert not ContactImport.objects.exists()


def test_admin_import_is_one_of_ours(client, world):
    client.force_login(world.admin)
    url = reverse("admin:contacts_contact_import")
    fmt = csv_format_index(client.get(url))
    good = b"First Name,Email\r\nAnn,ann@example.com\r\nCy,cy@example.com\r\n"
    response = client.post(url, {"format": fmt, "import_file": SimpleUploadedFile("people.csv", good)})
    body = response.content.decode()
    assert "confirm" in body.lower()
    fields = dict(re.findall(r'name="(import_file_name|original_file_name|format|resource)" value="([^"]*)"', body))
    response = client.post(reverse("admin:contacts_contact_process_import"), fields)
    assert response.status_code == 302
    imp = ContactImport.objects.get()
    assert imp.stage == ContactImport.Stage.IMPORTED and imp.created_by == world.admin
    assert set(Contact.objects.values_list("email", flat=True)) == {"ann@example.com", "cy@example.com"}
    assert ImportRow.objects.filter(contact_import=imp, outcome="created").count() == 2
