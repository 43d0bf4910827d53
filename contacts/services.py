"""Contact operations shared by pages, API, admin, imports and tasks."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from contacts.models import ConsentEvent, Contact, ContactTag
from crm.models import Tag
from crm.services import apply_changes, editable_fields, save_validated

EDITABLE_FIELDS = editable_fields(Contact)


@transaction.atomic
def create_contact(*, organization, data: dict, actor=None, tags=()) -> Contact:
    """Validate and create a contact; raises ValidationError naming the field at fault."""
    contact = Contact(organization=organization, created_by=actor)
    apply_changes(contact, data, EDITABLE_FIELDS)
    save_validated(contact)
    if tags:
        set_tags(contact, tags)
    return contact


@transaction.atomic
def update_contact(*, contact: Contact, data: dict, actor=None) -> list[str]:
    """Validate and save the changed fields; returns their names."""
    changed = apply_changes(contact, data, EDITABLE_FIELDS)
    if changed:
        save_validated(contact)
    return changed


@transaction.atomic
def bump_tag_usage(tags, delta: int) -> int:
    """Adjust the cached usage counts of `tags` by `delta` (never below zero: a count that
    drifted is put right by the nightly recount, crm.tasks.recount_all_tag_usage)."""
    return tags.update(usage_count=Greatest(F("usage_count") + delta, 0))


@transaction.atomic
def soft_delete_contact(contact: Contact) -> None:
    contact.soft_delete()
    bump_tag_usage(Tag.objects.filter(contacttag__contact=contact), -1)


@transaction.atomic
def restore_contact(contact: Contact) -> None:
    """Bring a contact back from the trash; fails (naming `email`) when a live contact took its email."""
    try:
        contact.restore()
    except ValidationError as exc:
        contact.deleted_at = Contact.all_objects.filter(pk=contact.pk).values_list("deleted_at", flat=True).get()
        raise exc
    bump_tag_usage(Tag.objects.filter(contacttag__contact=contact), +1)


@transaction.atomic
def set_tags(contact: Contact, tags) -> None:
    """Replace the contact's tags with `tags` (Tag objects of its organization)."""
    tags = list(tags)
    foreign = [t.name for t in tags if t.organization_id != contact.organization_id]
    if foreign:
        raise ValidationError({"tags": "Choose tags from your organization."})
    wanted = {t.pk for t in tags}
    current = set(ContactTag.objects.filter(contact=contact).values_list("tag_id", flat=True))
    removed, added = current - wanted, wanted - current
    if removed:
        ContactTag.objects.filter(contact=contact, tag_id__in=removed).delete()
        bump_tag_usage(Tag.objects.filter(pk__in=removed), -1)
    if added:
        ContactTag.objects.bulk_create(
            [ContactTag(organization_id=contact.organization_id, contact=contact, tag_id=t) for t in added])
        bump_tag_usage(Tag.objects.filter(pk__in=added), +1)


@transaction.atomic
def record_consent(*, contact: Contact, channel: str, status: str, source: str, actor=None,
                   ip_address=None, evidence: str = "") -> ConsentEvent:
    """Append to the consent ledger and update the contact's current status for the channel."""
    event = ConsentEvent(organization_id=contact.organization_id, contact=contact, channel=channel, status=status,
                         source=source, actor=actor, ip_address=ip_address, evidence=evidence)
    event.full_clean()
    event.save()
    field = f"{channel}_consent"
    Contact.all_objects.filter(pk=contact.pk).update(**{field: status}, updated_at=timezone.now())
    setattr(contact, field, status)
    return event
