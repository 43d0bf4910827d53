"""Bulk-action pages: the contact list's action bar posts here; an operation's page shows
its progress (polled with htmx while it runs), the rows that failed and an Undo button.
All the work is in contacts.bulk."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from contacts import bulk
from contacts.models import LifecycleStage
from crm import quotas
from crm.forms import member_choices
from crm.models import CustomFieldDefinition, Job, JobItem, Tag, Team
from crm.pages import bad_request, get_visible_or_404, require_writer, wants_partial
from crm.permissions import CHANGE

ERRORS_SHOWN = 200


class BulkActionForm(forms.Form):
    """The list's action bar. Only the inputs of the chosen action are read; their checks
    against the organization are the service's (the same as the API's)."""

    action = forms.ChoiceField(choices=[(name, spec[0]) for name, spec in bulk.ACTIONS.items()])
    owner = forms.CharField(required=False)
    team = forms.CharField(required=False)
    lifecycle_stage = forms.ChoiceField(required=False, choices=[("", "—"), *LifecycleStage.choices])
    cf_key = forms.CharField(required=False)
    cf_value = forms.CharField(required=False)
    sms_body = forms.CharField(required=False, strip=False)
    sms_template = forms.CharField(required=False)
    # `ids` and `tags` repeat: read with getlist.
    select_all = forms.BooleanField(required=False)
    filters = forms.CharField(required=False)  # the list's query string

    def params(self) -> dict:
        data, action = self.data, self.cleaned_data["action"]
        if action == "assign_owner":
            return {"owner": data.get("owner") or None}
        if action == "assign_team":
            return {"team": data.get("team") or None}
        if action in ("add_tags", "remove_tags"):
            return {"tags": data.getlist("tags")}
        if action == "set_stage":
            return {"lifecycle_stage": data.get("lifecycle_stage", "")}
        if action == "set_custom_field":
            return {"key": data.get("cf_key", ""), "value": data.get("cf_value", "")}
        if action == "send_sms":
            return {"body": data.get("sms_body", ""), "template": data.get("sms_template") or None}
        return {}


def bar_context(user) -> dict:
    """The list page's action bar: just the actions (each action's inputs come from bulk_params,
    so the list page runs no extra query for them). Restoring is offered on the trash page."""
    return {"bulk_actions": [(name, spec[0]) for name, spec in bulk.ACTIONS.items() if name != "restore"]}


@login_required
@require_GET
def bulk_params(request):
    """The inputs of one action for the action bar (htmx)."""
    scope = require_writer(request.user)
    action = request.GET.get("action", "")
    context = {"action": action}
    if action == "assign_owner":
        context["owners"] = member_choices(scope)
    elif action == "assign_team":
        context["teams"] = Team.objects.filter(organization_id=scope.organization_id).order_by("name")
    elif action in ("add_tags", "remove_tags"):
        context["tags"] = Tag.objects.visible_to(request.user).order_by("name")
    elif action == "set_stage":
        context["stages"] = LifecycleStage.choices
    elif action == "set_custom_field":
        context["custom_fields"] = CustomFieldDefinition.objects.filter(
            organization_id=scope.organization_id, model="contact")
    elif action == "send_sms":
        from messaging.models import SmsTemplate

        context["sms_templates"] = (SmsTemplate.objects.visible_to(request.user)
                                    .filter(kind=SmsTemplate.Kind.MESSAGE).order_by("name"))
    return render(request, "contacts/_bulk_params.html", context)


def _message(errors: dict) -> str:
    labels = {"cf_key": "Custom field", "key": "Custom field", "value": "Value", "lifecycle_stage": "Stage",
              "body": "Message", "template": "Template",
              "ids": "Selection", "filters": "Filters"}
    return " ".join(f"{labels.get(name, name.replace('_', ' ').capitalize())}: {' '.join(msgs)}"
                    for name, msgs in errors.items())


@login_required
@require_http_methods(["GET", "POST"])
def bulk_apply(request):
    if request.method == "GET":
        return redirect("contacts:list")
    require_writer(request.user)
    form = BulkActionForm(request.POST)
    if not form.is_valid():
        return bad_request(request, _message(form.errors), title="That bulk action can't run")
    ids = [v for v in request.POST.getlist("ids") if v]
    selection = {"filters": QueryDict(form.cleaned_data["filters"])} if form.cleaned_data["select_all"] else {
        "ids": ids or None}
    if not form.cleaned_data["select_all"] and not ids:
        return bad_request(request, "Selection: tick one or more contacts first.", title="Nothing selected")
    try:
        job = bulk.start(request.user, action=form.cleaned_data["action"], params=form.params(), **selection)
    except quotas.QuotaExceeded as exc:
        response = render(request, "400.html", {"message": exc.message, "title": "That bulk action can't run"},
                          status=429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    except ValidationError as exc:
        return bad_request(request, _message(exc.message_dict), title="That bulk action can't run")
    what = bulk.describe(job)
    if job.is_active:
        messages.info(request, f"{what} — running in the background; this page shows its progress.")
    elif job.status == Job.Status.FAILED:
        messages.error(request, f"{what} failed: {job.error}")
    else:
        verb = "texted" if job.params.get("action") == "send_sms" else "changed"
        note = f" {job.failed} could not be {verb}; see below." if job.failed else ""
        messages.success(request, f"{what}: done for {job.succeeded} contact{'s' if job.succeeded != 1 else ''}."
                                  f"{note}")
    return redirect("contacts:bulk_detail", pk=job.pk)


@login_required
@require_GET
def bulk_count(request):
    """How many contacts the list's filters match, counted only when asked (htmx)."""
    query = request.GET.copy()
    try:
        filters = bulk.clean_filters(request.user, "delete", query)
    except ValidationError as exc:
        return HttpResponse(f"Can't count: {_message(exc.message_dict)}", status=400)
    n = bulk.matching(request.user, "delete", filters).order_by().count()
    return HttpResponse(f"{n:,} contacts match this filter." if n != 1 else "1 contact matches this filter.")


def _operation(request, pk, action="view"):
    return get_visible_or_404(request.user, Job.objects.filter(kind=bulk.KIND).select_related("actor", "undoes"),
                              pk, action)


@login_required
@require_GET
def bulk_detail(request, pk):
    job = _operation(request, pk)
    items = JobItem.objects.filter(job=job, outcome__in=JobItem.ERRORS).order_by("id")[:ERRORS_SHOWN]
    context = {
        "job": job,
        "description": bulk.describe(job),
        "errors": bulk.item_rows(request.user, items),
        "errors_shown": ERRORS_SHOWN,
        "undone_by": job.undone_by.order_by("-id").first(),
        "can_undo": (job.can_change and job.status in bulk.UNDOABLE and job.params.get("action") != bulk.UNDO
                     and job.params.get("action") not in bulk.NOT_UNDOABLE and job.succeeded > 0),
        "not_undoable": bulk.NOT_UNDOABLE.get(job.params.get("action"), ""),
        "not_done_label": "Not texted" if job.params.get("action") == "send_sms" else "Not changed",
        "can_cancel": job.can_change and job.is_active,
    }
    template = "contacts/_bulk_status.html" if wants_partial(request) else "contacts/bulk_detail.html"
    return render(request, template, context)


@login_required
@require_POST
def bulk_undo(request, pk):
    job = _operation(request, pk, CHANGE)
    try:
        undo = bulk.start_undo(request.user, job)
    except ValidationError as exc:
        messages.error(request, f"Can't undo: {' '.join(exc.messages)}")
        return redirect("contacts:bulk_detail", pk=job.pk)
    if undo.is_active:
        messages.info(request, "Undo is running in the background; this page shows its progress.")
    else:
        note = (f" {undo.failed} row{'s' if undo.failed != 1 else ''} left as they are; see below."
                if undo.failed else "")
        messages.success(request, f"Undone for {undo.succeeded} contact{'s' if undo.succeeded != 1 else ''}.{note}")
    return redirect("contacts:bulk_detail", pk=undo.pk)


@login_required
@require_POST
def bulk_cancel(request, pk):
    job = _operation(request, pk, CHANGE)
    if bulk.cancel(job):
        messages.success(request, f"Stopped after {job.processed} contacts. What was changed can be undone.")
    else:
        messages.error(request, "This operation had already stopped.")
    return redirect("contacts:bulk_detail", pk=job.pk)
