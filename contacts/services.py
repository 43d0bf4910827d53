"""Contact operations shared by pages, API, admin, imports and tasks."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from contacts.models import AssignmentRule, ConsentEvent, Contact, ContactTag, FormLayout, FormLayoutField
from crm.models import CustomFieldDefinition, Membership, Organization, Tag
from crm.permissions import Role
from messaging import reminders
from crm.services import apply_changes, editable_fields, save_validated

EDITABLE_FIELDS = editable_fields(Contact)


@transaction.atomic
def create_contact(*, organization, data: dict, actor=None, tags=()) -> Contact:
    """Validate and create a contact; raises ValidationError naming the field at fault."""
    contact = Contact(organization=organization, created_by=actor)
    apply_changes(contact, data, EDITABLE_FIELDS)
    if contact.owner_id is None and contact.team_id is None:
        # An explicit owner or team wins; otherwise the organization's assignment rules route it.
        route_contact(contact)
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
    contact.restore()
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
    reminders.consent_changed(contact, channel)
    return event


# ---------------------------------------------------------------------------
# Assignment rules


def route_contact(contact: Contact) -> AssignmentRule | None:
    """Set team and owner from the first active rule matching the (unsaved) contact; the rule,
    or None (contact untouched) when no rule matches. Call inside the creating transaction:
    a round-robin pick is undone with it."""
    rules = AssignmentRule.objects.filter(organization_id=contact.organization_id, is_active=True)
    for rule in rules.order_by("position", "id"):
        if rule.matches(contact):
            contact.team_id = rule.team_id
            contact.owner_id = pick_owner(rule)
            return rule
    return None


def _team_members(rule: AssignmentRule):
    return Membership.objects.filter(organization_id=rule.organization_id, team_id=rule.team_id,
                                     role__in=[Role.REP, Role.MANAGER], user__is_active=True)


@transaction.atomic
def pick_owner(rule: AssignmentRule) -> int | None:
    """The owner (user id) a contact routed by `rule` gets; None leaves it in the team's queue
    (team queue strategy, a fixed owner who left the team or was deactivated, an empty team).

    Round-robin gives the next active rep or manager of the team after the one who got the
    previous contact (by user id, so members joining or leaving do not reset the turn). The
    rule's row is locked (SELECT … FOR UPDATE) while the pointer moves, so concurrent
    creations take turns instead of picking the same person."""
    strategy = AssignmentRule.OwnerStrategy
    if rule.owner_strategy == strategy.FIXED:
        if rule.owner_id and _team_members(rule).filter(user_id=rule.owner_id).exists():
            return rule.owner_id
        return None
    if rule.owner_strategy != strategy.ROUND_ROBIN:
        return None
    last = (AssignmentRule.objects.select_for_update().filter(pk=rule.pk)
            .values_list("last_assigned_id", flat=True).first())
    members = list(_team_members(rule).order_by("user_id").values_list("user_id", flat=True))
    if not members:
        return None
    chosen = next((m for m in members if last is not None and m > last), members[0])
    # A plain UPDATE: moving the pointer is not an edit of the rule (no updated_at, no history).
    AssignmentRule.objects.filter(pk=rule.pk).update(last_assigned_id=chosen)
    rule.last_assigned_id = chosen
    return chosen


RULE_FIELDS = {"name", "is_active", "industry", "country", "region", "source", "team", "owner_strategy", "owner"}


@transaction.atomic
def save_rule(*, rule: AssignmentRule, data: dict) -> AssignmentRule:
    """Create (rule without pk: placed last) or update a rule; ValidationError names the field."""
    changed = apply_changes(rule, data, RULE_FIELDS | {"position"})
    if rule.pk is not None:
        # Only what changed: a stale copy must not undo a concurrent move or round-robin turn.
        return save_validated(rule, update_fields=[*changed, "updated_at"]) if changed else rule
    if "position" not in data:
        last = (AssignmentRule.objects.filter(organization_id=rule.organization_id)
                .order_by("-position").values_list("position", flat=True).first())
        rule.position = 0 if last is None else last + 1
    return save_validated(rule)


@transaction.atomic
def move_rule(rule: AssignmentRule, offset: int) -> None:
    """Move a rule up (-1) or down (+1) in the order; positions are renumbered 0..n-1."""
    rules = list(AssignmentRule.objects.select_for_update().filter(organization_id=rule.organization_id)
                 .order_by("position", "id"))
    index = next(i for i, r in enumerate(rules) if r.pk == rule.pk)
    target = min(max(index + offset, 0), len(rules) - 1)
    rules.insert(target, rules.pop(index))
    changed = []
    for position, item in enumerate(rules):
        if item.position != position:
            item.position = position
            changed.append(item)
    AssignmentRule.objects.bulk_update(changed, ["position"])


# ---------------------------------------------------------------------------
# Form layouts


@transaction.atomic
def save_layout(*, layout: FormLayout, industry: str, fields) -> FormLayout:
    """Create or update a layout: `fields` is [(CustomFieldDefinition, required)] in order
    (replacing the layout's fields). ValidationError names `industry` or `fields`."""
    layout.industry = industry
    errors = []
    seen = set()
    for definition, _required in fields:
        if definition.organization_id != layout.organization_id or definition.model != "contact":
            errors.append(f"{definition.key}: choose a custom field of your organization's contacts.")
        elif definition.pk in seen:
            errors.append(f"{definition.key}: listed twice.")
        seen.add(definition.pk)
    try:
        layout.full_clean()
    except ValidationError as exc:
        if errors:
            exc.error_dict.setdefault("custom_fields", []).extend(ValidationError(e) for e in errors)
        raise
    if errors:
        raise ValidationError({"custom_fields": errors})
    save_validated(layout)
    current = {entry.definition_id: entry for entry in layout.entries.all()}
    wanted = [definition.pk for definition, _ in fields]
    FormLayoutField.objects.filter(layout=layout).exclude(definition_id__in=wanted).delete()
    new, changed = [], []
    for position, (definition, required) in enumerate(fields):
        entry = current.get(definition.pk)
        if entry is None:
            new.append(FormLayoutField(organization_id=layout.organization_id, layout=layout,
                                       definition=definition, position=position, required=bool(required)))
        elif entry.position != position or entry.required != bool(required):
            entry.position, entry.required = position, bool(required)
            changed.append(entry)
    FormLayoutField.objects.bulk_create(new)
    FormLayoutField.objects.bulk_update(changed, ["position", "required"])
    return layout


# Preset fields whose values are encrypted at rest (CustomFieldDefinition.sensitive, crm.encryption).
SENSITIVE_PRESET_KEYS = frozenset({"medical_notes", "insurance_provider", "attorney_notes"})

# Presets: (industry, [(key, label, type, options, required in the layout)])
PRESETS = {
    "healthcare": ("Healthcare", [
        ("date_of_birth", "Date of birth", "date", [], True),
        ("insurance_provider", "Insurance provider", "text", [], True),
        ("emergency_contact_name", "Emergency contact name", "text", [], False),
        ("emergency_contact_phone", "Emergency contact phone", "phone", [], False),
        ("medical_notes", "Medical notes", "textarea", [], False),
    ]),
    "legal": ("Legal", [
        ("case_type", "Case type", "select", [
            "Civil litigation", "Criminal defense", "Corporate", "Employment", "Family", "Immigration",
            "Intellectual property", "Real estate", "Estate planning", "Other"], True),
        ("case_status", "Case status", "select", [
            "Intake", "Open", "Discovery", "Negotiation", "Trial", "Settled", "Closed"], True),
        ("attorney_notes", "Attorney notes", "textarea", [], False),
    ]),
}


@transaction.atomic
def apply_preset(organization, preset: str) -> tuple[FormLayout, bool]:
    """The layout of a preset industry with its custom fields: definitions are reused by key
    (created, optional everywhere else, when missing); the layout is created, or completed with
    the preset's fields it lacks (fields an admin added or flags they changed stay). Applying a
    preset twice changes nothing. Returns (layout, created)."""
    if preset not in PRESETS:
        raise ValidationError({"preset": f"Unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}."})
    organization_id = getattr(organization, "pk", organization)
    # One preset at a time per organization: concurrent applications would race on the keys.
    Organization.objects.select_for_update().filter(pk=organization_id).values_list("pk").first()
    industry, specs = PRESETS[preset]
    existing = {d.key: d for d in CustomFieldDefinition.objects.filter(
        organization_id=organization_id, model="contact", key__in=[s[0] for s in specs])}
    last = (CustomFieldDefinition.objects.filter(organization_id=organization_id, model="contact")
            .order_by("-position").values_list("position", flat=True).first())
    position = -1 if last is None else last
    definitions = []
    for key, label, field_type, options, required in specs:
        definition = existing.get(key)
        if definition is None:
            position += 1
            definition = CustomFieldDefinition(organization_id=organization_id, model="contact", key=key,
                                               label=label, field_type=field_type, options=options,
                                               position=position, sensitive=key in SENSITIVE_PRESET_KEYS)
            save_validated(definition)
        definitions.append((definition, required))
    layout = FormLayout.for_industry(organization_id, industry)
    created = layout is None
    if created:
        layout = FormLayout(organization_id=organization_id)
        return save_layout(layout=layout, industry=industry, fields=definitions), True
    present = set(layout.entries.values_list("definition_id", flat=True))
    missing = [(d, r) for d, r in definitions if d.pk not in present]
    if missing:
        current = [(e.definition, e.required) for e in layout.entries.select_related("definition")
                   .order_by("position", "id")]
        save_layout(layout=layout, industry=layout.industry, fields=current + missing)
    return layout, False


def set_phone_encryption(organization, *, encrypt: bool, actor=None, inline=None):
    """Turn the organization's `encrypt_phone_numbers` on or off; a job converts the phones
    already stored (contacts.reseal). Returns the job (None when nothing changed)."""
    from contacts import reseal

    with transaction.atomic():
        org = Organization.objects.select_for_update().get(pk=getattr(organization, "pk", organization))
        if org.encrypt_phone_numbers == encrypt:
            return None
        org.encrypt_phone_numbers = encrypt
        org.save(update_fields=["encrypt_phone_numbers"])
        return reseal.start_phone_conversion(org.pk, encrypt=encrypt, actor=actor, inline=inline)
