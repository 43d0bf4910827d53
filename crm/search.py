"""Text folding shared by stored search keys and the queries that look them up."""

from __future__ import annotations

import re
import unicodedata

# Letters NFKD does not decompose into a base letter + accent.
_TRANSLIT = str.maketrans({"ø": "o", "ł": "l", "ß": "ss", "æ": "ae", "đ": "d", "ı": "i", "œ": "oe", "þ": "th",
                           "ð": "d"})
_SPACES = re.compile(r"\s+")
_NOT_DIGIT = re.compile(r"\D+")


def fold(text: str | None) -> str:
    """Case- and accent-insensitive form: 'José  Müller' -> 'jose muller'.
    Other scripts are kept (casefolded), so 'Соколова' still matches 'сок'."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKD", text.casefold().translate(_TRANSLIT))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _SPACES.sub(" ", text).strip()


def digits(text: str | None) -> str:
    return _NOT_DIGIT.sub("", text or "")


def prefix_upper_bound(prefix: str) -> str:
    """Smallest string greater than every string starting with prefix (in "C" collation)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else ""
