"""Keyset (cursor) pagination for the API: DRF's CursorPagination interface (next/previous
links, `cursor` and `page_size` parameters, OpenAPI description) over the keyset paginator
the pages use (crm.pagination.KeysetPaginator), so both walk lists the same way.

Why not DRF's own CursorPagination queries: its cursor keeps only the first sort column
and steps over ties with an OFFSET, which degrades on sorts with many equal values (score,
a day of imports) and breaks on NULLs (last_activity_at). The shared paginator seeks on
(sort key, id) with signed cursors; see crm/pagination.py.
"""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.utils.urls import replace_query_param

from crm.pagination import InvalidCursor, KeysetPaginator


class KeysetPagination(CursorPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"
    page_size_query_description = "Rows per page (1–200, default 50)."
    cursor_query_description = "The `next` or `previous` link's cursor; start without one."
    template = None  # no page controls in the browsable API (the links are in the JSON)

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [
                f"Use a whole number from 1 to {self.max_page_size}."]})
        return size

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.base_url = request.build_absolute_uri()
        ordering, sort = view.get_sort()
        paginator = KeysetPaginator(queryset, sort, page_size=self.get_page_size(request),
                                    namespace=f"api.{view.basename}", sort_name=ordering)
        try:
            self.keyset_page = paginator.page(request.query_params.get(self.cursor_query_param))
        except InvalidCursor as exc:
            # DRF answers a bad cursor with 404 "Invalid cursor"; a bad parameter is a 400 naming it.
            raise ValidationError({self.cursor_query_param: [str(exc)]}) from None
        return self.keyset_page.object_list

    def _link(self, cursor):
        return replace_query_param(self.base_url, self.cursor_query_param, cursor) if cursor else None

    def get_next_link(self):
        return self._link(self.keyset_page.next_cursor)

    def get_previous_link(self):
        return self._link(self.keyset_page.previous_cursor)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        parameters.append({
            "name": "ordering", "required": False, "in": "query",
            "description": f"Sort order (default {view.default_ordering}); - is descending. Rows without a "
                           "value (e.g. no activity yet) come last either way.",
            "schema": {"type": "string", "enum": list(view.orderings)},
        })
        return parameters
