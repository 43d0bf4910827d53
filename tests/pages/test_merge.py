"""Merge pages: the side-by-side form, the merge with its undo flash, the merge's page with
Undo and conflicts, the bulk merge progress page; other organizations' and teams' → 404."""

from __future__ import annotations

import datetime

from django.utils import timezone

from activities.models import Activity
from companies.models import Company
from contacts import merge as merging
from contacts.models import Contact, Merge
from tests.conftest import fresh
from tests.pages.conftest import make_contact


def two(world, owner=None):
    owner = owner or world.alice
    old = make_contact(world, "Ann", "Lee", owner=owner, team=world.team_a, email="ann@old.test", job_title="Buyer")
    new = make_contact(world, "Anna", "Lee", owner=owner, team=world.team_a)
    Contact.objects.filter(pk=old.pk).update(updated_at=timezone.now() - datetime.timedelta(hours=1))
    return old, new


def test_merge_page_shows_differing_fields_with_newest_non_empty_preselected(client, world,
                                                                          django_assert_max_num_queries):
    old, new = two(world)
    Activity.objects.create(organization=world.org, contact=old, type="call", subject="Call")
    client.force_login(world.alice)
    with django_assert_max_num_queries(22) as two_records:
        response = client.get(f"/contacts/merge/?ids={old.pk},{new.pk}")
    assert response.status_code == 200
    more = [make_contact(world, f"X{i}", owner=world.alice, team=world.team_a, job_title=f"T{i}") for i in range(3)]
    with django_assert_max_num_queries(len(two_records)):  # no query per record shown
        ids = ",".join(str(c.pk) for c in [old, new, *more])
        assert client.get(f"/contacts/merge/?ids={ids}").status_code == 200
    html = response.content.decode()
    assert "First name" in html and "Job title" in html
    # email: only the old record has one, so it is preselected; first name: the newer record's
    assert f'name="field:email" value="{old.pk}" checked' in html
    assert f'name="field:first_name" value="{new.pk}" checked' in html
    assert f'name="survivor" value="{new.pk}" checked' in html
    assert "<strong>1</strong> activities" in html


def test_posting_merges_and_redirects_to_the_survivor_with_an_undo_button(client, world):
    old, new = two(world)
    client.force_login(world.alice)
    response = client.post("/contacts/merge/", {"ids": f"{old.pk},{new.pk}", "survivor": new.pk,
                                                "field:first_name": old.pk}, follow=True)
    assert response.redirect_chain[-1][0] == f"/contacts/{new.pk}/"
    record = Merge.objects.get()
    html = response.content.decode()
    assert "Merged Ann Lee into Ann Lee." in html
    assert f'action="/contacts/merges/{record.pk}/undo/"' in html
    assert f"Merged Ann Lee into this contact" in html  # the timeline entry
    assert Contact.objects.get(pk=new.pk).first_name == "Ann"

    response = client.get(f"/contacts/merges/{record.pk}/")
    assert response.status_code == 200 and ">Undo</button>" in response.content.decode()
    assert "Values taken from the merged records" in response.content.decode()  # the first name
    response = client.post(f"/contacts/merges/{record.pk}/undo/", follow=True)
    assert "undone" in response.content.decode()
    assert Contact.objects.filter(pk=old.pk).exists() and Contact.objects.get(pk=new.pk).first_name == "Anna"


def test_merge_detail_lists_conflicts_and_the_undo_is_refused(client, world):
    old, new = two(world)
    record = merging.merge(fresh(world.alice), "contact", new.pk, [old.pk])
    Contact.objects.filter(pk=new.pk).update(job_title="CEO")
    client.force_login(world.alice)
    html = client.get(f"/contacts/merges/{record.pk}/").content.decode()
    assert 'id="merge-conflicts"' in html and "job title changed since the merge" in html
    response = client.post(f"/contacts/merges/{record.pk}/undo/", follow=True)
    assert "cannot be undone" in response.content.decode()
    assert Merge.objects.get(pk=record.pk).undone_at is None


def test_bad_merges_on_the_page_answer_clearly(client, world, foreign_contact):
    old, new = two(world)
    client.force_login(world.alice)
    assert client.get(f"/contacts/merge/?ids={old.pk},{foreign_contact.pk}").status_code == 404
    response = client.get(f"/contacts/merge/?ids={old.pk},{old.pk}")
    assert response.status_code == 400 and "cannot be merged into itself" in response.content.decode()
    assert client.get("/contacts/merge/?ids=abc").status_code == 400
    client.force_login(world.viewer_a)
    assert client.get(f"/contacts/merge/?ids={old.pk},{new.pk}").status_code == 403
    assert Contact.objects.filter(pk__in=[old.pk, new.pk]).count() == 2


def test_other_organization_and_team_get_404_on_merge_pages(client, world):
    old, new = two(world)
    record = merging.merge(fresh(world.alice), "contact", new.pk, [old.pk])
    for user in (world.charlie, world.rita, world.manager_b):
        client.force_login(user)
        assert client.get(f"/contacts/merges/{record.pk}/").status_code == 404
        assert client.post(f"/contacts/merges/{record.pk}/undo/").status_code == 404
        assert client.get(f"/companies/merges/{record.pk}/").status_code == 404
    assert Merge.objects.get(pk=record.pk).undone_at is None


def test_company_merge_page_and_flow(client, world):
    a = Company.objects.create(organization=world.org, name="Acme", domain="acme.test")
    b = Company.objects.create(organization=world.org, name="ACME Inc", domain="")
    client.force_login(world.admin)
    assert client.get(f"/companies/merge/?ids={a.pk},{b.pk}").status_code == 200
    response = client.post("/companies/merge/", {"ids": f"{a.pk},{b.pk}", "survivor": b.pk})
    assert response.status_code == 302 and response["Location"] == f"/companies/{b.pk}/"
    assert Company.objects.get(pk=b.pk).domain == "acme.test"
    record = Merge.objects.get(kind="company")
    assert client.get(f"/companies/merges/{record.pk}/").status_code == 200
    client.force_login(world.charlie)
    assert client.get(f"/companies/merges/{record.pk}/").status_code == 404
    assert client.get(f"/companies/merge/?ids={a.pk},{b.pk}").status_code == 404


def test_bulk_merge_progress_page(client, world):
    old, new = two(world)
    job = merging.start_bulk_merge(fresh(world.alice), [[old.pk, new.pk]], inline=True)
    client.force_login(world.alice)
    html = client.get(f"/contacts/merges/bulk/{job.pk}/").content.decode()
    assert "Merged: <strong>1</strong>" in html and 'role="progressbar"' in html
    client.force_login(world.bob)
    assert client.get(f"/contacts/merges/bulk/{job.pk}/").status_code == 404


def test_a_merged_records_page_leads_to_the_survivor(client, world):
    old, new = two(world)
    merging.merge(fresh(world.alice), "contact", new.pk, [old.pk])
    client.force_login(world.alice)
    response = client.get(f"/contacts/{old.pk}/")
    assert response.status_code == 302 and response["Location"] == f"/contacts/{new.pk}/"
    client.force_login(world.rita)  # sees neither
    assert client.get(f"/contacts/{old.pk}/").status_code == 404
    a = Company.objects.create(organization=world.org, name="A")
    b = Company.objects.create(organization=world.org, name="B")
    merging.merge(fresh(world.admin), "company", a.pk, [b.pk])
    client.force_login(world.admin)
    assert client.get(f"/companies/{b.pk}/")["Location"] == f"/companies/{a.pk}/"
    client.force_login(world.charlie)
    assert client.get(f"/companies/{b.pk}/").status_code == 404


def test_the_contact_lists_selection_opens_the_merge_page(client, world):
    old, new = two(world)
    client.force_login(world.alice)
    html = client.get("/contacts/").content.decode()
    assert 'formaction="/contacts/merge/"' in html
    response = client.get("/contacts/merge/", {"ids": [old.pk, new.pk], "action": "", "csrfmiddlewaretoken": "x"})
    assert response.status_code == 200 and "Merge 2 contacts" in response.content.decode()
