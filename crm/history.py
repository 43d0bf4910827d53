"""Reverting one field of one recorded change of a contact or company.

A revert is an ordinary edit: it goes through the model's update service (validation,
derived fields, uniqueness) inside `change_context(source="revert")`, so it is itself
audited and can be reverted in turn. It refuses when the field changed again after the
event ("changed again since") unless the caller confirms."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F, Func

from crm.audit import _QUIET_FIELDS, change_context, history_for
from crm.permissions import Role, Scope


class EventNotFound(Exception):
    """No update event with this id for this object (another object's, or none): a 404."""


@dataclass
class RevertConflict(Exception):
    """The field's current value is no longer the value the event set."""

    field: str
    label: str
    current: object  # the stored value now (JSON form)
    expected: object  # what the event set it to
    old: object  # what a revert would restore

    def __str__(self):
        return (f"{self.label} was changed again since this change; reverting would overwrite the newer value. "
                f"Confirm to revert anyway.")


def _services():
    from companies.models import Company
    from companies.services import EDITABLE_FIELDS as COMPANY_FIELDS, update_company
    from contacts.models import Contact
    from contacts.services import EDITABLE_FIELDS as CONTACT_FIELDS, update_contact

    return {
        Contact: (CONTACT_FIELDS, lambda obj, data, actor: update_contact(contact=obj, data=data, actor=actor)),
        Company: (COMPANY_FIELDS, lambda obj, data, actor: update_company(company=obj, data=data, actor=actor)),
    }


def revertable_fields(model) -> set[str]:
    """Fields of `model` whose recorded changes can be reverted: what its update service
    accepts, minus derived/automatic columns and files (whose old content is gone)."""
    service = _services().get(model)
    if service is None:
        return set()
    editable, _ = service
    return {name for name in editable if name not in _QUIET_FIELDS
            and not isinstance(model._meta.get_field(name), models.FileField)}


def can_revert(obj) -> bool:
    """The object can have changes reverted (it is live; the user's right to change it is checked apart)."""
    return getattr(obj, "deleted_at", None) is None and type(obj) in _services()


def _event(obj, event_id):
    try:
        event_id = int(event_id)
    except (TypeError, ValueError):
        raise EventNotFound from None
    events = [e for e in history_for(obj).filter(pgh_id=event_id) if e.pgh_label == "update"]
    if len(events) != 1:
        raise EventNotFound
    return events[0]


def stored_json(obj, field):
    """The field's value now, in the JSON form the audit trail stores it in (PostgreSQL's
    to_jsonb of the column), so it compares exactly with an event's values."""
    return (type(obj)._base_manager.filter(pk=obj.pk)
            .annotate(_value=Func(F(field.attname), function="to_jsonb", output_field=models.JSONField()))
            .values_list("_value", flat=True).get())


def _python_value(field, value):
    if value is None or field.is_relation:
        return value  # related fields take ids
    try:
        return field.to_python(value)
    except ValidationError as exc:
        raise ValidationError({field.name: exc.messages}) from None


def _check_owner(obj, field, value, actor) -> None:
    """A revert may not hand a record to someone who can no longer have it, nor let a rep
    give a record away (the forms' and API's rule)."""
    from crm.models import User

    if field.name != "owner":
        return
    if value is not None and not User.objects.filter(pk=value, is_active=True,
                                                     membership__organization_id=obj.organization_id).exists():
        raise ValidationError({"owner": "The earlier owner is no longer an active member of your organization."})
    scope = Scope.of(actor)
    if scope is not None and scope.role == Role.REP and value != scope.user_id:
        raise ValidationError({"owner": "Sales reps can assign only themselves as owner."})


@transaction.atomic
def revert_change(obj, *, event_id, field: str, actor, confirm: bool = False):
    """Set `field` of `obj` back to the value it had before the update event `event_id`.

    Raises EventNotFound (404), ValidationError naming `field` (not revertable) or the
    record's field (the old value is no longer valid), RevertConflict (changed since,
    unless `confirm`). Returns (the saved object, the changed field names: empty when it
    already had that value)."""
    model = type(obj)
    event = _event(obj, event_id)
    if not can_revert(obj):
        raise ValidationError({"field": "Records in the trash cannot be changed; restore it first."})
    if field not in revertable_fields(model):
        raise ValidationError({"field": f"Changes of {field!r} cannot be reverted."})
    model_field = model._meta.get_field(field)
    diff = event.pgh_diff or {}
    key = field if field in diff else model_field.attname
    if key not in diff:
        raise ValidationError({"field": f"This change did not change {field!r}."})
    old, new = diff[key]
    # Lock the row: the conflict check and the write see the same value.
    obj = model._base_manager.select_for_update().get(pk=obj.pk)
    current = stored_json(obj, model_field)
    if current != new and not confirm:
        from crm.audit import field_label

        raise RevertConflict(field=field, label=field_label(model_field), current=current, expected=new, old=old)
    value = _python_value(model_field, old)
    _check_owner(obj, model_field, value, actor)
    _, update = _services()[model]
    with change_context(actor=actor, source="revert", reverted_event=event.pgh_id):
        changed = update(obj, {field: value}, actor)
    return obj, changed
