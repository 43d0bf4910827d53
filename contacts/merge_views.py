"""Merge pages for contacts and companies: the side-by-side merge form (/contacts/merge/?ids=A,B),
a merge's page with its Undo (/contacts/merges/<id>/), and a bulk merge's progress. The work is
in contacts.merge; records come through the visibility gate (not visible → 404)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from contacts import merge as merging
from contacts.models import Merge
from crm.models import Job, JobItem
from crm.pages import bad_request, get_visible_or_404
from crm.permissions import CHANGE

APPS = {Merge.Kind.CONTACT: "contacts", Merge.Kind.COMPANY: "companies"}


def _error_text(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(m for ms in exc.message_dict.values() for m in ms)
    return " ".join(exc.messages)


@login_required
@require_http_methods(["GET", "POST"])
def merge_form(request, kind):
    """GET: the records side by side, a radio per differing field (preset to the newest
    non-empty value), the survivor to keep and what the survivor will carry. POST: merge."""
    data = request.POST if request.method == "POST" else request.GET
    try:
        # "1,2" from a link (the duplicates queue), or ids=1&ids=2 from the contact list's selection
        ids = merging.parse_ids(",".join(data.getlist("ids")))
        records = merging.load(request.user, kind, ids)
    except ValidationError as exc:
        return bad_request(request, _error_text(exc), title="These records cannot be merged")
    by_id = {r.pk: r for r in records}
    newest = merging._newest_first(records)[0]
    try:
        survivor_id = int(data.get("survivor") or newest.pk)
    except ValueError:
        survivor_id = -1
    if survivor_id not in by_id:
        return bad_request(request, "Choose the surviving record among the records being merged.")
    survivor = by_id[survivor_id]
    if request.method == "POST":
        choices = {name[len("field:"):]: value for name, value in request.POST.items() if name.startswith("field:")}
        try:
            record = merging.merge(request.user, kind, survivor.pk, [pk for pk in ids if pk != survivor.pk],
                                   choices)
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
            return redirect(f"{request.path}?ids={','.join(map(str, ids))}&survivor={survivor.pk}")
        survivor.refresh_from_db()
        undo = reverse(f"{APPS[kind]}:merge_undo", args=[record.pk])
        messages.success(request, f"Merged {', '.join(record.summary['merged_names'])} into {survivor}.",
                         extra_tags=f"undo:{undo}")
        return redirect(f"{APPS[kind]}:detail", pk=survivor.pk)
    defaults = merging.default_sources(records, survivor)
    model = type(survivor)
    labels = merging.custom_labels(survivor.organization_id, model)
    rows = []
    for name, source in defaults.items():
        values = [(r, merging.display_value(r, name)) for r in records]
        if len({merging._value(r, name).__repr__() for r in records}) == 1:
            continue  # the same everywhere: nothing to choose
        rows.append({"name": name, "label": merging.field_label(model, name, labels), "source": source,
                     "values": [{"record": r, "text": text} for r, text in values]})
    return render(request, "contacts/merge_form.html", {
        "kind": kind, "app": APPS[kind], "noun": merging.noun(kind), "records": records, "survivor": survivor,
        "ids": ",".join(map(str, ids)), "rows": rows, "counts": merging.union_counts(kind, ids),
    })


def _merge(request, pk, kind, action="view"):
    return get_visible_or_404(request.user, Merge.objects.filter(kind=kind).select_related("actor", "undone_by"),
                              pk, action, perms=(CHANGE,))


@login_required
@require_safe
def merge_detail(request, pk, kind):
    record = _merge(request, pk, kind)
    model = record.model
    records = model.all_objects.in_bulk([record.survivor_id, *record.merged_ids])
    conflicts = [] if record.undone_at else merging.conflicts(record)
    labels = merging.custom_labels(record.organization_id, model)
    taken = [{"label": merging.field_label(model, name, labels), "record": records.get(source), "id": source}
             for name, source in record.fields.items() if source != record.survivor_id]
    return render(request, "contacts/merge_detail.html", {
        "merge": record, "app": APPS[kind], "noun": merging.noun(kind),
        "survivor": records.get(record.survivor_id), "merged": [records.get(pk) for pk in record.merged_ids],
        "conflicts": conflicts, "counts": record.summary.get("counts", {}), "taken": taken,
    })


@login_required
@require_POST
def merge_undo(request, pk, kind):
    record = _merge(request, pk, kind, CHANGE)
    try:
        merging.undo(request.user, record)
    except merging.MergeConflict as exc:
        messages.error(request, "The merge cannot be undone: " + " ".join(exc.conflicts))
        return redirect(f"{APPS[kind]}:merge_detail", pk=record.pk)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return redirect(f"{APPS[kind]}:merge_detail", pk=record.pk)
    messages.success(request, f"Merge #{record.pk} undone: the {merging.noun(kind)} records are back as they were.")
    return redirect(f"{APPS[kind]}:detail", pk=record.survivor_id)


@login_required
@require_safe
def bulk_merge_detail(request, pk):
    job = get_visible_or_404(request.user, Job.objects.filter(kind=merging.BULK_KIND), pk, perms=())
    items = list(JobItem.objects.filter(job=job).order_by("id")[:500])
    return render(request, "contacts/bulk_merge_detail.html", {
        "job": job, "items": items, "app": APPS.get(job.params.get("kind"), "contacts")})
