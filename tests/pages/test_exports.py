"""Export pages: the list's Export button, the export form (/contacts/export/?<filters>), the
export's page with progress and download, the download link (404 / 410), and a contact's vCard."""

from __future__ import annotations

import csv
import io
import re

import pytest
import vobject

from contacts import exports
from crm.models import Job

from .conftest import body, make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def job_id(response) -> int:
    assert response.status_code == 302, body(response)[:2000]
    return int(re.fullmatch(r"/contacts/exports/(\d+)/", response["Location"]).group(1))


def download_url(html: str) -> str:
    return re.search(r'href="(/contacts/exports/\d+/download/[^"]+/)"', html).group(1)


def file_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def test_the_list_has_an_export_button_carrying_the_filters(client, world, alices_contact):
    client.force_login(world.viewer_a)
    html = body(client.get(f"/contacts/?team={world.team_a.pk}&ordering=name"))
    assert f'href="/contacts/export/?team={world.team_a.pk}&amp;ordering=name"' in html
    client.force_login(world.alice)
    html = body(client.get("/contacts/"))
    assert 'name="export_selection"' in html and 'formaction="/contacts/export/"' in html


def test_form_export_progress_and_download(client, world, alices_contact, ritas_contact):
    client.force_login(world.manager_a)
    query = f"team={world.team_a.pk}&ordering=name"
    form = client.get(f"/contacts/export/?{query}")
    html = body(form)
    assert form.status_code == 200
    assert 'type="radio" name="format" value="csv"' in html and 'value="xlsx"' in html and 'value="vcf"' in html
    assert re.search(r'name="columns" value="email"[^>]*checked', html)  # a default column
    assert f'value="{query.replace("&", "&amp;")}"' in html  # the filters travel in a hidden field
    assert "/contacts/bulk/count/?" in html  # counted lazily

    pk = job_id(client.post("/contacts/export/", {"format": "csv", "columns": ["first_name", "last_name", "phone"],
                                                   "filters": query}))
    page = body(client.get(f"/contacts/exports/{pk}/"))
    assert "CSV export of 1 contact" in page and "every 1s" not in page  # done: no polling
    assert "the link expires" in page
    rows = file_rows(client.get(download_url(page)))
    assert rows == [["First name", "Last name", "Phone"], ["Ann", "Alpha", "'+14155552671"]]
    assert Job.objects.get(pk=pk).params["downloads"] == 1


def test_a_running_export_page_polls(client, world, alices_contact):
    job = Job.objects.create(organization=world.org, kind=exports.KIND, task=exports.TASK, actor=world.alice,
                             params={"format": "xlsx", "columns": ["email"], "filters": {}}, total=10, processed=5)
    client.force_login(world.alice)
    html = body(client.get(f"/contacts/exports/{job.pk}/"))
    assert 'hx-trigger="every 1s"' in html and "5 of 10" in html and "Download" not in html
    partial = client.get(f"/contacts/exports/{job.pk}/", HTTP_HX_REQUEST="true")
    assert body(partial).startswith('<div id="export-status"')
    assert client.post(f"/contacts/exports/{job.pk}/cancel/").status_code == 302
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLED


def test_ticked_rows_from_the_bulk_bar(client, world, alices_contact):
    other = make_contact(world, "Bea", owner=world.alice, team=world.team_a)
    client.force_login(world.alice)
    response = client.get("/contacts/export/", {"export_selection": "1", "action": "", "ids": [alices_contact.pk],
                                                "select_all": "", "filters": "q=zzz"})
    assert response.status_code == 302 and response["Location"] == f"/contacts/export/?ids={alices_contact.pk}"
    assert "The 1 contact you ticked" in body(client.get(response["Location"]))
    pk = job_id(client.post("/contacts/export/", {"format": "csv", "columns": ["first_name"],
                                                   "filters": f"ids={alices_contact.pk}"}))
    html = body(client.get(f"/contacts/exports/{pk}/"))
    assert file_rows(client.get(download_url(html)))[1:] == [["Ann"]]
    # "All matching this filter" from the bar takes the list's filters.
    response = client.get("/contacts/export/", {"export_selection": "1", "select_all": "1", "filters": "q=Bea"})
    assert response["Location"] == "/contacts/export/?q=Bea"
    assert other.pk


def test_a_viewer_may_export_what_they_see(client, world, alices_contact, ritas_contact):
    client.force_login(world.viewer_a)
    pk = job_id(client.post("/contacts/export/", {"format": "csv", "columns": ["first_name"], "filters": ""}))
    html = body(client.get(f"/contacts/exports/{pk}/"))
    assert file_rows(client.get(download_url(html)))[1:] == [["Ann"]]


def test_another_rep_or_organization_gets_404(client, world, alices_contact):
    client.force_login(world.alice)
    pk = job_id(client.post("/contacts/export/", {"format": "csv", "columns": ["email"], "filters": ""}))
    url = download_url(body(client.get(f"/contacts/exports/{pk}/")))
    for outsider in (world.bob, world.manager_a, world.charlie):
        client.force_login(outsider)
        assert client.get(f"/contacts/exports/{pk}/").status_code == 404
        assert client.get(url).status_code == 404
    client.force_login(world.admin)
    assert client.get(url).status_code == 200
    client.logout()
    assert client.get(url).status_code == 302  # to the sign-in page


def test_an_expired_or_wrong_link(client, world, alices_contact, settings):
    client.force_login(world.alice)
    pk = job_id(client.post("/contacts/export/", {"format": "csv", "columns": ["email"], "filters": ""}))
    url = download_url(body(client.get(f"/contacts/exports/{pk}/")))
    assert client.get(url[:-3] + "xx/").status_code == 404
    settings.KITH_EXPORT_TTL_SECONDS = 0
    response = client.get(url)
    assert response.status_code == 410 and "This download link has expired" in body(response)
    assert "has expired" in body(client.get(f"/contacts/exports/{pk}/"))


@pytest.mark.parametrize(("data", "message"), [
    ({"format": "pdf", "columns": ["email"], "filters": ""}, "Format"),
    ({"format": "csv", "columns": ["email", "nope"], "filters": ""}, "nope"),
    ({"format": "csv", "filters": ""}, "Columns"),
    ({"format": "csv", "columns": ["email"], "filters": "owner=abc"}, "Filters"),
])
def test_bad_input_is_a_400_naming_it(client, world, data, message):
    client.force_login(world.admin)
    response = client.post("/contacts/export/", data)
    assert response.status_code == 400 and message in body(response)
    assert not Job.objects.exists()
    assert client.get("/contacts/export/?colour=red").status_code == 400


def test_contact_vcard(client, world, alices_contact):
    client.force_login(world.viewer_a)
    page = body(client.get(f"/contacts/{alices_contact.pk}/"))
    assert f'href="/contacts/{alices_contact.pk}/vcard/"' in page
    response = client.get(f"/contacts/{alices_contact.pk}/vcard/")
    assert response.status_code == 200 and response["Content-Type"] == "text/vcard; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="ann-alpha.vcf"'
    card = vobject.readOne(response.content.decode())
    assert card.fn.value == "Ann Alpha" and card.tel.value == "+14155552671"
    for outsider in (world.rita, world.charlie):
        client.force_login(outsider)
        assert client.get(f"/contacts/{alices_contact.pk}/vcard/").status_code == 404
