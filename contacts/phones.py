"""Contact phone numbers at rest, and the one way to find a contact by phone.

An organization may turn on `encrypt_phone_numbers` (crm.models.Organization). Its contacts'
`phone`/`mobile` columns are then empty; the numbers live Fernet-encrypted in `phone_sealed`/
`mobile_sealed`, next to a blind index `phone_hash`/`mobile_hash` = HMAC-SHA256(E.164 number,
KITH_BLIND_INDEX_KEY). The model puts the decrypted number back on `contact.phone` when it
loads a row, so sending, display, export and enrichment read it as before.

The price, documented in the README: an encrypted number is found by the exact number only
(search box, API filter, inbound SMS, import matching, duplicate detection) — never by a part
of it, since the digits are not stored in plain (`phone_digits` stays empty).

Every query on the phone columns goes through `phone_q` (or `match_columns` for raw SQL), which
matches the plain columns and the blind index both, so lookups also work while a conversion job
is moving an organization's rows from one form to the other.
"""

from __future__ import annotations

import re

import phonenumbers
from django.conf import settings
from django.db.models import Q
from phonenumber_field.modelfields import PhoneNumberField

from crm.encryption import blind_index, reseal

PHONE_FIELDS = ("phone", "mobile")
SEALED_COLUMNS = ("phone", "mobile", "phone_sealed", "mobile_sealed", "phone_hash", "mobile_hash")
_E164 = re.compile(r"\+[1-9]\d{5,14}")


class SealablePhoneNumberField(PhoneNumberField):
    """Contact.phone/mobile: written empty while the save seals the numbers (Contact.save sets
    `_phones_sealed_now`), so the instance, and any signal receiver, keeps the real number."""

    def pre_save(self, model_instance, add):
        value = super().pre_save(model_instance, add)
        return "" if getattr(model_instance, "_phones_sealed_now", False) else value


def as_e164(value, region: str | None = None) -> str:
    """A number as E.164 ("" when it is none): stored numbers already are; typed ones are parsed
    in the default region."""
    if value is None:
        return ""
    if hasattr(value, "as_e164"):  # a PhoneNumber (the raw input when it is not valid)
        return value.as_e164 or ""
    text = str(value).strip()
    if not text or _E164.fullmatch(text):
        return text
    try:
        number = phonenumbers.parse(text, region or settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_hash(value) -> str:
    return blind_index(as_e164(value))


def phone_q(*numbers, fields=PHONE_FIELDS, prefix: str = "") -> Q:
    """Contacts whose phone or mobile is exactly one of `numbers` (E.164 or typed), plain or
    encrypted. Matches nothing when no number parses."""
    e164s = sorted({n for n in (as_e164(x) for x in numbers) if n})
    q = Q(pk__in=[])
    if not e164s:
        return q
    hashes = [blind_index(n) for n in e164s]
    for name in fields:
        q |= Q(**{f"{prefix}{name}__in": e164s}) | Q(**{f"{prefix}{name}_hash__in": hashes})
    return q


def no_phone_q(prefix: str = "") -> Q:
    """Contacts without any phone number, plain or encrypted."""
    return Q(**{f"{prefix}{name}": "" for name in ("phone", "mobile", "phone_hash", "mobile_hash")})


def match_columns(alias: str = "") -> str:
    """The WHERE fragment of raw SQL that matches a number array (%s twice: E.164s, hashes)."""
    a = f"{alias}." if alias else ""
    return (f"({a}phone = ANY(%s) OR {a}mobile = ANY(%s) OR {a}phone_hash = ANY(%s) OR {a}mobile_hash = ANY(%s))")


def match_params(numbers) -> list:
    e164s = sorted({n for n in (as_e164(x) for x in numbers) if n})
    hashes = [blind_index(n) for n in e164s]
    return [e164s, e164s, hashes, hashes]


def organization_encrypts(organization_id) -> bool:
    from crm.models import Organization

    if not organization_id:
        return False
    return bool(Organization.objects.filter(pk=organization_id).values_list("encrypt_phone_numbers", flat=True)
                .first())


def seal(contact, encrypt: bool) -> dict:
    """Set the sealed and hash columns of `contact` for its current numbers; returns the values
    the plain `phone`/`mobile` columns get ("" when encrypting, the number otherwise)."""
    plain = {}
    for name in PHONE_FIELDS:
        number = as_e164(getattr(contact, name))
        if encrypt and number:
            setattr(contact, f"{name}_sealed", reseal(contact.__dict__.get(f"{name}_sealed"), number))
            setattr(contact, f"{name}_hash", blind_index(number))
            plain[name] = ""
        else:
            setattr(contact, f"{name}_sealed", None)
            setattr(contact, f"{name}_hash", "")
            plain[name] = getattr(contact, name) or ""
    return plain


# -- writers without model instances (the import's COPY and UPDATE) ----------------------------

SEALED_EXTRA_COLUMNS = ("custom_fields_sealed", "phone_sealed", "mobile_sealed", "phone_hash", "mobile_hash")


def sealed_row(values: dict, custom: dict | None, *, encrypt_phones: bool, sensitive: frozenset) -> dict:
    """Column values for a contact row written in SQL: `phone`/`mobile` (empty when encrypting),
    `custom_fields` (the plain part), and the SEALED_EXTRA_COLUMNS as stored (Fernet tokens or None,
    blind index hashes)."""
    from contacts.models import Contact
    from crm.encryption import split_custom_fields

    sealed = Contact._meta.get_field("phone_sealed")
    plain, secret = split_custom_fields(custom or {}, sensitive)
    row = {"custom_fields": plain,
           "custom_fields_sealed": Contact._meta.get_field("custom_fields_sealed").get_prep_value(secret)}
    for name in PHONE_FIELDS:
        number = as_e164(values.get(name))
        if encrypt_phones and number:
            row[name], row[f"{name}_sealed"], row[f"{name}_hash"] = "", sealed.get_prep_value(number), blind_index(number)
        else:
            row[name], row[f"{name}_sealed"], row[f"{name}_hash"] = values.get(name) or "", None, ""
    return row
