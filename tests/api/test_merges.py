"""Merge API: merge, read, undo (409 with conflicts), bulk merges; visibility 404s."""

from __future__ import annotations

import pytest

from companies.models import Company
from contacts.models import Contact, Merge
from contacts.services import create_contact
from crm.models import Job


def person(world, name, owner=None, **data):
    return create_contact(organization=world.org, data={"first_name": name, "owner": owner or world.alice,
                                                        "team": world.team_a, **data})


def test_merge_read_and_undo(api, world):
    a, b = person(world, "Ann", email="a@x.test"), person(world, "Anna")
    client = api(world.alice)
    response = client.post("/api/contacts/merge/", {"survivor": b.pk, "merged": [a.pk], "fields": {"email": a.pk}},
                           format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["survivor_id"] == b.pk and body["merged_ids"] == [a.pk] and body["fields"]["email"] == a.pk
    assert Contact.objects.get(pk=b.pk).email == "a@x.test"
    assert client.get(f"/api/merges/{body['id']}/").json()["conflicts"] == []

    Contact.objects.filter(pk=b.pk).update(job_title="Changed")
    response = client.post(f"/api/merges/{body['id']}/undo/")
    assert response.status_code == 409 and any("job title" in c for c in response.json()["conflicts"])
    Contact.objects.filter(pk=b.pk).update(job_title="")
    response = client.post(f"/api/merges/{body['id']}/undo/")
    assert response.status_code == 200 and response.json()["undone_at"]
    response = client.post(f"/api/merges/{body['id']}/undo/")
    assert response.status_code == 400 and "already undone" in str(response.json())


@pytest.mark.parametrize("case", ["foreign", "itself", "viewer", "rep_other_owner", "rep_view_only", "bad_field"])
def test_bad_merges_via_the_api(api, world, case):
    a, b = person(world, "Ann"), person(world, "Anna")
    user, body, code = world.alice, {"survivor": b.pk, "merged": [a.pk]}, 400
    if case == "foreign":
        foreign = create_contact(organization=world.other_org, data={"first_name": "F"})
        body["merged"], code = [foreign.pk], 404
    elif case == "itself":
        body["merged"] = [b.pk]
    elif case == "viewer":
        user, code = world.viewer_a, 403
    elif case == "rep_other_owner":
        user, code = world.bob, 404  # bob cannot see alice's contacts at all
    elif case == "rep_view_only":  # bob sees Ann (shared for viewing) but may not change her
        from django.contrib.auth.models import Permission

        from contacts.models import ContactUserObjectPermission

        ContactUserObjectPermission.objects.create(user=world.bob, permission=Permission.objects.get(
            codename="view_contact"), content_object=a)
        body, user, code = {"survivor": person(world, "Bo", owner=world.bob).pk, "merged": [a.pk]}, world.bob, 403
    elif case == "bad_field":
        body["fields"] = {"email": 999999}
    response = api(user).post("/api/contacts/merge/", body, format="json")
    assert response.status_code == code, response.json()
    assert not Merge.objects.exists() and Contact.objects.filter(pk__in=[a.pk, b.pk]).count() == 2
    if case == "rep_view_only":
        assert f"#{a.pk}" in response.json()["detail"] and "not change" in response.json()["detail"]


def test_merges_of_another_organization_or_team_are_404(api, world):
    a, b = person(world, "Ann"), person(world, "Anna")
    merge_id = api(world.alice).post("/api/contacts/merge/", {"survivor": b.pk, "merged": [a.pk]},
                                     format="json").json()["id"]
    for user in (world.charlie, world.rita, world.manager_b):
        assert api(user).get(f"/api/merges/{merge_id}/").status_code == 404
        assert api(user).post(f"/api/merges/{merge_id}/undo/").status_code == 404
    assert api(world.manager_a).get(f"/api/merges/{merge_id}/").status_code == 200


def test_company_merge_keeps_domain_unique(api, world):
    a = Company.objects.create(organization=world.org, name="A", domain="a.test")
    b = Company.objects.create(organization=world.org, name="B", domain="b.test")
    response = api(world.admin).post("/api/companies/merge/", {"survivor": a.pk, "merged": [b.pk],
                                                               "fields": {"domain": b.pk}}, format="json")
    assert response.status_code == 201
    assert Company.objects.get(pk=a.pk).domain == "b.test"
    assert api(world.charlie).post("/api/companies/merge/", {"survivor": a.pk, "merged": [b.pk]},
                                   format="json").status_code == 404


def test_bulk_merge_endpoint_queues_a_job_and_reports_progress(api, world, django_capture_on_commit_callbacks):
    a, b, c, d = (person(world, n) for n in "ABCD")
    response = api(world.alice).post("/api/merges/bulk/", {"groups": [[a.pk, b.pk], [c.pk, d.pk]]}, format="json")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == Job.Status.QUEUED and job.total == 2
    from contacts import merge as merging

    merging.run_bulk(job.pk)
    body = api(world.alice).get(f"/api/merges/bulk/{job.pk}/").json()
    assert (body["status"], body["progress"], body["succeeded"]) == ("done", 100, 2)
    assert api(world.charlie).get(f"/api/merges/bulk/{job.pk}/").status_code == 404
    response = api(world.alice).post("/api/merges/bulk/", {"groups": [[a.pk]]}, format="json")
    assert response.status_code == 400 and "groups[0]" in str(response.json())


def test_reading_a_merge_and_a_bulk_merge_takes_a_fixed_number_of_queries(api, world,
                                                                          django_assert_max_num_queries):
    from contacts import merge as merging
    from tests.conftest import fresh

    small = [[person(world, "A").pk, person(world, "B").pk]]
    big = [[person(world, f"P{i}").pk, person(world, f"Q{i}").pk] for i in range(6)]
    counts = []
    for groups in (small, big):
        job = merging.start_bulk_merge(fresh(world.alice), groups, inline=True)
        client = api(world.alice)
        with django_assert_max_num_queries(12) as captured:
            assert client.get(f"/api/merges/bulk/{job.pk}/").status_code == 200
        counts.append(len(captured))
        merge_id = Merge.objects.filter(job=job).values_list("pk", flat=True).first()
        with django_assert_max_num_queries(25):
            assert client.get(f"/api/merges/{merge_id}/").status_code == 200
    assert counts[0] == counts[1]
