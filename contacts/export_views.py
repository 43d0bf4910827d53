"""Export pages: the form the contact list's Export button opens (with the list's filters,
segment or saved view in its query string), an export's page with its progress (polled with
htmx while it runs) and download link, the download itself, and one contact's vCard.
All the work is in contacts.exports.

Viewers may export what they see: an export changes nothing, and the file holds exactly the
rows their list shows. Reps export only their own book (the same gate)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from contacts import bulk, exports
from contacts.bulk_views import _message
from crm import quotas
from crm.models import Job
from crm.pages import bad_request, get_visible_or_404, wants_partial
from crm.permissions import Scope


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=[(k, v[0]) for k, v in exports.FORMATS.items()], initial="csv",
                               widget=forms.RadioSelect)
    columns = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    filters = forms.CharField(required=False, widget=forms.HiddenInput)  # the list's query string

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["columns"].choices = exports.column_choices(user)


def _selection(query: QueryDict) -> dict:
    """Ticked rows (`ids`) or the list's filters, from a query string."""
    ids = [v for v in query.getlist("ids") if v]
    if ids:
        return {"ids": ids}
    filters = query.copy()
    filters.pop("ids", None)
    return {"filters": filters}


@login_required
@require_http_methods(["GET", "POST"])
def export_form(request):
    if Scope.of(request.user) is None:
        raise Http404("No organization.")
    if request.method == "GET" and request.GET.get("export_selection"):
        # From the list's bulk bar: the ticked rows, or everything the filter matches.
        if request.GET.get("select_all"):
            query = QueryDict(request.GET.get("filters", ""))
        else:
            query = QueryDict(mutable=True)
            query.setlist("ids", [v for v in request.GET.getlist("ids") if v])
        return redirect(f"{request.path}?{query.urlencode()}" if query else request.path)
    if request.method == "GET":
        query = request.GET.urlencode()
        form = ExportForm(request.user, initial={"columns": exports.DEFAULT_COLUMNS, "filters": query})
        selection = _selection(request.GET)
        try:
            if "filters" in selection:
                bulk.clean_filters(request.user, exports.ACTION, selection["filters"])
            else:
                bulk.clean_ids(selection["ids"])
        except ValidationError as exc:
            return bad_request(request, _message(exc.message_dict), title="That selection can't be exported")
        return render(request, "contacts/export_form.html", {
            "form": form, "query": query, "selected": len(selection.get("ids", ()))})
    form = ExportForm(request.user, request.POST)
    if not form.is_valid():
        return bad_request(request, _message(form.errors), title="That export can't run")
    selection = _selection(QueryDict(form.cleaned_data["filters"]))
    try:
        job = exports.start_export(request.user, format=form.cleaned_data["format"],
                                   columns=request.POST.getlist("columns"), **selection)
    except quotas.QuotaExceeded as exc:
        return quotas.page_error(request, form, exc, "contacts/export_form.html", {
            "query": form.cleaned_data["filters"], "selected": len(selection.get("ids") or ())})
    except ValidationError as exc:
        return bad_request(request, _message(exc.message_dict), title="That export can't run")
    if job.is_active:
        messages.info(request, f"{exports.describe(job)} — running in the background; this page shows its progress.")
    elif job.status == Job.Status.FAILED:
        messages.error(request, f"The export failed: {job.error}")
    return redirect("contacts:export_detail", pk=job.pk)


def _export(request, pk, action="view"):
    return get_visible_or_404(request.user, Job.objects.filter(kind=exports.KIND).select_related("actor"), pk,
                              action)


@login_required
@require_GET
def export_detail(request, pk):
    job = _export(request, pk)
    context = {
        "job": job,
        "description": exports.describe(job),
        "format_label": exports.FORMATS.get(job.params.get("format"), ("",))[0],
        "columns": [exports.label(c, exports.custom_definitions(job.organization_id))
                    for c in job.params.get("columns", [])],
        "downloadable": exports.downloadable(job),
        "expired": job.status == Job.Status.DONE and exports.is_expired(job),
        "expires_at": exports.expires_at(job),
        "can_cancel": job.is_active,  # the actor or an org admin: whoever sees the job
    }
    template = "contacts/_export_status.html" if wants_partial(request) else "contacts/export_detail.html"
    return render(request, template, context)


def gone(request, job=None):
    return render(request, "contacts/export_gone.html", {"job": job}, status=410)


@login_required
@require_GET
def export_download(request, pk, token):
    job = _export(request, pk)
    try:
        handle = exports.open_download(request.user, job, token)
    except exports.Expired:
        return gone(request, job)
    except signing.BadSignature:
        raise Http404("No such download.") from None
    return FileResponse(handle, as_attachment=True, filename=job.params["filename"],
                        content_type=exports.content_type(job))


@login_required
@require_POST
def export_cancel(request, pk):
    job = _export(request, pk)  # its actor (a viewer too: it is their own export) or an org admin
    if exports.cancel(job):
        messages.success(request, "Export stopped.")
    else:
        messages.error(request, "This export had already stopped.")
    return redirect("contacts:export_detail", pk=job.pk)


@login_required
@require_GET
def contact_vcard(request, pk):
    return exports.vcard_response(request.user, pk)
