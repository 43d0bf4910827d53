"""A sales manager imports a spreadsheet in a real browser, with a real Celery worker: upload,
confirm the guessed mapping after sending one column to Tags, read the dry run, import while
the page polls the progress, download the rows with errors, revert. The file is over 64 KiB,
so the dry run, the import and the revert all run in the worker, not in the request.
Screenshots of the mapping form, the preview and the finished import are saved on the way."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from companies.models import Company
from contacts.models import Contact, ContactImport
from crm import jobs
from crm.celery import app as celery_app
from crm.models import Tag
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.celery_worker]

HEADER = ["First Name", "Last Name", "Email", "Mobile Phone", "Company", "Segment", "Notes"]
ROWS = 600
BAD_EMAIL = {17, 230, 481}       # data rows (0-based) with an email that is not one
BAD_PHONE = {99, 512}            # … and a phone number that is not one
WORKER_TIMEOUT = 90_000          # ms: the worker's start and the filesystem broker's polling


def spreadsheet() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for i in range(ROWS):
        email = f"not-an-email-{i}" if i in BAD_EMAIL else f"person{i:03d}@example.com"
        phone = "12" if i in BAD_PHONE else ("+1 415 555 2671" if i % 10 == 0 else "")
        writer.writerow([f"Person{i:03d}", "Imported", email, phone, "Initech" if i % 3 == 0 else "",
                         "VIP" if i % 2 else "Partner",
                         f"Met at the trade show, stand {i}. " + "Follow up about the renewal and the pilot. " * 3])
    data = buffer.getvalue().encode()
    assert len(data) > 64 * 1024  # bigger than what runs in the request
    return data


@pytest.fixture
def import_worker(worker, monkeypatch):
    """The worker (which reads the test's MEDIA_ROOT, tests/conftest.py), and the live server's
    jobs sent to its queue on its broker."""
    enqueue = jobs.enqueue
    with celery_app.connection_for_write(worker["url"], transport_options=worker["transport_options"]) as conn:
        monkeypatch.setattr(jobs, "enqueue", lambda job, **options: enqueue(job, connection=conn,
                                                                               queue=worker["queue"]))
        yield worker


def test_sales_manager_imports_a_spreadsheet(page, world, import_worker, screenshots):
    polls = []  # the htmx requests for the import's status while a job runs (not the header's bell)
    page.on("request", lambda request: polls.append(request.url)
            if request.headers.get("hx-request") and "/notifications/" not in request.url else None)
    sign_in(page, world.manager_a.email)
    page.goto("/contacts/")
    page.get_by_role("link", name="Imports").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Imports")
    page.locator(".page-actions").get_by_role("link", name="Import contacts").click()

    # Upload.
    page.get_by_label("File", exact=True).set_input_files({"name": "trade-show.csv", "mimeType": "text/csv",
                                               "buffer": spreadsheet()})
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".messages")).to_contain_text("Read trade-show.csv: 7 columns.")

    # The guessed mapping, with Segment sent to Tags.
    segment = page.get_by_label("Import “Segment” as")
    expect(segment).to_have_value("")  # not guessed
    expect(page.get_by_label("Import “Email” as")).to_have_value("email")
    expect(page.get_by_label("Import “Notes” as")).to_have_value("description")
    segment.select_option("tags")
    page.screenshot(path=str(screenshots / "import-mapping.png"), full_page=True)
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator(".messages")).to_contain_text("Checking the file in the background")

    # The dry run, from the worker: counts for the whole file, the first rows, the errors.
    heading = page.get_by_role("heading", name="What the import would do")
    expect(heading).to_be_visible(timeout=WORKER_TIMEOUT)
    counts = page.locator("#import-counts")
    expect(counts.locator(".outcome-created")).to_have_text(re.compile(r"595\s+Would create"))
    expect(counts.locator(".outcome-invalid")).to_have_text(re.compile(r"5\s+Invalid"))
    expect(page.locator("#preview-errors tbody tr")).to_have_count(5)
    expect(page.locator("#preview-errors")).to_contain_text("Row 19, column C (Email)")
    expect(page.locator("#preview-errors")).to_contain_text("'12' is not a valid phone number")
    expect(page.locator(".import-shown tbody tr").first).to_contain_text("person000@example.com")
    assert not Contact.objects.exists()
    page.screenshot(path=str(screenshots / "import-preview.png"), full_page=True)

    # Import: the page polls the worker's progress until it is done.
    page.get_by_role("button", name="Import 595 rows").click()
    expect(page.locator(".messages")).to_contain_text("Importing in the background")
    expect(page.locator("#import-progress-line")).to_contain_text("600 of 600 rows · 100 %", timeout=WORKER_TIMEOUT)
    expect(page.get_by_role("heading", name="What the import did")).to_be_visible()
    expect(page.locator(".messages")).to_have_count(0)  # "… in the background" went with the job
    expect(page.locator("#import-counts .outcome-created")).to_have_text(re.compile(r"595\s+Created"))
    page.screenshot(path=str(screenshots / "import-done.png"), full_page=True)
    imp = ContactImport.objects.get()
    assert imp.stage == ContactImport.Stage.IMPORTED
    assert Contact.objects.filter(organization=world.org).count() == 595
    vip = Tag.objects.get(organization=world.org, name="VIP")
    assert Contact.objects.filter(tags=vip).count() == 297  # odd rows, less the invalid 17, 99 and 481
    assert Contact.objects.get(email="person003@example.com").company_name == "Initech"

    # The rows with errors, as a CSV download: the original columns and why.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download rows with errors (CSV)").click()
    assert download.value.suggested_filename == "trade-show-errors.csv"
    with open(download.value.path(), encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [*HEADER, "Errors"]
    assert [row[2] for row in rows[1:]] == ["not-an-email-17", "person099@example.com", "not-an-email-230",
                                            "not-an-email-481", "person512@example.com"]
    assert "Email" in rows[1][-1] and "phone number" in rows[2][-1]

    # Revert, in the worker too: the contacts (and the company the import created) are gone.
    page.once("dialog", lambda dialog: dialog.accept())  # "Revert this import?"
    page.get_by_role("button", name="Revert this import").click()
    expect(page.locator(".messages")).to_contain_text("Reverting in the background")
    expect(page.locator("#revert-counts")).to_contain_text(re.compile(r"595\s+Rows reverted"), timeout=WORKER_TIMEOUT)
    expect(page.get_by_role("button", name="Revert this import")).to_have_count(0)
    assert ContactImport.objects.get().stage == ContactImport.Stage.REVERTED
    # Each of the three jobs takes the worker a second or more, so the page polled meanwhile.
    assert polls and set(polls) == {f"{page.url.split('?')[0]}"}, polls
    assert not Contact.all_objects.filter(organization=world.org).exists()
    assert not Company.objects.filter(organization=world.org, name="Initech").exists()
