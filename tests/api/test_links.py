"""/api/contact-companies/ and /api/relationships/: rows that hang off a contact are
visible and writable together with it."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from contacts.models import Contact, ContactCompany, ContactRelationship
from tests.api.conftest import ids

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who,sees_link", [
    ("admin", True), ("manager_a", True), ("alice", True), ("viewer_a", True),
    ("manager_b", False), ("rita", False), ("bob", False), ("charlie", False),
])
def test_links_are_visible_with_their_contact(world, book, api, who, sees_link):
    client = api(getattr(world, who))
    for url, row in (("/api/contact-companies/", book.link), ("/api/relationships/", book.rel)):
        assert (row.pk in ids(client.get(url))) is sees_link
        assert client.get(f"{url}{row.pk}/").status_code == (200 if sees_link else 404)


def test_a_rep_links_only_contacts_they_may_change(world, book, api):
    alice = api(world.alice)
    body = {"contact": book.alice_own.pk, "company": book.bolt_co.pk, "role": "Advisor"}
    assert alice.post("/api/contact-companies/", body, format="json").status_code == 201
    # bob's contact is invisible to alice: an invalid id, nothing revealed
    response = alice.post("/api/contact-companies/", {**body, "contact": book.bob_own.pk}, format="json")
    assert response.status_code == 400 and "Invalid pk" in response.json()["contact"][0]
    # shared with her for viewing only: visible, so a 403
    assign_perm("view_contact", world.alice, book.bob_own)
    alice = api(world.alice)
    response = alice.post("/api/contact-companies/", {**body, "contact": book.bob_own.pk}, format="json")
    assert response.status_code == 403
    response = alice.post("/api/relationships/", {"from_contact": book.bob_own.pk, "to_contact": book.alice_own.pk,
                                                  "type": "colleague"}, format="json")
    assert response.status_code == 403
    # but she may point at it from her own contact
    response = alice.post("/api/relationships/", {"from_contact": book.alice_own.pk, "to_contact": book.bob_own.pk,
                                                  "type": "colleague"}, format="json")
    assert response.status_code == 201
    # and may not move her link onto a contact she may not change
    response = alice.patch(f"/api/contact-companies/{book.link.pk}/", {"contact": book.bob_own.pk}, format="json")
    assert response.status_code == 403
    assert ContactCompany.objects.get(pk=book.link.pk).contact_id == book.alice_own.pk


def test_one_primary_company_per_contact(world, book, api):
    client = api(world.admin)
    response = client.post("/api/contact-companies/", {"contact": book.alice_own.pk, "company": book.bolt_co.pk,
                                                       "is_primary": True}, format="json")
    assert response.status_code == 400
    assert "only one primary company" in str(response.json())


def test_link_changes_keep_the_company_name_in_step(world, book, api):
    client = api(world.admin)
    assert Contact.objects.get(pk=book.alice_own.pk).company_name == "Acme Co"
    assert client.delete(f"/api/contact-companies/{book.link.pk}/").status_code == 204
    assert Contact.objects.get(pk=book.alice_own.pk).company_name == ""


def test_relationship_filters(world, book, api):
    client = api(world.admin)
    other = ContactRelationship.objects.create(organization=world.org, from_contact=book.rita_own,
                                               to_contact=book.alice_own, type="colleague")
    assert ids(client.get("/api/relationships/", {"contact": book.alice_own.pk})) == {book.rel.pk, other.pk}
    assert ids(client.get("/api/relationships/", {"to_contact": book.alice_own.pk})) == {other.pk}
    assert ids(client.get("/api/relationships/", {"type": "reports_to"})) == {book.rel.pk}
    response = api(world.alice).get("/api/relationships/", {"contact": book.rita_own.pk})
    assert response.status_code == 400 and "contact" in response.json()  # not hers to see
    assert ids(client.get("/api/contact-companies/", {"company": book.acme_co.pk, "is_primary": "true"})) == \
        {book.link.pk}
