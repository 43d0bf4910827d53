"""The duplicate review queue page: sorting by score, keyset pages, merge links, "Not a
duplicate" (remembered by later scans), "Scan now" with its progress, visibility (a pair shows
only when the user sees both contacts; other organization, team or owner: 404) and query counts."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from companies.models import Company
from contacts import duplicates
from contacts.models import CompanyDuplicate, ContactDuplicate, DuplicateStatus
from contacts.services import create_contact
from crm.models import Job
from tests.conftest import fresh

URL = "/contacts/duplicates/"


def client_for(user):
    client = Client()
    client.force_login(fresh(user))
    return client


@pytest.fixture
def pairs(world):
    """P1: alice's two contacts (same mailbox, same name: 1.0); P2: alice's and rita's (same phone,
    a typo: below 1); P3: a pair in the other organization."""
    org, other = world.org, world.other_org

    def contact(first, last, organization=org, **data):
        return create_contact(organization=organization, data={"first_name": first, "last_name": last, **data})

    a1 = contact("Bob", "Smith", email="bob.smith@gmail.com", owner=world.alice, team=world.team_a)
    a2 = contact("Bob", "Smith", email="bobsmith+crm@gmail.com", owner=world.alice, team=world.team_a)
    b1 = contact("Jonathan", "Miller", phone="+14155550101", owner=world.alice, team=world.team_a)
    b2 = contact("Jonathon", "Miler", mobile="+14155550101", owner=world.rita, team=world.team_b)
    o1 = contact("Ann", "Lee", organization=other, phone="+14155550101")
    o2 = contact("Anne", "Lee", organization=other, phone="+14155550101")
    assert duplicates.start_scan(world.admin, inline=True).status == Job.Status.DONE
    assert duplicates.start_scan(world.charlie, inline=True).status == Job.Status.DONE
    get = ContactDuplicate.objects.get
    return {"p1": get(first=a1, second=a2), "p2": get(first=b1, second=b2), "p3": get(first=o1, second=o2)}


@pytest.mark.django_db
def test_queue_sorted_by_score_with_reasons_and_merge_links(world, pairs):
    response = client_for(world.admin).get(URL)
    assert response.status_code == 200
    rows = [p.pk for p in response.context["page"]]
    assert rows == [pairs["p1"].pk, pairs["p2"].pk]
    html = response.content.decode()
    p1 = pairs["p1"]
    assert f'href="/contacts/merge/?ids={p1.first_id},{p1.second_id}"' in html
    assert "same email, same name" in html and "same phone, similar name 0.85" in html
    assert "Last scan" in html


@pytest.mark.django_db
def test_pairs_show_only_when_both_contacts_are_visible(world, pairs):
    assert [p.pk for p in client_for(world.alice).get(URL).context["page"]] == [pairs["p1"].pk]
    assert [p.pk for p in client_for(world.manager_a).get(URL).context["page"]] == [pairs["p1"].pk]
    assert list(client_for(world.manager_b).get(URL).context["page"]) == []
    assert [p.pk for p in client_for(world.charlie).get(URL).context["page"]] == [pairs["p3"].pk]


@pytest.mark.django_db
def test_dismiss_is_404_outside_visibility_and_403_for_viewers(world, pairs):
    dismiss = reverse("contacts:duplicate_dismiss", args=[pairs["p1"].pk])
    assert client_for(world.charlie).post(dismiss).status_code == 404  # other organization
    assert client_for(world.rita).post(dismiss).status_code == 404  # other owner / team
    assert client_for(world.manager_b).post(dismiss).status_code == 404  # other team's manager
    assert client_for(world.alice).post(
        reverse("contacts:duplicate_dismiss", args=[pairs["p2"].pk])).status_code == 404  # sees one side only
    assert client_for(world.viewer_a).post(dismiss).status_code == 403  # sees both, read-only
    assert client_for(world.alice).post(reverse("contacts:duplicate_dismiss", args=[999999])).status_code == 404
    assert ContactDuplicate.objects.filter(status=DuplicateStatus.OPEN).count() == 3


@pytest.mark.django_db
def test_not_a_duplicate_is_remembered_by_later_scans(world, pairs):
    response = client_for(world.alice).post(reverse("contacts:duplicate_dismiss", args=[pairs["p1"].pk]))
    assert response.status_code == 302 and response.url == URL
    pairs["p1"].refresh_from_db()
    assert pairs["p1"].status == DuplicateStatus.DISMISSED and pairs["p1"].decided_by == world.alice
    assert list(client_for(world.alice).get(URL).context["page"]) == []
    duplicates.start_scan(world.admin, inline=True)
    pairs["p1"].refresh_from_db()
    assert pairs["p1"].status == DuplicateStatus.DISMISSED
    assert [p.pk for p in client_for(world.admin).get(URL).context["page"]] == [pairs["p2"].pk]


@pytest.mark.django_db
def test_scan_now_runs_and_shows_progress(world):
    create_contact(organization=world.org, data={"first_name": "Ann", "last_name": "Lee", "phone": "+14155550101"})
    create_contact(organization=world.org, data={"first_name": "Ann", "last_name": "Lee", "mobile": "+14155550101"})
    client = client_for(world.manager_a)
    response = client.post(reverse("contacts:duplicate_scan"))
    assert response.status_code == 302
    job = Job.objects.get(kind=duplicates.KIND)
    assert job.status == Job.Status.DONE and job.actor == world.manager_a
    page = client.get(URL)
    assert page.context["scan"] == job
    assert 'role="progressbar"' in page.content.decode() and "Pairs to review" in page.content.decode()
    status = client.get(reverse("contacts:duplicate_scan_status", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert status.status_code == 200 and 'aria-valuenow="100"' in status.content.decode()
    # another member's scan is not theirs to look at; another organization's neither
    assert client_for(world.alice).get(reverse("contacts:duplicate_scan_status", args=[job.pk])).status_code == 404
    assert client_for(world.charlie).get(reverse("contacts:duplicate_scan_status", args=[job.pk])).status_code == 404
    assert client_for(world.viewer_a).post(reverse("contacts:duplicate_scan")).status_code == 403


@pytest.mark.django_db
def test_running_scan_is_polled(world):
    job = duplicates.start_scan(world.admin, inline=False)
    html = client_for(world.admin).get(URL).content.decode()
    assert f'hx-get="/contacts/duplicates/scan/{job.pk}/' in html and 'hx-trigger="every 1s"' in html


@pytest.mark.django_db
def test_keyset_pages_and_constant_queries(world, django_assert_max_num_queries):
    made = []
    for i in range(60):
        a = create_contact(organization=world.org, data={"first_name": f"P{i}", "owner": world.alice})
        b = create_contact(organization=world.org, data={"first_name": f"Q{i}", "owner": world.alice})
        made.append(ContactDuplicate(organization=world.org, first=a, second=b, score=0.8 + i / 1000,
                                     reasons=["same phone"]))
    ContactDuplicate.objects.bulk_create(made)
    client = client_for(world.alice)
    with django_assert_max_num_queries(8):
        first = client.get(URL)
    page = first.context["page"]
    assert len(page) == 25 and page.has_next
    assert [p.score for p in page] == sorted((p.score for p in page), reverse=True)
    assert page.object_list[0].score == pytest.approx(0.859)
    with django_assert_max_num_queries(8):
        second = client.get(URL, {"cursor": page.next_cursor})
    assert second.context["page"].object_list[0].score < page.object_list[-1].score
    assert client.get(URL, {"cursor": "forged"}).status_code == 400


@pytest.mark.django_db
def test_company_queue(world):
    a = Company.objects.create(organization=world.org, name="Acme Inc", domain="acme.com")
    b = Company.objects.create(organization=world.org, name="ACME GmbH", website="https://acme.com")
    duplicates.start_scan(world.admin, inline=True)
    pair = CompanyDuplicate.objects.get()
    response = client_for(world.alice).get(URL, {"kind": "company"})
    assert [p.pk for p in response.context["page"]] == [pair.pk]
    assert f"/companies/merge/?ids={a.pk},{b.pk}" in response.content.decode()
    assert client_for(world.charlie).post(reverse("contacts:duplicate_dismiss", args=[pair.pk]),
                                          {"kind": "company"}).status_code == 404
    assert client_for(world.viewer_a).post(reverse("contacts:duplicate_dismiss", args=[pair.pk]),
                                           {"kind": "company"}).status_code == 403
    assert client_for(world.alice).post(reverse("contacts:duplicate_dismiss", args=[pair.pk]),
                                        {"kind": "company"}).status_code == 302
    pair.refresh_from_db()
    assert pair.status == DuplicateStatus.DISMISSED


@pytest.mark.django_db
def test_linked_from_the_contact_list_and_nav(world):
    html = client_for(world.alice).get("/contacts/").content.decode()
    assert html.count(f'href="{URL}"') >= 2
    assert f'href="{URL}?kind=company"' in client_for(world.alice).get("/companies/").content.decode()


@pytest.mark.django_db
def test_viewers_see_the_queue_without_actions(world, pairs):
    response = client_for(world.viewer_a).get(URL)
    assert [p.pk for p in response.context["page"]] == [pairs["p1"].pk]
    html = response.content.decode()
    assert "Not a duplicate" not in html and "Merge…" not in html and "Scan now" not in html


@pytest.mark.django_db
def test_merge_all_high_score_pairs_runs_a_bulk_merge(world, pairs, settings):
    from contacts.models import Contact, Merge

    p1, p2 = pairs["p1"], pairs["p2"]
    assert p1.score >= duplicates.BULK_MIN_SCORE > p2.score
    assert duplicates.high_score_groups(fresh(world.admin)) == [sorted([p1.first_id, p1.second_id])]
    response = client_for(world.alice).post(URL + "merge-all/", {"kind": "contact"})
    assert response.status_code == 302
    job = Job.objects.get(pk=int(response["Location"].rstrip("/").rsplit("/", 1)[1]))
    from contacts.merge import run_bulk

    job = run_bulk(job.pk)
    assert job.status == Job.Status.DONE and job.succeeded == 1
    merge = Merge.objects.get(job=job)
    assert {merge.survivor_id, *merge.merged_ids} == {p1.first_id, p1.second_id}
    assert Contact.objects.filter(pk__in=[p2.first_id, p2.second_id]).count() == 2  # below 0.95: left to review
    # the merged pair leaves the queue
    assert p1.pk not in [p.pk for p in client_for(world.admin).get(URL).context["page"]]


@pytest.mark.django_db
def test_merge_all_is_for_writers_and_sees_only_visible_pairs(world, pairs):
    assert client_for(world.viewer_a).post(URL + "merge-all/", {"kind": "contact"}).status_code == 403
    # rita sees neither high-score pair: nothing to merge
    response = client_for(world.rita).post(URL + "merge-all/", {"kind": "contact"}, follow=True)
    assert "No pairs score 0.95 or more" in response.content.decode()
    assert duplicates.high_score_groups(fresh(world.charlie)) == []  # P3 scores below 0.95
