"""SMS backends behind one interface: `backend_for(config).send(message)` returns a SendResult
or raises SendError (retryable or final).

- console: nothing leaves the machine; the text is logged and printed, and gets a console-<uuid> sid.
- twilio: the twilio SDK's Client with the organization's credentials (messaging.config).

The Twilio HTTP client is pluggable through the KITH_TWILIO_HTTP_CLIENT setting (dotted path of a
twilio.http.http_client.TwilioHttpClient subclass; empty: the SDK's own). Tests put a fake there
that answers at the HTTP layer, so the Client-building and sending code below really runs."""

from __future__ import annotations

import dataclasses
import datetime
import logging
import uuid

import requests
from django.conf import settings
from django.utils.module_loading import import_string

from crm.models import Organization
from messaging.config import SmsConfig
from messaging.models import Backend, Message

from crm.logmask import mask_phone  # noqa: E402

logger = logging.getLogger("kith.sms")


@dataclasses.dataclass(frozen=True)
class SendResult:
    sid: str
    status: str              # a Message.Status the provider reported (queued, sent …)
    from_number: str = ""


class SendError(Exception):
    def __init__(self, message: str, *, retryable: bool, code: str = "", status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.code = code
        self.status = status


class Throttled(SendError):
    """The sender's rate is used up: try again after `wait` seconds (not a failed attempt)."""

    def __init__(self, wait: float):
        super().__init__(f"Rate limit: next slot in {wait:.2f}s", retryable=True, code="throttled")
        self.wait = wait


class ConsoleBackend:
    name = Backend.CONSOLE

    def __init__(self, config: SmsConfig):
        self.config = config

    def send(self, message: Message) -> SendResult:
        sid = f"console-{uuid.uuid4()}"
        # The log line names the message, not the person (masked number, no text); the console
        # shows the text, which is what this development backend is for.
        logger.info("SMS %s to %s (%s segment(s), %s characters)", sid, mask_phone(message.to_number),
                    message.segments, len(message.body))
        print(f"SMS {sid} to {mask_phone(message.to_number)} ({message.segments} segment(s)):\n{message.body}",
              flush=True)
        return SendResult(sid=sid, status=Message.Status.SENT, from_number=self.config.from_number)

    def find_sent(self, message: Message, since) -> SendResult | None:
        return None  # nothing to ask: sending again only prints the text again


def status_callback_url(organization_public_id) -> str:
    """The absolute status-callback URL Twilio posts to (empty without KITH_PUBLIC_URL)."""
    base = settings.KITH_PUBLIC_URL
    if not base:
        return ""
    return f"{base}/webhooks/twilio/{organization_public_id}/status/"


def twilio_http_client():
    path = getattr(settings, "KITH_TWILIO_HTTP_CLIENT", "")
    return import_string(path)() if path else None


# Looking up a text whose answer was lost (TwilioBackend.find_sent): how many of the newest
# messages to the number, and how far before the attempt Twilio's clock may have dated it.
FIND_LIMIT = 20
FIND_SKEW = datetime.timedelta(minutes=2)

# Twilio's message statuses as ours (accepted/scheduled by Twilio are still queued for us).
_TWILIO_STATUS = {"accepted": Message.Status.QUEUED, "queued": Message.Status.QUEUED,
                  "scheduled": Message.Status.QUEUED, "sending": Message.Status.SENDING,
                  "sent": Message.Status.SENT, "delivered": Message.Status.DELIVERED,
                  "undelivered": Message.Status.UNDELIVERED, "failed": Message.Status.FAILED}


class TwilioBackend:
    name = Backend.TWILIO

    def __init__(self, config: SmsConfig):
        self.config = config

    def client(self):
        from twilio.rest import Client

        if not (self.config.account_sid and self.config.auth_token):
            raise SendError("Twilio is not configured (account SID and auth token).", retryable=False,
                            code="not_configured")
        return Client(self.config.account_sid, self.config.auth_token, http_client=twilio_http_client())

    def send(self, message: Message) -> SendResult:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        params = {"to": message.to_number, "body": message.body}
        if self.config.messaging_service_sid:
            params["messaging_service_sid"] = self.config.messaging_service_sid
        elif self.config.from_number:
            params["from_"] = self.config.from_number
        else:
            raise SendError("Twilio needs a messaging service SID or a from-number.", retryable=False,
                            code="not_configured")
        public_id = Organization.objects.filter(pk=message.organization_id).values_list("public_id", flat=True)[0]
        callback = status_callback_url(public_id)
        if callback:
            params["status_callback"] = callback
        validity = message.validity_seconds or self.config.validity_seconds
        if validity:
            params["validity_period"] = int(validity)
        try:
            result = self.client().messages.create(**params)
        except TwilioRestException as exc:
            retryable = exc.status == 429 or exc.status >= 500
            raise SendError(exc.msg or str(exc), retryable=retryable, code=str(exc.code or exc.status),
                            status=exc.status) from exc
        except (TwilioException, requests.RequestException) as exc:  # connection errors: worth another try
            raise SendError(str(exc), retryable=True, code="connection") from exc
        return self._result(result)

    def _result(self, record) -> SendResult:
        return SendResult(sid=record.sid, status=_TWILIO_STATUS.get(record.status, Message.Status.QUEUED),
                          from_number=record.from_ or self.config.from_number)

    def find_sent(self, message: Message, since) -> SendResult | None:
        """The text Twilio accepted for `message` in an attempt whose answer was never saved: the
        newest messages to its number (from its sender), matched on the body, created since the
        attempt began (less FIND_SKEW for the clocks), and not already another message of ours.
        Twilio has no idempotency key, so this lookup is what stands between a lost answer and
        a second text."""
        from twilio.base.exceptions import TwilioException, TwilioRestException

        params = {"to": message.to_number, "limit": FIND_LIMIT}
        if not self.config.messaging_service_sid and self.config.from_number:
            params["from_"] = self.config.from_number
        try:
            records = self.client().messages.list(**params)
        except TwilioRestException as exc:
            raise SendError(exc.msg or str(exc), retryable=True, code=str(exc.code or exc.status)) from exc
        except (TwilioException, requests.RequestException) as exc:
            raise SendError(str(exc), retryable=True, code="connection") from exc
        earliest = since - FIND_SKEW
        candidates = [r for r in records if r.body == message.body and r.sid
                      and (r.date_created is None or r.date_created >= earliest)]
        known = set(Message.objects.filter(organization_id=message.organization_id,
                                           provider_sid__in=[r.sid for r in candidates])
                    .values_list("provider_sid", flat=True))
        for record in reversed(candidates):  # Twilio lists the newest first; the first attempt's text
            if record.sid not in known:
                return self._result(record)
        return None


BACKENDS = {Backend.CONSOLE: ConsoleBackend, Backend.TWILIO: TwilioBackend}


def backend_for(config: SmsConfig):
    return BACKENDS.get(config.backend, ConsoleBackend)(config)



