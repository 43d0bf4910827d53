"""Keep people's email addresses and phone numbers out of our log lines.

Code logs ids, never names; `mask_phone` / `mask_email` shorten a value that a line needs to
tell numbers apart ("+1415•••••42"). `MaskPII` (a logging filter on the kith.* loggers and
our modules' loggers, crm/settings.py LOGGING) is the safety net: it masks any email address
or phone-like digit run left in a record's message or traceback (a provider's error text that
quotes the number, for instance). Names cannot be recognized in free text: never log them."""

from __future__ import annotations

import logging
import re

_EMAIL = re.compile(r"[\w.+-]+@([\w-]+\.)+[\w-]+")
# 7 or more digits, optionally with a leading + and the usual separators.
_PHONE = re.compile(r"(?<![\w])\+?\d(?:[ ().-]*\d){6,}(?![\w])")


def mask_phone(value) -> str:
    text = str(value or "")
    digits = re.sub(r"\D", "", text)
    if len(digits) < 5:
        return "•" * len(digits)
    return ("+" if text.startswith("+") else "") + digits[:2] + "•" * (len(digits) - 4) + digits[-2:]


def mask_email(value) -> str:
    text = str(value or "")
    local, _, domain = text.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def mask(text: str) -> str:
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


class MaskPII(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is not ours to fix here
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask(record.exc_text)
        return True
