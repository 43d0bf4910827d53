"""Merging contacts (or companies): field-by-field choice of the surviving values, every row
that references the merged records moved to the survivor, and an exact undo.

One merge is one `contacts.models.Merge` row and one audit context (source "merge",
merge=<id>): the survivor's new values, the merged records going to the trash
(`deleted_at` + `merged_into`) and every repointed reference are recorded by the history
triggers under it, and the Merge's `log` keeps each row it changed, deleted or added as it
was before and after (`row_to_json`). The undo puts those rows back exactly (the two records
whole, a referencing row's columns the merge changed, rows it removed re-inserted as they were)
— unless one of them changed since, in which case it refuses and lists what changed.

References are found generically: a merge walks every relation to the model
(`_meta.related_objects`, hidden ones included) and looks up in RELATIONS how to treat it;
a relation that is not listed stops the merge (and tests/contacts/test_merge_guard.py fails),
so a new reference is never silently left behind. Unique constraints of the referencing
rows are read from their Meta: a row that would duplicate one of the survivor's is removed
(kept in the log) instead of crashing; a relation between the merged records themselves
(Ann reports to Ann) is removed too.

Bad input raises ValidationError naming the field (or record) at fault, Http404 for a
record the user cannot see, PermissionDenied for one they see but may not change,
MergeConflict for an undo that would overwrite later changes. Nothing is stored then.
"""

from __future__ import annotations

import json
from collections import Counter

import pghistory
import pgtrigger
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from companies.models import Company
from contacts.models import Contact, ContactTag, Merge, refresh_company_names
from crm import jobs
from crm.audit import change_context
from crm.models import Job, JobItem, Tag
from crm.permissions import CHANGE, VIEW

MODELS = {Merge.Kind.CONTACT: Contact, Merge.Kind.COMPANY: Company}
MAX_RECORDS = 10  # per merge (a page shows them side by side)

# How a merge treats each relation to a contact or company (app_label.Model.field).
REPOINT = "repoint"  # the row moves to the survivor (a duplicate of the survivor's row is removed)
THROUGH = "through"  # a many-to-many field whose through model's foreign keys are listed
HISTORY = "history"  # an audit row of the record: stays with it; the survivor's timeline reads it
RELATIONS = {
    "contacts.Contact.merged_into": REPOINT,
    "contacts.Contact.companies": THROUGH,
    "contacts.ContactTag.contact": REPOINT,
    "contacts.ContactCompany.contact": REPOINT,
    "contacts.ContactCompany.company": REPOINT,
    "contacts.ContactRelationship.from_contact": REPOINT,
    "contacts.ContactRelationship.to_contact": REPOINT,
    "contacts.ContactUserLink.contact": REPOINT,
    "contacts.ConsentEvent.contact": REPOINT,
    "contacts.ContactUserObjectPermission.content_object": REPOINT,
    "activities.Activity.contact": REPOINT,
    "activities.Activity.company": REPOINT,
    "messaging.Message.contact": REPOINT,
    "companies.Company.parent": REPOINT,
    "companies.Company.merged_into": REPOINT,
    # Duplicate pairs keep naming the records that were found alike: the queue hides a pair whose
    # record is in the trash (merged) and the next scan marks it merged; repointing would pair
    # the survivor with itself.
    "contacts.ContactDuplicate.first": HISTORY,
    "contacts.ContactDuplicate.second": HISTORY,
    "contacts.CompanyDuplicate.first": HISTORY,
    "contacts.CompanyDuplicate.second": HISTORY,
    # A contact's score history explains the scores it had; the survivor is rescored (its
    # repointed activities queue it) and starts its own.
    "contacts.ScoreHistory.contact": HISTORY,
}
# Foreign keys of the audit trail's event models (django-pghistory, e.g. ContactEvent.pgh_obj,
# ContactTagEvent.contact) are HISTORY: the trail records what happened to each record.
# References by id without a foreign key, and what a merge does with them (the guard test
# asks every column named like a reference to be listed here or in RELATIONS).
ID_COLUMNS = {
    # Django-guardian's generic grants (content type + object_pk): repointed like the direct ones.
    "guardian.UserObjectPermission.object_pk": REPOINT,
    "guardian.GroupObjectPermission.object_pk": REPOINT,
    # A notification's link (/contacts/<id>/…) is left as it is: a merged record's page leads
    # to the survivor (merged_survivor), and rewriting links would scan every notification.
    "activities.Notification.url": HISTORY,
    # What an import or a bulk operation did to that very row: its revert or undo must keep
    # acting on the record it changed, not on the survivor (reverting an import that created
    # the merged-away contact would otherwise delete the survivor).
    "contacts.ImportRow.contact_id": HISTORY,
    "crm.JobItem.object_id": HISTORY,
    "admin.LogEntry.object_id": HISTORY,  # the Django admin's log of what was done to that record
    # The merges themselves.
    "contacts.Merge.survivor_id": HISTORY,
    "contacts.Merge.merged_ids": HISTORY,
    # Webhook events say what happened to that very row (the merge itself is a `merged` event of
    # the merged record); an endpoint's URL is the receiver's address, not a link to a record.
    "crm.WebhookEvent.object_id": HISTORY,
    "crm.WebhookEndpoint.url": HISTORY,
    # The privacy request log names its subject by id; a merge does not move a request.
    "contacts.PrivacyRequest.contact_id": HISTORY,
    # The lead-scoring queue: a merged-away (trashed) contact is dropped when its turn comes.
    "contacts.ScorePending.contact_id": HISTORY,
}
# A conditional unique constraint is satisfied by changing the merged record's row instead
# of removing it: its link stays, just not as a second primary one.
CONDITIONAL_FIX = {"contact_one_primary_company": {"is_primary": False}}
# Columns that follow other columns or every save: a difference in them is no conflict.
_DERIVED = {"updated_at", "embedding", "search_vector", "search_name", "search_name_rev", "display_name",
            "company_name", "phone_digits", "last_activity_at", "last_contacted_at", "score"}
_CONSENT = {"email_consent": "email", "sms_consent": "sms", "call_consent": "call"}
# The consent ledger is append-only (a trigger refuses UPDATE and DELETE). A merge moves the
# merged contact's events to the survivor, and its undo moves them back, without changing any
# recorded fact: only these statements bypass the trigger (pgtrigger.ignore, per transaction).
_LEDGER_TRIGGER = "contacts.ConsentEvent:consent_ledger_append_only"


class MergeConflict(Exception):
    """The undo would overwrite changes made since the merge: `conflicts` lists them."""

    def __init__(self, conflicts: list[str]):
        super().__init__("; ".join(conflicts))
        self.conflicts = conflicts


def noun(kind: str) -> str:
    return "contact" if kind == Merge.Kind.CONTACT else "company"


# -- what can be chosen ------------------------------------------------------------------------

def choosable_fields(model) -> list:
    """The fields whose surviving value is chosen (editable, not bookkeeping)."""
    return [f for f in model._meta.concrete_fields
            if f.editable and not f.primary_key and f.name not in ("organization", "custom_fields")
            and not getattr(f, "generated", False)]


def _is_empty(field, value) -> bool:
    if value is None or value == "" or value == [] or value == {}:
        return True
    # A value still at its default (stage "lead", score 0) was never filled in.
    default = field.default if field is not None else models.NOT_PROVIDED
    return default is not models.NOT_PROVIDED and not callable(default) and value == default


def _newest_first(records):
    return sorted(records, key=lambda r: (r.updated_at, r.pk), reverse=True)


def default_sources(records, survivor) -> dict[str, int]:
    """field (or custom_fields.<key>) -> id of the record the value comes from: the most
    recently updated record with a non-empty value (the survivor when all are empty)."""
    model = type(survivor)
    newest = _newest_first(records)
    sources = {}
    for field in choosable_fields(model):
        source = next((r for r in newest if not _is_empty(field, getattr(r, field.attname))), survivor)
        sources[field.name] = source.pk
    keys = sorted({k for r in records for k in (r.custom_fields or {})})
    for key in keys:
        source = next((r for r in newest if not _is_empty(None, (r.custom_fields or {}).get(key))), survivor)
        sources[f"custom_fields.{key}"] = source.pk
    return sources


def _value(record, name):
    if name.startswith("custom_fields."):
        return (record.custom_fields or {}).get(name.split(".", 1)[1])
    return getattr(record, record._meta.get_field(name).attname)


def display_value(record, name) -> str:
    if name.startswith("custom_fields."):
        value = _value(record, name)
    else:
        field = record._meta.get_field(name)
        if field.is_relation:
            value = getattr(record, field.name)
        elif field.choices:
            value = getattr(record, f"get_{field.name}_display")() if not isinstance(
                getattr(record, field.attname), list) else ", ".join(getattr(record, field.attname))
        else:
            value = getattr(record, field.attname)
    if value in (None, "", [], {}):
        return "—"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def field_label(model, name, custom_labels=None) -> str:
    """A field's label; custom fields by their definitions' labels (`custom_labels`: key -> label)."""
    if name.startswith("custom_fields."):
        key = name.split(".", 1)[1]
        return (custom_labels or {}).get(key, key)
    return str(model._meta.get_field(name).verbose_name).capitalize()


def custom_labels(organization_id, model) -> dict[str, str]:
    from crm.models import CustomFieldDefinition

    return dict(CustomFieldDefinition.objects.filter(organization_id=organization_id, model=model._meta.model_name)
                .values_list("key", "label"))


# -- loading the records through the gate --------------------------------------------------------

def parse_ids(value, field="ids") -> list[int]:
    """"1,2,3" or [1, 2, 3] -> [1, 2, 3]; a ValidationError names `field`."""
    if isinstance(value, str):
        value = [part for part in value.replace(" ", "").split(",") if part]
    if not isinstance(value, (list, tuple)):
        raise ValidationError({field: "Give the record ids as a list."})
    ids = []
    for item in value:
        if isinstance(item, bool) or not (isinstance(item, int) or (isinstance(item, str) and item.isdigit())):
            raise ValidationError({field: f"{item!r} is not a record id."})
        ids.append(int(item))
    return ids


def load(user, kind: str, ids: list[int], *, lock=False) -> list:
    """The records, in the order given, checked for a merge by `user`: invisible ones are 404,
    ones they may not change 403, ones in the trash (or merged already) a ValidationError."""
    if kind not in MODELS:
        raise ValidationError({"kind": f"Unknown kind {kind!r}; use contact or company."})
    model, name = MODELS[kind], noun(kind)
    if len(ids) < 2:
        raise ValidationError({"ids": f"Choose at least two {model._meta.verbose_name_plural} to merge."})
    if len(set(ids)) != len(ids):
        raise ValidationError({"ids": f"A {name} cannot be merged into itself (an id is given twice)."})
    if len(ids) > MAX_RECORDS:
        raise ValidationError({"ids": f"Merge at most {MAX_RECORDS} records at a time."})
    visible = model.all_objects.visible_to(user, VIEW).filter(pk__in=ids)
    if lock:
        visible = visible.select_for_update().order_by("pk")
    else:  # the merge page shows the owner, team, parent … of each record
        visible = visible.select_related(*[f.name for f in choosable_fields(model) if f.is_relation])
    records = {r.pk: r for r in visible}
    missing = [pk for pk in ids if pk not in records]
    if missing:
        raise Http404(f"No {name} #{missing[0]}.")
    # Platform staff see every organization; a merge still never crosses one.
    other = next((pk for pk in ids if records[pk].organization_id != records[ids[0]].organization_id), None)
    if other is not None:
        raise Http404(f"No {name} #{other} in the organization of #{ids[0]}.")
    changeable = set(model.all_objects.visible_to(user, CHANGE).filter(pk__in=ids).values_list("pk", flat=True))
    for pk in ids:
        if pk not in changeable:
            raise PermissionDenied(f"You may see {name} #{pk} ({records[pk]}) but not change it, so you "
                                   f"cannot merge it.")
    for pk in ids:
        record = records[pk]
        if record.deleted_at is not None:
            how = "was merged into another record" if record.merged_into_id else "is in the trash"
            raise ValidationError({"ids": f"{name.capitalize()} #{pk} ({record}) {how}."})
    return [records[pk] for pk in ids]


# -- union counts (the merge page's preview) -----------------------------------------------------

def union_counts(kind: str, ids: list[int]) -> dict[str, int]:
    """What the survivor will carry: distinct tags, companies … of all the records (one query
    per kind of row)."""
    from activities.models import Activity
    from contacts.models import ConsentEvent, ContactCompany, ContactRelationship
    from messaging.models import Message

    if kind == Merge.Kind.CONTACT:
        relationships = ContactRelationship.objects.filter(Q(from_contact__in=ids) | Q(to_contact__in=ids))
        relationships = relationships.exclude(from_contact__in=ids, to_contact__in=ids)
        return {
            "tags": ContactTag.objects.filter(contact__in=ids).values("tag").distinct().count(),
            "companies": ContactCompany.objects.filter(contact__in=ids).values("company").distinct().count(),
            "relationships": relationships.count(),
            "activities": Activity.objects.filter(contact__in=ids).count(),
            "consent events": ConsentEvent.objects.filter(contact__in=ids).count(),
            "messages": Message.objects.filter(contact__in=ids).count(),
        }
    return {
        "contacts": ContactCompany.objects.filter(company__in=ids).values("contact").distinct().count(),
        "activities": Activity.objects.filter(company__in=ids).count(),
        "subsidiaries": Company.objects.filter(parent__in=ids).exclude(pk__in=ids).count(),
    }


# -- row dumps -----------------------------------------------------------------------------------

def _columns(model) -> list[str]:
    return [f.column for f in model._meta.concrete_fields if not getattr(f, "generated", False)]


def _dump(model, pks) -> dict[int, dict]:
    """pk -> row_to_json of the rows (one query)."""
    pks = list(pks)
    if not pks:
        return {}
    table, pk = connection.ops.quote_name(model._meta.db_table), model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT t.{pk}, row_to_json(t)::text FROM {table} t WHERE t.{pk} = ANY(%s)", [pks])
        return {row[0]: json.loads(row[1]) for row in cursor.fetchall()}


def _restore_row(model, row: dict, columns=None) -> None:
    """The row's `columns` (default: every non-generated column) back to their values in `row`."""
    q = connection.ops.quote_name
    table, pk = q(model._meta.db_table), model._meta.pk.column
    assignments = ", ".join(f"{q(c)} = r.{q(c)}" for c in (columns or _columns(model)))
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} AS t SET {assignments} FROM json_populate_record(NULL::{table}, %s::json) "
                       f"AS r WHERE t.{q(pk)} = %s", [json.dumps(row), row[pk]])


def _insert_row(model, row: dict) -> None:
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in _columns(model))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM json_populate_record(NULL::{table}, "
                       f"%s::json)", [json.dumps(row)])


def _delete_row(model, pk_value) -> None:
    table, pk = connection.ops.quote_name(model._meta.db_table), model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE {pk} = %s", [pk_value])


class _Log:
    """The ops of one merge, in order: update (before/after), delete (before), insert (after)."""

    def __init__(self):
        self.ops: dict[tuple[str, object], dict] = {}

    def updated(self, model, before: dict[object, dict]):
        for pk, row in before.items():
            key = (model._meta.label, pk)
            if key not in self.ops:  # the first "before" is the one to restore
                self.ops[key] = {"op": "update", "model": model._meta.label, "pk": pk, "before": row}

    def deleted(self, model, pk, row):
        key = (model._meta.label, pk)
        first = self.ops.pop(key, None)
        self.ops[key] = {"op": "delete", "model": model._meta.label, "pk": pk,
                         "before": first["before"] if first else row}

    def inserted(self, model, pk):
        self.ops[(model._meta.label, pk)] = {"op": "insert", "model": model._meta.label, "pk": pk}

    def finish(self) -> list[dict]:
        """The ops with the rows as they are now (after) for updates and inserts."""
        wanted: dict[str, list] = {}
        for op in self.ops.values():
            if op["op"] in ("update", "insert"):
                wanted.setdefault(op["model"], []).append(op["pk"])
        after = {label: _dump(apps.get_model(label), pks) for label, pks in wanted.items()}
        result = []
        for op in self.ops.values():
            if op["op"] in ("update", "insert"):
                op["after"] = after[op["model"]].get(op["pk"])
            result.append(op)
        return result


# -- repointing references -------------------------------------------------------------------------

def relation_strategy(model, label: str) -> str | None:
    from pghistory.models import Event

    if issubclass(model, Event):
        return HISTORY
    return RELATIONS.get(label)


def relations_of(model) -> list[tuple[str, models.Field]]:
    """(strategy, field) for every foreign key that points at `model`; a relation missing from
    RELATIONS is an error (merging would leave it behind)."""
    result = []
    for rel in model._meta.get_fields(include_hidden=True):
        if not (rel.auto_created and not rel.concrete and rel.is_relation):
            continue
        field = rel.remote_field
        if field.many_to_many:
            label = f"{field.model._meta.label}.{field.name}"
        else:
            label = f"{rel.related_model._meta.label}.{field.name}"
        strategy = relation_strategy(field.model, label)
        if strategy is None:
            raise RuntimeError(f"Merging does not know how to treat {label}: add it to contacts.merge.RELATIONS.")
        if strategy == REPOINT:
            result.append((strategy, field))
    return result


def _unique_sets(model, field_name):
    """(fields, condition, name) of the unique constraints of `model` that include `field_name`."""
    found = []
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint) and constraint.fields and field_name in constraint.fields:
            found.append((tuple(constraint.fields), constraint.condition, constraint.name))
    for together in model._meta.unique_together:
        if field_name in together:
            found.append((tuple(together), None, "unique_together"))
    return found


def _repoint_rows(log, counts, model, column: str, merged, survivor, *, same_target=(), uniques=(),
                  extra=None, to_value=lambda v: v):
    """Move the rows of `model` whose `column` holds a merged id to the survivor.

    `same_target`: the model's other columns referencing the same kind of record (a row
    linking two of the merged records is removed); `uniques`: (columns, condition, name) of
    unique constraints over `column` (a row duplicating one of the survivor's is removed,
    or changed by CONDITIONAL_FIX)."""
    merged_values = [to_value(pk) for pk in merged]
    survivor_value = to_value(survivor)
    rows = model._base_manager.filter(**{f"{column}__in": merged_values})
    if extra is not None:
        rows = rows.filter(extra)
    before = _dump(model, rows.values_list("pk", flat=True))
    if not before:
        return
    label = str(model._meta.verbose_name_plural)
    involved = set(merged_values) | {survivor_value}
    is_self = model in MODELS.values() and column in ("parent_id", "merged_into_id")
    if not same_target and not uniques and not is_self:
        log.updated(model, before)
        model._base_manager.filter(pk__in=list(before)).update(**{column: survivor_value})
        counts[label] += len(before)
        return
    for pk in sorted(before):
        row = before[pk]
        if is_self and pk == survivor:
            log.updated(model, {pk: row})  # the survivor would become its own parent
            model._base_manager.filter(pk=pk).update(**{column: None})
            continue
        if any(row.get(other) in involved for other in same_target):
            log.deleted(model, pk, row)  # a relation between the merged records themselves
            _delete_row(model, pk)
            counts[f"{label} between the merged records"] += 1
            continue
        removed = False
        for fields, condition, name in uniques:
            others = {}
            for f in fields:
                attname = model._meta.get_field(f).attname
                if attname == column:
                    continue
                value = row.get(attname)
                others[attname] = survivor_value if attname in same_target and value in involved else value
            clash = model._base_manager.filter(**{column: survivor_value}, **others).exclude(pk=pk)
            if condition is not None:
                if not model._base_manager.filter(condition, pk=pk).exists():
                    continue
                clash = clash.filter(condition)
            if not clash.exists():
                continue
            if name in CONDITIONAL_FIX:
                log.updated(model, {pk: row})
                model._base_manager.filter(pk=pk).update(**CONDITIONAL_FIX[name])
                continue
            if row.get("is_primary"):
                log.deleted(model, pk, row)
                _delete_row(model, pk)
                _hand_over_primary(log, model, clash.first())
            else:
                log.deleted(model, pk, row)
                _delete_row(model, pk)
            counts[f"duplicate {label} removed"] += 1
            removed = True
            break
        if not removed:
            log.updated(model, {pk: row})
            model._base_manager.filter(pk=pk).update(**{column: survivor_value})
            counts[label] += 1


def _hand_over_primary(log, model, keep):
    """A primary link removed as a duplicate (Ann's primary Acme link when Anna is linked to Acme
    too) makes the link it duplicates primary, unless that contact has another primary one."""
    if keep is None or keep.is_primary or model._base_manager.filter(contact_id=keep.contact_id,
                                                                     is_primary=True).exists():
        return
    log.updated(model, _dump(model, [keep.pk]))
    model._base_manager.filter(pk=keep.pk).update(is_primary=True)


def _repoint_all(log, counts, target, merged, survivor):
    for _, field in relations_of(target):
        model = field.model
        same_target = [f.attname for f in model._meta.concrete_fields
                       if f.is_relation and f.related_model is target and f.attname != field.attname]
        _repoint_rows(log, counts, model, field.attname, merged, survivor, same_target=same_target,
                      uniques=_unique_sets(model, field.name))
    _repoint_generic(log, counts, target, merged, survivor)


def _repoint_generic(log, counts, target, merged, survivor):
    """References by id without a foreign key (ID_COLUMNS marked REPOINT)."""
    from guardian.models import GroupObjectPermission, UserObjectPermission

    content_type = ContentType.objects.get_for_model(target)
    for model, who in ((UserObjectPermission, "user_id"), (GroupObjectPermission, "group_id")):
        _repoint_rows(log, counts, model, "object_pk", merged, survivor, extra=Q(content_type=content_type),
                      uniques=[((who, "permission_id", "object_pk"), None, "guardian")], to_value=str)


# -- the merge -------------------------------------------------------------------------------------

def clean_fields(model, records, fields) -> dict[str, int]:
    """The explicit choices, checked: known fields, and ids among the records."""
    if fields in (None, ""):
        return {}
    if not isinstance(fields, dict):
        raise ValidationError({"fields": "Give the choices as an object: field -> id of the record to take it from."})
    known = {f.name for f in choosable_fields(model)}
    keys = {k for r in records for k in (r.custom_fields or {})}
    ids = {r.pk for r in records}
    cleaned = {}
    for name, source in fields.items():
        if name not in known and not (name.startswith("custom_fields.") and name.split(".", 1)[1] in keys):
            raise ValidationError({"fields": f"Unknown field {name!r}."})
        if isinstance(source, str) and source.isdigit():
            source = int(source)
        if isinstance(source, bool) or source not in ids:
            raise ValidationError({f"fields.{name}": f"Take {name} from one of the records being merged "
                                                     f"({', '.join(map(str, sorted(ids)))})."})
        cleaned[name] = source
    return cleaned


def merge(user, kind: str, survivor_id, merged_ids, fields=None, *, job=None, source="web") -> Merge:
    """Merge `merged_ids` into `survivor_id` (see the module's docstring)."""
    ids = parse_ids([survivor_id], "survivor") + parse_ids(merged_ids, "merged")
    if not ids[1:]:
        raise ValidationError({"merged": "Choose at least one record to merge into the survivor."})
    if ids[0] in ids[1:]:
        raise ValidationError({"merged": f"A {noun(kind)} cannot be merged into itself."})
    # The audit context is entered before the trigger bypass: both prefix each statement, and
    # pghistory skips statements that already start with pgtrigger's SELECT.
    with change_context(actor=user, source=source), pgtrigger.ignore(_LEDGER_TRIGGER), transaction.atomic():
        records = load(user, kind, ids, lock=True)
        survivor, merged = records[0], records[1:]
        model = type(survivor)
        chosen = clean_fields(model, records, fields)
        sources = {**default_sources(records, survivor), **chosen}
        by_id = {r.pk: r for r in records}
        names = [str(r) for r in merged]
        record = Merge.objects.create(organization_id=survivor.organization_id, kind=kind, survivor_id=survivor.pk,
                                      merged_ids=[r.pk for r in merged], actor=user, fields=sources, job=job)
        log, counts = _Log(), Counter()
        with pghistory.context(merge=record.pk):
            # The merged records first: the undo restores in reverse, the survivor (giving back
            # their unique values) before them.
            log.updated(model, _dump(model, ids[1:]))
            log.updated(model, _dump(model, ids[:1]))
            merged_pks = [r.pk for r in merged]
            collapsed_tags = _tags_collapsing(survivor, merged_pks) if kind == Merge.Kind.CONTACT else Counter()
            # The merged records leave first, so the survivor may take their unique values (email, domain).
            model.all_objects.filter(pk__in=merged_pks).update(deleted_at=timezone.now(), merged_into=survivor.pk,
                                                               updated_at=timezone.now())
            _repoint_all(log, counts, model, merged_pks, survivor.pk)
            _apply_values(survivor, by_id, sources)
            _finish_subject(survivor, merged_pks, records)
            if collapsed_tags:
                _bump(collapsed_tags, -1)
            entry = _timeline_entry(survivor, names, record, user)
            log.inserted(type(entry), entry.pk)
            record.log = log.finish()
            record.summary = {"merged_names": names, "counts": dict(counts),
                              "collapsed_tags": {str(k): v for k, v in collapsed_tags.items()}}
            record.save(update_fields=["log", "summary", "updated_at"])
    return record


def _tags_collapsing(survivor, merged_pks) -> Counter:
    """Tags the survivor and a merged contact both carry (their merged rows go away, so the
    tag counts one contact less each time)."""
    rows = ContactTag.objects.filter(contact__in=[survivor.pk, *merged_pks]).values_list("tag_id", flat=True)
    counts = Counter(rows)
    return Counter({tag: n - 1 for tag, n in counts.items() if n > 1})


def _bump(tag_counts: Counter, sign: int):
    for tag_id, n in tag_counts.items():
        Tag.objects.filter(pk=int(tag_id)).update(usage_count=models.functions.Greatest(
            models.F("usage_count") + sign * n, 0))


def _apply_values(survivor, by_id, sources):
    model = type(survivor)
    changed = set()
    custom = dict(survivor.custom_fields or {})
    for name, source_id in sources.items():
        value = _value(by_id[source_id], name)
        if name.startswith("custom_fields."):
            key = name.split(".", 1)[1]
            if custom.get(key) != value:
                if value is None:
                    custom.pop(key, None)
                else:
                    custom[key] = value
                changed.add("custom_fields")
            continue
        field = model._meta.get_field(name)
        if field.name == "parent" and value in by_id:
            value = None  # a company cannot be its own parent (nor the child of one merged into it)
        if getattr(survivor, field.attname) != value:
            setattr(survivor, field.attname, value)
            changed.add(field.name)
    if "custom_fields" in changed:
        survivor.custom_fields = custom
    if changed:
        exclude = [f.name for f in model._meta.concrete_fields if f.name not in changed]
        try:
            survivor.full_clean(exclude=exclude, validate_unique=False)
            survivor.validate_constraints()
        except ValidationError as exc:
            raise ValidationError({f"fields.{k}": v for k, v in exc.message_dict.items()}) from None
        survivor.save()


def _finish_subject(survivor, merged_pks, records):
    """What follows the union: the contact's current consent (the newest event per channel),
    its last activity and company name; the company's contacts' company names."""
    from contacts.models import ConsentEvent

    if isinstance(survivor, Contact):
        updates = {}
        for column, channel in _CONSENT.items():
            latest = (ConsentEvent.objects.filter(contact=survivor, channel=channel)
                      .order_by("-occurred_at", "-id").values_list("status", flat=True).first())
            if latest and latest != getattr(survivor, column):
                updates[column] = latest
        for column in ("last_activity_at", "last_contacted_at"):
            values = [getattr(r, column) for r in records if getattr(r, column)]
            if values and max(values) != getattr(survivor, column):
                updates[column] = max(values)
        if updates:
            Contact.all_objects.filter(pk=survivor.pk).update(**updates)
        refresh_company_names(contact_ids=[survivor.pk])
    else:
        refresh_company_names(company_id=survivor.pk)


def _timeline_entry(survivor, names, record, user):
    from activities.models import Activity

    what = noun(record.kind)
    subject = f"Merged {', '.join(names)} into this {what}"[:255]
    kind = {"contact": survivor} if what == "contact" else {"company": survivor}
    return Activity.objects.create(organization_id=survivor.organization_id, type=Activity.Type.CUSTOM,
                                   actor=user, subject=subject, metadata={"merge": record.pk}, **kind)


# -- undo ------------------------------------------------------------------------------------------

def _describe(model, pk, row, record_ids, merge) -> str:
    """How a conflict names a row: "the surviving contact #7 (Anna Lee)", "activity #12"."""
    if model in MODELS.values() and pk in record_ids:
        role = "the surviving" if pk == merge.survivor_id else "the merged"
        name = (row or {}).get("display_name") or (row or {}).get("name") or ""
        return f"{role} {model._meta.verbose_name} #{pk}" + (f" ({name})" if name else "")
    return f"{model._meta.verbose_name} #{pk}"


def _undone_columns(op, record_ids) -> list[str] | None:
    """What the undo puts back of an updated row: the merged records and the survivor whole
    (None: every column); a row that references them only the columns the merge changed (its
    contact, a primary flag), so later edits of, say, an activity's subject are kept and are no
    conflict."""
    model = apps.get_model(op["model"])
    if model in MODELS.values() and op["pk"] in record_ids:
        return None
    before, after = op["before"], op.get("after") or {}
    return [c for c in before if c in after and before[c] != after[c]]


def conflicts(merge: Merge) -> list[str]:
    """What changed since the merge among the rows it touched (empty: the undo is safe)."""
    wanted: dict[str, list] = {}
    for op in merge.log:
        wanted.setdefault(op["model"], []).append(op["pk"])
    current = {label: _dump(apps.get_model(label), pks) for label, pks in wanted.items()}
    record_ids = {merge.survivor_id, *merge.merged_ids}
    found = []
    for op in merge.log:
        model = apps.get_model(op["model"])
        now = current[op["model"]].get(op["pk"])
        what = _describe(model, op["pk"], op.get("after") or op.get("before"), record_ids, merge)
        if op["op"] == "update":
            if now is None:
                found.append(f"{what} was deleted since the merge.")
                continue
            fields = {f.column: f for f in model._meta.concrete_fields}
            watched = _undone_columns(op, record_ids) or op["after"]
            changed = [c for c in watched if c not in _DERIVED and now.get(c) != op["after"].get(c)]
            if changed:
                parts = []
                for column in changed:
                    field = fields.get(column)
                    if column == "deleted_at":
                        parts.append("restored from the trash" if now.get(column) is None else "moved to the trash")
                    elif column == "merged_into_id":
                        parts.append("merged into another record")
                    else:
                        parts.append(f"{field.verbose_name if field is not None else column} changed")
                found.append(f"{what}: {', '.join(parts)} since the merge.")
        elif op["op"] == "delete" and now is not None:
            found.append(f"{what} exists again.")
    return found


def undo(user, merge: Merge, *, source="web") -> Merge:
    """Put back every row the merge changed, removed or added, exactly as it was; refuses
    (MergeConflict, nothing changed) when any of them changed since, or when already undone."""
    with (change_context(actor=user, source=source, merge=merge.pk, undo=True), pgtrigger.ignore(_LEDGER_TRIGGER),
          transaction.atomic()):
        locked = Merge.objects.select_for_update().get(pk=merge.pk)
        if locked.undone_at is not None:
            raise ValidationError({"merge": f"This merge was already undone on "
                                            f"{timezone.localtime(locked.undone_at):%Y-%m-%d %H:%M}."})
        if not MODELS[locked.kind].all_objects.visible_to(user, CHANGE).filter(pk=locked.survivor_id).exists():
            raise PermissionDenied("You may not change the surviving record, so you cannot undo this merge.")
        found = conflicts(locked)
        if found:
            raise MergeConflict(found)
        linked = _linked_contacts(locked)
        try:
            with transaction.atomic():
                for op in reversed(locked.log):
                    model = apps.get_model(op["model"])
                    if op["op"] == "update":
                        _restore_row(model, op["before"], _undone_columns(op, {locked.survivor_id,
                                                                               *locked.merged_ids}))
                    elif op["op"] == "delete":
                        _insert_row(model, op["before"])
                    else:
                        _delete_row(model, op["pk"])
                if locked.kind == Merge.Kind.COMPANY and linked:
                    refresh_company_names(contact_ids=linked)
                if locked.kind == Merge.Kind.CONTACT:
                    _keep_later_activity_dates(locked.survivor_id, since=locked.created_at)
        except IntegrityError as exc:
            raise MergeConflict([f"A row added since the merge takes the place of one the undo would put back "
                                 f"({_constraint_message(exc)})."]) from None
        collapsed = Counter({int(k): v for k, v in (locked.summary.get("collapsed_tags") or {}).items()})
        if collapsed:
            _bump(collapsed, +1)
        locked.undone_at, locked.undone_by = timezone.now(), user
        locked.save(update_fields=["undone_at", "undone_by", "updated_at"])
    merge.refresh_from_db()
    return merge


def _keep_later_activity_dates(survivor_id: int, *, since) -> None:
    """The undo put the survivor's last activity/contact dates back as they were before the
    merge; activities logged on it since then still count (GREATEST ignores NULLs)."""
    from django.db.models import Max, Q, Value
    from django.db.models.functions import Greatest

    from activities.models import Activity

    dates = Activity.objects.filter(contact_id=survivor_id, status=Activity.Status.DONE,
                                    created_at__gt=since).aggregate(
        last_activity_at=Max("occurred_at"),
        last_contacted_at=Max("occurred_at", filter=Q(type__in=Activity.CONTACT_TYPES)))
    updates = {column: Greatest(column, Value(when)) for column, when in dates.items() if when}
    if updates:
        Contact.all_objects.filter(pk=survivor_id).update(**updates)


def _linked_contacts(merge) -> list[int]:
    from contacts.models import ContactCompany

    if merge.kind != Merge.Kind.COMPANY:
        return []
    ids = [merge.survivor_id, *merge.merged_ids]
    now = set(ContactCompany.objects.filter(company__in=ids).values_list("contact_id", flat=True))
    logged = {op["before"]["contact_id"] for op in merge.log
              if op["model"] == "contacts.ContactCompany" and op.get("before")}
    return sorted(now | logged)


def _constraint_message(exc) -> str:
    name = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) or ""
    for model in apps.get_models():
        for constraint in model._meta.constraints:
            if constraint.name == name and constraint.violation_error_message:
                return str(constraint.violation_error_message).rstrip(".")
    return name or "a unique value"


def merged_survivor(user, model, pk) -> int | None:
    """The record `pk` (which `user` may see) was merged into, if that one is visible and alive."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    target = model.all_objects.visible_to(user, VIEW).filter(pk=pk, merged_into__isnull=False).values_list(
        "merged_into_id", flat=True).first()
    if target is None or not model.objects.visible_to(user, VIEW).filter(pk=target).exists():
        return None
    return target


# -- bulk merges in Celery -------------------------------------------------------------------------

BULK_KIND = "merges.bulk"
BULK_TASK = "contacts.tasks.run_bulk_merge"
BULK_BATCH = 20
MAX_GROUPS = 5000


def clean_groups(groups) -> list[list[int]]:
    if not isinstance(groups, (list, tuple)) or not groups:
        raise ValidationError({"groups": "Give a list of groups, each a list of at least two ids."})
    if len(groups) > MAX_GROUPS:
        raise ValidationError({"groups": f"At most {MAX_GROUPS} groups at a time."})
    seen: dict[int, int] = {}
    cleaned = []
    for index, group in enumerate(groups):
        ids = parse_ids(group, f"groups[{index}]") if isinstance(group, (list, tuple)) else None
        if ids is None or len(ids) < 2:
            raise ValidationError({f"groups[{index}]": "A group needs at least two ids."})
        if len(ids) > MAX_RECORDS:
            raise ValidationError({f"groups[{index}]": f"At most {MAX_RECORDS} records per group."})
        for pk in ids:
            if pk in seen and seen[pk] != index:
                raise ValidationError({f"groups[{index}]": f"Id {pk} is also in group {seen[pk]}."})
            seen[pk] = index
        cleaned.append(ids)
    return cleaned


def start_bulk_merge(user, groups, kind: str = "contact", *, inline=False, send_options=None) -> Job:
    """A job that merges each group (all-or-nothing per group) into its most recently updated
    record with the default values; a group that fails is reported with its reason."""
    from crm.permissions import Scope

    if kind not in MODELS:
        raise ValidationError({"kind": f"Unknown kind {kind!r}; use contact or company."})
    scope = Scope.of(user)
    if scope is None:
        raise PermissionDenied("Your account does not belong to an organization.")
    if not scope.can_write:
        raise PermissionDenied("Your role is read-only: you cannot merge records.")
    cleaned = clean_groups(groups)
    job = Job.objects.create(organization_id=scope.organization_id, kind=BULK_KIND, task=BULK_TASK, actor=user,
                             params={"kind": kind, "groups": cleaned}, total=len(cleaned),
                             checkpoint={"next": 0})
    return jobs.launch(job, inline=inline, run=run_bulk, send_options=send_options)


def run_bulk(job_id: int) -> Job | None:
    return jobs.run_job(job_id, _bulk_step)


def _bulk_step(job: Job) -> bool:
    groups = job.params["groups"]
    kind = job.params["kind"]
    start = int(job.checkpoint.get("next", 0))
    model = MODELS[kind]
    for index in range(start, min(start + BULK_BATCH, len(groups))):
        ids = groups[index]
        item = JobItem(organization_id=job.organization_id, job=job, object_id=ids[0])
        try:
            with transaction.atomic():
                newest = (model.all_objects.filter(pk__in=ids, organization_id=job.organization_id)
                          .order_by("-updated_at", "-pk").values_list("pk", flat=True).first())
                survivor = newest if newest is not None else ids[0]
                record = merge(job.actor, kind, survivor, [pk for pk in ids if pk != survivor], job=job,
                               source="bulk")
            item.object_id, item.outcome = survivor, JobItem.Outcome.CHANGED
            item.after = {"merge": record.pk, "ids": ids}
            job.succeeded += 1
        except Http404 as exc:
            item.outcome, item.message = JobItem.Outcome.NOT_FOUND, str(exc)[:500]
            job.failed += 1
        except PermissionDenied as exc:
            item.outcome, item.message = JobItem.Outcome.FORBIDDEN, str(exc)[:500]
            job.failed += 1
        except IntegrityError as exc:  # a row written meanwhile that the group's merge collides with
            item.outcome, item.message = JobItem.Outcome.CONFLICT, f"Changed meanwhile: {_constraint_message(exc)}."
            job.failed += 1
        except ValidationError as exc:
            item.outcome = JobItem.Outcome.INVALID
            item.message = "; ".join(m for ms in exc.message_dict.values() for m in ms)[:500] if hasattr(
                exc, "error_dict") else "; ".join(exc.messages)[:500]
            job.failed += 1
        item.before = {"group": index, "ids": ids}
        item.save()
        job.processed += 1
        job.checkpoint = {"next": index + 1}
    return job.checkpoint["next"] >= len(groups)
