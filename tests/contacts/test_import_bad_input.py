"""Bad import files and rows: each gets a message naming the file, row and column at fault,
nothing is written unless invalid rows are skipped, and the worker never crashes. Also the
matching and dedupe options, validation of each column type, and resuming a killed import."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from contacts import imports
from contacts.models import Contact, ContactImport, ImportMapping, ImportRow
from contacts.services import create_contact
from crm.models import CustomFieldDefinition, Job

pytestmark = pytest.mark.django_db

Stage = ContactImport.Stage


def csv_bytes(rows) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


def upload_error(user, name, content) -> str:
    with pytest.raises(ValidationError) as exc:
        imports.upload(user, SimpleUploadedFile(name, content))
    assert not ContactImport.objects.exists()
    return " ".join(exc.value.message_dict["file"])


def checked(user, rows, options=None, mapping=None, name="people.csv"):
    imp = imports.upload(user, SimpleUploadedFile(name, csv_bytes(rows)))
    return imports.configure(imp, user, mapping=mapping or imp.mapping, options=options)


# -- files that cannot be imported -------------------------------------------------------------

def test_empty_file(world):
    assert "people.csv is empty" in upload_error(world.manager_a, "people.csv", b"")


def test_header_only(world):
    message = upload_error(world.manager_a, "people.csv", b"First Name,Email\r\n")
    assert "people.csv" in message and "no data rows" in message


def test_wrong_extension(world):
    message = upload_error(world.manager_a, "report.pdf", b"%PDF-1.7 ...")
    assert "report.pdf" in message and "CSV, XLSX, XLS or vCard" in message


def test_xlsx_that_is_not_a_zip(world):
    message = upload_error(world.manager_a, "people.xlsx", b"First Name,Email\nAnn,ann@example.com\n")
    assert "people.xlsx is not a valid XLSX file" in message


def test_xlsx_zip_bomb(world):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (300 * 1024 * 1024))
    message = upload_error(world.manager_a, "bomb.xlsx", buffer.getvalue())
    assert "bomb.xlsx" in message and "zip bomb" in message


def test_file_over_the_size_limit(world, settings):
    settings.KITH_IMPORT_MAX_BYTES = 1000
    with pytest.raises(imports.FileTooLarge) as exc:
        imports.upload(world.manager_a, SimpleUploadedFile("big.csv", b"First Name\n" + b"Ann\n" * 500))
    assert "big.csv is" in exc.value.message_dict["file"][0] and "limit" in exc.value.message_dict["file"][0]
    assert not ContactImport.objects.exists()


def test_unknown_encoding(world):
    message = upload_error(world.manager_a, "people.csv", bytes(range(256)) * 40)
    assert "people.csv" in message


def test_duplicate_headers(world):
    message = upload_error(world.manager_a, "people.csv", b"First Name,Email,email\nAnn,a@x.com,b@x.com\n")
    assert "people.csv" in message and "Email" in message and "B" in message and "C" in message


def test_missing_columns_the_mapping_needs(world):
    imp = imports.upload(world.manager_a, SimpleUploadedFile("people.csv", b"Company,City\nInitech,Austin\n"))
    with pytest.raises(ValidationError) as exc:
        imports.configure(imp, world.manager_a, mapping=imp.mapping)
    errors = exc.value.message_dict["mapping"]
    assert any("First name" in e for e in errors) and any("Email" in e for e in errors)
    imp.refresh_from_db()
    assert imp.stage == Stage.UPLOADED


def test_bad_options_and_mapping_name_the_field(world):
    imp = imports.upload(world.manager_a, SimpleUploadedFile("people.csv", b"First Name,Email\nAnn,a@x.com\n"))
    with pytest.raises(ValidationError) as exc:
        imports.configure(imp, world.manager_a, mapping=["first_name", "nope"],
                          options={"mode": "yolo", "region": "XX", "colour": "red"})
    errors = exc.value.message_dict
    assert set(errors) >= {"mode", "region", "colour"}
    with pytest.raises(ValidationError) as exc:
        imports.configure(imp, world.manager_a, mapping=["first_name", "nope"])
    assert any("Column B" in e and "'nope'" in e for e in exc.value.message_dict["mapping"])
    with pytest.raises(ValidationError) as exc:
        imports.configure(imp, world.manager_a, mapping=["first_name"])
    assert "2 columns" in exc.value.message_dict["mapping"][0]


# -- rows that cannot be imported --------------------------------------------------------------

def test_each_bad_row_names_row_and_column(world):
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="seats", label="Seats",
                                         field_type="number")
    rows = [["First Name", "Email", "Mobile", "Birthday", "Seats", "Job Title", "Country"],
            ["Ann", "ann@example.com", "+1 415 555 0100", "1990-01-02", "5", "CEO", "US"],   # fine
            ["Bob", "bob@", "", "", "", "", ""],                                           # 3 email
            ["Cy", "cy@example.com", "12", "", "", "", ""],                                # 4 phone
            ["Di", "di@example.com", "", "31/31/2020", "", "", ""],                        # 5 date
            ["Ed", "ed@example.com", "", "", "many", "", ""],                              # 6 number
            ["Flo", "flo@example.com", "", "", "", "x" * 10_000, ""],                      # 7 length
            ["Gus", "gus@example.com", "", "", "", "=1+1", ""],                            # 8 formula
            ["Hal", "hal@example.com", "", "", "", "", "Atlantis"],                        # 9 country
            ["", "ivy@example.com", "", "", "", "", ""],                                   # 10 no name
            ["Jo", "jo@example.com", "", "", "", "", "", "extra"]]                         # 11 ragged
    imp = checked(world.manager_a, rows, mapping=["first_name", "email", "mobile", "birth_date", "custom:seats",
                                                  "job_title", "country"])
    errors = {e["line"]: e["message"] for e in imp.preview["errors"]}
    assert imp.preview["counts"] == {"created": 1, "invalid": 9}
    assert "Row 3, column B (Email)" in errors[3]
    assert "Row 4, column C (Mobile)" in errors[4]
    assert "Row 5, column D (Birthday)" in errors[5]
    assert "Row 6, column E (Seats)" in errors[6] and "number" in errors[6]
    assert "Row 7, column F (Job Title)" in errors[7] and "10,000 characters" in errors[7]
    assert "Row 8, column F (Job Title)" in errors[8] and "formula" in errors[8]
    assert "Row 9, column G (Country)" in errors[9]
    assert "Row 10" in errors[10] and "First name" in errors[10]
    assert "Row 11" in errors[11] and "column H" in errors[11]
    assert not Contact.objects.exists()
    imp = imports.start_import(imp, world.manager_a)
    assert imp.counts == {"created": 1, "invalid": 9}
    assert list(Contact.objects.values_list("first_name", flat=True)) == ["Ann"]
    assert ImportRow.objects.filter(contact_import=imp, outcome="invalid").count() == 9


def test_all_or_nothing_refuses_a_file_with_invalid_rows(world):
    imp = checked(world.manager_a, [["First Name", "Email"], ["Ann", "ann@example.com"], ["Bob", "bad"]],
                  options={"invalid": "all_or_nothing"})
    with pytest.raises(ValidationError) as exc:
        imports.start_import(imp, world.manager_a)
    assert "1 row is invalid" in exc.value.message_dict["invalid"][0]
    assert not Contact.objects.exists()
    imp.refresh_from_db()
    assert imp.stage == Stage.PREVIEWED and imp.run_job_id is None


# -- matching and duplicates -------------------------------------------------------------------

def test_modes_create_only_and_update_empty(world):
    old = create_contact(organization=world.org, data={"first_name": "Old", "email": "old@example.com",
                                                       "job_title": "CTO", "team": world.team_a})
    rows = [["First Name", "Email", "Job Title", "City"], ["New", "old@example.com", "CEO", "Paris"]]
    imp = imports.start_import(checked(world.manager_a, rows, options={"mode": "create_only"}), world.manager_a)
    assert imp.counts == {"skipped": 1}
    old.refresh_from_db()
    assert (old.first_name, old.job_title, old.city) == ("Old", "CTO", "")
    imp = imports.start_import(checked(world.manager_a, rows, options={"mode": "update_empty"}), world.manager_a)
    assert imp.counts == {"updated": 1}
    old.refresh_from_db()
    assert (old.first_name, old.job_title, old.city) == ("Old", "CTO", "Paris")


def test_plus_tag_aware_email_matching(world):
    old = create_contact(organization=world.org, data={"first_name": "Old", "email": "jane@example.com",
                                                       "team": world.team_a})
    rows = [["First Name", "Email", "City"], ["Jane", "Jane+News@Example.com", "Rome"]]
    imp = imports.start_import(checked(world.manager_a, rows, options={"plus_tags": True}), world.manager_a)
    assert imp.counts == {"updated": 1}
    old.refresh_from_db()
    assert old.city == "Rome"


def test_match_by_phone_and_external_id(world):
    by_phone = create_contact(organization=world.org, data={"first_name": "Pho", "mobile": "+14155550100",
                                                            "team": world.team_a})
    by_id = create_contact(organization=world.org, data={"first_name": "Ext", "external_id": "crm-9",
                                                         "team": world.team_a})
    imp = imports.start_import(checked(world.manager_a, [["First Name", "Phone", "City"],
                                                         ["Phoebe", "(415) 555-0100", "Oslo"]],
                                       options={"match_by": "phone"}), world.manager_a)
    assert imp.counts == {"updated": 1}
    by_phone.refresh_from_db()
    assert (by_phone.first_name, by_phone.city) == ("Phoebe", "Oslo")
    imp = imports.start_import(checked(world.manager_a, [["First Name", "Record ID", "City"],
                                                         ["Ext", "crm-9", "Lima"], ["New", "crm-10", "Quito"]],
                                       options={"match_by": "external_id"}), world.manager_a)
    assert imp.counts == {"updated": 1, "created": 1}
    by_id.refresh_from_db()
    assert by_id.city == "Lima"


def test_duplicates_in_the_file_merged_or_reported(world):
    rows = [["First Name", "Email", "City", "Job Title"], ["Ann", "ann@example.com", "Paris", ""],
            ["Annie", "ANN@example.com", "", "CEO"]]
    imp = checked(world.manager_a, rows, options={"duplicates": "report"})
    assert imp.preview["counts"] == {"created": 1, "duplicate": 1}
    assert "same email as row 2" in imp.preview["errors"][0]["message"]
    imp = imports.start_import(checked(world.manager_a, rows), world.manager_a)
    assert imp.counts == {"created": 1, "merged": 1}
    ann = Contact.objects.get(email="ann@example.com")
    assert (ann.first_name, ann.city, ann.job_title) == ("Annie", "Paris", "CEO")


def test_duplicates_across_batches_are_merged(world, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    rows = [["First Name", "Email", "City"], ["Ann", "ann@example.com", "Paris"], ["Bob", "bob@example.com", ""],
            ["Cy", "cy@example.com", ""], ["Annie", "ann@example.com", "Rome"]]
    imp = checked(world.manager_a, rows)
    assert imp.preview["counts"] == {"created": 3, "merged": 1}
    imp = imports.start_import(imp, world.manager_a)
    assert imp.counts == {"created": 3, "merged": 1}
    assert Contact.objects.get(email="ann@example.com").city == "Rome"
    imp = imports.start_revert(imp, world.manager_a)
    assert imp.stage == Stage.REVERTED and not Contact.all_objects.exists()


def test_email_taken_when_matching_by_phone(world):
    create_contact(organization=world.org, data={"first_name": "Old", "email": "old@example.com",
                                                 "team": world.team_a})
    imp = checked(world.manager_a, [["First Name", "Phone", "Email"], ["New", "+14155550100", "old@example.com"]],
                  options={"match_by": "phone"})
    assert imp.preview["counts"] == {"invalid": 1}
    assert "already exists" in imp.preview["errors"][0]["message"]


def test_rep_cannot_update_contacts_they_do_not_own(world):
    create_contact(organization=world.org, data={"first_name": "Rita's", "email": "r@example.com",
                                                 "owner": world.rita, "team": world.team_b})
    imp = imports.start_import(checked(world.alice, [["First Name", "Email", "Owner"],
                                                     ["Mine", "mine@example.com", ""],
                                                     ["Hers", "r@example.com", ""],
                                                     ["Other", "o@example.com", "bob@acme.test"]]), world.alice)
    assert imp.counts == {"created": 1, "invalid": 2}
    messages = dict(ImportRow.objects.filter(contact_import=imp).values_list("line", "message"))
    assert "may not change it" in messages[3] and "Rita" not in messages[3]
    assert "Sales reps import contacts they own" in messages[4]
    assert Contact.objects.get(email="mine@example.com").owner == world.alice


def test_saved_mapping_is_used_for_the_next_upload(world):
    content = csv_bytes([["Vorname", "E-Mail-Adresse"], ["Ann", "ann@example.com"]])
    imp = imports.upload(world.manager_a, SimpleUploadedFile("de.csv", content))
    imports.configure(imp, world.manager_a, mapping=["first_name", "email"], options={"mode": "update_empty"},
                      save_as="German CRM")
    assert ImportMapping.objects.get(name="German CRM").options["mode"] == "update_empty"
    again = imports.upload(world.manager_b, SimpleUploadedFile("de2.csv", content))
    assert again.mapping == ["first_name", "email"]
    assert again.options["mode"] == "update_empty"


def test_custom_fields_tags_owner_team_and_company_by_domain(world):
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="plan", label="Plan",
                                         field_type="select", options=["free", "pro"])
    imp = imports.start_import(checked(world.manager_a, [
        ["First Name", "Email", "Plan", "Segment", "Owner", "Team", "Company domain"],
        ["Ann", "ann@example.com", "pro", "Hot, Renewal", "bob@acme.test", "Team A", "https://www.initech.example/"],
    ], mapping=["first_name", "email", "custom:plan", "tags", "owner", "team", "company_domain"]), world.manager_a)
    assert imp.counts == {"created": 1}
    ann = Contact.objects.get(email="ann@example.com")
    assert ann.custom_fields == {"plan": "pro"}
    assert (ann.owner, ann.team) == (world.bob, world.team_a)
    assert set(ann.tags.values_list("name", flat=True)) == {"Hot", "Renewal"}
    assert ann.companies.get().domain == "initech.example"


# -- resuming and cancelling -------------------------------------------------------------------

def test_a_killed_import_resumes_without_duplicating(world, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    rows = [["First Name", "Email"]] + [[f"P{i}", f"p{i}@example.com"] for i in range(7)]
    imp = checked(world.manager_a, rows)
    monkeypatch.setattr(imports, "INLINE_BYTES", 0)  # queue it, so nothing runs here
    imp = imports.start_import(imp, world.manager_a)
    job = imp.run_job
    # A worker ran two batches, then died (the checkpoint and rows of both committed).
    calls = {"n": 0}
    original = imports._run_step

    def dying(steps, job, imp, actor):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("worker killed")
        return original(steps, job, imp, actor)

    monkeypatch.setattr(imports, "_run_step", dying)
    with pytest.raises(SystemExit):
        imports.run(job.pk)
    job.refresh_from_db()
    assert job.checkpoint == {"rows": 4} and Contact.objects.count() == 4
    monkeypatch.setattr(imports, "_run_step", original)
    imports.run(job.pk)  # the sweeper re-queued it; a new worker resumes
    imp.refresh_from_db()
    assert imp.stage == Stage.IMPORTED
    assert Contact.objects.count() == 7
    assert ImportRow.objects.filter(contact_import=imp).count() == 7
    assert imp.counts == {"created": 7}


def test_cancel_stops_a_queued_import(world, monkeypatch):
    imp = checked(world.manager_a, [["First Name", "Email"], ["Ann", "ann@example.com"]])
    monkeypatch.setattr(imports, "INLINE_BYTES", 0)
    imp = imports.start_import(imp, world.manager_a)
    assert imports.cancel(imp, world.manager_a)
    imports.run(imp.run_job_id)
    imp.refresh_from_db()
    assert imp.stage == Stage.CANCELLED and imp.run_job.status == Job.Status.CANCELLED
    assert not Contact.objects.exists()
    assert not imports.cancel(imp, world.manager_a)
