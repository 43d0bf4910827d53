"""/contacts/: visible rows only, filters, search as you type (htmx), sorts, keyset pages."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact
from crm.models import CustomFieldDefinition

from .conftest import body, make_contact

pytestmark = pytest.mark.django_db


def rows(response):
    """Contact ids listed on a page, in order."""
    return [int(pk) for pk in re.findall(r'class="person-name row-link" href="/contacts/(\d+)/"', body(response))]


def test_anonymous_is_sent_to_login(client):
    response = client.get("/contacts/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=/contacts/")


@pytest.mark.parametrize("who, sees_alices, sees_ritas", [
    ("admin", True, True),
    ("manager_a", True, False),
    ("manager_b", False, True),
    ("alice", True, False),
    ("bob", False, False),
    ("rita", False, True),
    ("viewer_a", True, False),
    ("charlie", False, False),
    ("other_rep", False, False),
])
def test_list_shows_only_visible_contacts(client, world, alices_contact, ritas_contact, foreign_contact,
                                          who, sees_alices, sees_ritas):
    client.force_login(getattr(world, who))
    response = client.get("/contacts/")
    assert response.status_code == 200
    listed = set(rows(response))
    assert (alices_contact.pk in listed) == sees_alices
    assert (ritas_contact.pk in listed) == sees_ritas
    assert (foreign_contact.pk in listed) == (who in {"charlie", "other_rep"})


def test_list_shows_columns_newest_first(client, world, tags):
    older = make_contact(world, "Old", "Timer", owner=world.alice, team=world.team_a, email="old@example.com")
    newer = make_contact(world, "New", "Comer", owner=world.alice, team=world.team_a, tags=[tags["vip"]],
                         lifecycle_stage="customer")
    client.force_login(world.alice)
    response = client.get("/contacts/")
    page = body(response)
    assert rows(response) == [newer.pk, older.pk]
    assert "old@example.com" in page and "VIP" in page and "Customer" in page
    assert 'aria-current="page"' in page  # the Contacts nav link is marked current


def test_viewer_sees_no_new_button(client, world):
    client.force_login(world.viewer_a)
    assert "/contacts/new/" not in body(client.get("/contacts/"))
    client.force_login(world.alice)
    assert "/contacts/new/" in body(client.get("/contacts/"))


def test_empty_states(client, world):
    client.force_login(world.alice)
    assert "No contacts yet" in body(client.get("/contacts/"))
    make_contact(world, "Ann", owner=world.alice)
    page = body(client.get("/contacts/", {"q": "zzz"}))
    assert "No contacts match" in page and "zzz" in page


def test_search_as_you_type_returns_only_the_rows_partial_to_htmx(client, world):
    ann = make_contact(world, "Ann", "Lee", owner=world.alice)
    make_contact(world, "Bo", "Jensen", owner=world.alice)
    client.force_login(world.alice)
    full = client.get("/contacts/", {"q": "an"})
    assert "<html" in body(full) and rows(full) == [ann.pk]
    partial = client.get("/contacts/", {"q": "an"}, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    assert "<html" not in body(partial) and "filter-panel" not in body(partial)
    assert rows(partial) == [ann.pk]
    assert "HX-Request" in partial["Vary"]
    # The search box asks for exactly that partial as you type.
    page = body(full)
    assert 'hx-trigger="input changed delay:200ms, search"' in page and 'hx-target="#contact-results"' in page
    # A history restore (back button) needs the whole page.
    restore = client.get("/contacts/", {"q": "an"}, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in body(restore)


def test_filters_from_the_panel(client, world, tags, company):
    from contacts.models import ContactCompany

    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="budget", label="Budget",
                                         field_type="number")
    vip = make_contact(world, "Vera", owner=world.alice, tags=[tags["vip"], tags["hot"]], lifecycle_stage="customer",
                       score=90, email="vera@example.com", custom_fields={"budget": 5000})
    hot = make_contact(world, "Hank", owner=world.bob, team=world.team_a, tags=[tags["hot"]], score=10,
                       custom_fields={"budget": 10})
    ContactCompany.objects.create(organization=world.org, contact=hot, company=company)
    client.force_login(world.admin)

    def listed(**params):
        return set(rows(client.get("/contacts/", params)))

    assert listed(lifecycle_stage="customer") == {vip.pk}
    assert listed(tags=[tags["vip"].pk, tags["hot"].pk], tags_mode="all") == {vip.pk}
    assert listed(tags=[tags["vip"].pk, tags["hot"].pk], tags_mode="any") == {vip.pk, hot.pk}
    assert listed(owner=world.bob.pk) == {hot.pk}
    assert listed(score_min=50) == {vip.pk}
    assert listed(has_email="true") == {vip.pk}
    assert listed(company=company.pk) == {hot.pk}
    assert listed(cf_budget_min=100) == {vip.pk}
    page = body(client.get("/contacts/"))
    assert 'name="cf_budget_min"' in page and "Budget" in page


def test_invalid_filter_is_reported_not_a_500(client, world):
    make_contact(world, "Ann", owner=world.alice)
    client.force_login(world.alice)
    response = client.get("/contacts/", {"score_min": "lots", "cf_nope": "1"})
    assert response.status_code == 200
    page = body(response)
    assert "Some filters were not applied" in page
    assert "No custom field" in page and "nope" in page


def test_another_organizations_filter_values_are_not_choices(client, world, foreign_contact):
    client.force_login(world.alice)
    response = client.get("/contacts/", {"owner": world.other_rep.pk})
    assert "Some filters were not applied" in body(response)


@pytest.mark.parametrize("ordering", ["-created", "created", "name", "-name", "-score", "score", "-updated",
                                      "-last_activity"])
def test_every_sort_walks_all_rows_once(client, world, ordering):
    import datetime

    from django.utils import timezone

    ids = {make_contact(world, f"P{i:02d}", owner=world.alice, score=i % 4).pk for i in range(53)}
    Contact.objects.filter(pk__in=list(ids)[:20]).update(last_activity_at=timezone.now() - datetime.timedelta(days=1))
    client.force_login(world.alice)
    seen, query = [], f"ordering={ordering}&per_page=25"
    for _ in range(5):
        response = client.get("/contacts/?" + query)
        assert response.status_code == 200
        seen += rows(response)
        match = re.search(r'rel="next" href="\?([^"]+)"', body(response))
        if not match:
            break
        query = match.group(1).replace("&amp;", "&")
    assert len(seen) == len(set(seen)) == 53 and set(seen) == ids


def test_previous_link_goes_back(client, world):
    for i in range(30):
        make_contact(world, f"P{i:02d}", owner=world.alice)
    client.force_login(world.alice)
    first = client.get("/contacts/")
    next_query = re.search(r'rel="next" href="\?([^"]+)"', body(first)).group(1).replace("&amp;", "&")
    second = client.get("/contacts/?" + next_query)
    assert len(rows(second)) == 5 and 'rel="next"' not in body(second)
    prev_query = re.search(r'rel="prev" href="\?([^"]+)"', body(second)).group(1).replace("&amp;", "&")
    back = client.get("/contacts/?" + prev_query)
    assert rows(back) == rows(first)


def test_page_size_choice(client, world):
    for i in range(60):
        make_contact(world, f"P{i:02d}", owner=world.alice)
    client.force_login(world.alice)
    assert len(rows(client.get("/contacts/"))) == 25
    assert len(rows(client.get("/contacts/", {"per_page": 50}))) == 50
    assert len(rows(client.get("/contacts/", {"per_page": 100}))) == 60
    for bad in ("7", "101", "100000", "abc"):
        response = client.get("/contacts/", {"per_page": bad})
        assert response.status_code == 400, bad
        assert "per_page" in response.content.decode() and "the most is 100" in response.content.decode()


@pytest.mark.parametrize("cursor", ["nonsense", "eyJhIjoxfQ:1u2v3w:abc", "%00"])
def test_bad_cursor_is_a_400_page(client, world, cursor):
    client.force_login(world.alice)
    response = client.get("/contacts/", {"cursor": cursor})
    assert response.status_code == 400
    assert "This page link is invalid or out of date" in body(response)


def test_cursor_of_another_sort_is_a_400(client, world):
    for i in range(30):
        make_contact(world, f"P{i:02d}", owner=world.alice)
    client.force_login(world.alice)
    cursor = re.search(r"cursor=([^\"&]+)", body(client.get("/contacts/"))).group(1)
    from urllib.parse import unquote

    response = client.get("/contacts/", {"cursor": unquote(cursor), "ordering": "-score"})
    assert response.status_code == 400 and "different sort order" in body(response)


def test_unknown_sort_is_a_400_naming_it(client, world):
    client.force_login(world.alice)
    response = client.get("/contacts/", {"ordering": "-password"})
    assert response.status_code == 400 and "Unknown sort" in body(response)


def test_query_count_does_not_grow_with_page_size(client, world, tags):
    for i in range(110):
        make_contact(world, f"P{i:03d}", owner=world.alice, team=world.team_a,
                     tags=[tags["vip"], tags["hot"]] if i % 2 else [tags["hot"]])
    client.force_login(world.alice)
    client.get("/contacts/")  # warm up (session, content types)
    counts = {}
    for size in (25, 100):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/contacts/", {"per_page": size})
        assert len(rows(response)) == size
        counts[size] = len(ctx.captured_queries)
        assert not any("OFFSET" in q["sql"].upper() for q in ctx.captured_queries)
        assert not any("COUNT(" in q["sql"].upper() for q in ctx.captured_queries)
    assert counts[25] == counts[100], counts
    assert counts[100] <= 12, counts
    with CaptureQueriesContext(connection) as ctx:
        client.get("/contacts/", {"per_page": 100, "q": "p0"}, HTTP_HX_REQUEST="true")
    assert len(ctx.captured_queries) <= counts[100]
