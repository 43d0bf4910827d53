"""/api/imports/ and /api/import-mappings/: upload, configure (dry run), run, progress,
error file, cancel, revert; 404 outside the caller's view, 403 for viewers, 413 for a file
over the limit, 400s naming the field, and a list whose query count does not grow."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from contacts.models import Contact, ContactImport, ImportMapping

pytestmark = pytest.mark.django_db

CSV = b"First Name,Email,Mobile\r\nAnn,ann@example.com,+1 415 555 0100\r\nBob,bad,\r\nCy,cy@example.com,\r\n"


def upload(client, content=CSV, name="people.csv", **extra):
    return client.post("/api/imports/", {"file": SimpleUploadedFile(name, content), **extra}, format="multipart")


def test_the_whole_flow(world, api):
    client = api(world.manager_a)
    response = upload(client)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["stage"] == "uploaded"
    assert data["headers"] == ["First Name", "Email", "Mobile"]
    assert data["mapping"] == ["first_name", "email", "mobile"]
    assert ["email", "Email"] in data["targets"]
    pk = data["id"]
    response = client.post(f"/api/imports/{pk}/configure/", {"mapping": data["mapping"],
                                                              "options": {"duplicates": "report"},
                                                              "save_as": "Plain CSV"}, format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["stage"] == "previewed"
    assert data["preview"]["counts"] == {"created": 2, "invalid": 1}
    assert data["progress"]["percent"] == 100 and data["progress"]["step"] == "preview"
    assert not Contact.objects.exists()
    assert ImportMapping.objects.filter(name="Plain CSV").exists()
    response = client.post(f"/api/imports/{pk}/run/")
    assert response.status_code == 200
    data = response.json()
    assert data["stage"] == "imported" and data["counts"] == {"created": 2, "invalid": 1}
    assert Contact.objects.count() == 2
    response = client.get(data["errors_url"])
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == ["First Name", "Email", "Mobile", "Errors"]
    assert rows[1][:2] == ["Bob", "bad"] and "Row 3, column B (Email)" in rows[1][3]
    response = client.post(f"/api/imports/{pk}/revert/")
    assert response.status_code == 200 and response.json()["stage"] == "reverted"
    assert not Contact.all_objects.exists()


def test_mapping_and_options_in_the_upload_start_the_dry_run(world, api):
    response = upload(api(world.manager_a), mapping='["first_name", "email", null]', options='{"mode": "create_only"}')
    assert response.status_code == 201, response.json()
    assert response.json()["stage"] == "previewed"
    assert response.json()["options"]["mode"] == "create_only"


def test_bad_files_and_bodies_are_400s_naming_the_field(world, api):
    client = api(world.manager_a)
    response = upload(client, content=b"", name="people.csv")
    assert response.status_code == 400 and "people.csv is empty" in response.json()["file"][0]
    response = upload(client, content=b"%PDF", name="a.pdf")
    assert response.status_code == 400 and "a.pdf" in response.json()["file"][0]
    response = client.post("/api/imports/", {}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()
    pk = upload(client).json()["id"]
    response = client.post(f"/api/imports/{pk}/configure/", {"mapping": ["first_name", "email", "phone"],
                                                              "options": {"mode": "nope"}, "colour": 1},
                           format="json")
    assert response.status_code == 400
    assert "colour" in response.json()
    response = client.post(f"/api/imports/{pk}/configure/", {"mapping": ["city", None, None]}, format="json")
    assert response.status_code == 400 and any("First name" in m for m in response.json()["mapping"])
    response = client.post(f"/api/imports/{pk}/run/")
    assert response.status_code == 400 and "stage" in response.json()
    assert not Contact.objects.exists()


def test_oversized_upload_is_413(world, api, settings):
    settings.KITH_IMPORT_MAX_BYTES = 100
    response = upload(api(world.manager_a), content=b"First Name\n" + b"Ann\n" * 100)
    assert response.status_code == 413
    assert "limit" in str(response.json())


def test_visibility_and_roles(world, api):
    pk = upload(api(world.alice)).json()["id"]
    for outsider in (world.charlie, world.bob, world.other_rep):
        client = api(outsider)
        assert client.get(f"/api/imports/{pk}/").status_code == 404
        assert client.post(f"/api/imports/{pk}/configure/", {"mapping": ["first_name", "email", None]},
                           format="json").status_code == 404
        assert client.post(f"/api/imports/{pk}/run/").status_code == 404
        assert client.post(f"/api/imports/{pk}/revert/").status_code == 404
        assert client.post(f"/api/imports/{pk}/cancel/").status_code == 404
        assert client.get(f"/api/imports/{pk}/errors/").status_code == 404
        assert pk not in [row["id"] for row in client.get("/api/imports/").json()["results"]]
    assert api(world.admin).get(f"/api/imports/{pk}/").status_code == 200
    assert upload(api(world.viewer_a)).status_code == 403
    assert api().get("/api/imports/").status_code == 401


def test_unknown_query_parameters_are_400(world, api):
    response = api(world.manager_a).get("/api/imports/?colour=red")
    assert response.status_code == 400 and "colour" in str(response.json())


def test_list_query_count_does_not_grow(world, api, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api(world.manager_a)
    upload(client)
    with CaptureQueriesContext(connection) as few, django_assert_max_num_queries(12):
        client.get("/api/imports/")
    for _ in range(4):
        upload(client)
    with CaptureQueriesContext(connection) as many:
        response = client.get("/api/imports/")
    assert len(response.json()["results"]) == 5
    assert len(many) == len(few)


def test_saved_mappings(world, api):
    client = api(world.manager_a)
    pk = upload(client).json()["id"]
    client.post(f"/api/imports/{pk}/configure/", {"mapping": ["first_name", "email", "mobile"], "save_as": "Mine"},
                format="json")
    saved = ImportMapping.objects.get(name="Mine")
    assert client.get("/api/import-mappings/").json()["results"][0]["name"] == "Mine"
    response = client.patch(f"/api/import-mappings/{saved.pk}/", {"options": {"mode": "bad"}}, format="json")
    assert response.status_code == 400 and "mode" in str(response.json())
    assert api(world.charlie).get(f"/api/import-mappings/{saved.pk}/").status_code == 404
    assert api(world.bob).delete(f"/api/import-mappings/{saved.pk}/").status_code == 403
    assert client.delete(f"/api/import-mappings/{saved.pk}/").status_code == 204


def test_a_large_file_is_queued_with_progress(world, api, settings):
    from contacts import imports

    settings.DEBUG = False
    rows = "".join(f"P{i},p{i}@example.com,\r\n" for i in range(4000))
    content = ("First Name,Email,Mobile\r\n" + rows).encode()
    assert len(content) > imports.INLINE_BYTES
    client = api(world.manager_a)
    pk = upload(client, content=content).json()["id"]
    response = client.post(f"/api/imports/{pk}/configure/", {"mapping": ["first_name", "email", None]},
                           format="json")
    assert response.status_code == 202
    data = response.json()
    assert data["stage"] == "previewing" and data["progress"]["active"] is True
    imp = ContactImport.objects.get(pk=pk)
    imports.run(imp.preview_job_id)  # what the Celery worker does (tests/contacts/test_import_celery.py runs one)
    data = client.get(f"/api/imports/{pk}/").json()
    assert data["stage"] == "previewed" and data["preview"]["rows"] == 4000
    assert data["progress"]["processed"] == 4000 and data["progress"]["percent"] == 100
