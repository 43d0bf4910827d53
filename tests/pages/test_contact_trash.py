"""Delete (to the trash), the trash list and restore."""

import re

import pytest

from contacts.models import Contact
from crm.models import Tag

from .conftest import body, make_contact

pytestmark = pytest.mark.django_db


def test_soft_delete_and_restore_round_trip(client, world, alices_contact, tags):
    from contacts.services import set_tags

    set_tags(alices_contact, [tags["vip"]])
    client.force_login(world.alice)
    response = client.post(f"/contacts/{alices_contact.pk}/delete/", follow=True)
    assert response.redirect_chain[-1][0] == "/contacts/"
    assert "Moved Ann Alpha to the trash." in body(response)
    assert Contact.all_objects.get(pk=alices_contact.pk).deleted_at is not None
    assert Tag.objects.get(pk=tags["vip"].pk).usage_count == 0
    assert client.get(f"/contacts/{alices_contact.pk}/").status_code == 404
    assert alices_contact.pk not in [int(x) for x in re.findall(r'href="/contacts/(\d+)/"', body(client.get("/contacts/")))]

    trash = body(client.get("/contacts/trash/"))
    assert "Ann Alpha" in trash and f"/contacts/{alices_contact.pk}/restore/" in trash

    response = client.post(f"/contacts/{alices_contact.pk}/restore/", follow=True)
    assert response.redirect_chain[-1][0] == f"/contacts/{alices_contact.pk}/"
    assert "Restored Ann Alpha." in body(response)
    assert Contact.objects.filter(pk=alices_contact.pk).exists()
    assert Tag.objects.get(pk=tags["vip"].pk).usage_count == 1
    assert "The trash is empty" in body(client.get("/contacts/trash/"))
    history = body(client.get(f"/contacts/{alices_contact.pk}/")).split('id="history-heading"')[1]
    assert "Moved to the trash" in history and "Restored from the trash" in history


def test_restore_refuses_when_the_email_was_taken(client, world, alices_contact):
    client.force_login(world.alice)
    client.post(f"/contacts/{alices_contact.pk}/delete/")
    make_contact(world, "New", "Ann", email="ann@example.com", owner=world.alice)
    response = client.post(f"/contacts/{alices_contact.pk}/restore/", follow=True)
    assert "A contact with this email already exists in your organization." in body(response)
    assert Contact.all_objects.get(pk=alices_contact.pk).deleted_at is not None


def test_delete_is_post_only(client, world, alices_contact):
    client.force_login(world.alice)
    assert client.get(f"/contacts/{alices_contact.pk}/delete/").status_code == 405
    assert Contact.objects.filter(pk=alices_contact.pk).exists()


@pytest.mark.parametrize("who, status", [
    ("viewer_a", 403), ("bob", 404), ("rita", 404), ("manager_b", 404), ("charlie", 404),
])
def test_delete_and_restore_permissions(client, world, alices_contact, who, status):
    client.force_login(getattr(world, who))
    assert client.post(f"/contacts/{alices_contact.pk}/delete/").status_code == status
    assert Contact.objects.filter(pk=alices_contact.pk).exists()
    alices_contact.soft_delete()
    assert client.post(f"/contacts/{alices_contact.pk}/restore/").status_code == status
    assert Contact.all_objects.get(pk=alices_contact.pk).deleted_at is not None


def test_trash_lists_only_what_the_user_may_see(client, world, alices_contact, ritas_contact, foreign_contact):
    for contact in (alices_contact, ritas_contact, foreign_contact):
        contact.soft_delete()
    client.force_login(world.alice)
    page = body(client.get("/contacts/trash/"))
    assert "Ann Alpha" in page and "Rob Beta" not in page and "Olaf" not in page
    client.force_login(world.viewer_a)
    page = body(client.get("/contacts/trash/"))
    assert "Ann Alpha" in page and "/restore/" not in page
    client.force_login(world.charlie)
    page = body(client.get("/contacts/trash/"))
    assert "Olaf Other" in page and "Ann Alpha" not in page


def test_restoring_a_live_contact_is_a_404(client, world, alices_contact):
    client.force_login(world.alice)
    assert client.post(f"/contacts/{alices_contact.pk}/restore/").status_code == 404


def test_trash_pages_and_bad_cursor(client, world):
    for i in range(30):
        make_contact(world, f"P{i:02d}", owner=world.alice).soft_delete()
    client.force_login(world.alice)
    first = body(client.get("/contacts/trash/"))
    assert first.count("/restore/") == 25 and 'rel="next"' in first
    nxt = re.search(r'rel="next" href="\?([^"]+)"', first).group(1).replace("&amp;", "&")
    assert body(client.get("/contacts/trash/?" + nxt)).count("/restore/") == 5
    assert client.get("/contacts/trash/", {"cursor": "bogus"}).status_code == 400
