"""/api/segments/, /api/saved-views/, /api/segments/{id}/count/ and /api/contacts/?segment= / ?view=."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact, ContactTag, SavedView, Segment, Sharing
from tests.api.conftest import ids

pytestmark = pytest.mark.django_db


def stage_tree(*stages):
    return {"op": "and", "rules": [{"field": "lifecycle_stage", "operator": "in", "value": list(stages)}]}


@pytest.fixture
def seg(world, book):
    """alice's team-shared segment: leads tagged VIP."""
    for name in ("alice_own", "bob_own", "rita_own"):
        ContactTag.objects.create(organization=world.org, contact=getattr(book, name), tag=book.vip)
    Contact.objects.filter(pk=book.rita_own.pk).update(lifecycle_stage="customer")
    return Segment.objects.create(
        organization=world.org, name="VIP leads", created_by=world.alice, sharing=Sharing.TEAM, team=world.team_a,
        criteria={"op": "and", "rules": [{"field": "lifecycle_stage", "operator": "in", "value": ["lead"]},
                                         {"field": "tags", "operator": "any", "value": [book.vip.pk]}]})


@pytest.fixture
def foreign_seg(world):
    return Segment.objects.create(organization=world.other_org, name="Theirs", created_by=world.charlie,
                                  sharing=Sharing.ORGANIZATION, criteria=stage_tree("lead"))


def test_create_segment(api, world, book):
    tree = {"op": "or", "rules": [
        {"field": "score", "operator": "gte", "value": 50},
        {"op": "and", "rules": [{"field": "tags", "operator": "any", "value": [book.hot.pk]},
                                {"field": "created_at", "operator": "in_last_days", "value": 30}]}]}
    response = api(world.alice).post("/api/segments/", {"name": "Warm", "description": "d", "sharing": "team",
                                                        "criteria": tree}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["criteria"] == tree and body["sharing"] == "team" and body["team"] == world.team_a.pk
    assert body["created_by"] == world.alice.pk
    segment = Segment.objects.get(pk=body["id"])
    assert segment.organization == world.org and segment.created_by == world.alice


def test_malformed_tree_is_a_400_naming_the_path(api, world, book):
    tree = {"op": "and", "rules": [{"field": "score", "operator": "gte", "value": 1},
                                   {"op": "or", "rules": [{"field": "score", "operator": "gte", "value": "lots"}]}]}
    response = api(world.alice).post("/api/segments/", {"name": "Bad", "criteria": tree}, format="json")
    assert response.status_code == 400
    assert response.json() == {"criteria": ["criteria.rules[1].rules[0].value: Enter a number."]}
    response = api(world.alice).post("/api/segments/", {"name": "Bad", "criteria": "lead"}, format="json")
    assert response.status_code == 400 and "criteria" in response.json()
    assert not Segment.objects.exists()


@pytest.mark.parametrize("body, field", [
    ({"name": "", "criteria": stage_tree("lead")}, "name"),
    ({"name": "X", "criteria": stage_tree("lead"), "sharing": "world"}, "sharing"),
    ({"name": "X", "criteria": stage_tree("lead"), "organization": 1}, "organization"),
    ({"name": "X", "criteria": stage_tree("lead"), "created_by": 1}, "created_by"),
    ({"name": "X"}, "criteria"),
])
def test_segment_validation_errors(api, world, body, field):
    response = api(world.alice).post("/api/segments/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert not Segment.objects.exists()


def test_duplicate_name_case_insensitive(api, world, seg):
    response = api(world.admin).post("/api/segments/", {"name": "vip LEADS", "criteria": stage_tree("lead")},
                                     format="json")
    assert response.status_code == 400 and "name" in response.json()


def test_team_sharing_without_team_is_400(api, world):
    response = api(world.admin).post("/api/segments/", {"name": "T", "sharing": "team",
                                                        "criteria": stage_tree("lead")}, format="json")
    assert response.status_code == 400 and "sharing" in response.json()


@pytest.mark.parametrize("who, status", [
    ("admin", 200), ("alice", 200), ("bob", 200), ("manager_a", 200), ("viewer_a", 200),
    ("rita", 404), ("manager_b", 404), ("charlie", 404), ("other_rep", 404),
])
def test_retrieve_visibility(api, world, seg, who, status):
    assert api(getattr(world, who)).get(f"/api/segments/{seg.pk}/").status_code == status


@pytest.mark.parametrize("who, status", [
    ("admin", 200), ("alice", 200), ("bob", 403), ("manager_a", 403), ("viewer_a", 403),
    ("rita", 404), ("charlie", 404),
])
def test_update_only_creator_or_admin(api, world, seg, who, status):
    response = api(getattr(world, who)).patch(f"/api/segments/{seg.pk}/", {"description": "new"}, format="json")
    assert response.status_code == status
    seg.refresh_from_db()
    assert (seg.description == "new") == (status == 200)


@pytest.mark.parametrize("who, status", [("bob", 403), ("charlie", 404), ("alice", 204)])
def test_delete(api, world, seg, who, status):
    assert api(getattr(world, who)).delete(f"/api/segments/{seg.pk}/").status_code == status
    assert Segment.objects.filter(pk=seg.pk).exists() == (status != 204)


def test_viewer_cannot_create(api, world):
    response = api(world.viewer_a).post("/api/segments/", {"name": "V", "criteria": stage_tree("lead")},
                                        format="json")
    assert response.status_code == 403


def test_list_shows_visible_segments_only(api, world, seg, foreign_seg):
    private = Segment.objects.create(organization=world.org, name="Rita's", created_by=world.rita,
                                     criteria=stage_tree("lead"))
    assert ids(api(world.admin).get("/api/segments/")) == {seg.pk, private.pk}
    assert ids(api(world.bob).get("/api/segments/")) == {seg.pk}
    assert ids(api(world.rita).get("/api/segments/")) == {private.pk}
    assert ids(api(world.charlie).get("/api/segments/")) == {foreign_seg.pk}


def test_count_through_the_gate(api, world, book, seg):
    # alice_own and bob_own are VIP leads (rita_own is a customer).
    assert api(world.admin).get(f"/api/segments/{seg.pk}/count/").json() == {"count": 2}
    assert api(world.alice).get(f"/api/segments/{seg.pk}/count/").json() == {"count": 1}
    assert api(world.manager_a).get(f"/api/segments/{seg.pk}/count/").json() == {"count": 2}
    assert api(world.charlie).get(f"/api/segments/{seg.pk}/count/").status_code == 404


def test_contacts_filtered_by_segment(api, world, book, seg, foreign_seg):
    assert ids(api(world.admin).get(f"/api/contacts/?segment={seg.pk}")) == {book.alice_own.pk, book.bob_own.pk}
    assert ids(api(world.alice).get(f"/api/contacts/?segment={seg.pk}")) == {book.alice_own.pk}
    # Combined with other filters of the same FilterSet.
    assert ids(api(world.admin).get(f"/api/contacts/?segment={seg.pk}&owner={world.bob.pk}")) == {book.bob_own.pk}
    for value in (foreign_seg.pk, 999999, "x"):
        response = api(world.admin).get(f"/api/contacts/?segment={value}")
        assert response.status_code == 400 and "segment" in response.json()
    # rita may not see alice's team segment: same answer as for a foreign one.
    response = api(world.rita).get(f"/api/contacts/?segment={seg.pk}")
    assert response.status_code == 400 and "segment" in response.json()


def test_stale_segment_is_a_400_not_a_500(api, world, book):
    book.budget.delete()
    stale = Segment.objects.create(organization=world.org, name="Stale", created_by=world.admin, criteria={
        "op": "and", "rules": [{"field": "cf_budget", "operator": "gte", "value": 1}]})
    response = api(world.admin).get(f"/api/contacts/?segment={stale.pk}")
    assert response.status_code == 400 and "segment" in response.json()
    response = api(world.admin).get(f"/api/segments/{stale.pk}/count/")
    assert response.status_code == 400 and "criteria" in response.json()


def test_segment_list_query_count_is_constant(api, world, seg, django_assert_max_num_queries):
    client = api(world.admin)
    client.get("/api/segments/")
    with CaptureQueriesContext(connection) as few:
        client.get("/api/segments/?expand=created_by")
    for i in range(15):
        Segment.objects.create(organization=world.org, name=f"S{i}", created_by=world.alice,
                               criteria=stage_tree("lead"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get("/api/segments/?expand=created_by").json()["results"]) == 16


def test_contacts_by_segment_query_count_is_constant(api, world, book, seg):
    client = api(world.admin)
    url = f"/api/contacts/?segment={seg.pk}"
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for i in range(10):
        c = Contact.objects.create(organization=world.org, first_name=f"N{i}", owner=world.alice, team=world.team_a)
        ContactTag.objects.create(organization=world.org, contact=c, tag=book.vip)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(url).json()["results"]) == 12
    assert len(many.captured_queries) == len(few.captured_queries)


# -- saved views


def test_create_saved_view_and_apply_it(api, world, book):
    Contact.objects.filter(pk=book.bob_own.pk).update(score=70)
    client = api(world.manager_a)
    response = client.post("/api/saved-views/", {
        "name": "Team A warm", "sharing": "team", "filters": {"team": [world.team_a.pk], "score_min": 50},
        "columns": ["company", "score"], "ordering": "-score"}, format="json")
    assert response.status_code == 201, response.content
    view = response.json()
    assert view["filters"] == {"team": str(world.team_a.pk), "score_min": "50"}
    assert view["user"] == world.manager_a.pk and view["team"] == world.team_a.pk
    assert ids(client.get(f"/api/contacts/?view={view['id']}")) == {book.bob_own.pk}
    # Shared with team A: bob (rep, team A) applies it through his own visibility.
    assert ids(api(world.bob).get(f"/api/contacts/?view={view['id']}")) == {book.bob_own.pk}
    assert ids(api(world.alice).get(f"/api/contacts/?view={view['id']}")) == set()
    # Explicit filters replace the view's.
    assert ids(client.get(f"/api/contacts/?view={view['id']}&owner={world.alice.pk}")) == {book.alice_own.pk}
    # Rita (team B) cannot use it.
    response = api(world.rita).get(f"/api/contacts/?view={view['id']}")
    assert response.status_code == 400 and "view" in response.json()


def test_saved_view_sort_applies(api, world, book):
    Contact.objects.filter(pk=book.team_a_queue.pk).update(score=99)
    Contact.objects.filter(pk=book.org_queue.pk).update(score=98)
    view = SavedView.objects.create(organization=world.org, name="Top", user=world.admin, ordering="-score")
    rows = api(world.admin).get(f"/api/contacts/?view={view.pk}").json()["results"]
    assert [r["id"] for r in rows[:2]] == [book.team_a_queue.pk, book.org_queue.pk]
    rows = api(world.admin).get(f"/api/contacts/?view={view.pk}&ordering=created").json()["results"]
    assert rows[0]["id"] == book.alice_own.pk


@pytest.mark.parametrize("body, field", [
    ({"name": "V", "filters": {"nope": "1"}}, "filters.nope"),
    ({"name": "V", "filters": {"score_min": "high"}}, "filters.score_min"),
    ({"name": "V", "filters": {"view": "1"}}, "filters.view"),
    ({"name": "V", "filters": {"cf_secret": "x"}}, "filters.cf_secret"),
    ({"name": "V", "filters": {"score_min": {"a": 1}}}, "filters.score_min"),
    ({"name": "V", "filters": "stage=lead"}, "filters"),
    ({"name": "V", "columns": ["salary"]}, "columns"),
    ({"name": "V", "columns": []}, "columns"),
    ({"name": "V", "ordering": "-salary"}, "ordering"),
    ({"name": ""}, "name"),
])
def test_saved_view_validation(api, world, book, body, field):
    response = api(world.alice).post("/api/saved-views/", body, format="json")
    errors = response.json()
    if "." in field:  # filters.<name>: nested under filters
        top, name = field.split(".")
        errors = errors.get(top, {})
        field = name
    assert response.status_code == 400 and field in errors, response.content
    assert not SavedView.objects.exists()


def test_saved_view_filters_with_foreign_ids_are_rejected(api, world, book):
    response = api(world.alice).post("/api/saved-views/", {"name": "V", "filters": {"tags": [book.other_tag.pk]}},
                                     format="json")
    assert response.status_code == 400 and "tags" in response.json()["filters"]


@pytest.mark.parametrize("who, get, patch", [
    ("alice", 200, 200), ("admin", 200, 200), ("bob", 404, 404), ("charlie", 404, 404),
])
def test_saved_view_visibility(api, world, who, get, patch):
    view = SavedView.objects.create(organization=world.org, name="Mine", user=world.alice)
    client = api(getattr(world, who))
    assert client.get(f"/api/saved-views/{view.pk}/").status_code == get
    assert client.patch(f"/api/saved-views/{view.pk}/", {"name": "Renamed"}, format="json").status_code == patch
