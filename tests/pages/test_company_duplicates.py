"""The company form warns before saving a likely duplicate (name without legal suffix, same
domain), with "Save anyway"; only companies of the user's organization count."""

import pytest

from companies.models import Company

from .conftest import body

pytestmark = pytest.mark.django_db


def post(client, url, **data):
    return client.post(url, {"name": "", "domain": "", "size_band": "", "country": "", **data})


def test_new_company_like_an_existing_one_is_held_with_the_match(client, world):
    acme = Company.objects.create(organization=world.org, name="ACME, Inc.", domain="acme.test")
    Company.objects.create(organization=world.other_org, name="Acme GmbH")
    client.force_login(world.manager_a)
    response = post(client, "/companies/new/", name="Acme GmbH")
    html = body(response)
    assert response.status_code == 200 and 'id="duplicate-warning"' in html
    assert "This may be a company you already have" in html and f'href="/companies/{acme.pk}/"' in html
    assert "same name without legal suffix" in html
    assert Company.objects.filter(organization=world.org).count() == 1  # nothing saved
    response = post(client, "/companies/new/", name="Acme GmbH", save_anyway="1")
    assert response.status_code == 302
    assert Company.objects.filter(organization=world.org).count() == 2


def test_same_domain_from_the_website_is_a_match(client, world):
    Company.objects.create(organization=world.org, name="Pagato Payments", domain="pagato.test")
    client.force_login(world.admin)
    html = body(post(client, "/companies/new/", name="Pagato", website="https://www.pagato.test/about"))
    assert "same domain" in html and 'id="duplicate-warning"' in html


def test_unrelated_names_and_other_organizations_do_not_warn(client, world):
    Company.objects.create(organization=world.org, name="Initech")
    Company.objects.create(organization=world.other_org, name="Hooli")
    client.force_login(world.admin)
    response = post(client, "/companies/new/", name="Hooli")
    assert response.status_code == 302


def test_edits_warn_only_when_the_name_or_domain_changes(client, world):
    Company.objects.create(organization=world.org, name="Acme Ltd")
    beta = Company.objects.create(organization=world.org, name="Beta")
    client.force_login(world.admin)
    assert post(client, f"/companies/{beta.pk}/edit/", name="Beta", industry="Retail").status_code == 302
    html = body(post(client, f"/companies/{beta.pk}/edit/", name="Acme"))
    assert 'id="duplicate-warning"' in html
    assert Company.objects.get(pk=beta.pk).name == "Beta"
