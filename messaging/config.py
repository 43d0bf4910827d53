"""Which SMS backend and Twilio credentials an organization uses: its MessagingSettings row,
where a value is empty the platform's TWILIO_* / KITH_SMS_BACKEND settings."""

from __future__ import annotations

import dataclasses
import datetime

from django.conf import settings

from messaging.models import Backend, MessagingSettings


@dataclasses.dataclass(frozen=True)
class SmsConfig:
    organization_id: int
    backend: str                      # "console" or "twilio"
    account_sid: str
    auth_token: str = dataclasses.field(repr=False)   # never printed or logged
    messaging_service_sid: str
    from_number: str
    help_text: str
    quiet_hours_start: datetime.time
    quiet_hours_end: datetime.time
    default_timezone: str
    messages_per_second: float
    validity_seconds: int

    @property
    def sender(self) -> str:
        """What rate limits are keyed by: the messaging service, else the from-number."""
        return self.messaging_service_sid or self.from_number or f"org-{self.organization_id}"


def settings_for(organization_id: int) -> MessagingSettings:
    """The organization's row (unsaved defaults when it has none)."""
    row = MessagingSettings.objects.filter(organization_id=organization_id).first()
    return row or MessagingSettings(organization_id=organization_id)


def sms_config(organization_id: int) -> SmsConfig:
    row = settings_for(organization_id)
    return SmsConfig(
        organization_id=organization_id,
        backend=row.backend or (settings.KITH_SMS_BACKEND or Backend.CONSOLE),
        account_sid=row.twilio_account_sid or settings.TWILIO_ACCOUNT_SID,
        auth_token=row.twilio_auth_token or settings.TWILIO_AUTH_TOKEN,
        messaging_service_sid=row.twilio_messaging_service_sid or (
            "" if row.twilio_from_number else settings.TWILIO_MESSAGING_SERVICE_SID),
        from_number=row.twilio_from_number or settings.TWILIO_FROM_NUMBER,
        help_text=row.help_text,
        quiet_hours_start=row.quiet_hours_start,
        quiet_hours_end=row.quiet_hours_end,
        default_timezone=row.default_timezone or settings.TIME_ZONE,
        messages_per_second=row.messages_per_second,
        validity_seconds=row.validity_seconds,
    )
