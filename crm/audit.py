"""Audit context: who and through what a change was made.

Row changes of tracked models are recorded by database triggers (django-pghistory),
so bulk updates and raw SQL are audited too. This module attaches the actor and
source to them."""

from __future__ import annotations

import pghistory
from cryptography.fernet import InvalidToken
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from pghistory.middleware import HistoryMiddleware

from crm.encryption import SealedCharField, SealedJSONField


class AuditContextMiddleware(HistoryMiddleware):
    def get_context(self, request):
        context = super().get_context(request)
        context["source"] = "api" if request.path.startswith("/api/") else (
            "admin" if request.path.startswith("/admin/") else "web")
        return context


def change_context(*, actor=None, source: str, **extra):
    """`with change_context(actor=user, source="import"):` outside requests."""
    return pghistory.context(user=getattr(actor, "pk", actor), source=source, **extra)


def history_for(obj):
    """Audit events of one object, newest first, with per-field old → new diffs."""
    from pghistory.models import Events

    return Events.objects.tracks(obj).order_by("-pgh_created_at")


# Columns that change with every save or follow other fields: not worth a line in the history.
# Field labels where the verbose name reads badly ("Sms consent").
_LABELS = {"sms_consent": "SMS consent", "email_consent": "Email consent", "call_consent": "Call consent",
           "linkedin": "LinkedIn", "twitter": "Twitter / X", "custom_fields": "Custom fields",
           "score": "Lead score", "lifecycle_stage": "Stage",
           # Encrypted columns (crm.encryption): the history shows them decrypted, to who may see the record.
           "custom_fields_sealed": "Custom fields (encrypted)", "phone_sealed": "Phone", "mobile_sealed": "Mobile"}
_QUIET_FIELDS = {"updated_at", "created_at", "display_name", "search_name", "search_name_rev", "company_name",
                 "phone_digits", "embedding", "organization", "id",
                 # Enrichment bookkeeping (provenance, provider states): the enriched fields show themselves.
                 "enrichment", "ai_insights"}


def _show(field, value, names: dict) -> str:
    """A stored (JSON) value as people read it: choice labels, names instead of ids."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(field, (SealedJSONField, SealedCharField)) and isinstance(value, str):
        try:
            value = field.to_python(value)
        except InvalidToken:
            return "(encrypted with a retired key)"
        if isinstance(value, dict):
            return ", ".join(f"{k}: {v}" for k, v in value.items()) or "—"
        return str(value) or "—"
    if field.is_relation:
        target = names.get(field.related_model, {}).get(value)
        return str(target) if target is not None else f"#{value}"
    if field.choices:
        labels = dict(field.flatchoices)
        if isinstance(value, list):
            return ", ".join(str(labels.get(v, v)) for v in value)
        return str(labels.get(value, value))
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "—"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    text = str(value)
    if field.get_internal_type() == "DateTimeField" and "T" in text:
        parsed = parse_datetime(text)
        if parsed is not None:
            return date_format(timezone.localtime(parsed) if timezone.is_aware(parsed) else parsed,
                               "DATETIME_FORMAT")
    return text


def describe_value(field, value) -> str:
    """One stored value of `field` as the history shows it."""
    names = {}
    if field.is_relation and value is not None:
        names = {field.related_model: field.related_model._default_manager.in_bulk([value])}
    return _show(field, value, names)


def field_label(field) -> str:
    return _LABELS.get(field.name, str(field.verbose_name).capitalize())


def describe_history(obj, limit: int = 30) -> list[dict]:
    """The newest `limit` audit events of `obj`, readable: who (a User or None), when,
    through what, and per field its label with old → new shown as people read them
    (choice labels, names instead of ids), and whether the change can be reverted (the
    user's right to change the object is the caller's to check). A fixed number of
    queries whatever the length."""
    from crm.history import can_revert, revertable_fields
    from crm.models import User

    events = list(history_for(obj).order_by("-pgh_created_at", "-pgh_id")[:limit])
    model = type(obj)
    # The audit rows name foreign keys by column (owner_id), other fields by name.
    fields = {f.attname: f for f in model._meta.concrete_fields}
    revertable = revertable_fields(model) if can_revert(obj) else set()
    # Names for ids: actors, and the values of foreign keys that changed.
    wanted: dict = {}
    for event in events:
        user_id = (event.pgh_context or {}).get("user")
        if user_id:
            wanted.setdefault(User, set()).add(user_id)
        for name, change in (event.pgh_diff or {}).items():
            field = fields.get(name)
            if field is not None and field.is_relation and field.name not in _QUIET_FIELDS:
                wanted.setdefault(field.related_model, set()).update(v for v in change if v is not None)
    names = {related: related._default_manager.in_bulk(ids) for related, ids in wanted.items() if ids}

    def show(field, value):
        return _show(field, value, names)

    entries = []
    for event in events:
        context = event.pgh_context or {}
        changes = []
        note = ""
        summary = {"insert": "Created", "delete": "Deleted"}.get(event.pgh_label, "Changed")
        if event.pgh_label == "update" and event.pgh_diff is None:
            # The first recorded change of a row loaded without history (bulk import, demo seed):
            # there is no earlier event to compare with.
            note = "Earlier values were not recorded, so the change itself cannot be shown."
        elif event.pgh_label == "update":
            for name, (old, new) in (event.pgh_diff or {}).items():
                field = fields.get(name)
                if field is None or field.name in _QUIET_FIELDS:
                    continue
                if name == "deleted_at":
                    summary = "Moved to the trash" if new else "Restored from the trash"
                    continue
                changes.append({"field": field.name, "label": field_label(field),
                                "old": show(field, old), "new": show(field, new),
                                "old_value": old, "new_value": new,
                                "revertable": field.name in revertable})
            if not changes and summary == "Changed":
                continue  # only derived or automatic columns changed
        user_id = context.get("user")
        entries.append({
            "event_id": event.pgh_id,
            "when": event.pgh_created_at,
            "summary": summary,
            "actor": names.get(User, {}).get(user_id) if user_id else None,
            "source": context.get("source", ""),
            # The bulk operation (crm.models.Job) the change was part of, if any.
            "operation": context.get("operation"),
            "changes": changes,
            "note": note,
        })
    return entries
