"""The import pages: /contacts/imports/ (list), …/new/ (upload), …/<pk>/ (mapping form, dry-run
preview, progress, result, revert), the actions posted from it and the error file. Small
files run inline in the request, so most tests see each step finished."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from contacts import imports
from contacts.import_views import progress_line
from contacts.models import Contact, ContactImport, ImportMapping
from crm import jobs
from crm.models import Job, Membership
from crm.permissions import Role
from tests.conftest import fresh

from .conftest import body, make_contact

pytestmark = pytest.mark.django_db

Stage = ContactImport.Stage
HEADER = ["First Name", "Last Name", "Email", "Mobile Phone", "Segment"]
ROWS = [
    ["Ann", "Lee", "ann@example.com", "+1 415 555 0100", "VIP"],
    ["Ben", "Ode", "ben@example.com", "", "Partner"],
    ["Cy", "", "not-an-email", "", ""],
    ["Dee", "Ray", "dee@example.com", "+1 415 555 0101", "VIP"],
]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def csv_file(rows=None, name="people.csv"):
    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADER, *(ROWS if rows is None else rows)])
    return SimpleUploadedFile(name, buffer.getvalue().encode(), content_type="text/csv")


def uploaded(user, rows=None, name="people.csv") -> ContactImport:
    return imports.upload(user, csv_file(rows, name))


def previewed(user, rows=None, **options) -> ContactImport:
    imp = uploaded(user, rows)
    return imports.configure(imp, user, mapping=imp.mapping, options=options or None)


def imported(user, rows=None) -> ContactImport:
    return imports.start_import(previewed(user, rows), user)


def mapping_data(imp, **overrides) -> dict:
    data = {f"col_{i}": target or "" for i, target in enumerate(imp.mapping)}
    data.update({k: v for k, v in imports.default_options().items() if k != "plus_tags"})
    data.update(overrides)
    return data


def follow(client, response) -> str:
    assert response.status_code == 302, body(response)[:3000]
    return body(client.get(response["Location"]))


def text(html: str) -> str:
    """The page's text with tags dropped and whitespace squeezed, for phrases split by markup."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# -- the list ------------------------------------------------------------------------------

def test_contact_list_links_to_the_imports(client, world):
    client.force_login(world.manager_a)
    assert 'href="/contacts/imports/"' in body(client.get("/contacts/"))
    client.force_login(world.viewer_a)  # read-only: nothing to import
    assert 'href="/contacts/imports/"' not in body(client.get("/contacts/"))


def test_list_shows_the_users_imports_newest_first(client, world):
    older = imported(world.manager_a)
    newer = uploaded(world.manager_a, name="second.csv")
    alices = uploaded(world.alice, name="alices.csv")
    client.force_login(world.manager_a)
    html = body(client.get("/contacts/imports/"))
    assert 'href="/contacts/imports/new/"' in html and "Import contacts" in html
    assert html.index("second.csv") < html.index("people.csv")
    assert f'href="/contacts/imports/{older.pk}/"' in html and f'href="/contacts/imports/{newer.pk}/"' in html
    assert "alices.csv" not in html and f'/contacts/imports/{alices.pk}/"' not in html  # each member's own
    assert "Imported" in html and "Created 3 · Invalid 1" in text(html)
    assert "Waiting for the mapping" in html
    client.force_login(world.admin)  # an admin sees the organization's, with who uploaded them
    html = body(client.get("/contacts/imports/"))
    assert "alices.csv" in html and "Alice Rep" in html and "Mona Manager" in html
    client.force_login(world.charlie)
    assert "people.csv" not in body(client.get("/contacts/imports/"))


def test_viewers_see_an_empty_list_without_the_button(client, world):
    uploaded(world.manager_a)
    client.force_login(world.viewer_a)
    html = body(client.get("/contacts/imports/"))
    assert "No imports yet" in html and "/contacts/imports/new/" not in html


def test_list_query_count_does_not_grow_with_imports(client, world, django_assert_max_num_queries):
    client.force_login(world.admin)
    for _ in range(2):
        uploaded(world.admin)
    client.get("/contacts/imports/")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get("/contacts/imports/")
    imported(world.alice)
    for _ in range(6):
        previewed(world.manager_a)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = body(client.get("/contacts/imports/"))
    assert html.count('href="/contacts/imports/') - html.count('href="/contacts/imports/new/"') == 9


# -- upload ----------------------------------------------------------------------------------

def test_upload_form(client, world):
    client.force_login(world.alice)
    html = body(client.get("/contacts/imports/new/"))
    assert 'enctype="multipart/form-data"' in html
    assert 'accept=".csv,.tsv,.txt,.xlsx,.xls,.vcf"' in html
    assert "Excel (.xlsx, .xls) or vCard (.vcf)" in html and "up to 512.0\xa0MB" in html


def test_upload_goes_to_the_mapping_form(client, world):
    client.force_login(world.manager_a)
    response = client.post("/contacts/imports/new/", {"file": csv_file()})
    imp = ContactImport.objects.get()
    assert response["Location"] == f"/contacts/imports/{imp.pk}/"
    html = follow(client, response)
    assert "Read people.csv: 5 columns." in html
    assert 'id="mapping-form"' in html and "Check the file" in html
    # One row per column: letter, header, the first values, the target select (preselected).
    assert "<th scope=\"row\">Mobile Phone</th>" in html
    assert "ann@example.com" in html and "ben@example.com" in html and "not-an-email" in html
    assert "dee@example.com" not in html  # three sample values per column
    assert re.search(r'name="col_2"[^>]*>.*?<option value="email" selected>Email</option>', html, re.S)
    assert '<option value="tags">Tags</option>' in html and '<option value="owner">Owner</option>' in html
    # Options with the service's labels, defaults chosen.
    assert "Import nothing if any row is invalid" in html
    assert re.search(r'<input type="radio" name="invalid" value="skip"[^>]*checked', html)
    assert 'name="save_as"' in html
    assert not Job.objects.exists() and not Contact.objects.exists()


def test_custom_fields_are_targets(client, world):
    from crm.models import CustomFieldDefinition

    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="budget", label="Budget",
                                         field_type="number")
    imp = uploaded(world.manager_a)
    client.force_login(world.manager_a)
    assert '<option value="custom:budget">Custom: Budget</option>' in body(client.get(f"/contacts/imports/{imp.pk}/"))


@pytest.mark.parametrize(("data", "message"), [
    ({}, "Choose a file to import."),
    ({"file": SimpleUploadedFile("empty.csv", b"")}, "empty.csv is empty"),
    ({"file": SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40)}, "photo.png"),
])
def test_upload_errors_are_shown_on_the_file_field(client, world, data, message):
    client.force_login(world.manager_a)
    response = client.post("/contacts/imports/new/", data)
    assert response.status_code == 400
    html = body(response)
    assert message in html and 'class="field has-error"' in html
    assert not ContactImport.objects.exists()


def test_a_file_over_the_limit_is_refused(client, world, settings):
    settings.KITH_IMPORT_MAX_BYTES = 100
    client.force_login(world.manager_a)
    response = client.post("/contacts/imports/new/", {"file": csv_file(ROWS * 5)})
    assert response.status_code == 413
    assert "people.csv is " in body(response) and "the limit is 100\xa0bytes." in body(response)
    assert not ContactImport.objects.exists()


# -- mapping and dry run -------------------------------------------------------------------

def test_check_the_file_shows_the_dry_run(client, world):
    make_contact(world, "Dee", owner=world.alice, team=world.team_a, email="dee@example.com")
    imp = uploaded(world.manager_a)
    client.force_login(world.manager_a)
    response = client.post(f"/contacts/imports/{imp.pk}/", mapping_data(imp, col_4="tags"))
    html = follow(client, response)
    imp.refresh_from_db()
    assert imp.stage == Stage.PREVIEWED and imp.mapping[4] == "tags"
    assert "Checked 4 rows: nothing has been imported yet." in html
    page = text(html)
    assert "2 Would create" in page and "1 Would update" in page and "1 Invalid" in page
    assert "Import 3 rows" in html and f'action="/contacts/imports/{imp.pk}/run/"' in html
    assert f'href="/contacts/imports/{imp.pk}/?edit=1"' in html and "Change mapping" in html
    # The first rows as they would be imported: outcome and the values they write.
    assert "The first 4 rows as they would be imported" in html
    assert "Would create" in html and "ann@example.com" in html and "VIP" in html
    # The errors, naming row and column.
    assert "Row 4, column C (Email)" in html
    assert Contact.objects.count() == 1  # nothing written


def test_mapping_errors_are_shown_and_nothing_starts(client, world):
    imp = uploaded(world.manager_a)
    client.force_login(world.manager_a)
    response = client.post(f"/contacts/imports/{imp.pk}/", mapping_data(imp, col_0="", col_3="email"))
    assert response.status_code == 400
    html = body(response)
    assert "Map a column to First name or Full name" in html
    assert "Columns C and D are both mapped to Email" in html
    assert 'id="mapping-form"' in html
    imp.refresh_from_db()
    assert imp.stage == Stage.UPLOADED and imp.preview_job_id is None


def test_option_errors_are_named(client, world):
    imp = uploaded(world.manager_a)
    client.force_login(world.manager_a)
    response = client.post(f"/contacts/imports/{imp.pk}/", mapping_data(imp, region="XX"))
    assert response.status_code == 400
    html = body(response)
    assert "Phone region: &#x27;XX&#x27; is not a region code such as US, GB or DE." in html
    assert re.search(r'class="field has-error">\s*<label for="id_region"', html)
    response = client.post(f"/contacts/imports/{imp.pk}/", mapping_data(imp, mode="overwrite"))
    assert response.status_code == 400 and "Contacts that match: Select a valid choice." in body(response)


def test_the_mapping_can_be_saved_for_next_time(client, world):
    imp = uploaded(world.manager_a)
    client.force_login(world.manager_a)
    response = client.post(f"/contacts/imports/{imp.pk}/",
                           mapping_data(imp, col_4="tags", save_as="Trade show list", duplicates="report"))
    assert "The mapping is saved as “Trade show list”." in follow(client, response)
    saved = ImportMapping.objects.get()
    assert saved.name == "Trade show list" and saved.columns["segment"] == "tags"
    assert saved.options["duplicates"] == "report"
    again = uploaded(world.manager_a, name="next.csv")
    html = body(client.get(f"/contacts/imports/{again.pk}/"))
    assert re.search(r'name="col_4"[^>]*>.*?<option value="tags" selected>', html, re.S)
    assert re.search(r'<input type="radio" name="duplicates" value="report"[^>]*checked', html)


def test_change_mapping_shows_the_form_again(client, world):
    imp = previewed(world.manager_a)
    client.force_login(world.manager_a)
    assert 'id="mapping-form"' not in body(client.get(f"/contacts/imports/{imp.pk}/"))
    html = body(client.get(f"/contacts/imports/{imp.pk}/?edit=1"))
    assert 'id="mapping-form"' in html and "Back to the preview" in html
    html = follow(client, client.post(f"/contacts/imports/{imp.pk}/", mapping_data(imp, mode="create_only")))
    assert "Checked 4 rows" in html
    assert ContactImport.objects.get(pk=imp.pk).options["mode"] == "create_only"


def test_all_or_nothing_with_errors_has_no_import_button(client, world):
    imp = previewed(world.manager_a, invalid="all_or_nothing")
    client.force_login(world.manager_a)
    html = body(client.get(f"/contacts/imports/{imp.pk}/"))
    assert "1 row is invalid and this import is all or nothing" in html
    assert "/run/" not in html and "Change mapping" in html
    response = client.post(f"/contacts/imports/{imp.pk}/run/")  # posted anyway
    assert "Can&#x27;t import: 1 row is invalid" in follow(client, response)
    assert not Contact.objects.exists()


def test_a_failed_dry_run_shows_why_and_the_form(client, world, monkeypatch):
    def broken(*args):
        raise imports.ImportStopped("Row 9 ends in the middle of a quoted cell.")

    monkeypatch.setattr(imports, "_preview_step", broken)
    imp = uploaded(world.manager_a)
    client.force_login(world.manager_a)
    response = client.post(f"/contacts/imports/{imp.pk}/", mapping_data(imp))
    html = follow(client, response)
    assert "The file could not be checked: Row 9 ends in the middle of a quoted cell." in html
    assert ContactImport.objects.get(pk=imp.pk).stage == Stage.FAILED
    assert 'id="mapping-form"' in html  # fix the mapping (or the file) and check again


# -- import, error file, revert -------------------------------------------------------------

def test_import_from_the_preview(client, world):
    imp = previewed(world.manager_a)
    client.force_login(world.manager_a)
    html = follow(client, client.post(f"/contacts/imports/{imp.pk}/run/"))
    assert "Imported people.csv: 3 created, 1 invalid." in html
    assert "What the import did" in html and "Imported" in html
    assert f'href="/contacts/imports/{imp.pk}/errors.csv"' in html and "Download rows with errors (CSV)" in html
    assert f'action="/contacts/imports/{imp.pk}/revert/"' in html and "Revert this import" in html
    assert set(Contact.objects.values_list("first_name", flat=True)) == {"Ann", "Ben", "Dee"}
    # A second run is refused with the reason.
    html = follow(client, client.post(f"/contacts/imports/{imp.pk}/run/"))
    assert "Can&#x27;t import: Only a checked file can be imported; this one is imported." in html
    assert Contact.objects.count() == 3


def test_the_error_file_downloads(client, world):
    imp = imported(world.manager_a)
    client.force_login(world.manager_a)
    response = client.get(f"/contacts/imports/{imp.pk}/errors.csv")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="people-errors.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == [*HEADER, "Errors"]
    assert rows[1][:3] == ["Cy", "", "not-an-email"] and "Row 4, column C (Email)" in rows[1][5]
    assert len(rows) == 2


def test_no_error_link_without_errors(client, world):
    imp = imported(world.manager_a, rows=ROWS[:2])
    client.force_login(world.manager_a)
    html = body(client.get(f"/contacts/imports/{imp.pk}/"))
    assert "errors.csv" not in html and "Revert this import" in html


def test_revert_from_the_page(client, world):
    imp = imported(world.manager_a)
    ann = Contact.objects.get(first_name="Ann")
    Contact.objects.filter(pk=ann.pk).update(job_title="CEO", updated_at=ann.updated_at.replace(year=2100))
    client.force_login(world.manager_a)
    html = follow(client, client.post(f"/contacts/imports/{imp.pk}/revert/"))
    assert "Reverted 2 rows. 1 conflict: left as it is; see below." in html
    page = text(html)
    assert "3 Created 1 Invalid" in page  # what the import did stays on the page
    assert "2 Rows reverted 1 Conflict" in page
    assert f'href="/contacts/{ann.pk}/">#{ann.pk}</a>' in html and "Changed since the import; kept." in html
    assert "Reverted" in html and "Revert this import" not in html
    assert list(Contact.objects.values_list("first_name", flat=True)) == ["Ann"]
    html = follow(client, client.post(f"/contacts/imports/{imp.pk}/revert/"))
    assert "Can&#x27;t revert: Only an import that has run can be reverted" in html


# -- progress while a job runs (in Celery for files over 64 KiB) -------------------------------

@pytest.fixture
def background(monkeypatch):
    """Every file runs "in Celery": nothing is sent; the test runs the job as the worker would."""
    monkeypatch.setattr(imports, "INLINE_BYTES", 0)
    monkeypatch.setattr(jobs, "enqueue", lambda job, **options: None)


def test_progress_is_polled_while_a_job_runs(client, world, background):
    imp = uploaded(world.manager_a)
    client.force_login(world.manager_a)
    html = follow(client, client.post(f"/contacts/imports/{imp.pk}/", mapping_data(imp)))
    assert "Checking the file in the background; this page shows its progress." in html
    assert f'hx-get="/contacts/imports/{imp.pk}/" hx-trigger="every 1s"' in html
    assert "0 rows so far" in html and f'action="/contacts/imports/{imp.pk}/cancel/"' in html
    partial = body(client.get(f"/contacts/imports/{imp.pk}/", HTTP_HX_REQUEST="true"))
    assert partial.startswith('<div id="import-body"') and "<html" not in partial
    assert "Checking the file" in partial and "Waiting for a worker" in partial
    assert "hx-swap-oob" not in partial  # the "in the background" message stays while it runs
    imports.run(ContactImport.objects.get(pk=imp.pk).preview_job_id)  # what the worker does
    partial = body(client.get(f"/contacts/imports/{imp.pk}/", HTTP_HX_REQUEST="true"))
    assert "every 1s" not in partial and "What the import would do" in partial and "Import 3 rows" in partial
    assert '<div hx-swap-oob="delete:.messages"></div>' in partial  # and goes once the job ended

    html = follow(client, client.post(f"/contacts/imports/{imp.pk}/run/"))
    assert "Importing in the background" in html and "every 1s" in html
    assert "0 of 4 rows · 0 %" in html
    imp.refresh_from_db()
    imports.run(imp.run_job_id)
    partial = body(client.get(f"/contacts/imports/{imp.pk}/", HTTP_HX_REQUEST="true"))
    assert "every 1s" not in partial and "What the import did" in partial and "errors.csv" in partial

    html = follow(client, client.post(f"/contacts/imports/{imp.pk}/revert/"))
    assert "Reverting in the background" in html and "Reverting" in html and "0 of 3 rows" in html
    imports.run(ContactImport.objects.get(pk=imp.pk).revert_job_id)
    partial = body(client.get(f"/contacts/imports/{imp.pk}/", HTTP_HX_REQUEST="true"))
    assert "every 1s" not in partial and "Rows reverted" in partial
    assert not Contact.objects.exists()


def test_progress_line():
    line = progress_line({"processed": 12000, "total": 50000, "percent": 24, "rate": 8300, "eta_seconds": 5})
    assert line == "12,000 of 50,000 rows · 24 % · 8,300 rows/s · about 5 s left"
    assert progress_line({"processed": 0, "total": None, "percent": 0, "rate": None,
                          "eta_seconds": None}) == "0 rows so far"
    assert progress_line({"processed": 10, "total": 1_000_000, "percent": 0, "rate": 10,
                          "eta_seconds": 99_999}).endswith("about 27 h 46 min left")


def test_cancel_the_dry_run_and_the_import(client, world, background):
    imp = uploaded(world.manager_a)
    client.force_login(world.manager_a)
    client.post(f"/contacts/imports/{imp.pk}/", mapping_data(imp))
    html = follow(client, client.post(f"/contacts/imports/{imp.pk}/cancel/"))
    assert "Stopped checking the file. Nothing was imported." in html and 'id="mapping-form"' in html
    assert ContactImport.objects.get(pk=imp.pk).stage == Stage.UPLOADED
    html = follow(client, client.post(f"/contacts/imports/{imp.pk}/cancel/"))
    assert "Nothing was running any more." in html

    client.post(f"/contacts/imports/{imp.pk}/", mapping_data(imp))
    imports.run(ContactImport.objects.get(pk=imp.pk).preview_job_id)
    client.post(f"/contacts/imports/{imp.pk}/run/")
    html = follow(client, client.post(f"/contacts/imports/{imp.pk}/cancel/"))
    assert "Stopped after the current batch" in html and "Revert this import" in html
    assert ContactImport.objects.get(pk=imp.pk).stage == Stage.CANCELLED


# -- who may do what -------------------------------------------------------------------------

def urls(imp) -> tuple[list[str], list[str]]:
    base = f"/contacts/imports/{imp.pk}/"
    return [base, base + "?edit=1", base + "errors.csv"], [base, base + "run/", base + "cancel/", base + "revert/"]


@pytest.mark.parametrize("who", ["charlie", "bob", "manager_a", "other_rep"])
def test_others_get_404_on_every_url(client, world, who):
    imp = imported(world.alice)
    gets, posts = urls(imp)
    client.force_login(getattr(world, who))
    for url in gets:
        assert client.get(url).status_code == 404, url
    for url in posts:
        assert client.post(url, mapping_data(imp)).status_code == 404, url
    assert client.get(f"/contacts/imports/{10**9}/").status_code == 404
    assert ContactImport.objects.get(pk=imp.pk).stage == Stage.IMPORTED
    assert Contact.objects.count() == 3


def test_the_uploader_and_admins_see_it(client, world):
    imp = imported(world.alice)
    for who in ("alice", "admin"):
        client.force_login(getattr(world, who))
        assert client.get(f"/contacts/imports/{imp.pk}/").status_code == 200
        assert client.get(f"/contacts/imports/{imp.pk}/errors.csv").status_code == 200


def test_viewers_get_403_on_writes(client, world):
    imp = previewed(world.alice)
    client.force_login(world.viewer_a)
    assert client.get("/contacts/imports/new/").status_code == 403
    assert client.post("/contacts/imports/new/", {"file": csv_file()}).status_code == 403
    for url in urls(imp)[1]:
        assert client.post(url, mapping_data(imp)).status_code == 403, url
    # Someone who uploaded a file and became a viewer still sees it, read-only.
    Membership.objects.filter(user=world.alice).update(role=Role.VIEWER)
    alice = fresh(world.alice)
    client.force_login(alice)
    html = body(client.get(f"/contacts/imports/{imp.pk}/"))
    assert "What the import would do" in html and "/run/" not in html and "Change mapping" not in html
    for url in urls(imp)[1]:
        assert client.post(url, mapping_data(imp)).status_code == 403, url
    assert ContactImport.objects.get(pk=imp.pk).stage == Stage.PREVIEWED and not Contact.objects.exists()


def test_anonymous_users_are_sent_to_sign_in(client, world):
    imp = uploaded(world.alice)
    for url in ("/contacts/imports/", "/contacts/imports/new/", f"/contacts/imports/{imp.pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
