"""Keyset ("seek") pagination over (sort key, id), with signed cursors.

Why keyset: a page at OFFSET 50,000 took 120x longer than the same page by keyset on
a million contacts (see DESIGN.md), and OFFSET pages shift when rows are added. Why
no total: COUNT(*) over a large visible set costs more than the page itself.

A page is fetched with one query (LIMIT page_size + 1 tells whether there is more).
The cursor names the row next to the page boundary: its sort value, its id and the
direction. It is signed (django.core.signing), so a edited or foreign cursor is an
`InvalidCursor` (answered with 400), never a 500 or a wrong page.

Nullable sort keys (e.g. last_activity_at) keep rows without a value at the end in
both directions: the list is walked as two segments, "has a value" in index order,
then "no value" by id. Each segment query is an index range scan; a page that
crosses from one to the other costs one more query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import F, Q, prefetch_related_objects
from django.db.models.functions import Collate

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = PAGE_SIZES[0]

_SALT = "kith.pagination"
_SORT_ALIAS = "_keyset_sort"


class InvalidCursor(Exception):
    """The cursor was edited, is from another list or sort, or cannot be read."""

    default_message = ("This page link is invalid or out of date. Go back to the first page of the list "
                       "and try again.")

    def __init__(self, message: str | None = None):
        super().__init__(message or self.default_message)


@dataclass(frozen=True)
class SortKey:
    """One sort offered on a list: a model field, its direction, optionally a collation
    (e.g. "C" to match an expression index on the column) and whether it can be NULL."""

    field: str
    descending: bool = False
    collation: str | None = None
    nullable: bool | None = None  # None: from the model field


def page_size_from(value, default: int = DEFAULT_PAGE_SIZE) -> int:
    """25, 50 or 100; anything else falls back to the default (a UI choice, not worth a 400)."""
    try:
        size = int(value)
    except (TypeError, ValueError):
        return default
    return size if size in PAGE_SIZES else default


@dataclass
class KeysetPage:
    object_list: list
    page_size: int
    has_next: bool = False
    has_previous: bool = False
    next_cursor: str | None = None
    previous_cursor: str | None = None
    is_first: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self):
        return len(self.object_list)

    def __bool__(self):
        return bool(self.object_list)


class KeysetPaginator:
    """Pages of `queryset` ordered by `sort` then id (same direction), without OFFSET or COUNT.

    `namespace` keeps cursors of different lists apart (a contacts cursor is not a
    companies cursor); `sort_name` ties a cursor to the sort it was made for.
    Prefetches on the queryset run once, for the rows of the page only.
    """

    def __init__(self, queryset, sort: SortKey, *, page_size: int = DEFAULT_PAGE_SIZE, namespace: str,
                 sort_name: str = ""):
        self.model = queryset.model
        self.prefetch = list(queryset._prefetch_related_lookups)
        self.queryset = queryset.prefetch_related(None)
        self.sort = sort
        self.page_size = page_size
        self.salt = f"{_SALT}:{namespace}"
        self.sort_name = sort_name or sort.field
        self.model_field = self.model._meta.get_field(sort.field)
        self.nullable = self.model_field.null if sort.nullable is None else sort.nullable
        self.key = sort.field
        if sort.collation:
            self.queryset = self.queryset.alias(**{_SORT_ALIAS: Collate(sort.field, sort.collation)})
            self.key = _SORT_ALIAS

    # -- cursors

    def _encode(self, obj, direction: str) -> str:
        value = getattr(obj, self.model_field.attname)
        if value is not None:
            value = self.model_field.value_to_string(obj)
        return signing.dumps({"s": self.sort_name, "d": direction, "k": value, "i": obj.pk}, salt=self.salt,
                             compress=True)

    def _decode(self, cursor: str):
        try:
            data = signing.loads(cursor, salt=self.salt)
        except (signing.BadSignature, ValueError, TypeError):
            raise InvalidCursor() from None
        if not isinstance(data, dict) or set(data) != {"s", "d", "k", "i"}:
            raise InvalidCursor()
        if data["s"] != self.sort_name:
            raise InvalidCursor("This page link was made for a different sort order. Go back to the first page "
                                "of the list and try again.")
        if data["d"] not in ("n", "p") or not isinstance(data["i"], int) or isinstance(data["i"], bool):
            raise InvalidCursor()
        value = data["k"]
        if value is not None:
            if not isinstance(value, str):
                raise InvalidCursor()
            try:
                value = self.model_field.to_python(value)
            except ValidationError:
                raise InvalidCursor() from None
        elif not self.nullable:
            raise InvalidCursor()
        return data["d"], value, data["i"]

    # -- queries

    def _ordered(self, qs, forward: bool, *, with_key: bool = True):
        descending = self.sort.descending != (not forward)
        id_order = F("pk").desc() if descending else F("pk").asc()
        if not with_key:
            return qs.order_by(id_order)
        return qs.order_by(F(self.key).desc() if descending else F(self.key).asc(), id_order)

    def _beyond(self, value, pk, forward: bool) -> Q:
        """Rows after (value, pk) in walking direction, within the "has a value" segment."""
        descending = self.sort.descending != (not forward)
        op = "lt" if descending else "gt"
        return Q(**{f"{self.key}__{op}": value}) | Q(**{self.key: value, f"pk__{op}": pk})

    def _id_beyond(self, pk, forward: bool) -> Q:
        descending = self.sort.descending != (not forward)
        return Q(**{f"pk__{'lt' if descending else 'gt'}": pk})

    def _fetch(self, after, forward: bool, limit: int) -> list:
        """Up to `limit` rows next to `after` ((value, pk) or None for an end) walking
        forward (list order) or backward; returned in walking order."""
        qs = self.queryset
        valued = qs.filter(**{f"{self.sort.field}__isnull": False}) if self.nullable else qs
        empty = qs.filter(**{f"{self.sort.field}__isnull": True}) if self.nullable else None
        rows: list = []
        if forward:
            # Segments in list order: valued, then empty.
            if after is None or after[0] is not None:
                segment = valued if after is None else valued.filter(self._beyond(after[0], after[1], True))
                rows = list(self._ordered(segment, True)[:limit])
                after = None
            if empty is not None and len(rows) < limit:
                segment = empty if after is None else empty.filter(self._id_beyond(after[1], True))
                rows += list(self._ordered(segment, True, with_key=False)[:limit - len(rows)])
        else:
            # Walking backward: empty segment (from its end), then valued.
            if empty is not None and (after is None or after[0] is None):
                segment = empty if after is None else empty.filter(self._id_beyond(after[1], False))
                rows = list(self._ordered(segment, False, with_key=False)[:limit])
                after = None
            if len(rows) < limit:
                segment = valued if after is None else valued.filter(self._beyond(after[0], after[1], False))
                rows += list(self._ordered(segment, False)[:limit - len(rows)])
        return rows

    def page(self, cursor: str | None = None) -> KeysetPage:
        limit = self.page_size + 1
        if not cursor:
            rows = self._fetch(None, True, limit)
            has_previous, has_next = False, len(rows) > self.page_size
            rows = rows[:self.page_size]
        else:
            direction, value, pk = self._decode(cursor)
            if direction == "n":
                rows = self._fetch((value, pk), True, limit)
                has_previous, has_next = True, len(rows) > self.page_size
                rows = rows[:self.page_size]
            else:
                rows = self._fetch((value, pk), False, limit)
                has_previous, has_next = len(rows) > self.page_size, True
                rows = list(reversed(rows[:self.page_size]))
        if self.prefetch and rows:
            prefetch_related_objects(rows, *self.prefetch)
        return KeysetPage(
            object_list=rows,
            page_size=self.page_size,
            has_next=has_next and bool(rows),
            has_previous=has_previous and bool(rows),
            next_cursor=self._encode(rows[-1], "n") if has_next and rows else None,
            previous_cursor=self._encode(rows[0], "p") if has_previous and rows else None,
            is_first=not has_previous,
        )
