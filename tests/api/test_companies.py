"""/api/companies/: shared reference data; admins, managers and the owner change them."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from companies.models import Company
from tests.api.conftest import ids

pytestmark = pytest.mark.django_db

URL = "/api/companies/"


@pytest.mark.parametrize("who", ["admin", "manager_b", "alice", "rita", "viewer_a"])
def test_every_member_sees_every_company_of_the_organization(world, book, api, who):
    assert ids(api(getattr(world, who)).get(URL)) == {book.acme_co.pk, book.bolt_co.pk}


@pytest.mark.parametrize("who,acme,bolt", [
    ("admin", 200, 200), ("manager_a", 200, 200), ("alice", 200, 403), ("rita", 403, 200), ("viewer_a", 403, 403),
    ("charlie", 404, 404),
])
def test_who_may_change_a_company(world, book, api, who, acme, bolt):
    client = api(getattr(world, who))
    assert client.patch(f"{URL}{book.acme_co.pk}/", {"industry": "Tools"}, format="json").status_code == acme
    assert client.patch(f"{URL}{book.bolt_co.pk}/", {"industry": "Tools"}, format="json").status_code == bolt


def test_a_reps_new_company_is_theirs_and_they_assign_only_themselves(world, book, api):
    alice = api(world.alice)
    response = alice.post(URL, {"name": "Alice Ventures"}, format="json")
    assert response.status_code == 201 and response.json()["owner"] == world.alice.pk
    assert response.json()["created_by"] == world.alice.pk
    assert alice.patch(f"{URL}{response.json()['id']}/", {"industry": "VC"}, format="json").status_code == 200
    response = alice.post(URL, {"name": "Gift", "owner": world.bob.pk}, format="json")
    assert response.status_code == 400 and "owner" in response.json()


def test_domain_is_normalized_and_unique_per_organization(world, book, api):
    client = api(world.admin)
    response = client.post(URL, {"name": "Acme Again", "domain": "https://www.ACME.test/about"}, format="json")
    assert response.status_code == 400
    assert response.json()["domain"] == ["A company with this domain already exists in your organization."]
    response = api(world.charlie).post(URL, {"name": "Their Acme", "domain": "acme.test"}, format="json")
    assert response.status_code == 201 and response.json()["domain"] == "acme.test"


def test_hierarchy_cannot_cycle(world, book, api):
    client = api(world.admin)
    assert client.patch(f"{URL}{book.bolt_co.pk}/", {"parent": book.acme_co.pk}, format="json").status_code == 200
    response = client.patch(f"{URL}{book.acme_co.pk}/", {"parent": book.bolt_co.pk}, format="json")
    assert response.status_code == 400 and "cycle" in response.json()["parent"][0]
    response = client.patch(f"{URL}{book.acme_co.pk}/", {"parent": book.acme_co.pk}, format="json")
    assert response.status_code == 400 and "parent" in response.json()


def test_company_filter(world, book, api):
    client = api(world.admin)
    Company.objects.filter(pk=book.bolt_co.pk).update(size_band="11-50", country="DE", industry="Software",
                                                      parent=book.acme_co,
                                                      created_at=timezone.now() - datetime.timedelta(days=90))
    assert ids(client.get(URL, {"q": "acm"})) == {book.acme_co.pk}
    assert ids(client.get(URL, {"q": "https://bolt"})) == {book.bolt_co.pk}
    assert ids(client.get(URL, {"size_band": ["11-50", "5001+"]})) == {book.bolt_co.pk}
    assert ids(client.get(URL, {"country": "de"})) == {book.bolt_co.pk}
    assert ids(client.get(URL, {"industry": "software"})) == {book.bolt_co.pk}
    assert ids(client.get(URL, {"owner": world.alice.pk})) == {book.acme_co.pk}
    assert ids(client.get(URL, {"parent": book.acme_co.pk})) == {book.bolt_co.pk}
    old = (timezone.now() - datetime.timedelta(days=30)).date().isoformat()
    assert ids(client.get(URL, {"created_before": old})) == {book.bolt_co.pk}
    assert ids(client.get(URL, {"created_after": old})) == {book.acme_co.pk}
    response = client.get(URL, {"country": "Germany", "size_band": "huge", "parent": book.other_co.pk,
                                "owner": world.other_rep.pk, "created_after": "soon"})
    assert response.status_code == 400
    assert set(response.json()) == {"country", "size_band", "parent", "owner", "created_after"}


def test_name_ordering(world, book, api):
    client = api(world.admin)
    names = [row["name"] for row in client.get(URL, {"ordering": "-name"}).json()["results"]]
    assert names == ["Bolt Co", "Acme Co"]


def test_delete_moves_company_to_the_trash_and_restore_brings_it_back(world, book, api):
    company = book.acme_co  # owned by alice
    client = api(world.alice)
    assert client.delete(f"/api/companies/{company.pk}/").status_code == 204
    assert client.get(f"/api/companies/{company.pk}/").status_code == 404
    assert Company.all_objects.get(pk=company.pk).deleted_at is not None
    # rita (not the owner) and the viewer may not restore; another organization gets a 404
    assert api(world.rita).post(f"/api/companies/{company.pk}/restore/").status_code == 403
    assert api(world.viewer_a).post(f"/api/companies/{company.pk}/restore/").status_code == 403
    assert api(world.charlie).post(f"/api/companies/{company.pk}/restore/").status_code == 404
    response = client.post(f"/api/companies/{company.pk}/restore/")
    assert response.status_code == 200 and response.json()["id"] == company.pk
    assert client.get(f"/api/companies/{company.pk}/").status_code == 200


def test_restore_fails_naming_domain_when_a_live_company_took_it(world, book, api):
    client = api(world.admin)
    book.acme_co.domain = "acme.test"
    book.acme_co.save()
    client.delete(f"/api/companies/{book.acme_co.pk}/")
    Company.objects.create(organization=world.org, name="Acme again", domain="acme.test")
    response = client.post(f"/api/companies/{book.acme_co.pk}/restore/")
    assert response.status_code == 400 and "domain" in response.json()
    assert Company.all_objects.get(pk=book.acme_co.pk).deleted_at is not None
