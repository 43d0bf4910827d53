"""Field-level encryption at rest (Fernet, through django-fernet-encrypted-fields) and the
keyed-hash blind index that finds an encrypted value by exact match.

What is encrypted, and how:
- custom fields whose definition is `sensitive`: their values live in one encrypted column per
  row (`custom_fields_sealed`), not in the `custom_fields` JSONB (so not in its GIN index, the
  full-text search, the embedding text or the history tables in plain). In memory the model's
  `custom_fields` holds both (SealedCustomFieldsMixin), so forms, pages, API, import, export,
  merge and bulk edits read and write them as before;
- Twilio credentials (messaging.MessagingSettings), always;
- contact phone numbers when the organization turns on `encrypt_phone_numbers`
  (contacts.phones).

Keys: the library derives its Fernet keys from SECRET_KEY (then each of SECRET_KEY_FALLBACKS)
and SALT_KEY (`KITH_ENCRYPTION_SALT`); it encrypts with the first and decrypts with any, so a key
is rotated by moving the old SECRET_KEY to SECRET_KEY_FALLBACKS and running
`manage.py reencrypt_fields`. The blind index key is `KITH_BLIND_INDEX_KEY` (derived from
SECRET_KEY when unset); changing it means recomputing the index (`reencrypt_fields` does).
"""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from encrypted_fields.fields import EncryptedCharField, EncryptedTextField


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, cls=DjangoJSONEncoder, separators=(",", ":"))


class SealedDict(dict):
    """A decrypted dict that remembers the ciphertext it came from: saved unchanged, the same
    ciphertext is written back (Fernet is randomized, so re-encrypting would look like a change
    to the history triggers on every save)."""

    ciphertext: str = ""
    plain: str = ""


class SealedStr(str):
    ciphertext: str = ""


class _SealedColumn:
    """A column the model fills from another field: NULL when empty, never in a form."""

    def __init__(self, *args, **kwargs):
        for key, value in (("null", True), ("blank", True), ("editable", False)):
            kwargs.setdefault(key, value)
        super().__init__(*args, **kwargs)


class SealedJSONField(_SealedColumn, EncryptedTextField):
    """A dict stored as one Fernet token of its JSON (keys and types included); NULL when empty."""

    def get_prep_value(self, value):
        if not value:
            return None
        if isinstance(value, SealedDict) and value.ciphertext and _canonical(value) == value.plain:
            return value.ciphertext
        return self.f.encrypt(_canonical(value).encode()).decode()

    def to_python(self, value):
        if value is None or value == "":
            return {}
        if isinstance(value, dict):
            return value
        # A token that no configured key opens raises InvalidToken: better loud than empty.
        plain = self.f.decrypt(value.encode()).decode()
        sealed = SealedDict(json.loads(plain))
        sealed.ciphertext, sealed.plain = value, _canonical(sealed)
        return sealed

    def from_db_value(self, value, expression, connection):
        return self.to_python(value)


# Every Fernet token starts with its version byte and timestamp, base64: "gAAAAA".
FERNET_PREFIX = "gAAAAA"


class SealedCharField(_SealedColumn, EncryptedCharField):
    """A short string (a phone number) stored as a Fernet token; NULL when empty."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 255)
        super().__init__(*args, **kwargs)

    def get_prep_value(self, value):
        if not value:
            return None
        if isinstance(value, SealedStr) and value.ciphertext:
            return value.ciphertext
        return self.f.encrypt(str(value).encode()).decode()

    def to_python(self, value):
        if not value:
            return ""
        if isinstance(value, SealedStr):
            return value
        if not str(value).startswith(FERNET_PREFIX):
            # The plain number contacts.phones.seal() put on an instance before its first save.
            return SealedStr(value)
        sealed = SealedStr(self.f.decrypt(value.encode()).decode())
        sealed.ciphertext = value
        return sealed

    def from_db_value(self, value, expression, connection):
        return self.to_python(value)


def reseal(current, value):
    """The value to store in a sealed column: `current` (keeping its ciphertext) when unchanged."""
    if isinstance(current, SealedStr) and current == value:
        return current
    if isinstance(current, SealedDict) and dict(current) == value:
        return current
    return value


def blind_index_key() -> bytes:
    key = getattr(settings, "KITH_BLIND_INDEX_KEY", "") or ""
    if key:
        return key.encode()
    return hashlib.sha256(b"kith-blind-index:" + settings.SECRET_KEY.encode()).digest()


def blind_index(value: str) -> str:
    """HMAC-SHA256 (hex) of a normalized value, e.g. an E.164 number; "" for no value."""
    if not value:
        return ""
    return hmac.new(blind_index_key(), str(value).encode(), hashlib.sha256).hexdigest()


# -- sensitive custom fields -------------------------------------------------------------------

def sensitive_keys(organization_id, model: str) -> frozenset[str]:
    from crm.models import CustomFieldDefinition

    if not organization_id:
        return frozenset()
    return frozenset(CustomFieldDefinition.objects.filter(organization_id=organization_id, model=model,
                                                          sensitive=True).values_list("key", flat=True))


def split_custom_fields(values: dict, sensitive: frozenset) -> tuple[dict, dict]:
    """(plain, sensitive) parts of a custom-fields dict."""
    values = values or {}
    plain = {k: v for k, v in values.items() if k not in sensitive}
    secret = {k: v for k, v in values.items() if k in sensitive}
    return plain, secret


class SealedCustomFieldsMixin:
    """Contact and Company: `custom_fields` in memory holds every value; on save the values of
    sensitive definitions go to the encrypted `custom_fields_sealed` column and the rest to the
    JSONB. Reads merge them back (from_db). Writers that skip save() (bulk_update) call
    `seal_custom_fields()` first and include CUSTOM_FIELD_COLUMNS."""

    CUSTOM_FIELDS_MODEL = ""
    CUSTOM_FIELD_COLUMNS = ("custom_fields", "custom_fields_sealed")

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        data = instance.__dict__
        if "custom_fields" in data:
            if "custom_fields_sealed" in data:
                sealed = data["custom_fields_sealed"] or {}
                if sealed:
                    data["custom_fields"] = {**(data["custom_fields"] or {}), **sealed}
            else:  # loaded without its sealed part (.only): save() must not take that as a deletion
                instance._custom_fields_partial = True
        return instance

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "custom_fields" in update_fields:
            kwargs["update_fields"] = set(update_fields) | {"custom_fields_sealed"}
        super().save(*args, **kwargs)

    def _sensitive_keys(self) -> frozenset:
        cached = self.__dict__.get("_sensitive_keys_cache")
        if cached is None or cached[0] != self.organization_id:
            cached = (self.organization_id, sensitive_keys(self.organization_id, self.CUSTOM_FIELDS_MODEL))
            self.__dict__["_sensitive_keys_cache"] = cached
        return cached[1]

    def seal_custom_fields(self, sensitive: frozenset | None = None) -> dict:
        """Split the in-memory values into the two columns; returns the plain part (what the
        JSONB column is written with). The instance keeps seeing all of them."""
        if sensitive is None:
            sensitive = self._sensitive_keys()
        values = dict(self.custom_fields or {})
        if getattr(self, "_custom_fields_partial", False):
            stored = type(self).all_objects.filter(pk=self.pk).values_list("custom_fields_sealed", flat=True).first()
            stored_values = type(self)._meta.get_field("custom_fields_sealed").to_python(stored) if stored else {}
            values = {**stored_values, **values}
            self._custom_fields_partial = False
            self.custom_fields = values
        plain, secret = split_custom_fields(values, sensitive)
        self.custom_fields_sealed = reseal(self.__dict__.get("custom_fields_sealed"), secret)
        return plain


class CustomFieldsJSONField(models.JSONField):
    """The `custom_fields` JSONB of a SealedCustomFieldsMixin model: written with the plain part
    only (the sensitive values go to `custom_fields_sealed`, declared after it, in the same save)."""

    def pre_save(self, model_instance, add):
        if hasattr(model_instance, "seal_custom_fields"):
            return model_instance.seal_custom_fields()
        return super().pre_save(model_instance, add)


def bulk_update_sealed(model, objs, fields, batch_size=None) -> None:
    """bulk_update (which skips pre_save) for SealedCustomFieldsMixin rows whose custom fields
    changed: each row is split first, the JSONB gets the plain part, the instances keep it all."""
    objs = list(objs)
    fields = list(dict.fromkeys([*fields, *model.CUSTOM_FIELD_COLUMNS]))
    combined = []
    for obj in objs:
        plain = obj.seal_custom_fields()
        combined.append(obj.custom_fields)
        obj.custom_fields = plain
    try:
        model.all_objects.bulk_update(objs, fields, batch_size=batch_size)
    finally:
        for obj, values in zip(objs, combined):
            obj.custom_fields = values


def reset_key_cache(**kwargs) -> None:
    """The library caches each field's Fernet keys; forget them when the key settings change
    (tests, or a process that reloads its settings)."""
    from django.apps import apps
    from encrypted_fields.fields import EncryptedFieldMixin

    if kwargs.get("setting") not in (None, "SECRET_KEY", "SECRET_KEY_FALLBACKS", "SALT_KEY"):
        return
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, EncryptedFieldMixin):
                field.__dict__.pop("keys", None)
                field.__dict__.pop("f", None)


def _connect_key_cache_reset() -> None:
    from django.core.signals import setting_changed

    setting_changed.connect(reset_key_cache, dispatch_uid="crm.encryption.reset_key_cache")


_connect_key_cache_reset()
