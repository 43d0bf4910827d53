"""Building blocks of the server-rendered pages: fetching through the visibility gate,
write checks, 400 pages and the keyset-paginated list view every list page shares."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef
from django.http import Http404
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views import View

from crm.pagination import PAGE_SIZES, InvalidCursor, KeysetPaginator, SortKey, page_size_from
from crm.permissions import CHANGE, DELETE, VIEW, Scope


def get_visible_or_404(user, queryset, pk, action: str = VIEW, *, perms=(CHANGE, DELETE)):
    """The row `pk` of `queryset` if `user` may see it, else 404 (same answer for "does not
    exist" and "not yours"). With a write `action`, a row the user sees but may not change
    is a 403. The row carries `can_change` / `can_delete` (one query in all)."""
    visible = queryset.visible_to(user, VIEW)
    annotations = {f"can_{a}": Exists(queryset.visible_to(user, a).filter(pk=OuterRef("pk")))
                   for a in set(perms) | ({action} - {VIEW})}
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404 from None
    obj = visible.annotate(**annotations).filter(pk=pk).first()
    if obj is None:
        raise Http404("No such record.")
    if action != VIEW and not getattr(obj, f"can_{action}"):
        raise PermissionDenied("You can see this record but not change it.")
    return obj


def require_writer(user) -> Scope:
    """Creating records needs a role that writes (a viewer is read-only)."""
    scope = Scope.of(user)
    if scope is None or not scope.can_write:
        raise PermissionDenied("Your role is read-only.")
    return scope


def require_admin(user) -> Scope:
    """Settings pages are for org admins only (others get 403)."""
    scope = Scope.of(user)
    if scope is None or not scope.is_admin:
        raise PermissionDenied("Only organization admins manage settings.")
    return scope


def bad_request(request, message: str, *, title: str = "We couldn't show that page"):
    return render(request, "400.html", {"message": message, "title": title}, status=400)


def request_error(request, exception=None):
    """handler400: a request body or form over Django's limits (DATA_UPLOAD_MAX_MEMORY_SIZE,
    DATA_UPLOAD_MAX_NUMBER_FIELDS/FILES) is a 413 saying which limit, as JSON under /api/;
    any other bad request keeps the 400 page."""
    from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
    from django.http import JsonResponse
    from django.template.defaultfilters import filesizeformat

    if isinstance(exception, RequestDataTooBig):
        message = (f"The request is larger than {filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0)}, the "
                   "limit for everything but uploaded files. Send less at once (files go as uploads).")
    elif isinstance(exception, (TooManyFieldsSent, TooManyFilesSent)):
        message = "The request has too many fields or files. Send fewer at once."
    else:
        return render(request, "400.html", status=400)
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=413)
    return render(request, "400.html", {"message": message, "title": "That request is too large", "code": 413},
                  status=413)


def form_page(request, form, *, template: str, context: dict, success: str, detail: str = "",
              done_url: str = ""):
    """Create/edit pages: GET shows the form; a valid POST saves through the form (which
    calls the services), flashes `success` ("Added {obj}.") and goes to the `detail` URL of
    the saved row (or to the `done_url` URL name); invalid input is shown again with 400."""
    if request.method == "POST" and form.is_valid():
        obj = form.save()
        if obj is not None:
            messages.success(request, success.format(obj=obj))
            return redirect(done_url) if done_url else redirect(detail, pk=obj.pk)
    return render(request, template, {"form": form, **context}, status=400 if form.errors else 200)


def filter_label(form, name: str) -> str:
    """How a filter is named in an error: its label, else its parameter made readable."""
    field = form.fields.get(name)
    label = getattr(field, "label", None)
    return str(label) if label else name.replace("_", " ").capitalize()


def wants_partial(request) -> bool:
    """An htmx request that swaps part of the page (not a boosted navigation or a
    history restore, which need the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


class KeysetListView(LoginRequiredMixin, View):
    """A list page: the model's rows visible to the user, optionally filtered by a
    FilterSet, sorted by one of `orderings` and paginated by keyset. htmx requests get
    just the results partial.

    Subclasses name `template_name`, `results_template_name`, `orderings` and
    `default_ordering`, and may override `get_queryset` / `get_filterset`.
    """

    template_name = ""
    results_template_name = ""
    orderings: dict[str, SortKey] = {}
    ordering_labels: dict[str, str] = {}
    default_ordering = ""
    namespace = ""

    def get_queryset(self):
        raise NotImplementedError

    def get_filterset(self, queryset):
        return None

    def filter_queryset(self, queryset):
        return queryset

    def parse_ordering(self, value: str) -> tuple[str, SortKey]:
        value = value or self.default_ordering
        if value not in self.orderings:
            choices = ", ".join(self.orderings)
            raise ValidationError({"ordering": f"Unknown sort {value!r}; use one of {choices}."})
        return value, self.orderings[value]

    def get(self, request, *args, **kwargs):
        try:
            ordering, sort = self.parse_ordering(request.GET.get("ordering", ""))
        except ValidationError as exc:
            return bad_request(request, " ".join(exc.messages), title="Unknown sort order")
        queryset = self.get_queryset()
        filterset = self.get_filterset(queryset)
        filter_errors = None
        if filterset is not None:
            if not filterset.is_valid():
                # Show the list without the filters that do not make sense, and say which.
                filter_errors = [(filter_label(filterset.form, name), list(errors))
                                 for name, errors in filterset.errors.items()]
            queryset = filterset.qs
        queryset = self.filter_queryset(queryset)
        per_page = request.GET.get("per_page")
        if per_page not in (None, "") and page_size_from(per_page, default=0) == 0:
            # An edited link (?per_page=100000) is told the choices, not silently given another size.
            return bad_request(request, f"Rows per page (per_page): choose {', '.join(map(str, PAGE_SIZES[:-1]))} "
                                        f"or {PAGE_SIZES[-1]}; the most is {PAGE_SIZES[-1]}.",
                               title="Unknown page size")
        page_size = page_size_from(per_page)
        paginator = KeysetPaginator(queryset, sort, page_size=page_size, namespace=self.namespace,
                                    sort_name=ordering)
        try:
            page = paginator.page(request.GET.get("cursor"))
        except InvalidCursor as exc:
            return bad_request(request, str(exc), title="This page link doesn't work")
        params = request.GET.copy()
        params.pop("cursor", None)
        context = {
            "page": page,
            "filter": filterset,
            "filter_errors": filter_errors,
            "ordering": ordering,
            "ordering_choices": self.ordering_choices(ordering),
            "page_size": page_size,
            "page_sizes": PAGE_SIZES,
            "base_query": params.urlencode(),
            "is_filtered": any(value for key, values in request.GET.lists()
                               if key not in {"ordering", "per_page", "cursor"} for value in values),
        }
        context.update(self.get_context_data(context))
        template = self.results_template_name if wants_partial(request) else self.template_name
        response = render(request, template, context)
        patch_vary_headers(response, ("HX-Request",))
        return response

    def get_context_data(self, context: dict) -> dict:
        return {}

    def ordering_choices(self, current: str) -> list[tuple[str, str]]:
        """The sorts the page offers (labelled ones), plus the current one if it came from a link."""
        choices = list(self.ordering_labels.items()) or [(key, key) for key in self.orderings]
        if current not in dict(choices):
            choices.append((current, current.lstrip("-").replace("_", " ").capitalize()
                            + (" (descending)" if current.startswith("-") else "")))
        return choices


def restore_page(request, queryset, pk, *, action: str, service, trash_url: str, detail_url: str):
    """POST of a Restore button: the row `pk` of the trash (`queryset`) comes back through
    `service` and the page goes to it; when a live row took one of its unique values, the
    message names it and the trash is shown again."""
    obj = get_visible_or_404(request.user, queryset.filter(deleted_at__isnull=False), pk, action)
    try:
        service(obj)
    except ValidationError as exc:
        messages.error(request, f"Could not restore {obj}: {' '.join(exc.messages)}")
        return redirect(trash_url)
    messages.success(request, f"Restored {obj}.")
    return redirect(detail_url, pk=obj.pk)


class TrashView(KeysetListView):
    """The trash of a soft-deleted model, most recently deleted first, with a Restore
    button per row. Subclasses give `namespace`, `get_queryset` (rows in the trash the
    user may see) and `trash` (title, nouns, the list and restore URL names, notes)."""

    template_name = "includes/trash.html"
    results_template_name = "includes/trash_results.html"
    default_ordering = "-deleted"
    orderings = {"-deleted": SortKey("deleted_at", True, nullable=False)}
    ordering_labels = {"-deleted": "Recently deleted"}
    trash: dict = {}

    def get_context_data(self, context):
        return {"trash": self.trash}


# Editing one field in place (htmx): click the value -> a one-field form -> save -> the value.

def inline_context(obj, field: str, *, url_name: str, labels: dict | None = None, form=None) -> dict:
    """What includes/inline_field.html shows for one field of `obj` (a row fetched with
    get_visible_or_404, which sets `can_change`)."""
    from django.urls import reverse

    model_field = obj._meta.get_field(field)
    value = getattr(obj, field)
    if value in (None, ""):
        display = ""
    elif model_field.is_relation:
        display = value.get_full_name() if hasattr(value, "get_full_name") else str(value)
    elif model_field.choices:
        display = getattr(obj, f"get_{field}_display")()
    else:
        display = str(value)
    return {"obj": obj, "field": field, "value": value, "display": display,
            "label": (labels or {}).get(field, str(model_field.verbose_name).capitalize()),
            "can_change": getattr(obj, "can_change", False), "form": form,
            "bound": form[field] if form is not None else None,
            "inline_url": reverse(url_name, args=[obj.pk, field])}


def inline_edit(request, queryset, pk, field: str, *, fields, form_class, url_name: str, detail_url_name: str,
                labels: dict | None = None, oob_template: str = ""):
    """The view of an editable field (one of `fields`) of the row `pk` of `queryset`: GET
    shows the value (with ?edit=1, a one-field form of `form_class`, built with only=[field]);
    POST saves through the form (so through the services) and shows the value again, or the
    form with the error. Without htmx the page is reloaded instead. `oob_template` renders
    extra out-of-band swaps after a save (e.g. the page title when the name changed).
    Rows outside the user's view are 404; editing needs the change right (else 403)."""
    if field not in fields:
        raise Http404("No such field.")
    editing = request.method == "POST" or request.GET.get("edit")
    obj = get_visible_or_404(request.user, queryset, pk, CHANGE if editing else VIEW)

    def form_for(data=None):
        form = form_class(data, instance=obj, user=request.user, only=[field], prefix=f"inline-{field}")
        form.fields[field].widget.attrs["autofocus"] = True
        return form

    def show(form=None, saved=False):
        context = inline_context(obj, field, url_name=url_name, labels=labels, form=form)
        context.update(saved=saved, oob_template=oob_template)
        return render(request, "includes/inline_field.html", context)

    if request.method == "POST":
        form = form_for(request.POST)
        if form.is_valid() and form.save() is not None:
            return show(saved=True) if wants_partial(request) else redirect(detail_url_name, pk=obj.pk)
        if not wants_partial(request):
            messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
            return redirect(detail_url_name, pk=obj.pk)
        obj.refresh_from_db()  # show the stored value around the form, not the rejected one
        return show(form)
    return show(form_for() if request.GET.get("edit") else None)
