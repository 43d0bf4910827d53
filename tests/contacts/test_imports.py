"""Contact imports (contacts.imports): upload, mapping, dry run, import with matching and
dedupe, per-row validation, the error file, revert, audit context, resuming, visibility."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from pghistory.models import Events

from companies.models import Company
from contacts import imports
from contacts.models import Contact, ContactCompany, ContactImport, ContactTag, ImportRow
from contacts.services import create_contact
from crm.models import JobItem, Tag

pytestmark = pytest.mark.django_db

Stage = ContactImport.Stage


def upload(user, text: str, name="contacts.csv", encoding="utf-8"):
    return imports.upload(user, SimpleUploadedFile(name, text.encode(encoding)))


def csv_text(rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def run_import(user, rows, *, options=None, mapping=None, name="contacts.csv"):
    imp = upload(user, csv_text(rows), name=name)
    imp = imports.configure(imp, user, mapping=mapping or imp.mapping, options=options)
    assert imp.stage == Stage.PREVIEWED, imp.error
    return imports.start_import(imp, user)


def outcomes(imp):
    return dict(ImportRow.objects.filter(contact_import=imp).values_list("line", "outcome"))


HEADER = ["First Name", "Last Name", "Email", "Mobile Phone", "Company", "Tags"]


def test_upload_reads_header_and_guesses_mapping(world):
    imp = upload(world.manager_a, csv_text([HEADER, ["Ann", "Lee", "ann@example.com", "+1 415 555 0100", "Initech",
                                                     "VIP"]]))
    assert imp.stage == Stage.UPLOADED
    assert imp.headers == HEADER
    assert imp.mapping == ["first_name", "last_name", "email", "mobile", "company", "tags"]
    assert imp.sample[0][0] == "Ann"
    assert imp.format == "csv"
    assert Contact.objects.count() == 0


def test_preview_counts_without_writing(world):
    create_contact(organization=world.org, data={"first_name": "Old", "email": "old@example.com",
                                                 "team": world.team_a})
    imp = upload(world.manager_a, csv_text([HEADER,
                                            ["Ann", "Lee", "ann@example.com", "", "", ""],
                                            ["Oldie", "", "OLD@example.com", "", "", ""],
                                            ["Bad", "", "not-an-email", "", "", ""],
                                            ["Ann2", "", "ann@example.com", "", "", ""]]))
    imp = imports.configure(imp, world.manager_a, mapping=imp.mapping)
    assert imp.stage == Stage.PREVIEWED
    assert imp.preview["counts"] == {"created": 1, "updated": 1, "invalid": 1, "merged": 1}
    assert imp.preview["rows"] == 4
    assert [r["outcome"] for r in imp.preview["shown"]] == ["created", "updated", "invalid", "merged"]
    assert "Row 4, column C (Email)" in imp.preview["errors"][0]["message"]
    assert Contact.objects.count() == 1
    assert not ImportRow.objects.exists()


def test_import_creates_updates_and_links(world):
    existing = create_contact(organization=world.org, data={"first_name": "Old", "email": "old@example.com",
                                                            "team": world.team_a, "job_title": "CTO"})
    imp = run_import(world.manager_a, [
        HEADER + ["Job Title"],
        ["Ann", "Lee", "ann@example.com", "(415) 555-0100", "Initech", "VIP; Renewal", ""],
        ["Oldie", "Smith", "OLD@example.com", "", "Initech", "VIP", "CEO"],
    ])
    assert imp.stage == Stage.IMPORTED
    assert imp.counts == {"created": 1, "updated": 1}
    ann = Contact.objects.get(email="ann@example.com")
    assert ann.display_name == "Ann Lee"
    assert str(ann.mobile) == "+14155550100"
    assert ann.source == "import"
    assert ann.created_by == world.manager_a
    assert ann.company_name == "Initech"
    assert set(ann.tags.values_list("name", flat=True)) == {"VIP", "Renewal"}
    existing.refresh_from_db()
    assert (existing.first_name, existing.last_name, existing.job_title) == ("Oldie", "Smith", "CEO")
    assert Company.objects.filter(organization=world.org, name="Initech").count() == 1
    assert Tag.objects.get(organization=world.org, name="VIP").usage_count == 2
    row = ImportRow.objects.get(contact_import=imp, line=3)
    assert row.before == {"first_name": "Old", "last_name": "", "job_title": "CTO"}
    assert row.after["job_title"] == "CEO"
    # The audit trail names the import.
    events = Events.objects.tracks(ann)
    assert events.filter(pgh_label="insert").exists()
    assert events.first().pgh_context["source"] == "import"


def test_revert_restores_previous_state(world):
    existing = create_contact(organization=world.org, data={"first_name": "Old", "email": "old@example.com",
                                                            "team": world.team_a, "job_title": "CTO"})
    before = Contact.objects.count()
    imp = run_import(world.manager_a, [
        HEADER + ["Job Title"],
        ["Ann", "Lee", "ann@example.com", "", "Initech", "VIP", ""],
        ["Oldie", "", "old@example.com", "", "Initech", "VIP", "CEO"],
    ])
    imp = imports.start_revert(imp, world.manager_a)
    assert imp.stage == Stage.REVERTED
    assert Contact.all_objects.count() == before
    existing.refresh_from_db()
    assert (existing.first_name, existing.job_title) == ("Old", "CTO")
    assert not ContactTag.objects.exists()
    assert not ContactCompany.objects.exists()
    assert not Company.objects.filter(name="Initech").exists()
    assert not Tag.objects.filter(name="VIP").exists()


def test_revert_reports_conflicts(world):
    imp = run_import(world.manager_a, [HEADER, ["Ann", "Lee", "ann@example.com", "", "", ""]])
    ann = Contact.objects.get(email="ann@example.com")
    ann.job_title = "Changed later"
    ann.save()
    imp = imports.start_revert(imp, world.manager_a)
    assert imp.stage == Stage.REVERTED
    assert Contact.objects.filter(pk=ann.pk).exists()
    item = JobItem.objects.get(job=imp.revert_job)
    assert "Changed since the import" in item.message


def test_error_file_has_original_columns_and_errors(world):
    imp = run_import(world.manager_a, [HEADER, ["Ann", "", "ann@example.com", "", "", ""],
                                       ["Bob", "", "@bad", "", "", ""], ["=HYPERLINK(1)", "", "x@example.com", "", "", ""]])
    text = "".join(imports.error_file(imp)).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [*HEADER, "Errors"]
    assert rows[1][:3] == ["Bob", "", "'@bad"]
    assert "Row 3, column C (Email)" in rows[1][-1]
    assert rows[2][0] == "'=HYPERLINK(1)"
    assert "formula" in rows[2][-1]


def test_viewer_cannot_import(world):
    with pytest.raises(PermissionDenied):
        upload(world.viewer_a, csv_text([HEADER, ["Ann", "", "", "", "", ""]]))


def snapshot():
    return {c["id"]: {k: v for k, v in c.items() if k != "updated_at"}
            for c in Contact.all_objects.values()}, set(ContactTag.objects.values_list("contact_id", "tag_id"))


def test_revert_restores_the_exact_previous_state_after_a_later_import(world):
    create_contact(organization=world.org, data={"first_name": "Old", "email": "old@example.com",
                                                 "team": world.team_a, "job_title": "CTO", "city": "Paris"})
    create_contact(organization=world.org, data={"first_name": "Keep", "email": "keep@example.com",
                                                 "team": world.team_a, "city": "Oslo"})
    before = snapshot()
    first = run_import(world.manager_a, [
        ["First Name", "Email", "Job Title", "City", "Tags"],
        ["Ann", "ann@example.com", "", "Rome", "VIP"],           # created, later changed by the second import
        ["Ben", "ben@example.com", "", "", "VIP"],               # created, untouched since
        ["Old", "old@example.com", "CEO", "Berlin", "VIP"],      # updated; the second import changes the city again
        ["Keep", "keep@example.com", "Boss", "", ""],            # updated, untouched since
    ])
    second = run_import(world.manager_a, [["First Name", "Email", "City"], ["Ann", "ann@example.com", "Lima"],
                                          ["Old", "old@example.com", "Madrid"]])
    assert second.counts == {"updated": 2}
    first = imports.start_revert(first, world.manager_a)
    assert first.stage == Stage.REVERTED
    conflicts = {(i.object_id, i.field): i.message for i in JobItem.objects.filter(job=first.revert_job)}
    ann = Contact.objects.get(email="ann@example.com")
    old = Contact.objects.get(email="old@example.com")
    assert set(conflicts) == {(ann.pk, ""), (old.pk, "city")}
    assert "Row 2" in conflicts[(ann.pk, "")] and "Row 4" in conflicts[(old.pk, "city")]
    assert not Contact.all_objects.filter(email="ben@example.com").exists()
    assert (old.job_title, old.city) == ("CTO", "Madrid")  # the job title reverted, the later city kept
    assert Contact.objects.get(email="keep@example.com").job_title == ""
    # Reverting the second import too leaves exactly what was there before both, but Ann
    # (created by the first, kept as changed since) and Old's city (the first import's Berlin).
    second = imports.start_revert(second, world.manager_a)
    assert not JobItem.objects.filter(job=second.revert_job).exists()
    rows, tags = snapshot()
    ann.refresh_from_db()
    old.refresh_from_db()
    assert old.city == "Berlin" and ann.city == "Rome"
    expected_rows, expected_tags = before
    rows.pop(ann.pk)
    rows[old.pk]["city"] = "Paris"
    assert rows == expected_rows
    vip = Tag.objects.get(name="VIP")
    assert tags - {(ann.pk, vip.pk), (old.pk, vip.pk)} == expected_tags


def test_updates_are_audited_under_the_import(world):
    old = create_contact(organization=world.org, data={"first_name": "Old", "email": "old@example.com",
                                                       "team": world.team_a})
    imp = run_import(world.manager_a, [["First Name", "Email", "City"], ["Old", "old@example.com", "Rome"]])
    event = Events.objects.tracks(old).filter(pgh_label="update").get()
    assert event.pgh_context["source"] == "import" and event.pgh_context["import"] == imp.pk
    assert event.pgh_context["user"] == world.manager_a.pk
    assert event.pgh_diff["city"] == ["", "Rome"]


def test_the_dry_run_tells_repeated_links_from_new_ones(world):
    run_import(world.manager_a, [HEADER, ["Ann", "Lee", "ann@example.com", "", "Initech", "VIP"]])
    imp = upload(world.manager_a, csv_text([HEADER, ["Ann", "Lee", "ann@example.com", "", "initech", "vip"],
                                            ["Ann", "Lee", "ANN@example.com", "", "", "VIP, New tag"]]),
                 name="again.csv")
    imp = imports.configure(imp, world.manager_a, mapping=imp.mapping, options={"duplicates": "report"})
    assert imp.preview["counts"] == {"unchanged": 1, "duplicate": 1}
    imp = upload(world.manager_a, csv_text([HEADER, ["Ann", "Lee", "ann@example.com", "", "", "VIP, New tag"]]),
                 name="more.csv")
    imp = imports.configure(imp, world.manager_a, mapping=imp.mapping)
    assert imp.preview["counts"] == {"updated": 1}
    imp = imports.start_import(imp, world.manager_a)
    assert imp.counts == {"updated": 1}, (imp.stage, imp.error)
