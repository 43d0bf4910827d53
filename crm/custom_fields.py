"""Validation of custom-field values (JSONB) against their organization's definitions."""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.utils.dateparse import parse_date, parse_datetime



def definitions_for(organization_id: int, model: str):
    from crm.models import CustomFieldDefinition

    return list(CustomFieldDefinition.objects.filter(organization_id=organization_id, model=model))


def _number(value):
    if isinstance(value, bool):
        raise ValueError("Enter a number.")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("Enter a number.") from None
    if not number.is_finite():
        raise ValueError("Enter a finite number.")
    return int(number) if number == number.to_integral_value() else float(number)


def _currency(value):
    number = _number(value)
    return round(float(number), 2) if isinstance(number, float) else number


def _date(value):
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    parsed = parse_date(str(value).strip()) if value is not None else None
    if parsed is None:
        raise ValueError("Enter a date as YYYY-MM-DD.")
    return parsed.isoformat()


def _datetime(value):
    if isinstance(value, datetime.datetime):
        parsed = value
    else:
        try:
            parsed = parse_datetime(str(value).strip())
        except ValueError:
            parsed = None
    if parsed is None:
        raise ValueError("Enter a date and time in ISO 8601, e.g. 2026-05-01T14:30:00+02:00.")
    return parsed.isoformat()


def _boolean(value):
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in {"true", "yes", "1", "on"}:
        return True
    if lowered in {"false", "no", "0", "off"}:
        return False
    raise ValueError("Enter yes or no (true/false).")


def _text(value, max_length):
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ValueError("Enter text.")
    text = str(value)
    if len(text) > max_length:
        raise ValueError(f"Use at most {max_length} characters (it has {len(text)}).")
    return text


def _url(value):
    text = _text(value, 2000).strip()
    try:
        URLValidator()(text)
    except ValidationError:
        raise ValueError("Enter a valid URL, e.g. https://example.com.") from None
    return text


def _email(value):
    text = _text(value, 254).strip().lower()
    try:
        EmailValidator()(text)
    except ValidationError:
        raise ValueError("Enter a valid email address.") from None
    return text


def _phone(value):
    text = _text(value, 40).strip()
    try:
        parsed = phonenumbers.parse(text, settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise ValueError("Enter a valid phone number, e.g. +1 415 555 0100.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _clean_value(definition, value):
    t = definition.field_type
    if t == "text":
        return _text(value, 255)
    if t == "textarea":
        return _text(value, 10000)
    if t == "number":
        return _number(value)
    if t == "currency":
        return _currency(value)
    if t == "date":
        return _date(value)
    if t == "datetime":
        return _datetime(value)
    if t == "boolean":
        return _boolean(value)
    if t == "select":
        if value not in definition.options:
            raise ValueError(f"Choose one of: {', '.join(definition.options)}.")
        return value
    if t == "multiselect":
        if not isinstance(value, (list, tuple)):
            raise ValueError("Give a list of choices.")
        unknown = [v for v in value if v not in definition.options]
        if unknown:
            raise ValueError(f"Unknown choice(s) {', '.join(map(str, unknown))}; choose from: "
                             f"{', '.join(definition.options)}.")
        return list(dict.fromkeys(value))
    if t == "url":
        return _url(value)
    if t == "email":
        return _email(value)
    if t == "phone":
        return _phone(value)
    raise ValueError(f"Unknown field type {t!r}.")


def _is_empty(value):
    return value is None or value == "" or value == []


def clean_custom_fields(organization_id: int, model: str, values, definitions=None) -> dict:
    """Return the cleaned values, or raise ValidationError on `custom_fields`
    with one message per offending key ("insurance_provider: Enter text.")."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValidationError({"custom_fields": "Custom fields must be an object of key: value pairs."})
    if definitions is None:
        definitions = definitions_for(organization_id, model)
    by_key = {d.key: d for d in definitions}
    errors, cleaned = [], {}
    for key in values:
        if key not in by_key:
            errors.append(f"{key}: no such custom field for this {model}.")
    for key, definition in by_key.items():
        value = values.get(key)
        if _is_empty(value):
            if definition.required:
                errors.append(f"{key}: {definition.label} is required.")
            continue
        try:
            cleaned[key] = _clean_value(definition, value)
        except ValueError as exc:
            errors.append(f"{key}: {exc}")
    if errors:
        raise ValidationError({"custom_fields": errors})
    return cleaned
