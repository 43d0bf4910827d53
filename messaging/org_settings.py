"""An organization's messaging settings, as org admins change them (settings page and API):
validated here once, the Twilio auth token write-only (set, kept or cleared, never shown)."""

from __future__ import annotations

import re
import zoneinfo

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from crm.models import Organization
from messaging.models import Backend, MessagingSettings

FIELDS = ["backend", "twilio_account_sid", "twilio_messaging_service_sid", "twilio_from_number", "help_text",
          "quiet_hours_start", "quiet_hours_end", "default_timezone", "messages_per_second", "validity_seconds"]

MAX_MESSAGES_PER_SECOND = 100.0
# Twilio accepts a ValidityPeriod from 1 second to 36,000 seconds (10 hours).
MAX_VALIDITY_SECONDS = 36_000

_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")


def settings_row(organization_id: int) -> MessagingSettings:
    """The organization's row, or unsaved defaults when it has none."""
    return (MessagingSettings.objects.filter(organization_id=organization_id).first()
            or MessagingSettings(organization_id=organization_id))


def normalize_e164(value: str, field: str) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError({field: "Enter the number in E.164 form with its country code, e.g. +14155550100."})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@transaction.atomic
def save_settings(organization_id: int, data: dict, *, auth_token: str = "",
                  clear_auth_token: bool = False) -> MessagingSettings:
    """Apply `data` (a subset of FIELDS: what is left out keeps its value); a non-empty
    `auth_token` replaces the stored one, `clear_auth_token` removes it, neither keeps it.
    Raises ValidationError naming the field at fault; nothing is saved then."""
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise ValidationError({name: "This setting does not exist." for name in sorted(unknown)})
    row = (MessagingSettings.objects.select_for_update().filter(organization_id=organization_id).first()
           or MessagingSettings(organization_id=organization_id))
    for name, value in data.items():
        setattr(row, name, value.strip() if isinstance(value, str) else value)
    errors = {}
    try:
        row.twilio_from_number = normalize_e164(row.twilio_from_number, "twilio_from_number")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if row.twilio_account_sid and not _ACCOUNT_SID.match(row.twilio_account_sid):
        errors["twilio_account_sid"] = ["An account SID is AC followed by 32 hexadecimal characters."]
    if row.twilio_messaging_service_sid and not _SERVICE_SID.match(row.twilio_messaging_service_sid):
        errors["twilio_messaging_service_sid"] = ["A messaging service SID is MG followed by 32 hexadecimal "
                                                  "characters."]
    if row.messages_per_second is not None and not 0 < row.messages_per_second <= MAX_MESSAGES_PER_SECOND:
        errors["messages_per_second"] = [f"Give a rate above 0 and at most {MAX_MESSAGES_PER_SECOND:g}."]
    if row.validity_seconds is not None and not 1 <= row.validity_seconds <= MAX_VALIDITY_SECONDS:
        errors["validity_seconds"] = [f"Give from 1 to {MAX_VALIDITY_SECONDS:,} seconds (Twilio's limit)."]
    if row.default_timezone:
        try:
            zoneinfo.ZoneInfo(row.default_timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors["default_timezone"] = ["Unknown time zone: use a name such as Europe/London."]
    if row.quiet_hours_start is not None and row.quiet_hours_start == row.quiet_hours_end:
        errors["quiet_hours_end"] = ["Quiet hours end at another time than they start."]
    if clear_auth_token and auth_token:
        errors["twilio_auth_token"] = ["Either type a new auth token or clear it, not both."]
    elif clear_auth_token:
        row.twilio_auth_token = ""
    elif auth_token:
        row.twilio_auth_token = auth_token.strip()
    if row.backend == Backend.TWILIO and not errors:
        errors.update(_twilio_gaps(row))
    if errors:
        raise ValidationError(errors)
    row.full_clean()
    row.save()
    return row


def _twilio_gaps(row: MessagingSettings) -> dict:
    """What the Twilio backend still lacks (the platform's TWILIO_* settings fill gaps)."""
    gaps = {}
    if not (row.twilio_account_sid or settings.TWILIO_ACCOUNT_SID):
        gaps["twilio_account_sid"] = ["Twilio needs the account SID."]
    if not (row.twilio_auth_token or settings.TWILIO_AUTH_TOKEN):
        gaps["twilio_auth_token"] = ["Twilio needs the auth token."]
    if not (row.twilio_messaging_service_sid or row.twilio_from_number
            or settings.TWILIO_MESSAGING_SERVICE_SID or settings.TWILIO_FROM_NUMBER):
        gaps["twilio_from_number"] = ["Give a messaging service SID or a from-number."]
    return gaps


def webhook_urls(organization: Organization, request=None) -> dict[str, str]:
    """The two URLs to paste into Twilio's console (absolute: KITH_PUBLIC_URL when set)."""
    paths = {"status": reverse("messaging:twilio_status", args=[organization.public_id]),
             "inbound": reverse("messaging:twilio_inbound", args=[organization.public_id])}
    if settings.KITH_PUBLIC_URL:
        return {k: settings.KITH_PUBLIC_URL + p for k, p in paths.items()}
    if request is not None:
        return {k: request.build_absolute_uri(p) for k, p in paths.items()}
    return paths
