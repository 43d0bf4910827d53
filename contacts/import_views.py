"""Import pages: upload a file, confirm the column mapping and options (which starts the dry
run), read the preview, import, follow the progress (polled with htmx while a job runs),
download the rows that were not imported, cancel, revert. All the work is contacts.imports';
the API (contacts/api/imports.py) wraps the same functions."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from contacts import imports
from contacts.api.imports import error_file_response
from contacts.import_files import column_letter
from contacts.columns import COLUMNS, CUSTOM_PREFIX
from contacts.import_mapping import targets
from contacts.models import ContactImport, ImportRow
from crm import quotas
from crm.custom_fields import definitions_for
from crm.models import Job, JobItem
from crm.pages import get_visible_or_404, require_writer, wants_partial
from crm.permissions import CHANGE, VIEW

Stage = ContactImport.Stage
Outcome = ImportRow.Outcome

LIST_SIZE = 50
SAMPLES_SHOWN = 3
CONFLICTS_SHOWN = 50
ACCEPT = ".csv,.tsv,.txt,.xlsx,.xls,.vcf"
RUNNING = (Stage.PREVIEWING, Stage.IMPORTING, Stage.REVERTING)
REVERTIBLE = (Stage.IMPORTED, Stage.CANCELLED, Stage.FAILED)
STEPS = {imports.PREVIEW: "Checking the file", imports.RUN: "Importing", imports.REVERT: "Reverting"}
# How each outcome reads in the dry run ("would …") and after the import.
PREVIEW_LABELS = {Outcome.CREATED: "Would create", Outcome.UPDATED: "Would update",
                  Outcome.MERGED: "Would merge into an earlier row", Outcome.UNCHANGED: "Unchanged",
                  Outcome.SKIPPED: "Would skip", Outcome.INVALID: "Invalid", Outcome.DUPLICATE: "Duplicates"}
RESULT_LABELS = {Outcome.CREATED: "Created", Outcome.UPDATED: "Updated", Outcome.MERGED: "Merged into an earlier row",
                 Outcome.UNCHANGED: "Unchanged", Outcome.SKIPPED: "Skipped", Outcome.INVALID: "Invalid",
                 Outcome.DUPLICATE: "Duplicates"}
WRITTEN = (Outcome.CREATED, Outcome.UPDATED, Outcome.MERGED)


class UploadForm(forms.Form):
    # Empty files reach the service, whose message names the file.
    file = forms.FileField(
        label="File", widget=forms.FileInput(attrs={"accept": ACCEPT}), allow_empty_file=True,
        error_messages={"required": "Choose a file to import."})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = (
            "CSV or TSV (any common encoding and delimiter), Excel (.xlsx, .xls) or vCard (.vcf), with the "
            f"column names in the first row; up to {filesizeformat(imports.max_bytes())}. Exports from Google, Outlook, HubSpot, "
            "Pipedrive, Salesforce and Zoho are recognised.")


class MappingForm(forms.Form):
    """One target per column of the file (col_0, col_1 …) and the import's options. The
    checks that matter (targets, options, what the options need mapped) are configure's."""

    match_by = forms.ChoiceField(label="Match existing contacts by", choices=imports.OPTIONS["match_by"].items())
    mode = forms.ChoiceField(label="Contacts that match", widget=forms.RadioSelect,
                             choices=imports.OPTIONS["mode"].items())
    duplicates = forms.ChoiceField(label="Rows that repeat in the file", widget=forms.RadioSelect,
                                   choices=imports.OPTIONS["duplicates"].items())
    invalid = forms.ChoiceField(label="Invalid rows", widget=forms.RadioSelect,
                                choices=imports.OPTIONS["invalid"].items())
    plus_tags = forms.BooleanField(required=False, label="Match jane+news@example.com to jane@example.com")
    region = forms.CharField(label="Phone region", required=False,
                             widget=forms.TextInput(attrs={"class": "input-narrow", "autocomplete": "off"}),
                             help_text="For numbers without a country code: US, GB, DE …")
    date_order = forms.ChoiceField(label="Dates like 03/04/2026 are", choices=imports.OPTIONS["date_order"].items())
    save_as = forms.CharField(label="Save this mapping as", required=False, max_length=120,
                              help_text="Optional. A later file with these columns gets this mapping.")

    OPTION_NAMES = ("match_by", "mode", "duplicates", "invalid", "plus_tags", "region", "date_order")

    def __init__(self, data=None, *, imp: ContactImport, definitions):
        options = {**imports.default_options(), **(imp.options or {})}
        super().__init__(data, initial={name: options.get(name) for name in self.OPTION_NAMES})
        self.imp = imp
        choices = targets(definitions)
        known = {value for value, _ in choices}
        for index, header in enumerate(imp.headers):
            current = imp.mapping[index] if index < len(imp.mapping) else None
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header, required=False, choices=choices, initial=current if current in known else "")

    def columns(self) -> list[dict]:
        """The mapping table's rows: column letter, header, first values, the target select."""
        rows = []
        for index, header in enumerate(self.imp.headers):
            samples = [row[index] for row in self.imp.sample[:SAMPLES_SHOWN] if index < len(row) and row[index]]
            rows.append({"letter": column_letter(index), "header": header, "samples": samples,
                         "field": self[f"col_{index}"]})
        return rows

    def option_fields(self):
        return [self[name] for name in ("match_by", "date_order", "region")]

    def choice_fields(self):
        return [self[name] for name in ("mode", "duplicates", "invalid")]

    def mapping(self) -> list:
        return [self.cleaned_data.get(f"col_{i}") or None for i in range(len(self.imp.headers))]

    def options(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.OPTION_NAMES}


def _import(request, pk, action=VIEW) -> ContactImport:
    return get_visible_or_404(request.user, ContactImport.objects.select_related("created_by"), pk, action,
                              perms=(CHANGE,))


def _writable(request, pk) -> ContactImport:
    """POSTs: a read-only role is refused before anything is looked up (403 whatever the pk)."""
    require_writer(request.user)
    return _import(request, pk, CHANGE)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _summary(counts: dict, labels: dict) -> list[dict]:
    """Outcomes in their usual order with their labels (only those that occurred, and always created)."""
    return [{"outcome": outcome, "label": labels[outcome], "n": counts.get(outcome, 0)}
            for outcome in labels if counts.get(outcome) or outcome == Outcome.CREATED]


def _bad(counts: dict) -> int:
    return sum(counts.get(outcome, 0) for outcome in ImportRow.ERRORS)


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def progress_line(progress: dict) -> str:
    """"12,000 of 50,000 rows · 24 % · 8,300 rows/s · about 5 s left"."""
    if progress["total"]:
        parts = [f"{progress['processed']:,} of {_plural(progress['total'], 'row')}", f"{progress['percent']} %"]
    else:
        parts = [f"{_plural(progress['processed'], 'row')} so far"]
    if progress["rate"]:
        parts.append(f"{progress['rate']:,} rows/s")
    if progress["eta_seconds"] is not None:
        parts.append(f"about {_duration(progress['eta_seconds'])} left")
    return " · ".join(parts)


def _row_summary(imp: ContactImport) -> str:
    """The list's one line per import: what it did, or what its dry run found."""
    if imp.counts:
        counts, labels = imp.counts, RESULT_LABELS
    elif imp.preview.get("counts"):
        counts, labels = imp.preview["counts"], PREVIEW_LABELS
    else:
        return ""
    parts = [f"{item['label']} {item['n']:,}" for item in _summary(counts, labels)]
    return " · ".join(parts)


@login_required
@require_GET
def import_list(request):
    items = list(imports.visible_imports(request.user).select_related("created_by")
                 .order_by("-created_at", "-id")[:LIST_SIZE])
    for imp in items:
        imp.summary = _row_summary(imp)
    return render(request, "contacts/import_list.html", {"imports": items, "list_size": LIST_SIZE})


@login_required
@require_http_methods(["GET", "POST"])
def import_upload(request):
    require_writer(request.user)
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            imp = imports.upload(request.user, form.cleaned_data["file"])
        except quotas.QuotaExceeded as exc:
            return quotas.page_error(request, form, exc, "contacts/import_upload.html", {})
        except ValidationError as exc:
            for message in exc.message_dict.get("file", exc.messages):
                form.add_error("file", message)
            status = 413 if isinstance(exc, imports.FileTooLarge) else 400
        else:
            messages.success(request, f"Read {imp.file_name}: {_plural(len(imp.headers), 'column')}. Check "
                                      "where each goes, then check the file: nothing is imported before you "
                                      "confirm.")
            return redirect("contacts:import_detail", pk=imp.pk)
    if form.errors and status == 200:
        status = 400
    return render(request, "contacts/import_upload.html", {"form": form}, status=status)


def _editable(imp: ContactImport) -> bool:
    return imp.stage in (Stage.UPLOADED, Stage.PREVIEWED, Stage.FAILED) and not imp.run_job_id


@login_required
@require_http_methods(["GET", "POST"])
def import_detail(request, pk):
    """The import's page; what it shows follows the stage. POST confirms the mapping."""
    if request.method == "POST":
        imp = _writable(request, pk)
    else:
        imp = _import(request, pk)
    definitions = definitions_for(imp.organization_id, "contact")
    form, status = None, 200
    if request.method == "POST":
        form = MappingForm(request.POST, imp=imp, definitions=definitions)
        if form.is_valid():
            try:
                imp = imports.configure(imp, request.user, mapping=form.mapping(), options=form.options(),
                                        save_as=form.cleaned_data["save_as"])
            except ValidationError as exc:
                if "stage" in exc.message_dict:
                    messages.error(request, " ".join(exc.message_dict["stage"]))
                    return redirect("contacts:import_detail", pk=imp.pk)
                for name, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(name if name in form.fields else None, error)
            else:
                _flash_checked(request, imp, saved=form.cleaned_data["save_as"])
                return redirect("contacts:import_detail", pk=imp.pk)
        status = 400
    elif _editable(imp) and (imp.stage != Stage.PREVIEWED or request.GET.get("edit")):
        form = MappingForm(imp=imp, definitions=definitions)
    polled = wants_partial(request)
    template = "contacts/_import_body.html" if polled else "contacts/import_detail.html"
    return render(request, template, {**_context(imp, form), "polled": polled}, status=status)


def _flash_checked(request, imp, saved=""):
    note = f" The mapping is saved as “{saved.strip()}”." if saved else ""
    if imp.stage == Stage.PREVIEWING:
        messages.info(request, f"Checking the file in the background; this page shows its progress.{note}")
    elif imp.stage == Stage.PREVIEWED:
        messages.success(request, f"Checked {_plural(imp.preview.get('rows', 0), 'row')}: nothing has been "
                                  f"imported yet.{note}")
    else:
        messages.error(request, f"The file could not be checked: {imp.error}")


def _context(imp: ContactImport, form) -> dict:
    context = {"imp": imp, "form": form, "running": imp.stage in RUNNING, "can_change": imp.can_change}
    if form is not None:
        context["columns"] = form.columns()
        return context
    if imp.stage in RUNNING:
        progress = imports.progress(imp)
        context["progress"] = progress
        context["progress_line"] = progress_line(progress)
        context["step"] = STEPS.get(progress["step"], imp.get_stage_display())
    elif imp.stage == Stage.PREVIEWED:
        preview = imp.preview
        counts = preview.get("counts", {})
        bad = _bad(counts)
        context.update({
            "preview": preview, "outcomes": _summary(counts, PREVIEW_LABELS), "bad": bad,
            "importable": sum(counts.get(o, 0) for o in WRITTEN),
            "blocked": imp.options.get("invalid") == "all_or_nothing" and bad > 0,
        })
        context["columns_shown"], context["shown"] = _shown_table(imp, preview.get("shown", []))
    if imp.run_job_id and imp.stage not in RUNNING:
        counts = imp.counts or {}
        context.update({"outcomes": _summary(counts, RESULT_LABELS), "bad": _bad(counts),
                        "can_revert": imp.can_change and imp.stage in REVERTIBLE})
        ran = Job.objects.filter(pk=imp.run_job_id).first()
        if ran is not None:
            context["run_progress"] = progress = imports.progress(imp, ran)
            context["run_line"] = progress_line(progress)
        from contacts.enrichment import import_progress

        context["enrichment_progress"] = import_progress(imp)
    if imp.revert_job_id and imp.stage not in RUNNING:
        revert = Job.objects.filter(pk=imp.revert_job_id).first()
        if revert is not None:
            context["revert"] = revert
            context["conflicts"] = list(JobItem.objects.filter(job=revert, outcome=JobItem.Outcome.CONFLICT)
                                        .order_by("id")[:CONFLICTS_SHOWN])
            context["conflicts_shown"] = CONFLICTS_SHOWN
    return context


def _shown_table(imp: ContactImport, shown: list) -> tuple[list[str], list[dict]]:
    """The preview table: a column for every field the shown rows would write, in the order of
    the file's columns, and each row's cells in those columns."""
    names: dict[str, None] = {}
    for row in shown:
        for name in row.get("values", {}):
            names.setdefault(name, None)
    order = {}
    for target in imp.mapping:
        if target:
            label = {"tags": "Tags", "company": "Company", "company_domain": "Company"}.get(target) or (
                f"Custom: {target[len(CUSTOM_PREFIX):]}" if target.startswith(CUSTOM_PREFIX) else COLUMNS.get(target))
            order.setdefault(label, len(order))
    columns = sorted(names, key=lambda name: order.get(name, len(order)))
    rows = [{**row, "label": PREVIEW_LABELS.get(row.get("outcome"), row.get("outcome")),
             "cells": [row.get("values", {}).get(name, "") for name in columns]} for row in shown]
    return columns, rows


@login_required
@require_POST
def import_run(request, pk):
    imp = _writable(request, pk)
    try:
        imp = imports.start_import(imp, request.user)
    except ValidationError as exc:
        messages.error(request, f"Can't import: {' '.join(exc.messages)}")
        return redirect("contacts:import_detail", pk=imp.pk)
    if imp.stage == Stage.IMPORTING:
        messages.info(request, "Importing in the background; this page shows its progress.")
    elif imp.stage == Stage.FAILED:
        messages.error(request, f"The import stopped: {imp.error}")
    else:
        counts = imp.counts or {}
        done = ", ".join(f"{item['n']:,} {item['label'].lower()}" for item in _summary(counts, RESULT_LABELS))
        messages.success(request, f"Imported {imp.file_name}: {done}.")
    return redirect("contacts:import_detail", pk=imp.pk)


@login_required
@require_POST
def import_revert(request, pk):
    imp = _writable(request, pk)
    try:
        imp = imports.start_revert(imp, request.user)
    except ValidationError as exc:
        messages.error(request, f"Can't revert: {' '.join(exc.messages)}")
        return redirect("contacts:import_detail", pk=imp.pk)
    if imp.stage == Stage.REVERTING:
        messages.info(request, "Reverting in the background; this page shows its progress.")
    elif imp.stage == Stage.REVERTED:
        job = Job.objects.get(pk=imp.revert_job_id)
        note = (f" {_plural(job.failed, 'conflict')}: left as {'it is' if job.failed == 1 else 'they are'}; see below."
                if job.failed else "")
        messages.success(request, f"Reverted {_plural(job.succeeded, 'row')}.{note}")
    else:
        messages.error(request, f"The revert stopped: {imp.error}")
    return redirect("contacts:import_detail", pk=imp.pk)


@login_required
@require_POST
def import_cancel(request, pk):
    imp = _writable(request, pk)
    if imports.cancel(imp, request.user):
        if imp.stage == Stage.UPLOADED:
            messages.success(request, "Stopped checking the file. Nothing was imported.")
        else:
            messages.success(request, "Stopped after the current batch. What was imported so far can be reverted.")
    else:
        messages.error(request, "Nothing was running any more.")
    return redirect("contacts:import_detail", pk=imp.pk)


@login_required
@require_GET
def import_errors(request, pk):
    """The rows that were not imported, with an "Errors" column (the API's file)."""
    return error_file_response(_import(request, pk))
