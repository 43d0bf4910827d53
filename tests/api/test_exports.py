"""POST /api/exports/, GET /api/exports/ and …/{id}/, the download link, GET /api/contacts/{id}/vcard/."""

from __future__ import annotations

import csv
import io

import pytest
import vobject

from contacts import exports
from crm.models import Job

pytestmark = pytest.mark.django_db

URL = "/api/exports/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def start(client, **body):
    return client.post(URL, {"format": "csv", "columns": ["first_name", "email"], "filters": {}, **body},
                       format="json")


def rows(response) -> list[list[str]]:
    assert response.status_code == 200, getattr(response, "content", b"")
    data = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(data.lstrip("\ufeff"), newline="")))


def test_export_download_and_poll(api, world, book):
    client = api(world.manager_a)
    response = start(client, filters={"team": world.team_a.pk})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["format"], body["rows"], body["progress"]) == ("done", "csv", 3, 100)
    assert body["columns"] == ["first_name", "email"] and body["selection"] == {
        "filters": {"team": [str(world.team_a.pk)]}}
    assert body["url"].endswith(f"/api/exports/{body['id']}/") and body["expired"] is False
    assert body["download_url"].startswith("http://testserver/api/exports/")

    download = client.get(body["download_url"])
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    assert download["Content-Disposition"].startswith('attachment; filename="acme-sales-contacts-')
    assert sorted(rows(download)[1:]) == [["alice_own", "alice.own@example.com"], ["bob_own", ""],
                                          ["team_a_queue", ""]]
    assert client.get(body["url"]).json()["downloads"] == 1
    assert [row["id"] for row in client.get(URL).json()["results"]] == [body["id"]]
    # Asking for the file's own type works too.
    assert client.get(body["download_url"], HTTP_ACCEPT="text/csv").status_code == 200


def test_xlsx_and_vcf_content_types(api, world, book):
    client = api(world.admin)
    xlsx = start(client, format="xlsx").json()
    response = client.get(xlsx["download_url"])
    assert response["Content-Type"] == exports.FORMATS["xlsx"][1]
    assert b"".join(response.streaming_content)[:2] == b"PK"
    vcf = client.post(URL, {"format": "vcf", "ids": [book.alice_own.pk]}, format="json").json()
    response = client.get(vcf["download_url"])
    assert response["Content-Type"] == "text/vcard; charset=utf-8"
    card = vobject.readOne(b"".join(response.streaming_content).decode())
    assert card.fn.value == "alice_own" and card.org.value == ["Acme Co"]


def test_only_the_actor_and_org_admins_see_an_export(api, world, book):
    job = start(api(world.alice)).json()
    assert job["rows"] == 1  # alice's own contact
    detail, download = f"{URL}{job['id']}/", job["download_url"]
    for outsider in (world.bob, world.manager_a, world.viewer_a, world.charlie, world.other_rep):
        client = api(outsider)
        assert client.get(detail).status_code == 404, outsider
        assert client.get(download).status_code == 404, outsider
        assert job["id"] not in {row["id"] for row in client.get(URL).json()["results"]}
    assert api(world.admin).get(detail).status_code == 200
    assert api(world.admin).get(download).status_code == 200
    assert api(world.alice).get(download).status_code == 200


def test_another_organizations_contacts_never_appear(api, world, book):
    body = api(world.charlie).post(URL, {"format": "csv", "columns": ["first_name"],
                                         "ids": [book.other_contact.pk, book.alice_own.pk]}, format="json").json()
    assert body["rows"] == 1
    assert rows(api(world.charlie).get(body["download_url"]))[1:] == [["other_contact"]]


def test_a_viewer_exports_what_they_see(api, world, book):
    client = api(world.viewer_a)
    response = start(client)
    assert response.status_code == 201, response.content
    names = {row[0] for row in rows(client.get(response.json()["download_url"]))[1:]}
    assert names == {"alice_own", "bob_own", "team_a_queue"}


def test_a_bad_or_expired_link(api, world, book, settings):
    client = api(world.admin)
    body = start(client).json()
    bad = body["download_url"].replace(f"/{body['id']}/download/", f"/{body['id']}/download/x")
    assert client.get(bad).status_code == 404
    settings.KITH_EXPORT_TTL_SECONDS = 0
    response = client.get(body["download_url"])
    assert response.status_code == 410
    assert "expired" in response.json()["detail"]
    assert client.get(body["url"]).json()["download_url"] is None
    assert client.get(body["url"]).json()["expired"] is True


@pytest.mark.parametrize(("body", "field"), [
    ({"format": "pdf", "columns": ["email"], "filters": {}}, "format"),
    ({"format": "csv", "columns": ["email", "nope"], "filters": {}}, "columns"),
    ({"format": "csv", "columns": [], "filters": {}}, "columns"),
    ({"format": "csv", "filters": {}}, "columns"),
    ({"format": "csv", "columns": ["email"]}, "ids"),
    ({"format": "csv", "columns": ["email"], "ids": ["x"]}, "ids"),
    ({"format": "csv", "columns": ["email"], "filters": {"owner": "abc"}}, "filters"),
    ({"format": "csv", "columns": ["email"], "filters": {"unknown": "1"}}, "filters"),
    ({"format": "csv", "columns": ["email"], "filters": {}, "sneaky": True}, "sneaky"),
])
def test_bad_requests_are_400_naming_the_field(api, world, book, body, field):
    response = api(world.admin).post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Job.objects.exists()


def test_query_parameters_are_strict(api, world, book):
    client = api(world.admin)
    assert client.get(URL, {"colour": "blue"}).status_code == 400
    assert client.get(URL, {"status": "bogus"}).status_code == 400
    assert client.get(URL, {"status": "done"}).status_code == 200


def test_more_than_1000_rows_answer_202(api, world, book, monkeypatch):
    monkeypatch.setattr(exports, "INLINE_LIMIT", 2)
    sent = []
    monkeypatch.setattr("crm.jobs.enqueue", lambda job, **options: sent.append(job.pk))
    response = start(api(world.admin))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["download_url"] is None and sent == [body["id"]]
    assert api(world.admin).post(f"{URL}{body['id']}/cancel/").json()["status"] == "cancelled"
    assert api(world.admin).post(f"{URL}{body['id']}/cancel/").status_code == 400


def test_contact_vcard(api, world, book):
    response = api(world.alice).get(f"/api/contacts/{book.alice_own.pk}/vcard/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="alice_own.vcf"'
    assert vobject.readOne(response.content.decode()).email.value == "alice.own@example.com"
    assert api(world.alice).get(f"/api/contacts/{book.rita_own.pk}/vcard/").status_code == 404
    assert api(world.charlie).get(f"/api/contacts/{book.alice_own.pk}/vcard/").status_code == 404
    assert api().get(f"/api/contacts/{book.alice_own.pk}/vcard/").status_code == 401


def test_anonymous_is_401(api, world):
    assert api().get(URL).status_code == 401
    assert api().post(URL, {}, format="json").status_code == 401
