"""Re-encrypt every encrypted column with the current key, and recompute the phone blind index.

Key rotation (README, "Encryption at rest"): put the new SECRET_KEY in place, move the old one to
SECRET_KEY_FALLBACKS (the library decrypts with any of them), run this command, then drop the old
key. Also run it after changing KITH_BLIND_INDEX_KEY (the blind index is recomputed from the
decrypted numbers). Works in primary-key batches, one transaction each; safe to run again.
"""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

BATCH = 500


def _rotate(model, columns, out, label, extra=None) -> int:
    """Rewrite `columns` of every row holding one, re-encrypted with the current key."""
    from django.db.models import Q

    condition = Q()
    for column in columns:
        condition |= Q(**{f"{column}__isnull": False})
    pk_name = model._meta.pk.name
    after, count = None, 0
    manager = getattr(model, "all_objects", model._default_manager)
    while True:
        with transaction.atomic():
            rows = manager.select_for_update().filter(condition)
            if after is not None:
                rows = rows.filter(**{f"{pk_name}__gt": after})
            rows = list(rows.order_by(pk_name).only(pk_name, *columns, *(extra or ()))[:BATCH])
            if not rows:
                break
            for row in rows:
                for column in columns:
                    value = getattr(row, column)
                    if value:  # a plain copy: get_prep_value encrypts it afresh
                        setattr(row, column, dict(value) if isinstance(value, dict) else str(value))
                if extra:
                    from contacts import phones

                    for name in phones.PHONE_FIELDS:
                        sealed = getattr(row, f"{name}_sealed")
                        setattr(row, f"{name}_hash", phones.blind_index(str(sealed)) if sealed else "")
            manager.bulk_update(rows, [*columns, *(extra or ())])
            count += len(rows)
            after = getattr(rows[-1], pk_name)
    out.write(f"{label}: {count} row(s) re-encrypted")
    return count


class Command(BaseCommand):
    help = "Re-encrypt encrypted columns with the current key and recompute the phone blind index."

    def handle(self, *args, **options):
        Contact = apps.get_model("contacts", "Contact")
        Company = apps.get_model("companies", "Company")
        MessagingSettings = apps.get_model("messaging", "MessagingSettings")
        _rotate(Contact, ["custom_fields_sealed", "phone_sealed", "mobile_sealed"], self.stdout, "contacts",
                extra=["phone_hash", "mobile_hash"])
        _rotate(Company, ["custom_fields_sealed"], self.stdout, "companies")
        _rotate(MessagingSettings, ["twilio_auth_token"], self.stdout, "messaging settings")
        for label, app, name, columns in (
                ("contact history", "contacts", "ContactEvent", ["custom_fields_sealed", "phone_sealed", "mobile_sealed"]),
                ("company history", "companies", "CompanyEvent", ["custom_fields_sealed"])):
            # (the messaging settings history does not record the Twilio token at all)
            _rotate(apps.get_model(app, name), columns, self.stdout, label)
