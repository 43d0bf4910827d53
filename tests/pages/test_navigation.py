"""The top navigation: links to the record pages and a global contact search."""

import pytest

from .conftest import body, make_contact

pytestmark = pytest.mark.django_db


def test_nav_has_contacts_companies_and_search(client, world):
    client.force_login(world.alice)
    page = body(client.get("/"))
    assert 'href="/contacts/"' in page and 'href="/companies/"' in page
    assert 'role="search"' in page and 'action="/search/"' in page and 'name="q"' in page


def test_global_search_lands_on_the_filtered_contact_list(client, world):
    ann = make_contact(world, "Annika", "Berg", owner=world.alice)
    make_contact(world, "Zoe", owner=world.alice)
    client.force_login(world.alice)
    page = body(client.get("/contacts/", {"q": "annik"}))
    assert f'href="/contacts/{ann.pk}/"' in page and "Zoe" not in page
    assert 'value="annik"' in page


def test_no_record_links_without_an_organization(client, db):
    from crm.models import User
    from tests.conftest import PASSWORD

    user = User.objects.create_superuser("platform@kith.test", PASSWORD)
    client.force_login(user)
    page = body(client.get("/"))
    assert 'href="/contacts/"' not in page


def test_user_without_membership_gets_empty_lists_not_errors(client, db):
    from crm.models import User
    from tests.conftest import PASSWORD

    user = User.objects.create_user("lonely@kith.test", PASSWORD)
    client.force_login(user)
    assert client.get("/contacts/").status_code == 200
    assert client.get("/companies/").status_code == 200
    assert client.get("/contacts/new/").status_code == 403
