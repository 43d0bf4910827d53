"""crm.pagination: keyset pages over (sort key, id) with signed cursors."""

import datetime

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import Contact
from crm.pagination import InvalidCursor, KeysetPaginator, SortKey, page_size_from

from .conftest import make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(world):
    """57 contacts; groups of them share created_at and score so ties are broken by id;
    a third have no last activity (NULL)."""
    base = timezone.now() - datetime.timedelta(days=30)
    ids = []
    for i in range(57):
        c = make_contact(world, f"Person{i:02d}", owner=world.alice)
        ids.append(c.pk)
        Contact.objects.filter(pk=c.pk).update(
            created_at=base + datetime.timedelta(hours=i // 4),
            score=i % 5,
            last_activity_at=None if i % 3 == 0 else base + datetime.timedelta(minutes=i % 7),
        )
    return ids


def walk(queryset, sort, page_size=10, backward_check=True):
    """All rows page by page with Next links, then back again with Previous links."""
    paginator = KeysetPaginator(queryset, sort, page_size=page_size, namespace="test", sort_name="s")
    pages = [paginator.page(None)]
    while pages[-1].has_next:
        pages.append(paginator.page(pages[-1].next_cursor))
        assert len(pages) < 100
    forward = [c.pk for page in pages for c in page]
    if backward_check:
        back = [pages[-1]]
        while back[-1].has_previous:
            back.append(paginator.page(back[-1].previous_cursor))
            assert len(back) < 100
        assert [[c.pk for c in p] for p in reversed(back)] == [[c.pk for c in p] for p in pages]
        assert not back[-1].has_previous
    return forward, pages


@pytest.mark.parametrize("sort, order_by", [
    (SortKey("created_at", True), ["-created_at", "-id"]),
    (SortKey("created_at"), ["created_at", "id"]),
    (SortKey("score", True), ["-score", "-id"]),
    (SortKey("score"), ["score", "id"]),
    (SortKey("search_name", collation="C"), ["search_name", "id"]),
])
def test_walks_every_row_once_in_order_both_ways(rows, sort, order_by):
    qs = Contact.objects.filter(pk__in=rows)
    forward, pages = walk(qs, sort)
    assert len(forward) == len(set(forward)) == 57
    assert forward == list(qs.order_by(*order_by).values_list("pk", flat=True))
    assert [len(p) for p in pages] == [10] * 5 + [7]
    assert not pages[-1].has_next and pages[0].is_first and not pages[0].has_previous


@pytest.mark.parametrize("descending", [True, False])
def test_nullable_key_keeps_rows_without_value_at_the_end(rows, descending):
    qs = Contact.objects.filter(pk__in=rows)
    forward, _ = walk(qs, SortKey("last_activity_at", descending), page_size=7)
    assert len(forward) == len(set(forward)) == 57
    valued = qs.filter(last_activity_at__isnull=False).order_by(
        *(["-last_activity_at", "-id"] if descending else ["last_activity_at", "id"]))
    empty = qs.filter(last_activity_at__isnull=True).order_by("-id" if descending else "id")
    assert forward == [*valued.values_list("pk", flat=True), *empty.values_list("pk", flat=True)]


def test_one_query_per_page_and_no_offset_or_count(rows):
    paginator = KeysetPaginator(Contact.objects.filter(pk__in=rows), SortKey("created_at", True), page_size=10,
                                namespace="test")
    first = paginator.page(None)
    with CaptureQueriesContext(connection) as ctx:
        paginator.page(first.next_cursor)
    assert len(ctx.captured_queries) == 1
    sql = ctx.captured_queries[0]["sql"].upper()
    assert "OFFSET" not in sql and "COUNT(" not in sql and "LIMIT 11" in sql


def test_empty_list(world):
    page = KeysetPaginator(Contact.objects.none(), SortKey("created_at", True), namespace="test").page(None)
    assert list(page) == [] and not page.has_next and not page.has_previous and page.is_first


@pytest.mark.parametrize("cursor", [
    "garbage", "", "x" * 500, "eyJzIjoicyJ9:1abc:def",
])
def test_bad_cursors_are_invalid_cursor(rows, cursor):
    paginator = KeysetPaginator(Contact.objects.all(), SortKey("created_at", True), namespace="test",
                                sort_name="s")
    if cursor == "":
        assert paginator.page(cursor).is_first  # no cursor: the first page
        return
    with pytest.raises(InvalidCursor):
        paginator.page(cursor)


def test_tampered_foreign_and_mismatched_cursors_are_refused(rows):
    paginator = KeysetPaginator(Contact.objects.all(), SortKey("created_at", True), namespace="test",
                                sort_name="-created", page_size=10)
    cursor = paginator.page(None).next_cursor
    # Edited payload with a re-used signature.
    value, _, sig = cursor.rpartition(":")
    with pytest.raises(InvalidCursor):
        paginator.page(value[:-1] + ("A" if value[-1] != "A" else "B") + ":" + sig)
    # Another list's cursor (different salt).
    other = KeysetPaginator(Contact.objects.all(), SortKey("created_at", True), namespace="companies",
                            sort_name="-created")
    with pytest.raises(InvalidCursor):
        other.page(cursor)
    # Same list, another sort.
    by_score = KeysetPaginator(Contact.objects.all(), SortKey("score", True), namespace="test", sort_name="-score")
    with pytest.raises(InvalidCursor, match="different sort"):
        by_score.page(cursor)
    # Correctly signed but nonsense inside.
    forged = signing.dumps({"s": "-created", "d": "n", "k": "not a date", "i": 1}, salt="kith.pagination:test",
                           compress=True)
    with pytest.raises(InvalidCursor):
        paginator.page(forged)
    forged = signing.dumps({"s": "-created", "d": "n", "k": None, "i": 1}, salt="kith.pagination:test")
    with pytest.raises(InvalidCursor):
        paginator.page(forged)


def test_page_size_choices():
    assert page_size_from("50") == 50 and page_size_from("100") == 100
    assert page_size_from("1000") == 25 and page_size_from("abc") == 25 and page_size_from(None) == 25
