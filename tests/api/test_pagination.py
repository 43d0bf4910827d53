"""Keyset pagination: every sort walks every row exactly once, forwards and backwards,
through ties and NULLs; bad cursors, sorts and page sizes are 400s naming the parameter."""

from __future__ import annotations

import base64
import datetime
import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.utils import timezone

from companies.models import Company
from contacts.models import Contact
from tests.api.conftest import walk

pytestmark = pytest.mark.django_db

URL = "/api/contacts/"


@pytest.fixture
def crowd(world):
    """23 contacts with many ties: 3 scores, half without activity, 5 sharing one created_at."""
    now = timezone.now()
    contacts = []
    for i in range(23):
        contacts.append(Contact.objects.create(
            organization=world.org, first_name=["Ann", "bob", "Émile", "zed", "Åsa"][i % 5], last_name=f"{i:02d}",
            score=[10, 50, 90][i % 3], owner=world.alice))
    for i, contact in enumerate(contacts):
        Contact.objects.filter(pk=contact.pk).update(
            last_activity_at=None if i % 2 else now - datetime.timedelta(days=i % 4),
            created_at=now - datetime.timedelta(hours=0 if i < 5 else i))
    Contact.objects.create(organization=world.other_org, first_name="Foreign")
    return contacts


def expected_order(world, sort):
    fields = {"created": "created_at", "updated": "updated_at", "last_activity": "last_activity_at",
              "score": "score", "name": "search_name"}
    rows = list(Contact.objects.filter(organization=world.org))
    descending = sort.startswith("-")
    field = fields[sort.lstrip("-")]

    def key(c):
        value = getattr(c, field)
        # names in byte order of the folded name, as the "C"-collated index stores them
        return (value.encode() if isinstance(value, str) else value, c.pk)
    valued = sorted((c for c in rows if getattr(c, field) is not None), key=key, reverse=descending)
    # rows without a value come last whichever the direction, by id
    empty = sorted((c for c in rows if getattr(c, field) is None), key=lambda c: c.pk, reverse=descending)
    return [c.pk for c in valued + empty]


SORTS = ["-created", "created", "name", "-name", "score", "-score", "last_activity", "-last_activity",
         "updated", "-updated"]


@pytest.mark.parametrize("sort", SORTS)
def test_every_sort_walks_every_row_once_in_order(world, crowd, api, sort):
    client = api(world.admin)
    rows = walk(client, f"{URL}?{urlencode({'ordering': sort, 'page_size': 4})}")
    got = [row["id"] for row in rows]
    assert len(got) == len(set(got)) == 23
    assert got == expected_order(world, sort)


@pytest.mark.parametrize("sort", ["-created", "score", "-last_activity", "last_activity", "name"])
def test_previous_links_walk_back_through_the_same_pages(world, crowd, api, sort):
    client = api(world.admin)
    url, forward = f"{URL}?{urlencode({'ordering': sort, 'page_size': 5})}", []
    while url:
        page = client.get(url).json()
        forward.append([row["id"] for row in page["results"]])
        last_page, url = page, page["next"]
    assert forward[0] and len(forward) == 5
    backward, url = [], last_page["previous"]
    while url:
        page = client.get(url).json()
        backward.append([row["id"] for row in page["results"]])
        url = page["previous"]
    assert list(reversed(backward)) == forward[:-1]
    first = client.get(f"{URL}?{urlencode({'ordering': sort, 'page_size': 5})}").json()
    assert first["previous"] is None


def test_rows_added_while_walking_are_neither_repeated_nor_skipped(world, crowd, api):
    client = api(world.admin)
    page = client.get(URL, {"ordering": "created", "page_size": 10}).json()
    seen = [row["id"] for row in page["results"]]
    newest = Contact.objects.create(organization=world.org, first_name="Late", owner=world.alice)
    rows = walk(client, page["next"])
    seen += [row["id"] for row in rows]
    assert len(seen) == len(set(seen)) == 24 and seen[-1] == newest.pk


def test_page_size(world, crowd, api):
    client = api(world.admin)
    assert len(client.get(URL).json()["results"]) == 23  # default 50
    for bad in ("0", "-1", "201", "ten", "1.5"):
        response = client.get(URL, {"page_size": bad})
        assert response.status_code == 400 and "page_size" in response.json(), bad
    assert len(client.get(URL, {"page_size": "200"}).json()["results"]) == 23


def cursor_of(url):
    return parse_qs(urlsplit(url).query)["cursor"][0]


def test_malformed_cursors_are_400_naming_cursor(world, crowd, api):
    client = api(world.admin)
    good = cursor_of(client.get(URL, {"page_size": 5}).json()["next"])
    for cursor in ("garbage", "bm90IGEgY3Vyc29y", "%%%", "é", good[:-3] + "abc", good + "x", "1:2:3",
                   base64.b64encode(json.dumps({"s": "-created", "d": "n", "k": None, "i": 1}).encode()).decode()):
        response = client.get(URL, {"cursor": cursor})
        assert response.status_code == 400, (cursor, response.content)
        assert list(response.json()) == ["cursor"]


def test_a_cursor_of_another_sort_or_list_is_rejected(world, crowd, api):
    client = api(world.admin)
    cursor = cursor_of(client.get(URL, {"ordering": "score", "page_size": 5}).json()["next"])
    assert client.get(URL, {"ordering": "score", "cursor": cursor}).status_code == 200
    response = client.get(URL, {"ordering": "name", "cursor": cursor})
    assert response.status_code == 400 and "cursor" in response.json()
    # the same sort on another list
    for name in ("One", "Two"):
        Company.objects.create(organization=world.org, name=name)
    companies = cursor_of(client.get("/api/companies/", {"page_size": 1, "ordering": "-created"}).json()["next"])
    response = client.get(URL, {"ordering": "-created", "cursor": companies})
    assert response.status_code == 400 and "cursor" in response.json()


def test_a_cursor_only_moves_within_what_the_caller_sees(world, crowd, api):
    cursor = cursor_of(api(world.admin).get(URL, {"page_size": 5}).json()["next"])
    assert api(world.rita).get(URL, {"cursor": cursor}).json()["results"] == []  # rita owns none of the crowd
    assert len(walk(api(world.alice), f"{URL}?cursor={cursor}")) == 23 - 5


def test_bad_ordering_is_400_naming_ordering(world, crowd, api):
    client = api(world.admin)
    for bad in ("email", "-first_name", "created,name", "--"):
        response = client.get(URL, {"ordering": bad})
        assert response.status_code == 400 and list(response.json()) == ["ordering"], bad
