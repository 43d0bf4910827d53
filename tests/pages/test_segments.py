"""Segment pages (list, create/edit with the rule builder, live count, delete) and the contact
list's saved views (?view=, save current view, delete) and segment filter (?segment=)."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact, SavedView, Segment, Sharing

from .conftest import body, make_contact

pytestmark = pytest.mark.django_db


def rows(response):
    return [int(pk) for pk in re.findall(r'class="person-name row-link" href="/contacts/(\d+)/"', body(response))]


def tree(*rules, op="and"):
    return {"op": op, "rules": list(rules)}


LEADS = tree({"field": "lifecycle_stage", "operator": "in", "value": ["lead"]})


@pytest.fixture
def people(world, tags):
    return {
        "ann": make_contact(world, "Ann", owner=world.alice, team=world.team_a, tags=[tags["vip"]], score=90),
        "abe": make_contact(world, "Abe", owner=world.alice, team=world.team_a, lifecycle_stage="customer",
                            score=20),
        "rob": make_contact(world, "Rob", owner=world.rita, team=world.team_b, tags=[tags["vip"]], score=70),
    }


@pytest.fixture
def segment(world, tags):
    return Segment.objects.create(organization=world.org, name="VIP leads", created_by=world.alice,
                                  sharing=Sharing.TEAM, team=world.team_a,
                                  criteria=tree({"field": "lifecycle_stage", "operator": "in", "value": ["lead"]},
                                                {"field": "tags", "operator": "any", "value": [tags["vip"].pk]}))


def test_anonymous_is_sent_to_login(client):
    for url in ("/contacts/segments/", "/contacts/segments/new/"):
        assert client.get(url)["Location"].startswith("/login/")


@pytest.mark.parametrize("who, listed", [
    ("admin", True), ("alice", True), ("bob", True), ("viewer_a", True), ("rita", False), ("charlie", False),
])
def test_list_shows_visible_segments(client, world, segment, who, listed):
    client.force_login(getattr(world, who))
    response = client.get("/contacts/segments/")
    assert response.status_code == 200
    assert ("VIP leads" in body(response)) == listed
    assert 'href="/contacts/segments/"' in body(response)  # the nav link
    assert (f"/contacts/segments/{segment.pk}/edit/" in body(response)) == (who in ("admin", "alice"))


def test_list_query_count_is_constant(client, world, django_assert_max_num_queries):
    client.force_login(world.admin)
    Segment.objects.create(organization=world.org, name="S", created_by=world.alice, criteria=LEADS)
    with CaptureQueriesContext(connection) as few:
        client.get("/contacts/segments/")
    for i in range(10):
        Segment.objects.create(organization=world.org, name=f"S{i}", created_by=world.alice, criteria=LEADS)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert body(client.get("/contacts/segments/")).count("Counting…") == 11


def test_count_fragment(client, world, people, segment):
    client.force_login(world.admin)
    assert "2</strong>" in body(client.get(f"/contacts/segments/{segment.pk}/count/"))
    client.force_login(world.alice)
    assert "1</strong>" in body(client.get(f"/contacts/segments/{segment.pk}/count/"))
    client.force_login(world.rita)
    assert client.get(f"/contacts/segments/{segment.pk}/count/").status_code == 404
    client.force_login(world.charlie)
    assert client.get(f"/contacts/segments/{segment.pk}/count/").status_code == 404


def test_create_segment(client, world, people, tags):
    client.force_login(world.alice)
    page = client.get("/contacts/segments/new/")
    assert page.status_code == 200 and 'id="rule-builder"' in body(page) and "segment-builder-data" in body(page)
    criteria = tree({"field": "score", "operator": "gte", "value": 50},
                    tree({"field": "tags", "operator": "any", "value": [tags["vip"].pk]},
                         {"field": "created_at", "operator": "in_last_days", "value": 7}, op="or"))
    response = client.post("/contacts/segments/new/", {"name": "Warm", "description": "", "sharing": "team",
                                                       "criteria": json.dumps(criteria)})
    assert response.status_code == 302 and response["Location"] == "/contacts/segments/"
    segment = Segment.objects.get(name="Warm")
    assert segment.created_by == world.alice and segment.team == world.team_a and segment.criteria == criteria
    assert segment.contacts_for(world.admin).count() == 2  # Ann (90) and Rob (70)


@pytest.mark.parametrize("criteria, path", [
    ("{not json", "criteria"),
    (json.dumps(tree({"field": "score", "operator": "gte", "value": 1},
                     tree({"field": "score", "operator": "gte", "value": "x"}, op="or"))),
     "criteria.rules[1].rules[0].value"),
    (json.dumps(tree({"field": "wat", "operator": "in", "value": []})), "criteria.rules[0].field"),
])
def test_invalid_criteria_are_shown_with_their_path(client, world, criteria, path):
    client.force_login(world.alice)
    response = client.post("/contacts/segments/new/", {"name": "Bad", "sharing": "private", "criteria": criteria})
    assert response.status_code == 400
    assert f"<code>{path}</code>" in body(response)
    data = json.loads(re.search(r'id="segment-builder-data" type="application/json">(.*?)</script>',
                                body(response)).group(1))
    assert path in data["errors"]
    assert not Segment.objects.exists()


def test_duplicate_name_is_an_error_on_name(client, world, segment):
    client.force_login(world.admin)
    response = client.post("/contacts/segments/new/", {"name": "vip LEADS", "sharing": "private",
                                                       "criteria": json.dumps(LEADS)})
    assert response.status_code == 400 and "already exists" in body(response)


def test_viewer_cannot_create(client, world):
    client.force_login(world.viewer_a)
    assert client.get("/contacts/segments/new/").status_code == 403
    assert client.post("/contacts/segments/new/", {"name": "V", "sharing": "private",
                                                   "criteria": json.dumps(LEADS)}).status_code == 403


@pytest.mark.parametrize("who, status", [("alice", 200), ("admin", 200), ("bob", 403), ("rita", 404),
                                         ("charlie", 404)])
def test_edit_permissions(client, world, segment, who, status):
    client.force_login(getattr(world, who))
    assert client.get(f"/contacts/segments/{segment.pk}/edit/").status_code == status


def test_edit_and_delete(client, world, segment):
    client.force_login(world.alice)
    response = client.post(f"/contacts/segments/{segment.pk}/edit/", {
        "name": "Leads only", "sharing": "organization", "criteria": json.dumps(LEADS)})
    assert response.status_code == 302
    segment.refresh_from_db()
    assert segment.name == "Leads only" and segment.sharing == "organization" and segment.team is None
    client.force_login(world.bob)
    assert client.post(f"/contacts/segments/{segment.pk}/delete/").status_code == 403
    client.force_login(world.charlie)
    assert client.post(f"/contacts/segments/{segment.pk}/delete/").status_code == 404
    client.force_login(world.alice)
    assert client.post(f"/contacts/segments/{segment.pk}/delete/").status_code == 302
    assert not Segment.objects.exists()


def test_preview_counts_or_names_the_path(client, world, people, tags):
    client.force_login(world.alice)
    ok = client.post("/contacts/segments/preview/", {"criteria": json.dumps(tree(
        {"field": "tags", "operator": "any", "value": [tags["vip"].pk]}))})
    assert ok.json() == {"count": 1}  # alice sees Ann, not Rob
    bad = client.post("/contacts/segments/preview/", {"criteria": json.dumps(tree(
        {"field": "score", "operator": "between", "value": [9, 1]}))})
    assert bad.status_code == 400 and list(bad.json()["errors"]) == ["criteria.rules[0].value"]
    foreign = client.post("/contacts/segments/preview/", {"criteria": json.dumps(tree(
        {"field": "tags", "operator": "any", "value": [tags["foreign"].pk]}))})
    assert foreign.status_code == 400 and "No tag with id" in foreign.json()["errors"]["criteria.rules[0].value"][0]
    assert client.post("/contacts/segments/preview/", {"criteria": "{"}).status_code == 400


def test_segment_detail_is_the_filtered_contact_list(client, world, people, segment):
    client.force_login(world.admin)
    response = client.get(f"/contacts/segments/{segment.pk}/")
    assert response.status_code == 302 and response["Location"] == f"/contacts/?segment={segment.pk}"
    page = client.get(response["Location"])
    assert set(rows(page)) == {people["ann"].pk, people["rob"].pk}
    assert "Segment: <strong>VIP leads</strong>" in body(page)
    # search as you type keeps the segment (hidden input joined to the filter form)
    assert f'name="segment" value="{segment.pk}" form="contact-filters"' in body(page)
    client.force_login(world.alice)
    assert rows(client.get(f"/contacts/?segment={segment.pk}")) == [people["ann"].pk]


def test_foreign_or_hidden_segment_on_the_list_is_reported(client, world, people, segment):
    client.force_login(world.rita)
    page = client.get(f"/contacts/?segment={segment.pk}")
    assert page.status_code == 200 and "Some filters were not applied" in body(page)
    client.force_login(world.charlie)
    assert client.get(f"/contacts/segments/{segment.pk}/").status_code == 404


# -- saved views on the contact list


def test_save_current_view(client, world, people):
    client.force_login(world.alice)
    page = client.get("/contacts/?ordering=-score&score_min=50")
    assert "Save current view" in body(page)
    query = re.search(r'name="query" value="([^"]*)"', body(page)).group(1).replace("&amp;", "&")
    assert "score_min=50" in query and "ordering=-score" in query
    response = client.post("/contacts/views/", {"name": "Best", "sharing": "private", "query": query,
                                                "columns": ["stage", "score", "email"]})
    view = SavedView.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/contacts/?view={view.pk}"
    assert view.filters == {"score_min": "50"} and view.ordering == "-score"
    assert view.columns == ["stage", "score", "email"] and view.user == world.alice

    page = client.get(f"/contacts/?view={view.pk}")
    assert rows(page) == [people["ann"].pk]
    html = body(page)
    assert ">Score</th>" in html and ">Email</th>" in html and ">Company</th>" not in html
    assert '<option value="-score" selected>' in html
    assert f'name="view" value="{view.pk}" form="contact-filters"' in html


def test_view_filters_give_way_to_the_requests(client, world, people):
    view = SavedView.objects.create(organization=world.org, name="Customers", user=world.alice,
                                    filters={"lifecycle_stage": "customer"})
    client.force_login(world.alice)
    assert rows(client.get(f"/contacts/?view={view.pk}")) == [people["abe"].pk]
    assert rows(client.get(f"/contacts/?view={view.pk}&lifecycle_stage=lead")) == [people["ann"].pk]


def test_save_view_with_bad_filters_stores_nothing(client, world):
    client.force_login(world.alice)
    response = client.post("/contacts/views/", {"name": "Bad", "sharing": "private", "query": "score_min=lots",
                                                "columns": ["stage"]}, follow=True)
    assert "Could not save the view" in body(response)
    response = client.post("/contacts/views/", {"name": "", "sharing": "private", "query": "",
                                                "columns": ["stage"]}, follow=True)
    assert "Could not save the view" in body(response)
    assert not SavedView.objects.exists()


def test_viewer_cannot_save_views(client, world):
    client.force_login(world.viewer_a)
    assert "Save current view" not in body(client.get("/contacts/"))
    assert client.post("/contacts/views/", {"name": "V", "sharing": "private", "columns": ["stage"]}).status_code == 403


@pytest.mark.parametrize("who, applies, deletes", [
    ("alice", True, 302), ("admin", True, 302), ("bob", True, 403), ("rita", False, 404), ("charlie", False, 404),
])
def test_view_visibility(client, world, people, who, applies, deletes):
    view = SavedView.objects.create(organization=world.org, name="Team", user=world.alice, sharing=Sharing.TEAM,
                                    team=world.team_a, filters={"lifecycle_stage": "customer"})
    client.force_login(getattr(world, who))
    page = client.get(f"/contacts/?view={view.pk}")
    assert page.status_code == 200
    assert (f'<option value="{view.pk}" selected>' in body(page)) == applies
    if not applies:
        assert "Some filters were not applied" in body(page)
    assert client.post(f"/contacts/views/{view.pk}/delete/").status_code == deletes
    assert SavedView.objects.filter(pk=view.pk).exists() == (deletes != 302)


def test_list_with_view_query_count_is_constant(client, world, people, segment):
    view = SavedView.objects.create(organization=world.org, name="All", user=world.admin,
                                    filters={"segment": str(segment.pk)}, columns=["stage", "email", "phone",
                                                                                  "last_activity"])
    client.force_login(world.admin)
    url = f"/contacts/?view={view.pk}"
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for i in range(10):
        make_contact(world, f"More{i}", owner=world.alice, team=world.team_a,
                     tags=[Contact.objects.get(pk=people["ann"].pk).tags.get()])
    with CaptureQueriesContext(connection) as many:
        assert len(rows(client.get(url))) == 12
    assert len(many.captured_queries) == len(few.captured_queries)
