"""Pages for segments (list, rule builder, live count) and the contact list's saved views.

Every row comes through `visible_to`; a segment's contacts are the contact list filtered
by `?segment=<id>` (the same ContactFilter as the API, bulk actions and exports)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from contacts.filters import NON_FILTER_PARAMS, clean_view_filters
from contacts.models import (
    DEFAULT_LIST_COLUMNS, LIST_COLUMNS, Contact, SavedView, Segment, Sharing, share_with_team,
)
from contacts.segments import CriteriaError, compile_criteria, describe, validate_criteria
from crm.pages import get_visible_or_404, require_writer
from crm.permissions import CHANGE, DELETE, Scope

EXAMPLE_CRITERIA = {"op": "and", "rules": [{"field": "lifecycle_stage", "operator": "in", "value": ["lead"]}]}


class SharedForm(forms.ModelForm):
    """Name and sharing of a segment or saved view; "My team" is the team of whoever shares it."""

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.scope = Scope.of(user)
        self.previous_sharing = self.instance.sharing if self.instance.pk else None
        if self.instance.pk is None:
            self.instance.organization_id = self.scope.organization_id
        if not self.scope.team_ids and self.previous_sharing != Sharing.TEAM:
            self.fields["sharing"].choices = [c for c in Sharing.choices if c[0] != Sharing.TEAM]

    def clean(self):
        cleaned = super().clean()
        if "sharing" in cleaned:
            self.instance.sharing = cleaned["sharing"]
            share_with_team(self.instance, self.previous_sharing, self.user)
        return cleaned


class SegmentForm(SharedForm):
    criteria = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
                               help_text="The rules as JSON (the builder above writes it for you).")

    class Meta:
        model = Segment
        fields = ["name", "description", "sharing", "criteria"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.criteria_errors: dict[str, list[str]] = {}
        if not self.is_bound:
            self.initial["criteria"] = json.dumps(self.instance.criteria or EXAMPLE_CRITERIA)

    def clean_criteria(self):
        try:
            tree = json.loads(self.cleaned_data["criteria"])
        except ValueError:
            self.criteria_errors = {"criteria": ["Enter valid JSON."]}
            raise ValidationError("Enter valid JSON.") from None
        try:
            return validate_criteria(tree, self.scope.organization_id)
        except CriteriaError as exc:
            self.criteria_errors = exc.as_dict()
            raise ValidationError(exc.messages) from None

    def save(self, commit=True):
        if self.instance.pk is None:
            self.instance.created_by = self.user
        return super().save(commit)


def _builder_context(request, form) -> dict:
    scope = Scope.of(request.user)
    raw = form["criteria"].value() or "{}"
    try:
        tree = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        tree = None
    return {
        "form": form,
        "builder": {"fields": describe(request.user, scope.organization_id), "tree": tree,
                    "errors": form.criteria_errors, "preview_url": reverse("contacts:segment_preview")},
    }


def _segment_form_page(request, form, segment):
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, f"Saved the segment {saved}.")
        return redirect("contacts:segment_list")
    context = {**_builder_context(request, form), "segment": segment}
    return render(request, "contacts/segment_form.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def segment_list(request):
    segments = (Segment.objects.visible_to(request.user).select_related("created_by", "team")
                .order_by("name", "id"))
    changeable = set(Segment.objects.visible_to(request.user, CHANGE).values_list("pk", flat=True))
    rows = list(segments)
    for segment in rows:
        segment.can_change = segment.pk in changeable
    return render(request, "contacts/segment_list.html", {"segments": rows})


@login_required
@require_http_methods(["GET", "POST"])
def segment_create(request):
    require_writer(request.user)
    form = SegmentForm(request.POST or None, instance=Segment(), user=request.user)
    return _segment_form_page(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def segment_edit(request, pk):
    segment = get_visible_or_404(request.user, Segment.objects.all(), pk, CHANGE)
    form = SegmentForm(request.POST or None, instance=segment, user=request.user)
    return _segment_form_page(request, form, segment)


@login_required
@require_POST
def segment_delete(request, pk):
    segment = get_visible_or_404(request.user, Segment.objects.all(), pk, DELETE)
    segment.delete()
    messages.success(request, f"Deleted the segment {segment}.")
    return redirect("contacts:segment_list")


@login_required
@require_GET
def segment_detail(request, pk):
    segment = get_visible_or_404(request.user, Segment.objects.all(), pk)
    return redirect(f"{reverse('contacts:list')}?segment={segment.pk}")


@login_required
@require_GET
def segment_count(request, pk):
    """ "N contacts match" (htmx fragment, loaded after the list renders)."""
    segment = get_visible_or_404(request.user, Segment.objects.all(), pk)
    try:
        count, error = segment.contacts_for(request.user).count(), None
    except CriteriaError as exc:
        count, error = None, " ".join(exc.messages)
    return render(request, "contacts/_segment_count.html", {"count": count, "error": error})


@login_required
@require_POST
def segment_preview(request):
    """The live count of the rule builder: POST criteria (JSON) -> {"count": n}, or 400
    {"errors": {path: [messages]}} for the builder to show next to the rule at fault."""
    scope = Scope.of(request.user)
    if scope is None:
        return JsonResponse({"errors": {"criteria": ["Your account does not belong to an organization."]}},
                            status=403)
    try:
        tree = json.loads(request.POST.get("criteria") or "")
    except ValueError:
        return JsonResponse({"errors": {"criteria": ["Enter valid JSON."]}}, status=400)
    try:
        validate_criteria(tree, scope.organization_id)
        q = compile_criteria(tree, scope.organization_id)
    except CriteriaError as exc:
        return JsonResponse({"errors": exc.as_dict()}, status=400)
    return JsonResponse({"count": Contact.objects.visible_to(request.user).filter(q).count()})


# -- saved views on the contact list


class SavedViewForm(SharedForm):
    columns = forms.MultipleChoiceField(choices=LIST_COLUMNS, widget=forms.CheckboxSelectMultiple,
                                        initial=DEFAULT_LIST_COLUMNS)
    query = forms.CharField(required=False, widget=forms.HiddenInput,
                            help_text="The list's current query string (filters and sort).")

    class Meta:
        model = SavedView
        fields = ["name", "sharing", "columns"]

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, user=request.user, **kwargs)
        self.request = request

    def clean(self):
        cleaned = super().clean()
        params = QueryDict(cleaned.get("query") or "")
        filters = {key: (values[0] if len(values) == 1 else values) for key, values in params.lists()
                   if key not in NON_FILTER_PARAMS and any(v != "" for v in values)}
        try:
            self.instance.filters = clean_view_filters(filters, self.request)
        except ValidationError as exc:
            details = exc.message_dict if hasattr(exc, "error_dict") else {"filters": exc.messages}
            raise ValidationError("These filters can't be saved: " + "; ".join(
                f"{name}: {' '.join(errors)}" for name, errors in details.items())) from None
        self.instance.ordering = params.get("ordering") or "-created"
        return cleaned

    def save(self, commit=True):
        if self.instance.pk is None:
            self.instance.user = self.user
        return super().save(commit)


def saved_views_context(request, filterset) -> dict:
    """What the contact list needs for the saved-views bar and the view's columns."""
    view = getattr(filterset, "saved_view", None)
    scope = Scope.of(request.user)
    views = list(SavedView.objects.visible_to(request.user).order_by("name", "id").only(
        "id", "name", "user_id", "sharing")) if scope else []
    # The filters in effect (a saved view's, when the request brings none of its own).
    data = getattr(filterset, "data", None)
    params = data.copy() if hasattr(data, "copy") else request.GET.copy()
    if "ordering" not in params and view is not None:
        params["ordering"] = view.ordering
    for key in ("cursor", "view", "per_page"):
        params.pop(key, None)
    cleaned = getattr(filterset.form, "cleaned_data", None) or {} if filterset is not None else {}
    columns = view.columns if view is not None else DEFAULT_LIST_COLUMNS
    labels = dict(LIST_COLUMNS)
    return {
        "saved_view": view,
        "saved_views": views,
        "columns": columns,
        # Columns beyond the built-in four, in the view's order (rendered by contact_cell).
        "extra_columns": [(c, labels[c]) for c in columns if c not in DEFAULT_LIST_COLUMNS and c in labels],
        "can_delete_view": view is not None and scope is not None and (
            scope.is_admin or (view.user_id == scope.user_id and scope.can_write)),
        "save_view": {"query": params.urlencode(), "column_choices": LIST_COLUMNS,
                      "sharing_choices": [c for c in Sharing.choices if c[0] != Sharing.TEAM or scope.team_ids]}
        if scope and scope.can_write else None,
        "current_segment": cleaned.get("segment"),
    }


@login_required
@require_POST
def saved_view_create(request):
    require_writer(request.user)
    form = SavedViewForm(request.POST, instance=SavedView(), request=request)
    if form.is_valid():
        view = form.save()
        messages.success(request, f"Saved the view {view}.")
        return redirect(f"{reverse('contacts:list')}?view={view.pk}")
    messages.error(request, "Could not save the view: " + " ".join(
        f"{form.fields[name].label if name in form.fields else ''} {e}".strip()
        for name, errors in form.errors.items() for e in errors))
    query = form.data.get("query", "")
    return redirect(f"{reverse('contacts:list')}{'?' + query if query else ''}")


@login_required
@require_POST
def saved_view_delete(request, pk):
    view = get_visible_or_404(request.user, SavedView.objects.all(), pk, DELETE)
    view.delete()
    messages.success(request, f"Deleted the view {view}.")
    return redirect("contacts:list")
