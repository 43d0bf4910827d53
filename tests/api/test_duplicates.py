"""The duplicates API: warnings on contact create/update, ?on_duplicate=reject (409, nothing
saved), the review queue (sorted, keyset pages, visibility, constant queries), dismiss, the scan."""

from __future__ import annotations

import pytest

from companies.models import Company
from contacts import duplicates
from contacts.models import CompanyDuplicate, Contact, ContactDuplicate, DuplicateStatus
from contacts.services import create_contact
from crm.models import Job


def _contact(world, first, last, organization=None, **data):
    return create_contact(organization=organization or world.org,
                          data={"first_name": first, "last_name": last, **data})


@pytest.mark.django_db
def test_create_reports_likely_duplicates(world, api):
    ann = _contact(world, "Anna", "Sokolova", phone="+14155550101", owner=world.alice, team=world.team_a)
    response = api(world.alice).post("/api/contacts/", {"first_name": "Анна", "last_name": "Соколова",
                                                        "mobile": "(415) 555-0101"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["duplicates"] == [{"id": ann.pk, "display_name": "Anna Sokolova", "score": 0.95,
                                              "reasons": ["same phone", "same name"],
                                              "reasons_text": "same phone, same name"}]
    # reads carry no check
    assert api(world.alice).get(f"/api/contacts/{ann.pk}/").json()["duplicates"] is None
    # a contact nobody resembles
    response = api(world.alice).post("/api/contacts/", {"first_name": "Zed", "last_name": "Quill"}, format="json")
    assert response.json()["duplicates"] == []


@pytest.mark.django_db
def test_reject_answers_409_and_saves_nothing(world, api):
    ann = _contact(world, "Bob", "Smith", email="bob.smith@gmail.com", owner=world.alice, team=world.team_a)
    before = Contact.objects.count()
    response = api(world.alice).post("/api/contacts/?on_duplicate=reject",
                                     {"first_name": "Robert", "last_name": "Smith", "email": "bobsmith+x@gmail.com"},
                                     format="json")
    assert response.status_code == 409
    body = response.json()
    assert [d["id"] for d in body["duplicates"]] == [ann.pk] and "nothing was saved" in body["detail"]
    assert Contact.objects.count() == before
    assert api(world.alice).post("/api/contacts/?on_duplicate=maybe", {"first_name": "X"},
                                 format="json").json() == {"on_duplicate": [
        "Use warn (the default: save, and list likely duplicates) or reject (save nothing and answer 409)."]}


@pytest.mark.django_db
def test_reject_ignores_contacts_the_caller_cannot_see(world, api):
    _contact(world, "Bob", "Smith", email="bob.smith@gmail.com", owner=world.rita, team=world.team_b)
    _contact(world, "Bob", "Smith", organization=world.other_org, email="bob.smith+1@gmail.com")
    response = api(world.alice).post("/api/contacts/?on_duplicate=reject",
                                     {"first_name": "Robert", "last_name": "Smith", "email": "bobsmith+x@gmail.com"},
                                     format="json")
    assert response.status_code == 201 and response.json()["duplicates"] == []


@pytest.mark.django_db
def test_update_checks_only_when_compared_fields_change(world, api):
    ann = _contact(world, "Ann", "Lee", phone="+14155550101", owner=world.alice, team=world.team_a)
    other = _contact(world, "Anne", "Lee", owner=world.alice, team=world.team_a)
    client = api(world.alice)
    response = client.patch(f"/api/contacts/{other.pk}/", {"job_title": "CTO"}, format="json")
    assert response.json()["duplicates"] == []
    response = client.patch(f"/api/contacts/{other.pk}/?on_duplicate=reject", {"mobile": "+14155550101"},
                            format="json")
    assert response.status_code == 409 and response.json()["duplicates"][0]["id"] == ann.pk
    other.refresh_from_db()
    assert not other.mobile
    response = client.patch(f"/api/contacts/{other.pk}/", {"mobile": "+14155550101"}, format="json")
    assert response.status_code == 200 and response.json()["duplicates"][0]["id"] == ann.pk


@pytest.fixture
def scanned(world):
    a1 = _contact(world, "Bob", "Smith", email="bob.smith@gmail.com", owner=world.alice, team=world.team_a)
    a2 = _contact(world, "Bob", "Smith", email="bobsmith+crm@gmail.com", owner=world.alice, team=world.team_a)
    b1 = _contact(world, "Jonathan", "Miller", phone="+14155550101", owner=world.alice, team=world.team_a)
    b2 = _contact(world, "Jonathon", "Miler", mobile="+14155550101", owner=world.rita, team=world.team_b)
    _contact(world, "Ann", "Lee", organization=world.other_org, phone="+14155550101")
    _contact(world, "Anne", "Lee", organization=world.other_org, phone="+14155550101")
    duplicates.start_scan(world.admin, inline=True)
    duplicates.start_scan(world.charlie, inline=True)
    return {"p1": ContactDuplicate.objects.get(first=a1), "p2": ContactDuplicate.objects.get(first=b1),
            "p3": ContactDuplicate.objects.get(organization=world.other_org)}


@pytest.mark.django_db
def test_queue_sorted_and_visible(world, api, scanned, django_assert_max_num_queries):
    with django_assert_max_num_queries(9):
        body = api(world.admin).get("/api/duplicates/").json()
    assert [r["id"] for r in body["results"]] == [scanned["p1"].pk, scanned["p2"].pk]
    row = body["results"][0]
    assert row["reasons"] == ["same email", "same name"] and row["score"] == 1.0
    assert row["merge_url"] == f"/contacts/merge/?ids={row['first']['id']},{row['second']['id']}"
    assert [r["id"] for r in api(world.alice).get("/api/duplicates/").json()["results"]] == [scanned["p1"].pk]
    assert [r["id"] for r in api(world.charlie).get("/api/duplicates/").json()["results"]] == [scanned["p3"].pk]
    # a pair outside the caller's view is a 404, read or write
    for user, pair in ((world.alice, "p2"), (world.charlie, "p1"), (world.rita, "p1"), (world.manager_b, "p1")):
        assert api(user).get(f"/api/duplicates/{scanned[pair].pk}/").status_code == 404
        assert api(user).post(f"/api/duplicates/{scanned[pair].pk}/dismiss/").status_code == 404
    assert api(world.viewer_a).post(f"/api/duplicates/{scanned['p1'].pk}/dismiss/").status_code == 403


@pytest.mark.django_db
def test_queue_pages_by_keyset(world, api, django_assert_max_num_queries):
    made = []
    for i in range(30):
        a = _contact(world, f"P{i}", "", owner=world.alice)
        b = _contact(world, f"Q{i}", "", owner=world.alice)
        made.append(ContactDuplicate(organization=world.org, first=a, second=b, score=0.8 + i / 1000,
                                     reasons=["same phone"]))
    ContactDuplicate.objects.bulk_create(made)
    client = api(world.alice)
    with django_assert_max_num_queries(8):
        first = client.get("/api/duplicates/?page_size=20").json()
    assert len(first["results"]) == 20 and first["next"]
    with django_assert_max_num_queries(8):
        second = client.get(first["next"]).json()
    scores = [r["score"] for r in first["results"] + second["results"]]
    assert len(scores) == 30 and scores == sorted(scores, reverse=True)


@pytest.mark.django_db
def test_dismiss_is_remembered(world, api, scanned):
    response = api(world.alice).post(f"/api/duplicates/{scanned['p1'].pk}/dismiss/")
    assert response.status_code == 200 and response.json()["status"] == "dismissed"
    assert api(world.alice).get("/api/duplicates/").json()["results"] == []
    duplicates.start_scan(world.admin, inline=True)
    assert ContactDuplicate.objects.get(pk=scanned["p1"].pk).status == DuplicateStatus.DISMISSED


@pytest.mark.django_db
def test_scan_endpoint_and_progress(world, api):
    _contact(world, "Ann", "Lee", phone="+14155550101")
    _contact(world, "Ann", "Lee", mobile="+14155550101")
    Company.objects.create(organization=world.org, name="Acme Inc", domain="acme.com")
    Company.objects.create(organization=world.org, name="Acme LLC", domain="acme.com.au")
    response = api(world.manager_a).post("/api/duplicates/scan/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "done" and body["progress"] == 100
    assert body["open_pairs"] == 1 and body["open_company_pairs"] == 1
    assert api(world.manager_a).get(body["url"]).json()["id"] == body["id"]
    assert api(world.alice).get(body["url"]).status_code == 404
    assert api(world.charlie).get(body["url"]).status_code == 404
    assert api(world.viewer_a).post("/api/duplicates/scan/").status_code == 403
    companies = api(world.alice).get("/api/company-duplicates/").json()["results"]
    assert len(companies) == 1 and companies[0]["reasons"] == ["same name without legal suffix"]
    assert companies[0]["merge_url"].startswith("/companies/merge/?ids=")
    assert api(world.charlie).get("/api/company-duplicates/").json()["results"] == []
    pair = CompanyDuplicate.objects.get()
    assert api(world.charlie).post(f"/api/company-duplicates/{pair.pk}/dismiss/").status_code == 404
    assert Job.objects.filter(kind=duplicates.KIND).count() == 1
