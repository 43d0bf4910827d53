"""The healthcare preset's medical_notes and insurance_provider and the legal preset's
attorney_notes are sensitive (contacts.services.SENSITIVE_PRESET_KEYS): organizations that
applied a preset before get the flag too, and the values already stored move out of the JSONB
into the encrypted column, in the contacts and in their history (as contacts.reseal does)."""

from django.db import migrations

KEYS = ("medical_notes", "insurance_provider", "attorney_notes")
BATCH = 500


def _move(model, pk_name, organization_id, keys):
    after = None
    while True:
        rows = model.objects.filter(organization_id=organization_id, custom_fields__has_any_keys=keys)
        if after is not None:
            rows = rows.filter(**{f"{pk_name}__gt": after})
        rows = list(rows.order_by(pk_name)[:BATCH])
        if not rows:
            return
        for row in rows:
            values = dict(row.custom_fields or {})
            secret = dict(row.custom_fields_sealed or {})
            for key in keys:
                if key in values:
                    secret[key] = values.pop(key)
            row.custom_fields, row.custom_fields_sealed = values, secret
        model.objects.bulk_update(rows, ["custom_fields", "custom_fields_sealed"])
        after = getattr(rows[-1], pk_name)


def forwards(apps, schema_editor):
    Definition = apps.get_model("crm", "CustomFieldDefinition")
    Contact = apps.get_model("contacts", "Contact")
    ContactEvent = apps.get_model("contacts", "ContactEvent")
    by_org = {}
    for definition in Definition.objects.filter(model="contact", key__in=KEYS, sensitive=False):
        by_org.setdefault(definition.organization_id, []).append(definition.key)
    Definition.objects.filter(model="contact", key__in=KEYS).update(sensitive=True)
    for organization_id, keys in by_org.items():
        _move(Contact, "id", organization_id, keys)
        _move(ContactEvent, "pgh_id", organization_id, keys)


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0015_encrypted_fields"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
