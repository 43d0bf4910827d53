"""Importing contacts from CSV, XLSX, XLS and vCard files: upload, mapping, dry run, the
import itself in the background, and its revert. Pages, the API and the admin call these.

The life of an import (`ContactImport.stage`):

1. `upload` stores the file (Django storage) and reads only its header and first rows
   (contacts.import_files), so the request stays short; the mapping is guessed
   (contacts.import_mapping) or taken from a saved mapping whose columns fit.
2. `configure` checks the mapping and options the user confirmed and starts the **preview**:
   a dry run over the whole file that counts what would be created, updated, skipped and
   rejected, and keeps the first rows as they would be imported. Nothing is written.
3. `start_import` runs it for real, and `start_revert` undoes it.

Each of the three is a `crm.models.Job` (kind "contacts.import") run in batches by
crm.jobs.run_job: each batch of BATCH_SIZE rows is one transaction together with its
checkpoint (the number of data rows consumed), so a killed worker resumes where the last
committed batch ended and no row is imported twice. Small files run in the request; the
others in Celery, with progress on the import's page and in the API.

One batch, set-wise: the rows are cleaned in Python (contacts.import_rows), matched against
existing contacts with one query on an indexed column (email, phone or external id),
duplicates inside the file are merged or reported, new contacts are COPYed into the table
with ids reserved beforehand, changed ones are updated from a temporary table in one
statement, tags and company links are inserted with ON CONFLICT DO NOTHING … RETURNING,
and each row's outcome (with the values before and after, for the revert) is COPYed into
ImportRow. The audit triggers record every created and changed contact under the
context `source=import, import=<id>`.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import logging
import os
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice

import phonenumbers
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast, Lower
from django.utils import timezone
from django.template.defaultfilters import filesizeformat
from django.utils.text import get_valid_filename

from companies.models import Company
from contacts import columns as cols
from contacts import dedupe, phones, privacy
from contacts.bulk import adjust_tag_usage
from contacts.exports import neutralize
from contacts.import_files import FileError, open_table
from contacts.import_mapping import guess_mapping, normalize_header
from contacts.import_rows import DATE_ORDERS, MATCH_BY, RowReader, mapping_errors
from contacts.models import (
    AssignmentRule, Contact, ContactCompany, ContactImport, ContactTag, FormLayout, ImportMapping, ImportOptions,
    ImportRow, NameWord, derived_values,
)
from contacts.services import pick_owner
from crm import jobs, quotas, rls
from crm.audit import change_context
from crm.custom_fields import _is_empty, definitions_for
from crm.encryption import blind_index, sensitive_keys
from crm.models import Job, JobItem, Membership, Tag, Team, User
from crm.permissions import CHANGE, VIEW, Role, Scope
from crm.search import fold
from crm.seeding import NULL, CopyTable, copy_text

logger = logging.getLogger(__name__)

KIND = "contacts.import"
TASK = "contacts.tasks.run_import_job"
PREVIEW, RUN, REVERT = "preview", "run", "revert"
BATCH_SIZE = 5000
SAMPLE_ROWS = 5          # rows read at upload, shown beside the mapping
PREVIEW_ROWS = 20        # rows the preview shows as they would be imported
PREVIEW_ERRORS = 50      # errors the preview lists (all of them go to the error file)
INLINE_BYTES = 64 * 1024  # files this small are previewed and imported in the request

Stage = ContactImport.Stage
Outcome = ImportRow.Outcome

OPTIONS = {
    "match_by": MATCH_BY,
    "mode": dict(ImportOptions.choices),
    "duplicates": {"merge": "Merge them into one contact (later rows fill in and win)",
                   "report": "Import the first and report the others as errors"},
    "invalid": {"skip": "Skip invalid rows and import the rest",
                "all_or_nothing": "Import nothing if any row is invalid"},
    "date_order": DATE_ORDERS,
}


def default_options() -> dict:
    region = settings.PHONENUMBER_DEFAULT_REGION or "US"
    return {"match_by": "email", "mode": ImportOptions.UPDATE, "duplicates": "merge", "invalid": "skip",
            "plus_tags": False, "region": region, "date_order": "mdy" if region in ("US", "CA", "PH") else "dmy"}


def clean_options(options) -> dict:
    """Options with defaults filled in; a ValidationError names each bad one."""
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise ValidationError({"options": "Give the options as an object."})
    cleaned, errors = default_options(), {}
    for name, value in options.items():
        if name in OPTIONS:
            if value not in OPTIONS[name]:
                errors[name] = f"Choose one of: {', '.join(OPTIONS[name])}."
            else:
                cleaned[name] = value
        elif name == "plus_tags":
            if not isinstance(value, bool) and value not in ("true", "false", "on", ""):
                errors[name] = "Give true or false."
            cleaned[name] = value in (True, "true", "on")
        elif name == "region":
            region = str(value or "").strip().upper()
            if region not in phonenumbers.SUPPORTED_REGIONS:
                errors[name] = f"{value!r} is not a region code such as US, GB or DE."
            cleaned[name] = region
        else:
            errors[name] = "Unknown option."
    if errors:
        raise ValidationError(errors)
    return cleaned


# -- upload and mapping ----------------------------------------------------------------------

class ImportStopped(Exception):
    """Ends a preview, import or revert with a message for its page (the job is marked failed)."""


class FileTooLarge(ValidationError):
    """An upload over KITH_IMPORT_MAX_BYTES (the API answers 413)."""


def max_bytes() -> int:
    return getattr(settings, "KITH_IMPORT_MAX_BYTES", 512 * 1024 * 1024)


def _writer_scope(user) -> Scope:
    scope = Scope.of(user)
    if scope is None or not scope.can_write:
        raise PermissionDenied("Your role is read-only: ask a sales manager or an admin to import contacts.")
    return scope


def upload(user, uploaded) -> ContactImport:
    """Store an uploaded file and read its header and first rows. A file that cannot be
    imported is a ValidationError on `file` naming the file (and row/column) at fault; it is
    not kept."""
    scope = _writer_scope(user)
    name = os.path.basename(getattr(uploaded, "name", "") or "upload")[:200]
    limit = max_bytes()
    if uploaded.size > limit:
        raise FileTooLarge({"file": f"{name} is {filesizeformat(uploaded.size)}; the limit is {filesizeformat(limit)}."})
    quotas.check(user, quotas.IMPORTS)
    imp = ContactImport(organization_id=scope.organization_id, created_by=user, file_name=name,
                        file_size=uploaded.size, options=default_options())
    imp.file.save(get_valid_filename(name) or "upload", uploaded, save=False)
    try:
        with imp.file.open("rb") as handle:
            table = open_table(handle, name, max_bytes=limit)
            sample = [values for _, values in islice(table.rows(), SAMPLE_ROWS)]
    except FileError as exc:
        imp.file.delete(save=False)
        raise ValidationError({"file": exc.message}) from None
    imp.format, imp.encoding, imp.delimiter = table.format, table.encoding or "", table.delimiter or ""
    imp.headers, imp.sample = table.headers, sample
    definitions = definitions_for(scope.organization_id, "contact")
    imp.mapping, saved = initial_mapping(scope.organization_id, table.headers, definitions)
    if saved is not None:
        imp.options = clean_options({**default_options(), **saved.options})
    imp.save()
    return imp


def initial_mapping(organization_id, headers, definitions) -> tuple[list, ImportMapping | None]:
    """The saved mapping that knows most of these headers (at least half of them), or the guesses."""
    normalized = [normalize_header(h) for h in headers]
    best, best_hits = None, 0
    for saved in ImportMapping.objects.filter(organization_id=organization_id):
        hits = sum(1 for h in normalized if h in saved.columns)
        if hits > best_hits:
            best, best_hits = saved, hits
    if best is not None and best_hits * 2 >= len(headers):
        keys = {d.key for d in definitions}
        mapping = []
        for h in normalized:
            target = best.columns.get(h) or None
            key = cols.custom_key(target or "")
            mapping.append(target if target is None or key is None or key in keys else None)
        return mapping, best
    return guess_mapping(headers, definitions), None


def configure(imp: ContactImport, user, *, mapping, options=None, save_as: str = "",
              inline: bool | None = None, send_options=None) -> ContactImport:
    """Take the mapping and options the user confirmed (optionally saving the mapping under a
    name) and start the dry run."""
    _writer_scope(user)
    if imp.stage not in (Stage.UPLOADED, Stage.PREVIEWED, Stage.FAILED) or imp.run_job_id:
        raise ValidationError({"stage": f"This import is {imp.get_stage_display().lower()}; its mapping is fixed."})
    errors = {}
    try:
        options = clean_options(options)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    definitions = definitions_for(imp.organization_id, "contact")
    if not isinstance(mapping, (list, tuple)) or len(mapping) != len(imp.headers) or not all(
            m is None or isinstance(m, str) for m in mapping):
        errors["mapping"] = [f"Give one target (or null) for each of the {len(imp.headers)} columns."]
    else:
        mapping = [m or None for m in mapping]
        problems = mapping_errors(imp.headers, mapping, options if isinstance(options, dict) else {}, definitions)
        if problems:
            errors["mapping"] = problems
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if save_as:
            save_mapping(imp, user, save_as.strip(), mapping, options)
        imp.mapping, imp.options, imp.error = list(mapping), options, ""
        imp.stage, imp.preview = Stage.PREVIEWING, {}
        job = Job.objects.create(organization_id=imp.organization_id, kind=KIND, task=TASK, actor=user,
                                 params={"import": imp.pk, "step": PREVIEW})
        imp.preview_job = job
        imp.save()
    return _launch(imp, job, inline, send_options)


def save_mapping(imp, user, name: str, mapping, options) -> ImportMapping:
    if not name or len(name) > 120:
        raise ValidationError({"save_as": "Name the mapping (up to 120 characters)."})
    columns = {normalize_header(h): t for h, t in zip(imp.headers, mapping) if t}
    saved = ImportMapping.objects.filter(organization_id=imp.organization_id, name__iexact=name).first()
    if saved is not None:
        if not ImportMapping.objects.visible_to(user, CHANGE).filter(pk=saved.pk).exists():
            raise ValidationError({"save_as": "A saved mapping with this name already exists."})
        saved.columns, saved.options = columns, options
        saved.save(update_fields=["columns", "options", "updated_at"])
        return saved
    return ImportMapping.objects.create(organization_id=imp.organization_id, created_by=user, name=name,
                                        columns=columns, options=options)


def start_import(imp: ContactImport, user, *, inline: bool | None = None, send_options=None) -> ContactImport:
    """Import a previewed file (all-or-nothing imports refuse a file with invalid rows)."""
    _writer_scope(user)
    with transaction.atomic():
        imp = ContactImport.objects.select_for_update().get(pk=imp.pk)
        if imp.stage != Stage.PREVIEWED:
            raise ValidationError({"stage": f"Only a checked file can be imported; this one is "
                                            f"{imp.get_stage_display().lower()}."})
        counts = imp.preview.get("counts", {})
        bad = counts.get(Outcome.INVALID, 0) + counts.get(Outcome.DUPLICATE, 0)
        if imp.options.get("invalid") == "all_or_nothing" and bad:
            raise ValidationError({"invalid": f"{bad:,} row{'s are' if bad != 1 else ' is'} invalid and the import "
                                              "is all or nothing: fix the file, or choose to skip invalid rows."})
        job = Job.objects.create(organization_id=imp.organization_id, kind=KIND, task=TASK, actor=user,
                                 params={"import": imp.pk, "step": RUN}, total=imp.preview.get("rows"))
        imp.run_job, imp.stage, imp.counts = job, Stage.IMPORTING, {}
        imp.save(update_fields=["run_job", "stage", "counts", "updated_at"])
    return _launch(imp, job, inline, send_options)


def start_revert(imp: ContactImport, user, *, send_options=None) -> ContactImport:
    """Undo an import that has stopped: created contacts are removed, updated ones get their
    previous values back; what was changed again since is reported and left alone."""
    _writer_scope(user)
    with transaction.atomic():
        imp = ContactImport.objects.select_for_update().get(pk=imp.pk)
        if imp.stage not in (Stage.IMPORTED, Stage.CANCELLED, Stage.FAILED) or imp.run_job_id is None:
            raise ValidationError({"stage": f"Only an import that has run can be reverted; this one is "
                                            f"{imp.get_stage_display().lower()}."})
        changed = ImportRow.objects.filter(contact_import=imp, outcome__in=_REVERTED).count()
        job = Job.objects.create(organization_id=imp.organization_id, kind=KIND, task=TASK, actor=user,
                                 undoes_id=imp.run_job_id, params={"import": imp.pk, "step": REVERT}, total=changed)
        imp.revert_job, imp.stage = job, Stage.REVERTING
        imp.save(update_fields=["revert_job", "stage", "updated_at"])
    return _launch(imp, job, send_options=send_options)


def cancel(imp: ContactImport, user) -> bool:
    """Stop the running preview, import or revert after its current batch (what an import
    committed stays, and can be reverted). False when nothing was running."""
    _writer_scope(user)
    job = current_job(imp)
    if job is None or not jobs.cancel(job):
        return False
    stage = {PREVIEW: Stage.UPLOADED, RUN: Stage.CANCELLED, REVERT: Stage.CANCELLED}[job.params["step"]]
    ContactImport.objects.filter(pk=imp.pk).update(stage=stage, updated_at=timezone.now())
    imp.refresh_from_db()
    return True


def _launch(imp: ContactImport, job: Job, inline: bool | None = None, send_options=None) -> ContactImport:
    """Run the job here (small files, or `inline`) or queue it for Celery."""
    jobs.launch(job, inline=inline if inline is not None else imp.file_size <= INLINE_BYTES, run=run,
                send_options=send_options)
    imp.refresh_from_db()
    return imp


def run(job_id: int) -> Job | None:
    """Run or resume a preview, import or revert (inline and from the Celery task)."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return None
    step = {PREVIEW: _preview_step, RUN: _run_step, REVERT: _revert_step}[job.params["step"]]
    steps = _Steps(step)
    try:
        done = jobs.run_job(job_id, steps)
    finally:
        if steps.runner is not None:
            steps.runner.close()
    if done is not None and done.status == Job.Status.FAILED:
        ContactImport.objects.filter(pk=done.params["import"]).update(
            stage=Stage.FAILED, error=done.error, updated_at=timezone.now())
    return done


class _Steps:
    """The step function handed to run_job, keeping the batch runner (open file, caches, the
    keys seen so far) between the steps of one process; a new process builds it again from
    the job's checkpoint."""

    def __init__(self, step):
        self.step, self.runner = step, None

    def __call__(self, job: Job) -> bool:
        imp = ContactImport.objects.select_related("organization").get(pk=job.params["import"])
        actor = User.objects.filter(pk=job.actor_id).first()
        with change_context(actor=actor, source="import", **{"import": imp.pk}):
            return self.step(self, job, imp, actor)


# -- one batch: clean, match, decide ---------------------------------------------------------

# Contact columns an import reads (to compare) and writes.
FIELDS = ["first_name", "middle_name", "last_name", "email", "phone", "mobile", "job_title", "department",
          "birth_date", "website", "linkedin", "twitter", "skype", "telegram", "street", "city", "region",
          "postal_code", "country", "timezone", "source", "source_detail", "lifecycle_stage", "industry",
          "description", "external_id", "owner_id", "team_id"]
_NAME_FIELDS = ("first_name", "middle_name", "last_name")
_PHONES = ("phone", "mobile")
_REVERTED = (Outcome.CREATED, Outcome.UPDATED, Outcome.MERGED)


@dataclass
class Result:
    outcome: str
    contact_id: int | None = None
    message: str = ""
    data: list | None = None
    before: dict | None = None
    after: dict | None = None
    record: object = None


@dataclass
class _Plan:
    """What a batch decided, before anything is written."""

    results: dict = field(default_factory=dict)     # line -> Result
    creates: list = field(default_factory=list)     # Records
    updates: list = field(default_factory=list)     # (Record, current values, changes)


class BatchRunner:
    """Cleans and decides one batch of rows after another for one import (preview or run)."""

    def __init__(self, imp: ContactImport, actor):
        self.imp = imp
        self.actor = actor
        self.org = imp.organization_id
        scope = Scope.of(actor)
        options = imp.options
        self.options = options
        self.mode = options.get("mode", ImportOptions.UPDATE)
        self.match_by = options.get("match_by", "email")
        self.definitions = definitions_for(self.org, "contact")
        members = {}
        names = Counter()
        rows = list(Membership.objects.filter(organization_id=self.org).values_list("user__email", "user__full_name",
                                                                                  "user_id"))
        names.update(name.strip().lower() for _, name, _ in rows if name)
        for email, name, user_id in rows:
            members[email.lower()] = user_id
            # Vendor exports (HubSpot, Pipedrive) name the owner: a member's full name works when unique.
            if name and names[name.strip().lower()] == 1:
                members.setdefault(name.strip().lower(), user_id)
        teams = {name.lower(): pk for pk, name in Team.objects.filter(organization_id=self.org)
                 .values_list("pk", "name")}
        is_rep = scope is not None and scope.role == Role.REP
        self.is_rep = is_rep
        self.reader = RowReader(headers=imp.headers, mapping=imp.mapping, options=options,
                                definitions=self.definitions, members=members,
                                teams=teams, actor_id=getattr(actor, "pk", None), actor_is_rep=is_rep)
        self.table = None
        self.position = 0          # data rows consumed by the open reader
        self.rows_iter = None
        # key -> (first line, that row was skipped): duplicates across batches.
        self.seen: dict[str, tuple[int, bool]] = {}
        # Unique columns other than the match key: value -> first line (across batches).
        self.unique = {f: {} for f in ("email", "external_id") if f != self.match_by}
        self.layouts = {}
        self.required_all = [d for d in self.definitions if d.required]
        self.rules = list(AssignmentRule.objects.filter(organization_id=self.org, is_active=True)
                          .order_by("position", "id"))
        self.tag_ids: dict[str, int] = {}
        self.company_by_name: dict[str, int] = {}
        self.company_by_domain: dict[str, int] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future | None = None

    # -- reading the file

    def open(self, start: int):
        """Position the reader at data row `start` (resuming: replay the rows before it for the keys)."""
        self._discard_pending()
        handle = self.imp.file.open("rb")
        self.table = open_table(handle, self.imp.file_name, max_bytes=None)
        self.rows_iter = self.table.rows()
        self.position = 0
        if start:
            for line, values in islice(self.rows_iter, start):
                record, errors = self.reader.read(line, values)
                if record is not None:
                    self._remember(record, skipped=False)
            self.position = start

    def _read_batch(self) -> list[tuple]:
        """The next BATCH_SIZE rows of the file, cleaned: (line, cells, record or None, errors)."""
        read = self.reader.read
        return [(line, values, *read(line, values)) for line, values in islice(self.rows_iter, BATCH_SIZE)]

    def next_batch(self, start: int) -> list[tuple]:
        """The batch starting at data row `start`, cleaned. While the caller matches and writes it,
        a thread reads and cleans the next one: cleaning is pure Python and the writing mostly
        waits on PostgreSQL (psycopg releases the GIL), so the two overlap on two cores. A
        FileError (bad bytes at row N) fails the job."""
        if self.rows_iter is None or self.position != start:
            self.open(start)
        pending, self._pending = self._pending, None
        batch = pending.result() if pending is not None else self._read_batch()
        self.position += len(batch)
        if len(batch) == BATCH_SIZE:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-read")
            self._pending = self._executor.submit(self._read_batch)
        return batch

    def _discard_pending(self):
        if self._pending is not None:
            try:
                self._pending.result()
            except Exception:  # noqa: BLE001 - the file is opened again; its error comes back then
                pass
            self._pending = None

    def close(self):
        self._discard_pending()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _remember(self, record, skipped: bool):
        if record.key and record.key not in self.seen:
            self.seen[record.key] = (record.line, skipped)
        for name, values in self.unique.items():
            value = record.fields.get(name)
            if value:
                values.setdefault(value, record.line)

    # -- deciding

    def plan(self, batch) -> _Plan:
        plan = _Plan()
        results = plan.results
        firsts: dict[str, object] = {}
        todo = []
        report = self.options.get("duplicates") == "report"
        for line, values, record, errors in batch:
            if record is None:
                results[line] = Result(Outcome.INVALID, message="; ".join(errors), data=values)
                continue
            if record.key:
                first = firsts.get(record.key)
                if first is None and record.key in self.seen:
                    earlier, skipped = self.seen[record.key]
                    if report:
                        results[line] = self._duplicate(record, earlier)
                        continue
                    record.earlier = (earlier, skipped)
                elif first is not None:
                    if report:
                        results[line] = self._duplicate(record, first.line)
                        continue
                    _merge(first, record)
                    results[line] = Result(Outcome.MERGED, message=f"Merged into row {first.line} (same "
                                           f"{MATCH_BY[self.match_by].lower()}).", record=first)
                    continue
                firsts[record.key] = record
            todo.append(record)
        existing = self._match([r.key for r in todo if r.key])
        current = self._current([c for c in existing.values()])
        allowed = set(Contact.objects.visible_to(self.actor, CHANGE).filter(pk__in=current)
                      .values_list("pk", flat=True)) if current else set()
        taken = self._taken(todo, existing)
        linked = self._linked([existing[r.key] for r in todo if r.key in existing and (
            r.tags or r.company or r.company_domain)])
        erased = self._erased(todo)
        for record in todo:
            contact_id = existing.get(record.key) if record.key else None
            if contact_id is None and record.line in erased:
                # A person erased at their request: skipped, and their cells are not kept.
                results[record.line] = self._erased_result(record, erased[record.line][0][1])
                continue
            if contact_id is None:
                if record.earlier is not None:
                    # A duplicate of an earlier batch's row that the dry run did not write.
                    earlier, skipped = record.earlier
                    results[record.line] = Result(Outcome.SKIPPED if skipped else Outcome.MERGED,
                                                  message=f"Merged into row {earlier}.", record=record)
                    continue
                problem = self._create_problem(record, taken)
                if problem:
                    results[record.line] = Result(Outcome.INVALID, message=problem, data=record.values)
                    continue
                results[record.line] = Result(Outcome.CREATED, record=record)
                plan.creates.append(record)
                self._remember(record, skipped=False)
                continue
            if contact_id not in allowed:
                what = MATCH_BY[self.match_by].lower()
                results[record.line] = Result(
                    Outcome.INVALID, data=record.values,
                    message=f"Row {record.line}: a contact with this {what} already exists in your organization, "
                            "and you may not change it.")
                continue
            skipped = record.earlier[1] if record.earlier else self.mode == ImportOptions.CREATE_ONLY
            if skipped:
                results[record.line] = Result(Outcome.SKIPPED, contact_id=contact_id, record=record,
                                              message=f"Matches an existing contact by {MATCH_BY[self.match_by].lower()}"
                                                      "; this import creates new contacts only.")
                self._remember(record, skipped=True)
                continue
            values = current[contact_id]
            record.contact_id = contact_id
            changes = self._changes(record, values)
            blocked = [label for name, label in erased.get(record.line, ()) if name in changes]
            if blocked:
                # Setting an erased person's email or phone on another contact re-creates them.
                results[record.line] = self._erased_result(record, blocked[0])
                continue
            problem = self._unique_problem(record, taken, contact_id)
            if problem:
                results[record.line] = Result(Outcome.INVALID, message=problem, data=record.values)
                continue
            self._remember(record, skipped=False)
            if not changes and not _adds_links(record, linked.get(contact_id)):
                results[record.line] = Result(Outcome.UNCHANGED, contact_id=contact_id, record=record)
                continue
            if record.earlier:
                results[record.line] = Result(Outcome.MERGED, contact_id=contact_id, record=record,
                                              message=f"Merged into row {record.earlier[0]}.")
            else:
                results[record.line] = Result(Outcome.UPDATED, contact_id=contact_id, record=record)
            plan.updates.append((record, values, changes))
        return plan

    def _erased(self, records) -> dict[int, list[tuple[str, str]]]:
        """line -> (field, column label) of the values that match the tombstone of an erased person
        (one query per batch)."""
        wanted = {}
        for record in records:
            keys = privacy.value_keys(record.fields.get("email", ""), [(name, record.fields.get(name))
                                                                  for name in ("phone", "mobile")])
            for key, (_, name) in keys.items():
                wanted.setdefault(key, []).append((record.line, name))
        erased = {}
        for key in privacy.blocked_digests(self.org, wanted):
            for line, name in wanted[key]:
                erased.setdefault(line, []).append((name, cols.COLUMNS.get(name, name)))
        return erased

    @staticmethod
    def _erased_result(record, label: str) -> Result:
        return Result(Outcome.SKIPPED, message=f"Row {record.line}: {label}: {privacy.TOMBSTONE_MESSAGE}")

    def _duplicate(self, record, earlier: int) -> Result:
        what = MATCH_BY[self.match_by].lower()
        return Result(Outcome.DUPLICATE, data=record.values,
                      message=f"Row {record.line}: same {what} as row {earlier} ({record.key}); not imported.")

    def _match(self, keys) -> dict[str, int]:
        """Existing live contacts by match key: key -> contact id (the oldest when several match).
        One array parameter (not thousands of placeholders), the stored text (no phone parsing),
        and the conditions of the partial unique indexes on email and external id."""
        if not keys:
            return {}
        table = Contact._meta.db_table
        found: dict[str, int] = {}
        with connection.cursor() as cursor:
            if self.match_by == "phone":
                # Plain or encrypted numbers (contacts.phones: the blind index finds the exact number).
                by_hash = {blind_index(k): k for k in keys}
                cursor.execute(f"SELECT id, phone, mobile, phone_hash, mobile_hash FROM {table} WHERE organization_id = %s "
                               f"AND deleted_at IS NULL AND {phones.match_columns()} ORDER BY id DESC",
                               [self.org, *phones.match_params(keys)])
                for pk, phone, mobile, phone_hash, mobile_hash in cursor.fetchall():
                    for number in (phone, mobile, by_hash.get(phone_hash), by_hash.get(mobile_hash)):
                        if number:
                            found[number] = pk
            else:
                column = self.match_by  # email or external_id: a column name of ours, not user input
                cursor.execute(f'SELECT id, "{column}" FROM {table} WHERE organization_id = %s AND deleted_at IS NULL '
                               f'AND "{column}" <> \'\' AND "{column}" = ANY(%s) ORDER BY id DESC', [self.org, keys])
                for pk, value in cursor.fetchall():
                    found[value] = pk
        return found

    def _current(self, ids) -> dict[int, dict]:
        if not ids:
            return {}
        # Phones as the stored text (E.164, what str() of the parsed number gives back) without
        # parsing, validating and formatting two numbers per contact on the way.
        texts = {f"_{name}_text": Cast(name, TextField()) for name in _PHONES}
        rows = Contact.objects.filter(pk__in=ids).values(
            "pk", "custom_fields", "custom_fields_sealed", "phone_sealed", "mobile_sealed",
            *(n for n in FIELDS if n not in _PHONES), **texts)
        current = {}
        for row in rows:
            # Encrypted values come decrypted (crm.encryption): compare with what the contact holds.
            for name in _PHONES:
                row[name] = row.pop(f"_{name}_text") or str(row.pop(f"{name}_sealed") or "")
                row.pop(f"{name}_sealed", None)
            sealed = row.pop("custom_fields_sealed") or {}
            if sealed:
                row["custom_fields"] = {**(row["custom_fields"] or {}), **sealed}
            current[row.pop("pk")] = row
        return current

    def _linked(self, ids) -> dict[int, tuple[set, set]]:
        """Tag names and company names/domains (lowercase) the matched contacts already have,
        so the dry run tells an update that only repeats them from one that adds links."""
        linked: dict[int, tuple[set, set]] = {pk: (set(), set()) for pk in ids}
        if not ids:
            return linked
        for pk, name in ContactTag.objects.filter(contact_id__in=ids).values_list("contact_id", "tag__name"):
            linked[pk][0].add(name.lower())
        for pk, name, domain in ContactCompany.objects.filter(contact_id__in=ids).values_list(
                "contact_id", "company__name", "company__domain"):
            linked[pk][1].update(v.lower() for v in (name, domain) if v)
        return linked

    def _taken(self, records, existing) -> dict[str, dict[str, int]]:
        """For the unique columns other than the match key: values live contacts already have
        (value -> contact id), among those the batch brings."""
        taken = {}
        for name in self.unique:
            wanted = {r.fields[name] for r in records if r.fields.get(name)}
            taken[name] = dict(Contact.objects.filter(organization_id=self.org, **{f"{name}__in": wanted})
                               .values_list(name, "pk")) if wanted else {}
        return taken

    def _unique_problem(self, record, taken, contact_id=None) -> str:
        for name, values in self.unique.items():
            value = record.fields.get(name)
            if not value:
                continue
            holder = taken[name].get(value)
            label = cols.COLUMNS[name]
            if holder is not None and holder != contact_id:
                return f"Row {record.line}: {label}: a contact with this {label.lower()} already exists in your organization."
            first = values.get(value)
            if first is not None and first != record.line:
                return f"Row {record.line}: {label}: the same {label.lower()} as row {first}."
        return ""

    def _required(self, industry: str):
        """Required custom fields for a new contact of this industry (its form layout's, or the definitions')."""
        key = (industry or "").strip().lower()
        if key not in self.layouts:
            layout = FormLayout.objects.filter(organization_id=self.org, industry__iexact=key).first() if key else None
            if layout is None:
                self.layouts[key] = self.required_all
            else:
                required = set(layout.entries.filter(required=True).values_list("definition__key", flat=True))
                self.layouts[key] = [d for d in self.definitions if d.key in required or d.required]
        return self.layouts[key]

    def _create_problem(self, record, taken) -> str:
        if not record.fields.get("first_name"):
            return f"Row {record.line}: First name is empty; every contact needs one."
        missing = [d.label for d in self._required(record.fields.get("industry", ""))
                   if _is_empty(record.custom.get(d.key))]
        if missing:
            return f"Row {record.line}: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required."
        return self._unique_problem(record, taken)

    def _changes(self, record, values) -> dict:
        """field -> new value, for what the row changes on an existing contact ("custom_fields"
        holds the whole new dict). Empty cells never clear anything."""
        fill_only = self.mode == ImportOptions.UPDATE_EMPTY
        changes = {}
        for name, value in record.fields.items():
            old = values[name]
            if old == value or (fill_only and old not in ("", None)):
                continue
            changes[name] = value
        if record.custom:
            custom = dict(values["custom_fields"] or {})
            changed = False
            for key, value in record.custom.items():
                if custom.get(key) == value or (fill_only and not _is_empty(custom.get(key))):
                    continue
                custom[key] = value
                changed = True
            if changed:
                changes["custom_fields"] = custom
        return changes


def _adds_links(record, linked) -> bool:
    """Whether the row brings a tag or a company the contact does not have yet."""
    if not (record.tags or record.company or record.company_domain):
        return False
    tags, companies = linked or (set(), set())
    if any(t.lower() not in tags for t in record.tags):
        return True
    if record.company_domain:
        return record.company_domain not in companies
    return bool(record.company) and record.company.lower() not in companies


def _merge(first, later) -> None:
    """A later row with the same key fills in and overrides the first one's values."""
    first.fields.update(later.fields)
    first.custom.update(later.custom)
    first.tags += [t for t in later.tags if t not in first.tags]
    first.company = later.company or first.company
    first.company_domain = later.company_domain or first.company_domain


# -- preview ---------------------------------------------------------------------------------

def _preview_step(steps: _Steps, job: Job, imp: ContactImport, actor) -> bool:
    if steps.runner is None:
        steps.runner = BatchRunner(imp, actor)
    runner = steps.runner
    if job.total is None:
        job.total = estimated_rows(imp)  # a per cent and a time left for the dry run; exact at its end
    start = job.checkpoint.get("rows", 0)
    batch = runner.next_batch(start)
    plan = runner.plan(batch)
    state = job.checkpoint
    counts = Counter(state.get("counts", {}))
    shown = state.get("shown", [])
    errors = state.get("errors", [])
    _mark_likely_duplicates(plan, PREVIEW_ROWS - len(shown), actor)
    for line in sorted(plan.results):
        result = plan.results[line]
        counts[result.outcome] += 1
        if result.outcome in ImportRow.ERRORS:
            if len(errors) < PREVIEW_ERRORS:
                errors.append({"line": line, "message": result.message})
        if len(shown) < PREVIEW_ROWS:
            shown.append(_shown(line, result))
    rows = start + len(batch)
    job.checkpoint = {"rows": rows, "counts": dict(counts), "shown": shown, "errors": errors}
    job.processed = rows
    job.failed = counts[Outcome.INVALID] + counts[Outcome.DUPLICATE]
    job.succeeded = rows - job.failed
    done = len(batch) < BATCH_SIZE
    if done:
        job.total = rows
        if rows == 0:
            raise ImportStopped(f"{imp.file_name} has no data rows below its header row.")
        imp.preview = {"rows": rows, "counts": dict(counts), "shown": shown, "errors": errors}
        imp.stage = Stage.PREVIEWED
        imp.save(update_fields=["preview", "stage", "updated_at"])
    return done


def _mark_likely_duplicates(plan: _Plan, limit: int, actor) -> None:
    """The dry run's shown rows that would create a contact looking like an existing one say so
    in their message (contacts.dedupe; one query). Only the shown rows: a check of every row
    would make a large file's dry run markedly slower."""
    from contacts import dedupe

    lines = [line for line in sorted(plan.results) if plan.results[line].outcome == Outcome.CREATED][:max(0, limit)]
    if not lines:
        return
    records = [plan.results[line].record for line in lines]
    data = [{**r.fields, "company_name": r.company} for r in records]
    for line, found in zip(lines, dedupe.find_for_many(actor, data)):
        if found:
            match, contact = found[0]
            plan.results[line].message = (f"Looks like an existing contact: {contact} (#{contact.pk}) — "
                                          f"{dedupe.reasons_text(match.reasons)}.")


def estimated_rows(imp: ContactImport) -> int:
    """The data rows of the file: for CSV its line breaks counted in bytes (quoted line breaks
    make it an overestimate; UTF-16 files are read as text), else the rows read."""
    with imp.file.open("rb") as handle:
        if imp.format == "csv" and not imp.encoding.startswith("utf-16"):
            breaks, last = 0, b""
            while chunk := handle.read(1 << 20):
                breaks += chunk.count(b"\n")
                last = chunk
            lines = breaks + (1 if last and not last.endswith(b"\n") else 0)
            return max(0, lines - 1)
        return sum(1 for _ in open_table(handle, imp.file_name).rows())


def _shown(line: int, result: Result) -> dict:
    """One previewed row: its outcome and the values it would write."""
    values = {}
    record = result.record
    if record is not None:
        values = {cols.COLUMNS.get(k, k): _display(v) for k, v in record.fields.items()
                  if k not in ("owner_id", "team_id")}
        values.update({f"Custom: {k}": _display(v) for k, v in record.custom.items()})
        if record.tags:
            values["Tags"] = ", ".join(record.tags)
        if record.company or record.company_domain:
            values["Company"] = record.company or record.company_domain
    cells = record.values if record is not None else (result.data or [])
    return {"line": line, "outcome": result.outcome, "message": result.message, "values": values, "cells": cells}


def _display(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


# -- import ----------------------------------------------------------------------------------

def _run_step(steps: _Steps, job: Job, imp: ContactImport, actor) -> bool:
    if steps.runner is None:
        steps.runner = BatchRunner(imp, actor)
    runner = steps.runner
    start = job.checkpoint.get("rows", 0)
    batch = runner.next_batch(start)
    plan = runner.plan(batch)
    results = plan.results
    bad = [r for r in results.values() if r.outcome in ImportRow.ERRORS]
    if bad and imp.options.get("invalid") == "all_or_nothing":
        first = min(line for line, r in results.items() if r.outcome in ImportRow.ERRORS)
        raise ImportStopped(f"Row {first} is invalid ({results[first].message}) and the import is all or "
                              "nothing: nothing more was imported. Revert what was imported, fix the file and "
                              "import it again.")
    with connection.cursor() as cursor:
        # Any statement through Django's cursor carries the audit context for the COPYs after it.
        cursor.execute("UPDATE contacts_contactimport SET updated_at = now() WHERE id = %s", [imp.pk])
        # The audit triggers ask pgtrigger whether to skip themselves by reading `pgtrigger.ignore`
        # inside an exception block: unset, every audited row raises and rolls back a
        # subtransaction (4-5x the trigger's cost, growing with the batch). An empty list for this
        # transaction ignores nothing (every event is still written) without the error.
        # The checkpoint commits with the batch, so a commit lost in a server crash is a batch
        # the resumed job does again: no need to wait for the WAL flush (as the demo loader).
        cursor.execute("SELECT set_config('synchronous_commit', 'off', true)")
        cursor.execute("SELECT set_config('pgtrigger.ignore', '{}', true) WHERE current_setting('pgtrigger.ignore', "
                       "true) IS NULL OR current_setting('pgtrigger.ignore', true) = ''")
        writer = _Writer(runner, imp, actor, cursor)
        writer.write(plan)
    counts = Counter(imp.counts)
    for result in results.values():
        counts[result.outcome] += 1
    rows = start + len(batch)
    imp.counts = dict(counts)
    job.checkpoint = {"rows": rows}
    job.processed = rows
    job.failed = counts[Outcome.INVALID] + counts[Outcome.DUPLICATE]
    job.succeeded = rows - job.failed
    done = len(batch) < BATCH_SIZE
    fields = ["counts", "created_companies", "created_tags", "updated_at"]
    if done:
        job.total = rows
        imp.stage = Stage.IMPORTED
        fields.append("stage")
        # One batch job enriches what the import wrote (queued when this last step commits).
        from contacts.enrichment import start_import_job

        start_import_job(imp, actor)
    imp.save(update_fields=fields)
    return done


def _copy_value(value) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (dict, list)):
        return copy_text(json.dumps(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return copy_text(str(value))


def _dedupe_keys(values: dict, company_name: str = "") -> str:
    """The duplicate-detection keys of a row (contacts.dedupe), as a PostgreSQL array literal,
    so the create-time check finds imported contacts at once (a scan also refreshes them)."""
    features = dedupe.contact_features(None, values.get("first_name"), values.get("last_name"), values.get("email"),
                                       values.get("phone"), values.get("mobile"), company_name)
    quoted = ('"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"' for key in dedupe.contact_keys(features))
    return "{" + ",".join(quoted) + "}"


# Columns a created contact gets from the import (CopyTable fills every other with its default).
_CREATE_FIELDS = ["organization", "created_at", "updated_at", "created_by", "display_name", "search_name",
                  "search_name_rev", "phone_digits", "company_name", "custom_fields",
                  *FIELDS, "dedupe_keys", *phones.SEALED_EXTRA_COLUMNS]
_ROW_FIELDS = ["organization", "contact_import", "line", "outcome", "contact_id", "message", "data", "before",
               "after"]


class _Writer:
    """Writes one planned batch: companies and tags it needs, new contacts (COPY), changed ones
    (one UPDATE from a temporary table), tag and company links, and the rows' outcomes."""

    def __init__(self, runner: BatchRunner, imp, actor, cursor):
        self.runner, self.imp, self.actor, self.cursor = runner, imp, actor, cursor
        self.org = imp.organization_id
        self.now = timezone.now()
        # Encryption at rest (crm.encryption, contacts.phones): what this organization seals.
        self.encrypt_phones = phones.organization_encrypts(self.org)
        self.sensitive = sensitive_keys(self.org, "contact")

    def _sealed(self, values: dict, custom) -> dict:
        return phones.sealed_row(values, custom, encrypt_phones=self.encrypt_phones, sensitive=self.sensitive)

    def write(self, plan: _Plan):
        records = [r for r in plan.creates] + [u[0] for u in plan.updates]
        companies = self._companies(records)
        tags = self._tags(records)
        ids = self._create(plan.creates, companies)
        self._update(plan.updates, companies)
        for record, contact_id in zip(plan.creates, ids):
            plan.results[record.line].contact_id = contact_id
            record.contact_id = contact_id
        self._links(plan, tags, companies)
        for result in plan.results.values():
            if result.contact_id is None and result.record is not None:
                result.contact_id = getattr(result.record, "contact_id", None)
        self._rows(plan.results)
        words = {w[:100] for r in plan.creates for w in self._derived(r.fields)["search_name"].split() if len(w) >= 2}
        words |= {w[:100] for r, _, ch in plan.updates if any(n in ch for n in _NAME_FIELDS)
                  for w in fold(" ".join(r.fields.get(n, "") for n in _NAME_FIELDS)).split() if len(w) >= 2}
        if words:
            NameWord.objects.bulk_create([NameWord(organization_id=self.org, word=w) for w in words],
                                         ignore_conflicts=True)

    # companies and tags by name

    def _companies(self, records) -> dict[tuple[str, str], tuple[int, str]]:
        """(name, domain) of each record -> (company id, its name); missing companies are created."""
        runner = self.runner
        wanted = {(r.company, r.company_domain) for r in records if r.company or r.company_domain}
        if not wanted:
            return {}
        names = {n.lower() for n, _ in wanted if n and n.lower() not in runner.company_by_name}
        domains = {d for _, d in wanted if d and d not in runner.company_by_domain}
        live = Company.objects.filter(organization_id=self.org)
        if names:
            # Case-insensitive, the oldest company of a name first.
            for pk, name in live.annotate(lname=Lower("name")).filter(lname__in=names).order_by("-id").values_list(
                    "pk", "name"):
                runner.company_by_name[name.lower()] = pk
        if domains:
            for pk, domain in live.filter(domain__in=domains).values_list("pk", "domain"):
                runner.company_by_domain[domain] = pk
        result, new = {}, []
        for name, domain in wanted:
            pk = (runner.company_by_domain.get(domain) if domain else None) or (
                runner.company_by_name.get(name.lower()) if name else None)
            if pk is None:
                new.append((name, domain))
            else:
                result[(name, domain)] = pk
        if new:
            created = Company.objects.bulk_create([
                Company(organization_id=self.org, name=(name or domain)[:200], domain=domain,
                        search_name=fold(name or domain), created_by=self.actor) for name, domain in new])
            self.imp.created_companies = list(self.imp.created_companies) + [c.pk for c in created]
            for (name, domain), company in zip(new, created):
                result[(name, domain)] = company.pk
                if name:
                    runner.company_by_name[name.lower()] = company.pk
                if domain:
                    runner.company_by_domain[domain] = company.pk
        names_by_id = dict(Company.objects.filter(pk__in=set(result.values())).values_list("pk", "name"))
        return {key: (pk, names_by_id.get(pk, "")) for key, pk in result.items()}

    def _tags(self, records) -> dict[str, int]:
        runner = self.runner
        wanted = {t.lower(): t for r in records for t in r.tags}
        missing = [n for n in wanted if n not in runner.tag_ids]
        if missing:
            tags = Tag.objects.filter(organization_id=self.org).annotate(lname=Lower("name"))
            for pk, name in tags.filter(lname__in=missing).values_list("pk", "name"):
                runner.tag_ids[name.lower()] = pk
            new = [wanted[n] for n in missing if n not in runner.tag_ids]
            if new:
                Tag.objects.bulk_create([Tag(organization_id=self.org, name=n) for n in new], ignore_conflicts=True)
                created = list(tags.filter(lname__in=[n.lower() for n in new]).values_list("pk", "name"))
                self.imp.created_tags = list(self.imp.created_tags) + [pk for pk, _ in created]
                for pk, name in created:
                    runner.tag_ids[name.lower()] = pk
        return {n: runner.tag_ids[n] for n in wanted}

    # contacts

    def _derived(self, values: dict) -> dict:
        # No phone digits for encrypted phones: they are found by the exact number only.
        return derived_values(*(values.get(n) or "" for n in _NAME_FIELDS),
                              *("" if self.encrypt_phones else (values.get(n) or "") for n in _PHONES))

    def _owner(self, record):
        fields = record.fields
        if self.runner.is_rep:
            fields.setdefault("owner_id", self.actor.pk)
        if fields.get("owner_id") is None and fields.get("team_id") is None and self.runner.rules:
            probe = Contact(organization_id=self.org, industry=fields.get("industry", ""),
                            country=fields.get("country", ""), region=fields.get("region", ""),
                            source=fields.get("source", "import"))
            for rule in self.runner.rules:
                if rule.matches(probe):
                    fields["team_id"] = rule.team_id
                    fields["owner_id"] = pick_owner(rule)
                    break

    def _create(self, records, companies) -> list[int]:
        if not records:
            return []
        table = CopyTable(Contact, _CREATE_FIELDS, with_pk=True)
        self.cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                            [Contact._meta.db_table, len(records)])
        ids = [row[0] for row in self.cursor.fetchall()]
        now = self.now.isoformat()
        detail = self.imp.file_name[:255]
        lines = []
        for pk, record in zip(ids, records):
            self._owner(record)
            values = record.fields
            if "source" not in values:
                values["source"] = "import"
                values.setdefault("source_detail", detail)
            derived = self._derived(values)
            sealed = self._sealed(values, record.custom)
            company = companies.get((record.company, record.company_domain))
            row = [str(pk), str(self.org), now, now, str(self.actor.pk) if self.actor else NULL,
                   *(copy_text(derived[n]) for n in ("display_name", "search_name", "search_name_rev",
                                                      "phone_digits")),
                   copy_text(company[1]) if company else "",
                   copy_text(json.dumps(sealed["custom_fields"], default=str))]
            for name in FIELDS:
                value = sealed[name] if name in _PHONES else values.get(name)
                if value is None:
                    row.append(NULL if name in ("owner_id", "team_id", "birth_date") else
                               ("lead" if name == "lifecycle_stage" else ""))
                else:
                    row.append(_copy_value(value))
            row.append(copy_text(_dedupe_keys(values, company[1] if company else "")))
            row.extend(_copy_value(sealed[n]) for n in phones.SEALED_EXTRA_COLUMNS)
            lines.append("\t".join(row) + table.suffix)
        with rls.copy_into(self.cursor, table.table, table.columns) as copy:
            for i in range(0, len(lines), 1000):
                copy.write("".join(lines[i:i + 1000]))
        return ids

    def _update(self, updates, companies):
        """One UPDATE for the batch's changed contacts, from a temporary table of their new values."""
        for record, _, _ in updates:
            record.before, record.after = {}, {}
        updates = [u for u in updates if u[2]]  # rows that only add tags or a company change no column
        if not updates:
            return
        names = sorted({n for _, _, changes in updates for n in changes})
        if any(n in names for n in _NAME_FIELDS):
            names += ["display_name", "search_name", "search_name_rev"]
        if "phone" in names or "mobile" in names:
            names.append("phone_digits")
        for name in _PHONES:
            if name in names:
                names += [f"{name}_sealed", f"{name}_hash"]
        if "custom_fields" in names:
            names.append("custom_fields_sealed")
        if any(n in names for n in dedupe.IDENTITY_FIELDS):
            names.append("dedupe_keys")
        names = list(dict.fromkeys(names))
        fields = ["id", *names]
        column_list = ", ".join(f'"{n}"' for n in fields)
        self.cursor.execute("DROP TABLE IF EXISTS kith_import_stage")
        self.cursor.execute(f"CREATE TEMP TABLE kith_import_stage ON COMMIT DROP AS SELECT {column_list} "
                            f"FROM {Contact._meta.db_table} WITH NO DATA")
        lines = []
        for record, values, changes in updates:
            result = {**values, **changes}
            result.update(self._derived(result))
            if "dedupe_keys" in names:
                result["dedupe_keys"] = _dedupe_keys(result)
            result.update(self._sealed(result, result.get("custom_fields")))
            lines.append("\t".join([str(record.contact_id)] + [_copy_value(result.get(n)) for n in names]) + "\n")
            record.before = _json_ready({n: values[n] for n in changes if n != "custom_fields"})
            record.after = _json_ready({n: v for n, v in changes.items() if n != "custom_fields"})
            if "custom_fields" in changes:
                # Only the keys the row changed: the revert puts back exactly those.
                old, new = values["custom_fields"] or {}, changes["custom_fields"]
                keys = [k for k in new if old.get(k, _MISSING) != new[k]]
                record.before["custom_fields"] = {k: old[k] for k in keys if k in old}
                record.after["custom_fields"] = {k: new[k] for k in keys}
        with self.cursor.copy(f"COPY kith_import_stage ({column_list}) FROM STDIN") as copy:
            copy.write("".join(lines))
        assignments = ", ".join(f'"{n}" = s."{n}"' for n in names)
        self.cursor.execute(f"UPDATE {Contact._meta.db_table} c SET {assignments}, updated_at = %s "
                            "FROM kith_import_stage s WHERE c.id = s.id", [self.now])

    # links and outcomes

    def _links(self, plan: _Plan, tags, companies):
        created = {r.contact_id for r in plan.creates}
        pairs = []
        for record in [*plan.creates, *(u[0] for u in plan.updates)]:
            for name in record.tags:
                pairs.append((record.contact_id, tags[name.lower()]))
        added_tags: dict[int, list[int]] = {}
        if pairs:
            contact_ids, tag_ids = zip(*dict.fromkeys(pairs))
            self.cursor.execute(
                f"INSERT INTO {ContactTag._meta.db_table} (organization_id, created_at, updated_at, contact_id, tag_id) "
                "SELECT %s, %s, %s, c, t FROM unnest(%s::bigint[], %s::bigint[]) AS x(c, t) "
                "ON CONFLICT DO NOTHING RETURNING contact_id, tag_id",
                [self.org, self.now, self.now, list(contact_ids), list(tag_ids)])
            inserted = self.cursor.fetchall()
            for contact_id, tag_id in inserted:
                added_tags.setdefault(contact_id, []).append(tag_id)
            adjust_tag_usage(Counter(tag_id for _, tag_id in inserted), 1)
        links = [(r.contact_id, companies[(r.company, r.company_domain)][0]) for r in
                 [*plan.creates, *(u[0] for u in plan.updates)] if r.company or r.company_domain]
        added_links: dict[int, int] = {}
        if links:
            contact_ids = [c for c, _ in links]
            has_primary = set(ContactCompany.objects.filter(contact_id__in=contact_ids, is_primary=True)
                              .values_list("contact_id", flat=True))
            primary = [c not in has_primary for c, _ in links]
            self.cursor.execute(
                f"INSERT INTO {ContactCompany._meta.db_table} (organization_id, created_at, updated_at, contact_id, "
                "company_id, is_primary, role, decision_role) "
                "SELECT %s, %s, %s, c, co, p, '', '' FROM unnest(%s::bigint[], %s::bigint[], %s::boolean[]) "
                "AS x(c, co, p) ON CONFLICT DO NOTHING RETURNING contact_id, company_id",
                [self.org, self.now, self.now, contact_ids, [co for _, co in links], primary])
            for contact_id, company_id in self.cursor.fetchall():
                added_links[contact_id] = company_id
            renamed = [c for c in added_links if c not in created and c not in has_primary]
            if renamed:
                from contacts.models import refresh_company_names

                refresh_company_names(contact_ids=renamed)
        for record, values, changes in plan.updates:
            after = dict(record.after or {})
            if added_tags.get(record.contact_id):
                after["tags_added"] = added_tags[record.contact_id]
            if record.contact_id in added_links:
                after["company_added"] = added_links[record.contact_id]
            result = plan.results[record.line]
            if not after and result.outcome == Outcome.UPDATED:
                result.outcome = Outcome.UNCHANGED
            result.before, result.after = record.before or {}, after

    def _rows(self, results: dict):
        table = CopyTable(ImportRow, _ROW_FIELDS)
        lines = []
        for line, r in results.items():
            data = r.data if r.outcome in ImportRow.ERRORS else None
            lines.append("\t".join([
                str(self.org), str(self.imp.pk), str(line), r.outcome, NULL if r.contact_id is None else str(r.contact_id),
                copy_text(r.message), _copy_value(data), _copy_value(r.before), _copy_value(r.after)]) + table.suffix)
        with rls.copy_into(self.cursor, table.table, table.columns) as copy:
            copy.write("".join(lines))


_MISSING = object()


def _json_ready(values: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values.items()}


# -- revert ----------------------------------------------------------------------------------

def _revert_step(steps: _Steps, job: Job, imp: ContactImport, actor) -> bool:
    run_job = Job.objects.get(pk=imp.run_job_id)
    since = run_job.finished_at or run_job.heartbeat_at
    before = job.checkpoint.get("before")
    rows = ImportRow.objects.filter(contact_import=imp, outcome__in=_REVERTED, contact_id__isnull=False)
    if before is not None:
        rows = rows.filter(line__lt=before)
    rows = list(rows.order_by("-line")[:BATCH_SIZE])
    if not rows:
        _revert_leftovers(imp, since)
        imp.stage = Stage.REVERTED
        imp.save(update_fields=["stage", "updated_at"])
        return True
    conflicts: list[JobItem] = []
    ids = {r.contact_id for r in rows}
    contacts = {c.pk: c for c in Contact.all_objects.filter(pk__in=ids).select_for_update(of=("self",))}
    # Contacts this import created go away whole: their later rows (merged duplicates) need no undoing.
    created_here = set(ImportRow.objects.filter(contact_import=imp, outcome=Outcome.CREATED, contact_id__in=ids)
                       .values_list("contact_id", flat=True))
    delete = []
    for row in rows:
        contact = contacts.get(row.contact_id)
        if contact is None or (row.outcome != Outcome.CREATED and row.contact_id in created_here):
            continue
        if row.outcome == Outcome.CREATED:
            if contact.updated_at > since:
                conflicts.append(_conflict(job, row, "", "Changed since the import; kept."))
            else:
                delete.append(contact.pk)
            continue
        _revert_update(job, row, contact, conflicts)
    if delete:
        live = [pk for pk in delete if contacts[pk].deleted_at is None]
        adjust_tag_usage(Counter(ContactTag.objects.filter(contact_id__in=live).values_list("tag_id", flat=True)), -1)
        Contact.all_objects.filter(pk__in=delete).delete()
    JobItem.objects.bulk_create(conflicts)
    job.processed += len(rows)
    job.failed += len(conflicts)
    job.succeeded = job.processed - job.failed
    job.checkpoint = {"before": rows[-1].line}
    return False  # the next step finds nothing left and finishes


def _conflict(job, row, field_name, message) -> JobItem:
    return JobItem(organization_id=job.organization_id, job_id=job.pk, object_id=row.contact_id,
                   outcome=JobItem.Outcome.CONFLICT, field=field_name, message=f"Row {row.line}: {message}")


def _revert_update(job, row: ImportRow, contact: Contact, conflicts: list):
    """Put back the values a row changed, field by field, unless changed again since."""
    after, before = row.after or {}, row.before or {}
    changed = []
    for name, value in after.items():
        if name in ("tags_added", "company_added"):
            continue
        if name == "custom_fields":
            current, old = dict(contact.custom_fields or {}), before.get("custom_fields") or {}
            for key, new in value.items():
                if current.get(key) != new:
                    conflicts.append(_conflict(job, row, f"custom_fields.{key}",
                                               f"{key} was changed again since the import; left as it is."))
                elif key in old:
                    current[key] = old[key]
                else:
                    current.pop(key, None)
            if current != contact.custom_fields:
                contact.custom_fields = current
                changed.append("custom_fields")
            continue
        field_obj = Contact._meta.get_field(name)
        current = getattr(contact, field_obj.attname)
        if name in ("phone", "mobile"):
            current = str(current or "")
        elif hasattr(current, "isoformat"):
            current = current.isoformat()
        if current != value:
            conflicts.append(_conflict(job, row, field_obj.name, f"{field_obj.verbose_name.capitalize()} was changed "
                                                                 "again since the import; left as it is."))
            continue
        old = before.get(name)
        if old and field_obj.get_internal_type() == "DateField":
            old = datetime.date.fromisoformat(old)
        setattr(contact, field_obj.attname, old)
        changed.append(field_obj.name)
    if changed:
        contact.save(update_fields=changed + ["updated_at"])
    tags = after.get("tags_added") or []
    if tags:
        links = ContactTag.objects.filter(contact_id=contact.pk, tag_id__in=tags)
        tag_ids = list(links.values_list("tag_id", flat=True))
        links.delete()
        if contact.deleted_at is None:
            adjust_tag_usage(Counter(tag_ids), -1)
    company = after.get("company_added")
    if company:
        ContactCompany.objects.filter(contact_id=contact.pk, company_id=company).delete()


def _revert_leftovers(imp: ContactImport, since) -> None:
    """Companies and tags the import created, when nothing uses them any more."""
    if imp.created_companies:
        Company.all_objects.filter(pk__in=imp.created_companies, updated_at__lte=since).exclude(
            pk__in=ContactCompany.objects.filter(company_id__in=imp.created_companies).values("company_id")).delete()
    if imp.created_tags:
        Tag.objects.filter(pk__in=imp.created_tags).exclude(
            pk__in=ContactTag.objects.filter(tag_id__in=imp.created_tags).values("tag_id")).delete()


# -- the error file --------------------------------------------------------------------------

def error_file(imp: ContactImport):
    """The rows that were not imported, as CSV text chunks: the original columns plus "Errors"."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*imp.headers, "Errors"])
    yield "\ufeff" + buffer.getvalue()
    rows = ImportRow.objects.filter(contact_import=imp, outcome__in=ImportRow.ERRORS).order_by("line")
    batch = []
    for data, message in rows.values_list("data", "message").iterator(chunk_size=2000):
        batch.append([*(neutralize(str(c)) for c in (data or [])), neutralize(message)])
        if len(batch) >= 2000:
            yield _csv_chunk(batch)
            batch = []
    if batch:
        yield _csv_chunk(batch)


def _csv_chunk(rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def visible_imports(user):
    return ContactImport.objects.visible_to(user, VIEW)


def current_job(imp: ContactImport) -> Job | None:
    """The import's latest job: its revert, else its run, else its preview (select_related
    them when listing imports)."""
    return imp.revert_job or imp.run_job or imp.preview_job


def progress(imp: ContactImport, job: Job | None = None) -> dict:
    """Where the current job is: rows done of total, per cent, rows per second and the
    seconds left at that rate (None while unknown)."""
    job = job if job is not None else current_job(imp)
    if job is None:
        return {"step": None, "status": None, "processed": 0, "total": None, "percent": 0, "rate": None,
                "eta_seconds": None, "active": False}
    total = job.total
    if total is None and job.params.get("step") == RUN:
        total = imp.preview.get("rows")
    elapsed = ((job.finished_at or timezone.now()) - job.started_at).total_seconds() if job.started_at else 0
    rate = job.processed / elapsed if elapsed > 0 and job.processed else None
    percent = 100 if job.status in (Job.Status.DONE,) else (
        min(100, job.processed * 100 // total) if total else 0)
    eta = round((total - job.processed) / rate) if rate and total and job.is_active else None
    return {"step": job.params.get("step"), "status": job.status, "processed": job.processed, "total": total,
            "percent": percent, "rate": round(rate) if rate else None, "eta_seconds": eta, "active": job.is_active,
            "error": job.error}
