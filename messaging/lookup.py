"""Phone number checks: format, validity and number type from phonenumbers (offline), and the
carrier and line type from Twilio Lookup v2 when the organization sends through Twilio with
credentials. A Lookup failure never fails the check: it is reported in `lookup_error`.

The Twilio HTTP client is pluggable through the KITH_TWILIO_HTTP_CLIENT setting (dotted path of
a twilio.http.http_client.TwilioHttpClient subclass; empty: the SDK's own), as for sending."""

from __future__ import annotations

import logging

import phonenumbers
import requests
from django.core.exceptions import ValidationError

from messaging.config import sms_config
from messaging.models import Backend

logger = logging.getLogger("kith.sms")

PHONE_TYPES = {value: name.lower() for name, value in vars(phonenumbers.PhoneNumberType).items()
               if name.isupper() and isinstance(value, int)}

NOT_A_NUMBER = "This is not a phone number, e.g. +1 415 555 0100 or 020 7946 0018 with region GB."


def twilio_client(config):
    from twilio.rest import Client

    from messaging.backends import twilio_http_client

    return Client(config.account_sid, config.auth_token, http_client=twilio_http_client())


def check_phone(organization_id: int, phone: str, region: str) -> dict:
    """What we know about `phone` (read with `region` when it has no +country code).
    Raises ValidationError naming `phone` when it cannot be read as a phone number at all."""
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        raise ValidationError({"phone": NOT_A_NUMBER}) from None
    valid = phonenumbers.is_valid_number(number)
    fmt = phonenumbers.PhoneNumberFormat
    result = {
        "valid": valid,
        "possible": phonenumbers.is_possible_number(number),
        "e164": phonenumbers.format_number(number, fmt.E164) if valid else None,
        "region": phonenumbers.region_code_for_number(number),
        "number_type": PHONE_TYPES.get(phonenumbers.number_type(number)) if valid else None,
        "national": phonenumbers.format_number(number, fmt.NATIONAL) if valid else None,
        "international": phonenumbers.format_number(number, fmt.INTERNATIONAL) if valid else None,
        "carrier": None, "line_type": None, "lookup": None, "lookup_error": None,
    }
    if valid:
        config = sms_config(organization_id)
        if config.backend == Backend.TWILIO and config.account_sid and config.auth_token:
            result.update(twilio_lookup(config, result["e164"]))
    return result


def twilio_lookup(config, e164: str) -> dict:
    """Carrier and line type from Twilio Lookup v2 (line_type_intelligence)."""
    from twilio.base.exceptions import TwilioException, TwilioRestException

    try:
        found = twilio_client(config).lookups.v2.phone_numbers(e164).fetch(fields="line_type_intelligence")
    except TwilioRestException as exc:
        logger.warning("Twilio Lookup of a number failed: %s %s", exc.status, exc.code)
        return {"lookup": "twilio", "lookup_error": f"Twilio Lookup answered {exc.status}: {exc.msg or exc.code}"}
    except (TwilioException, requests.RequestException) as exc:
        # The exception text quotes the URL, which holds the number: only its kind is logged.
        logger.warning("Twilio Lookup unreachable: %s", type(exc).__name__)
        return {"lookup": "twilio", "lookup_error": "Twilio Lookup could not be reached."}
    info = found.line_type_intelligence or {}
    return {"lookup": "twilio", "carrier": info.get("carrier_name") or None, "line_type": info.get("type") or None,
            "lookup_error": info.get("error_code") and f"Twilio Lookup error {info['error_code']}" or None}
