"""Bulk actions on contacts: assign owner or team, add or remove tags, set the lifecycle
stage or a custom field, move to the trash, restore — on a list of ids or on everything a
contact-list filter matches — and their undo.

One operation is one `crm.models.Job` (kind "contacts.bulk"): it records who ran what, on
which selection, when, and per row (`JobItem`) the outcome and the values before and
after. The row changes themselves are audited by the history triggers under a context
naming the operation (`operation=<job id>`), so a contact's history shows them as part of it.

Rules every entry point (API, pages, Celery) gets from here:
- parameters and the selection are validated before anything runs (ValidationError naming
  the parameter);
- ids the actor cannot see are "not found" (no leak, no write); rows they see but may not
  change are reported with the reason; rows that fail validation with the field and message;
- rows are processed in batches of BATCH_SIZE, each batch in one transaction together
  with its checkpoint (crm.jobs.run_job), so a worker killed mid-way resumes without doing
  a batch twice;
- up to INLINE_LIMIT rows run in the request; more run in Celery with progress;
- undo restores each changed row's previous values, as an operation of its own; rows
  changed again since are reported as conflicts and left alone.
"""

from __future__ import annotations

from collections import Counter
from functools import reduce
from operator import or_
from types import SimpleNamespace

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from contacts.models import Contact, ContactTag, LifecycleStage
from crm import jobs, quotas
from crm.audit import change_context
from crm.custom_fields import _clean_value, _is_empty
from crm.encryption import bulk_update_sealed
from crm.models import CustomFieldDefinition, Job, JobItem, Tag, Team, User
from crm.permissions import CHANGE, DELETE, VIEW, Role, Scope

KIND = "contacts.bulk"
TASK = "contacts.tasks.run_bulk_operation"
BATCH_SIZE = 500
INLINE_LIMIT = 1000
MAX_IDS = 50_000
UNDO = "undo"
# An operation that has stopped may be undone (what its committed batches changed).
UNDOABLE = (Job.Status.DONE, Job.Status.FAILED, Job.Status.CANCELLED)

# action -> (label, permission needed on each row, parameters it takes)
ACTIONS = {
    "assign_owner": ("Assign owner", CHANGE, ("owner",)),
    "assign_team": ("Assign team", CHANGE, ("team",)),
    "add_tags": ("Add tags", CHANGE, ("tags",)),
    "remove_tags": ("Remove tags", CHANGE, ("tags",)),
    "set_stage": ("Set lifecycle stage", CHANGE, ("lifecycle_stage",)),
    "set_custom_field": ("Set custom field", CHANGE, ("key", "value")),
    "delete": ("Move to trash", DELETE, ()),
    "restore": ("Restore from trash", CHANGE, ()),
    "send_sms": ("Send SMS", CHANGE, ("body", "template")),
}
# Parameters an action may leave out (send_sms: a body, a template, or both).
OPTIONAL = {"send_sms": ("body", "template")}
# Actions that cannot be undone (a text cannot be unsent).
NOT_UNDOABLE = {"send_sms": "Text messages cannot be unsent: a bulk SMS cannot be undone."}
# Simple columns the field actions set: action -> (model field, its column).
_COLUMNS = {"assign_owner": ("owner", "owner_id"), "assign_team": ("team", "team_id"),
            "set_stage": ("lifecycle_stage", "lifecycle_stage")}
# Query parameters of the list page that are not filters.
NOT_FILTERS = frozenset({"ordering", "per_page", "cursor"})

Outcome = JobItem.Outcome


def action_label(action: str) -> str:
    return "Undo" if action == UNDO else ACTIONS.get(action, (action,))[0]


# -- validation ------------------------------------------------------------------------------

def _int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def clean_params(user, action: str, params) -> dict:
    """The action's parameters, checked against the actor's organization; a ValidationError
    names each parameter at fault. Returns JSON-ready values (ids, not objects)."""
    if action not in ACTIONS:
        raise ValidationError({"action": f"Unknown action {action!r}; use one of {', '.join(ACTIONS)}."})
    scope = Scope.of(user)
    if scope is None:
        raise PermissionDenied("Your account does not belong to an organization.")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValidationError({"params": "Give the parameters as an object."})
    expected = ACTIONS[action][2]
    errors = {name: "Unknown parameter for this action." for name in params if name not in expected}
    errors.update({name: "This parameter is required." for name in expected
                   if name not in params and name not in OPTIONAL.get(action, ())})
    if errors:
        raise ValidationError(errors)
    org = scope.organization_id
    cleaned: dict = {}
    if action == "assign_owner":
        value = params["owner"]
        owner = None if value in (None, "") else _int(value)
        if value not in (None, "") and (owner is None or not User.objects.filter(
                pk=owner, membership__organization_id=org).exists()):
            raise ValidationError({"owner": "Choose a member of your organization."})
        if scope.role == Role.REP and owner not in (None, scope.user_id):
            raise ValidationError({"owner": "Sales reps can assign only themselves as owner (or nobody)."})
        cleaned["owner"] = owner
    elif action == "assign_team":
        value = params["team"]
        team = None if value in (None, "") else _int(value)
        if value not in (None, "") and (team is None or not Team.objects.filter(pk=team, organization_id=org).exists()):
            raise ValidationError({"team": "Choose a team of your organization."})
        cleaned["team"] = team
    elif action in ("add_tags", "remove_tags"):
        values = params["tags"]
        if not isinstance(values, (list, tuple)) or not values:
            raise ValidationError({"tags": "Give a list of one or more tag ids."})
        ids = [_int(v) for v in values]
        known = set(Tag.objects.visible_to(user, VIEW).filter(
            pk__in=[i for i in ids if i is not None]).values_list("pk", flat=True))
        unknown = [str(v) for v, i in zip(values, ids) if i not in known]
        if unknown:
            raise ValidationError({"tags": f"Unknown tag(s): {', '.join(unknown)}."})
        cleaned["tags"] = sorted(known)
    elif action == "set_stage":
        value = params["lifecycle_stage"]
        if value not in LifecycleStage.values:
            raise ValidationError({"lifecycle_stage": f"Unknown stage {value!r}; use one of "
                                                      f"{', '.join(LifecycleStage.values)}."})
        cleaned["lifecycle_stage"] = value
    elif action == "set_custom_field":
        key, value = params["key"], params["value"]
        definition = CustomFieldDefinition.objects.filter(organization_id=org, model="contact",
                                                          key=key if isinstance(key, str) else "").first()
        if definition is None:
            raise ValidationError({"key": f"No custom field {key!r} on contacts in your organization."})
        if _is_empty(value):
            if definition.required:
                raise ValidationError({"value": f"{definition.label} is required; it cannot be cleared."})
            value = None
        else:
            try:
                value = _clean_value(definition, value)
            except ValueError as exc:
                raise ValidationError({"value": f"{definition.label}: {exc}"}) from None
        cleaned.update(key=key, value=value)
    elif action == "send_sms":
        cleaned.update(_clean_sms(user, scope, params))
    return cleaned


def _clean_sms(user, scope, params) -> dict:
    """A body, or an SmsTemplate of the user's organization (or both: the body is sent, the template
    recorded), checked as the send form checks it: not empty, at most MAX_SEGMENTS segments, known
    merge fields only. Per-contact problems (consent, number) are reported row by row."""
    from messaging import services as sms
    from messaging.models import SmsTemplate

    if not scope.can_write:
        raise PermissionDenied("Your role is read-only: you cannot send text messages.")
    body, template_id = params.get("body"), params.get("template")
    if body is not None and not isinstance(body, str):
        raise ValidationError({"body": "Give the message as text."})
    template = None
    if template_id not in (None, ""):
        pk = _int(template_id)
        template = (SmsTemplate.objects.visible_to(user, VIEW).filter(pk=pk, kind=SmsTemplate.Kind.MESSAGE).first()
                    if pk is not None else None)
        if template is None:
            raise ValidationError({"template": "Pick one of your organization's templates."})
    if not (body or "").strip() and template is None:
        raise ValidationError({"body": "Write a message or pick a template."})
    field = "body" if (body or "").strip() else "template"
    text = body if field == "body" else template.body
    try:
        sms.check_body(text)
        sms.check_template_text(text)
    except ValidationError as exc:
        raise ValidationError({field: exc.message_dict["body"]}) from None
    return {"body": body if field == "body" else "", "template": template.pk if template else None}


def clean_ids(ids) -> list[int]:
    if not isinstance(ids, (list, tuple)) or not ids:
        raise ValidationError({"ids": "Give a list of one or more contact ids."})
    cleaned = [_int(v) for v in ids]
    bad = [str(v) for v, i in zip(ids, cleaned) if i is None]
    if bad:
        raise ValidationError({"ids": f"Not contact ids: {', '.join(bad[:10])}."})
    unique = sorted(set(cleaned))
    if len(unique) > MAX_IDS:
        raise ValidationError({"ids": f"Select at most {MAX_IDS} contacts by id; use filters for more."})
    return unique


def clean_filters(user, action: str, filters) -> dict[str, list[str]]:
    """The contact list's query parameters (anything ContactFilter accepts); page-only ones
    (sort, page size, cursor) are dropped, unknown or invalid ones are an error naming them."""
    if isinstance(filters, QueryDict):
        data = {key: filters.getlist(key) for key in filters}
    elif isinstance(filters, dict):
        data = {}
        for key, value in filters.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            if not all(isinstance(v, (str, int, float, bool)) for v in values):
                raise ValidationError({"filters": f"{key}: give a value or a list of values."})
            data[key] = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    else:
        raise ValidationError({"filters": "Give the filters as an object of query parameters."})
    data = {key: values for key, values in data.items() if key not in NOT_FILTERS}
    filterset = _filterset(user, action, data)
    unknown = sorted(set(data) - set(filterset.filters))
    if unknown:
        raise ValidationError({"filters": [f"{name}: Unknown filter." for name in unknown]})
    if not filterset.is_valid():
        raise ValidationError({"filters": [f"{name}: {' '.join(errors)}"
                                           for name, errors in filterset.errors.items()]})
    return data


def clean_selection(user, action: str, *, ids=None, filters=None) -> dict:
    """{"ids": [...]} or {"filters": {...}}: exactly one of them, checked (bulk actions, exports)."""
    if (ids is None) == (filters is None):
        raise ValidationError({"ids": ["Give either ids or filters (the contact list's query parameters)."]})
    return {"ids": clean_ids(ids)} if ids is not None else {"filters": clean_filters(user, action, filters)}


def _filterset(user, action, data: dict[str, list[str]]):
    from contacts.filters import ContactFilter

    query = QueryDict(mutable=True)
    for key, values in data.items():
        query.setlist(key, values)
    if action == "restore":
        base = Contact.all_objects.visible_to(user, VIEW).filter(deleted_at__isnull=False)
    else:
        base = Contact.objects.visible_to(user, VIEW)
    return ContactFilter(query, queryset=base, request=SimpleNamespace(user=user, GET=query))


def matching(user, action: str, data: dict[str, list[str]]):
    """Contacts the user sees that the (cleaned) filters match: live ones, or for restore the trash."""
    return _filterset(user, action, data).qs


# -- starting --------------------------------------------------------------------------------

def start(user, *, action: str, params=None, ids=None, filters=None, send_options=None) -> Job:
    """Validate and start a bulk operation. Up to INLINE_LIMIT rows it runs here and the
    returned job is finished; more are queued for Celery (status "queued")."""
    errors = {}
    try:
        cleaned = clean_params(user, action, params)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        selection = clean_selection(user, action, ids=ids, filters=filters)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    if "ids" in selection:
        size = total = len(selection["ids"])
    else:
        size = matching(user, action, selection["filters"]).order_by()[:INLINE_LIMIT + 1].count()
        total = size if size <= INLINE_LIMIT else None
    extra = {}
    if action == "send_sms":
        # The hourly SMS quota counts a bulk send's recipients now, not its texts as they go out.
        per_user, per_org = quotas.SMS.limits()
        cap = max(per_user, per_org)
        recipients = total if total is not None else (
            matching(user, action, selection["filters"]).order_by()[:cap + 1].count() if cap else size)
        quotas.check(user, quotas.SMS, recipients)
        extra["recipients"] = recipients
    scope = Scope.of(user)
    job = Job.objects.create(organization_id=scope.organization_id, kind=KIND, task=TASK, actor=user,
                             params={"action": action, "params": cleaned, **selection, **extra}, total=total)
    return _launch(job, size, send_options)


def start_undo(user, operation: Job, *, send_options=None) -> Job:
    """Undo an operation that has stopped (done, failed or cancelled: whatever its committed
    batches changed). The caller checked the user may change the operation."""
    if operation.kind != KIND:
        raise ValidationError({"operation": "Not a bulk operation on contacts."})
    if operation.params.get("action") == UNDO:
        raise ValidationError({"operation": "An undo cannot itself be undone."})
    if operation.params.get("action") in NOT_UNDOABLE:
        raise ValidationError({"operation": NOT_UNDOABLE[operation.params["action"]]})
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=operation.pk)
        if locked.status not in UNDOABLE:
            raise ValidationError({"status": "Only an operation that has stopped can be undone; this one is "
                                             f"{locked.get_status_display().lower()}."})
        previous = locked.status
        locked.status = operation.status = Job.Status.UNDOING
        locked.save(update_fields=["status", "updated_at"])
        changed = JobItem.objects.filter(job=operation, outcome=Outcome.CHANGED).count()
        job = Job.objects.create(organization_id=operation.organization_id, kind=KIND, task=TASK, actor=user,
                                 undoes=operation, total=changed,
                                 params={"action": UNDO, "params": {}, "operation": operation.pk,
                                         "previous_status": previous})
    return _launch(job, changed, send_options)


def cancel(job: Job) -> bool:
    """Stop a queued or running operation after its current batch (what it changed stays, and
    can be undone). False when it had already stopped."""
    if not jobs.cancel(job):
        return False
    _release_undone(job)
    return True


def _release_undone(job: Job) -> None:
    """An undo that did not complete gives its operation back its status: it can be undone again
    (rows already reverted then show as conflicts and are left alone)."""
    if job.undoes_id:
        Job.objects.filter(pk=job.undoes_id, status=Job.Status.UNDOING).update(
            status=job.params.get("previous_status", Job.Status.DONE))


def _launch(job: Job, size: int, send_options) -> Job:
    return jobs.launch(job, inline=size <= INLINE_LIMIT, run=run, send_options=send_options)


def run(job_id: int) -> Job | None:
    """Run or resume an operation to its end (called inline and by the Celery task)."""
    job = jobs.run_job(job_id, _step)
    if job is not None and job.status in (Job.Status.FAILED, Job.Status.CANCELLED):
        _release_undone(job)
    return job


# -- one batch -------------------------------------------------------------------------------

def _step(job: Job) -> bool:
    actor = User.objects.filter(pk=job.actor_id).first()
    with change_context(actor=actor, source="bulk", operation=job.pk):
        if job.params["action"] == UNDO:
            return _undo_step(job, actor)
        return _forward_step(job, actor)


def _forbidden_reason(actor, permission) -> str:
    scope = Scope.of(actor)
    if scope is None or not scope.can_write:
        return "Your role is read-only."
    return "You can see this contact but may not " + ("delete" if permission == DELETE else "change") + " it."


def _access(actor, ids, permission) -> tuple[set[int], set[int]]:
    """Of `ids`: those the actor sees (in the trash too), and those they may act on."""
    visible = set(Contact.all_objects.visible_to(actor, VIEW).filter(pk__in=ids).values_list("pk", flat=True))
    allowed = set(Contact.all_objects.visible_to(actor, permission).filter(pk__in=visible)
                  .values_list("pk", flat=True)) if visible else set()
    return visible, allowed


def _forward_step(job: Job, actor) -> bool:
    spec = job.params
    action, params = spec["action"], spec["params"]
    cursor = job.checkpoint.get("after", 0)
    if "ids" in spec:
        remaining = [i for i in spec["ids"] if i > cursor]
        chunk, done = remaining[:BATCH_SIZE], len(remaining) <= BATCH_SIZE
    else:
        rows = matching(actor, action, spec["filters"])
        if job.total is None:
            job.total = rows.order_by().count()
        chunk = list(rows.filter(pk__gt=cursor).order_by("pk").values_list("pk", flat=True)[:BATCH_SIZE])
        done = len(chunk) < BATCH_SIZE
    if not chunk:
        return True
    permission = ACTIONS[action][1]
    visible, allowed = _access(actor, chunk, permission)
    rows = {c.pk: c for c in Contact.all_objects.filter(pk__in=allowed).select_for_update(of=("self",))
            .only("id", "organization_id", "owner_id", "team_id", "lifecycle_stage", "custom_fields",
                  "custom_fields_sealed", "deleted_at", "email")}
    reason = _forbidden_reason(actor, permission)
    items, todo = {}, []
    for pk in chunk:
        if pk not in visible:
            items[pk] = _item(job, pk, Outcome.NOT_FOUND, message="No such contact.")
        elif pk not in allowed:
            items[pk] = _item(job, pk, Outcome.FORBIDDEN, message=reason)
        elif rows[pk].deleted_at is not None and action != "restore":
            items[pk] = _item(job, pk, Outcome.INVALID, message="It is in the trash; restore it first.")
        else:
            todo.append(rows[pk])
    APPLY[action](job, todo, params, items)
    _save_items(job, [items[pk] for pk in chunk])
    job.checkpoint = {"after": chunk[-1]}
    return done


def _item(job, pk, outcome, *, field="", message="", before=None, after=None) -> JobItem:
    return JobItem(organization_id=job.organization_id, job_id=job.pk, object_id=pk, outcome=outcome,
                   field=field, message=message, before=before or {}, after=after or {})


def _save_items(job: Job, items: list[JobItem]) -> None:
    JobItem.objects.bulk_create(items)
    errors = sum(1 for item in items if item.is_error)
    job.processed += len(items)
    job.failed += errors
    job.succeeded += len(items) - errors


def adjust_tag_usage(counts: Counter, sign: int) -> None:
    """Keep Tag.usage_count (live contacts carrying the tag) right: one UPDATE per distinct change."""
    by_delta: dict[int, list[int]] = {}
    for tag_id, n in counts.items():
        if n:
            by_delta.setdefault(n * sign, []).append(tag_id)
    for delta, tag_ids in by_delta.items():
        Tag.objects.filter(pk__in=tag_ids).update(usage_count=F("usage_count") + delta)


def _tag_counts(contact_ids) -> Counter:
    return Counter(ContactTag.objects.filter(contact_id__in=contact_ids).values_list("tag_id", flat=True))


# Forward actions: fill `items` for the rows in `todo` and apply the changes set-wise.

def _apply_column(action):
    field, column = _COLUMNS[action]

    def apply(job, todo, params, items):
        new = params[field]
        changed = []
        for contact in todo:
            old = getattr(contact, column)
            if old == new:
                items[contact.pk] = _item(job, contact.pk, Outcome.UNCHANGED)
            else:
                items[contact.pk] = _item(job, contact.pk, Outcome.CHANGED, field=field,
                                          before={field: old}, after={field: new})
                changed.append(contact.pk)
        if changed:
            Contact.all_objects.filter(pk__in=changed).update(**{column: new}, updated_at=timezone.now())
    return apply


_MISSING = object()


def _apply_custom_field(job, todo, params, items):
    key, new = params["key"], params["value"]
    changed = []
    for contact in todo:
        values = dict(contact.custom_fields or {})
        old = values.get(key, _MISSING)
        if (old is _MISSING and new is None) or old == new:
            items[contact.pk] = _item(job, contact.pk, Outcome.UNCHANGED)
            continue
        before = {} if old is _MISSING else {key: old}
        if new is None:
            values.pop(key)
        else:
            values[key] = new
        items[contact.pk] = _item(job, contact.pk, Outcome.CHANGED, field=f"custom_fields.{key}",
                                  before={"custom_fields": before},
                                  after={"custom_fields": {} if new is None else {key: new}})
        contact.custom_fields = values
        changed.append(contact)
    _save_custom_fields(changed)


def _save_custom_fields(contacts) -> None:
    if contacts:
        now = timezone.now()
        for contact in contacts:
            contact.updated_at = now
        bulk_update_sealed(Contact, contacts, ["custom_fields", "updated_at"])


def _apply_tags(adding: bool):
    def apply(job, todo, params, items):
        wanted = params["tags"]
        ids = [c.pk for c in todo]
        present: dict[int, set[int]] = {}
        for contact_id, tag_id in ContactTag.objects.filter(contact_id__in=ids, tag_id__in=wanted).values_list(
                "contact_id", "tag_id"):
            present.setdefault(contact_id, set()).add(tag_id)
        counts, new_links, removed = Counter(), [], []
        for contact in todo:
            have = present.get(contact.pk, set())
            touched = [t for t in wanted if (t not in have) == adding]
            if not touched:
                items[contact.pk] = _item(job, contact.pk, Outcome.UNCHANGED)
                continue
            key = "tags_added" if adding else "tags_removed"
            items[contact.pk] = _item(job, contact.pk, Outcome.CHANGED, field="tags", after={key: touched})
            counts.update(touched)
            if adding:
                new_links += [ContactTag(organization_id=contact.organization_id, contact_id=contact.pk, tag_id=t)
                              for t in touched]
            else:
                removed.append(contact.pk)
        if adding and new_links:
            ContactTag.objects.bulk_create(new_links)
        if removed:
            ContactTag.objects.filter(contact_id__in=removed, tag_id__in=wanted).delete()
        adjust_tag_usage(counts, 1 if adding else -1)
    return apply


def _trash(job, contacts, items) -> None:
    """Move live contacts to the trash and record each row."""
    now = timezone.now()
    ids = [c.pk for c in contacts]
    if ids:
        adjust_tag_usage(_tag_counts(ids), -1)
        Contact.all_objects.filter(pk__in=ids).update(deleted_at=now, updated_at=now)
    for contact in contacts:
        items[contact.pk] = _item(job, contact.pk, Outcome.CHANGED, field="deleted_at",
                                  before={"deleted_at": None}, after={"deleted_at": now.isoformat()})


def _restorable(contacts, items, job) -> list[Contact]:
    """Of trashed contacts, those whose email no live contact has taken meanwhile (nor an
    earlier one of this batch); the others get an "invalid" item naming `email`."""
    emails = {c.email for c in contacts if c.email}
    taken = set()
    if emails:
        org = contacts[0].organization_id
        taken = set(Contact.objects.filter(organization_id=org, email__in=emails).values_list("email", flat=True))
    ok = []
    for contact in contacts:
        if contact.merged_into_id:
            items[contact.pk] = _item(job, contact.pk, Outcome.INVALID, field="merged_into",
                                      message=f"Merged into #{contact.merged_into_id}: undo the merge to get it back.")
            continue
        if contact.email and contact.email in taken:
            items[contact.pk] = _item(job, contact.pk, Outcome.INVALID, field="email",
                                      message="A contact with this email already exists in your organization.")
            continue
        if contact.email:
            taken.add(contact.email)
        ok.append(contact)
    return ok


def _untrash(job, contacts, items) -> None:
    """Bring trashed contacts back (those whose email is still free) and record each row."""
    ok = _restorable(contacts, items, job)
    ids = [c.pk for c in ok]
    if ids:
        Contact.all_objects.filter(pk__in=ids).update(deleted_at=None, updated_at=timezone.now())
        adjust_tag_usage(_tag_counts(ids), 1)
    for contact in ok:
        items[contact.pk] = _item(job, contact.pk, Outcome.CHANGED, field="deleted_at",
                                  before={"deleted_at": contact.deleted_at.isoformat()}, after={"deleted_at": None})


def _apply_delete(job, todo, params, items):
    live = []
    for contact in todo:
        if contact.deleted_at is not None:
            items[contact.pk] = _item(job, contact.pk, Outcome.UNCHANGED)
        else:
            live.append(contact)
    _trash(job, live, items)


def _apply_restore(job, todo, params, items):
    trashed = []
    for contact in todo:
        if contact.deleted_at is None:
            items[contact.pk] = _item(job, contact.pk, Outcome.UNCHANGED)
        else:
            trashed.append(contact)
    _untrash(job, trashed, items)


def _apply_send_sms(job, todo, params, items):
    """Queue one text per contact through messaging.services.send_sms (which sends after commit,
    within the sender's rate, with retries). A contact that cannot be texted (no consent, opted
    out, no mobile number, a landline) is "skipped" with the reason; the others go on."""
    from messaging import services as sms
    from messaging.models import SmsTemplate

    template = SmsTemplate.objects.filter(pk=params["template"]).first() if params.get("template") else None
    actor = User.objects.get(pk=job.actor_id)
    contacts = Contact.objects.filter(pk__in=[c.pk for c in todo]).select_related("owner").order_by("pk")
    for contact in contacts:
        try:
            message = sms.send_sms(actor, contact, body=params.get("body") or None, template=template, job=job)
        except ValidationError as exc:
            field, messages = next(iter(exc.message_dict.items()))
            items[contact.pk] = _item(job, contact.pk, Outcome.SKIPPED, field=field, message=" ".join(messages)[:500])
        except PermissionDenied as exc:
            items[contact.pk] = _item(job, contact.pk, Outcome.FORBIDDEN, message=str(exc)[:500])
        else:
            items[contact.pk] = _item(job, contact.pk, Outcome.CHANGED, field="sms",
                                      after={"message": message.pk, "status": message.status})


APPLY = {
    "assign_owner": _apply_column("assign_owner"),
    "assign_team": _apply_column("assign_team"),
    "set_stage": _apply_column("set_stage"),
    "set_custom_field": _apply_custom_field,
    "add_tags": _apply_tags(True),
    "remove_tags": _apply_tags(False),
    "delete": _apply_delete,
    "restore": _apply_restore,
    "send_sms": _apply_send_sms,
}


# -- undo ------------------------------------------------------------------------------------

def _same_time(stored, current) -> bool:
    if stored is None or current is None:
        return stored is None and current is None
    return parse_datetime(stored) == current


def _undo_step(job: Job, actor) -> bool:
    operation = Job.objects.get(pk=job.undoes_id)
    action = operation.params["action"]
    cursor = job.checkpoint.get("after", 0)
    done_items = list(JobItem.objects.filter(job=operation, outcome=Outcome.CHANGED, id__gt=cursor)
                      .order_by("id")[:BATCH_SIZE])
    if not done_items:
        operation.status = Job.Status.UNDONE
        operation.save(update_fields=["status", "updated_at"])
        return True
    permission = ACTIONS[action][1]
    chunk = [item.object_id for item in done_items]
    visible, allowed = _access(actor, chunk, permission)
    rows = {c.pk: c for c in Contact.all_objects.filter(pk__in=allowed).select_for_update(of=("self",))
            .only("id", "organization_id", "owner_id", "team_id", "lifecycle_stage", "custom_fields",
                  "custom_fields_sealed", "deleted_at", "email")}
    reason = _forbidden_reason(actor, permission)
    items: dict[int, JobItem] = {}
    todo = []
    for done in done_items:
        pk = done.object_id
        if pk not in visible:
            items[pk] = _item(job, pk, Outcome.NOT_FOUND, message="No such contact.")
        elif pk not in allowed:
            items[pk] = _item(job, pk, Outcome.FORBIDDEN, message=reason)
        else:
            todo.append((rows[pk], done))
    UNDO_APPLY[action](job, todo, items)
    _save_items(job, [items[item.object_id] for item in done_items])
    job.checkpoint = {"after": done_items[-1].id}
    return False  # the next step finds no more items and marks the operation undone


def _conflict(job, contact, field) -> JobItem:
    return _item(job, contact.pk, Outcome.CONFLICT, field=field,
                 message="Changed again since the operation; left as it is.")


def _undo_column(action):
    field, column = _COLUMNS[action]

    def undo(job, todo, items):
        changed = []
        for contact, done in todo:
            current = getattr(contact, column)
            if current != done.after[field]:
                items[contact.pk] = _conflict(job, contact, field)
                continue
            setattr(contact, column, done.before[field])
            contact.updated_at = timezone.now()
            changed.append(contact)
            items[contact.pk] = _item(job, contact.pk, Outcome.CHANGED, field=field,
                                      before={field: current}, after=done.before)
        if changed:
            Contact.all_objects.bulk_update(changed, [field, "updated_at"])
    return undo


def _undo_custom_field(job, todo, items):
    changed = []
    for contact, done in todo:
        key = done.field.split(".", 1)[1]
        values = dict(contact.custom_fields or {})
        current = {key: values[key]} if key in values else {}
        if current != done.after["custom_fields"]:
            items[contact.pk] = _conflict(job, contact, done.field)
            continue
        values.pop(key, None)
        values.update(done.before["custom_fields"])
        contact.custom_fields = values
        changed.append(contact)
        items[contact.pk] = _item(job, contact.pk, Outcome.CHANGED, field=done.field,
                                  before={"custom_fields": current}, after=done.before)
    _save_custom_fields(changed)


def _undo_tags(added: bool):
    key = "tags_added" if added else "tags_removed"

    def undo(job, todo, items):
        ids = [contact.pk for contact, _ in todo]
        tag_ids = {t for _, done in todo for t in done.after[key]}
        present: dict[int, set[int]] = {}
        for contact_id, tag_id in ContactTag.objects.filter(contact_id__in=ids, tag_id__in=tag_ids).values_list(
                "contact_id", "tag_id"):
            present.setdefault(contact_id, set()).add(tag_id)
        counts, links, unlink = Counter(), [], []
        for contact, done in todo:
            tags = done.after[key]
            have = present.get(contact.pk, set())
            # Still as the operation left it: every tag it added still there / every one it removed still gone.
            if any((t in have) != added for t in tags):
                items[contact.pk] = _conflict(job, contact, "tags")
                continue
            counts.update(tags)
            if added:
                unlink += [(contact.pk, t) for t in tags]
            else:
                links += [ContactTag(organization_id=contact.organization_id, contact_id=contact.pk, tag_id=t)
                          for t in tags]
            items[contact.pk] = _item(job, contact.pk, Outcome.CHANGED, field="tags",
                                      after={"tags_removed" if added else "tags_added": tags})
        if unlink:
            ContactTag.objects.filter(reduce(or_, (Q(contact_id=c, tag_id=t) for c, t in unlink))).delete()
        if links:
            ContactTag.objects.bulk_create(links)
        # Contacts of an undo are live (changeable), so their tags count.
        adjust_tag_usage(counts, -1 if added else 1)
    return undo


def _undo_delete(job, todo, items):
    trashed = []
    for contact, done in todo:
        if not _same_time(done.after["deleted_at"], contact.deleted_at):
            items[contact.pk] = _conflict(job, contact, "deleted_at")
        else:
            trashed.append(contact)
    _untrash(job, trashed, items)


def _undo_restore(job, todo, items):
    live = []
    for contact, done in todo:
        if contact.deleted_at is not None:
            items[contact.pk] = _conflict(job, contact, "deleted_at")
        else:
            live.append(contact)
    _trash(job, live, items)


UNDO_APPLY = {
    "assign_owner": _undo_column("assign_owner"),
    "assign_team": _undo_column("assign_team"),
    "set_stage": _undo_column("set_stage"),
    "set_custom_field": _undo_custom_field,
    "add_tags": _undo_tags(True),
    "remove_tags": _undo_tags(False),
    "delete": _undo_delete,
    "restore": _undo_restore,
}


# -- reading results -------------------------------------------------------------------------

def item_rows(user, items) -> list[dict]:
    """Per-row results for display: id, outcome, field, message, and the contact's name when
    the user may see it (never for "not found" rows)."""
    items = list(items)
    ids = [i.object_id for i in items if i.outcome != Outcome.NOT_FOUND]
    names = dict(Contact.all_objects.visible_to(user, VIEW).filter(pk__in=ids).values_list("pk", "display_name"))
    return [{"id": i.object_id, "name": names.get(i.object_id, ""), "result": i.outcome,
             "result_label": i.get_outcome_display(), "field": i.field, "message": i.message} for i in items]


def describe(job: Job) -> str:
    """"Add tags: VIP, Hot" — what an operation did, for pages and flash messages."""
    spec = job.params
    action, params = spec.get("action"), spec.get("params", {})
    label = action_label(action)
    if action == UNDO:
        return f"Undo of operation #{spec.get('operation')}"
    if action == "assign_owner":
        owner = User.objects.filter(pk=params.get("owner")).first() if params.get("owner") else None
        return f"{label}: {owner.get_full_name() if owner else 'nobody'}"
    if action == "assign_team":
        team = Team.objects.filter(pk=params.get("team")).first() if params.get("team") else None
        return f"{label}: {team or 'no team'}"
    if action in ("add_tags", "remove_tags"):
        names = Tag.objects.filter(pk__in=params.get("tags", [])).order_by("name").values_list("name", flat=True)
        return f"{label}: {', '.join(names)}"
    if action == "set_stage":
        return f"{label}: {LifecycleStage(params['lifecycle_stage']).label}"
    if action == "set_custom_field":
        value = params.get("value")
        return f"{label}: {params.get('key')} = {'(cleared)' if value is None else value}"
    if action == "send_sms":
        from messaging.models import SmsTemplate

        if params.get("body"):
            body = params["body"]
            return f"{label}: “{body[:60]}{'…' if len(body) > 60 else ''}”"
        template = SmsTemplate.objects.filter(pk=params.get("template")).first()
        return f"{label}: template {template or '(deleted)'}"
    return label
