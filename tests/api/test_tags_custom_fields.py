"""/api/tags/ and /api/custom-fields/: every member reads them, org admins manage them."""

from __future__ import annotations

import pytest

from crm.models import CustomFieldDefinition, Tag
from tests.api.conftest import ids

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", ["manager_a", "alice", "viewer_a"])
def test_members_read_but_only_admins_write(world, book, api, who):
    client = api(getattr(world, who))
    assert ids(client.get("/api/tags/")) == {book.vip.pk, book.hot.pk}
    assert ids(client.get("/api/custom-fields/")) == {book.budget.pk}
    response = client.post("/api/tags/", {"name": "Mine"}, format="json")
    assert response.status_code == 403 and "cannot create" in response.json()["detail"]
    assert client.patch(f"/api/tags/{book.vip.pk}/", {"colour": "red"}, format="json").status_code == 403
    assert client.delete(f"/api/custom-fields/{book.budget.pk}/").status_code == 403
    assert Tag.objects.filter(organization=world.org).count() == 2


def test_tag_names_are_unique_per_organization_case_insensitively(world, book, api):
    response = api(world.admin).post("/api/tags/", {"name": "vip"}, format="json")
    assert response.status_code == 400
    assert "already exists" in str(response.json())
    assert api(world.charlie).post("/api/tags/", {"name": "VIP"}, format="json").status_code == 201


def test_tag_filter_and_usage_count_is_read_only(world, book, api):
    client = api(world.admin)
    assert ids(client.get("/api/tags/", {"q": "v"})) == {book.vip.pk}
    response = client.patch(f"/api/tags/{book.vip.pk}/", {"usage_count": 99}, format="json")
    assert response.status_code == 400 and "usage_count" in response.json()


def test_custom_field_definitions_are_validated(world, book, api):
    client = api(world.admin)
    response = client.post("/api/custom-fields/", {"model": "contact", "key": "lang", "label": "Language",
                                                   "field_type": "select"}, format="json")
    assert response.status_code == 400 and "options" in response.json()
    response = client.post("/api/custom-fields/", {"model": "contact", "key": "lang", "label": "Language",
                                                   "field_type": "select", "options": ["en", "de"]}, format="json")
    assert response.status_code == 201
    response = client.post("/api/custom-fields/", {"model": "contact", "key": "lang", "label": "Again",
                                                   "field_type": "text"}, format="json")
    assert response.status_code == 400 and "already exists" in str(response.json())
    assert ids(client.get("/api/custom-fields/", {"field_type": "select"})) == {response_id(client, "lang")}
    assert client.get("/api/custom-fields/", {"model": "planet"}).status_code == 400
    # the new definition is a filter on the contact list straight away
    assert client.get("/api/contacts/", {"cf_lang": "de"}).status_code == 200
    assert CustomFieldDefinition.objects.filter(organization=world.org).count() == 2


def response_id(client, key):
    return next(row["id"] for row in client.get("/api/custom-fields/").json()["results"] if row["key"] == key)
