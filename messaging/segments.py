"""How many SMS segments a text takes, as carriers and Twilio count them.

GSM-7 (the basic set; the extension characters ^{}\\[~]|€ and form feed take two septets, an
escape and the character): 160 septets in a single message, 153 per segment when concatenated.
Any other character switches the whole text to UCS-2: 70 UTF-16 code units single, 67 per
segment (a character outside the BMP, e.g. an emoji, is a surrogate pair: 2 units). A two-unit
character is never split across segments, so packing is greedy per character.

static/js/sms_counter.js is the same logic for the live counter on the send form; keep the two
in step (tests/e2e/test_sms.py compares them)."""

from __future__ import annotations

import dataclasses

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7, UCS2 = "GSM-7", "UCS-2"
SINGLE = {GSM7: 160, UCS2: 70}
PER_SEGMENT = {GSM7: 153, UCS2: 67}
MAX_SEGMENTS = 10


@dataclasses.dataclass(frozen=True)
class SegmentInfo:
    encoding: str       # "GSM-7" or "UCS-2"
    units: int          # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    limit: int          # units that fit in this many segments

    @property
    def too_long(self) -> bool:
        return self.segments > MAX_SEGMENTS

    def label(self) -> str:
        """E.g. "1 segment · 42/160 GSM-7" (the send form's counter says the same)."""
        noun = "segment" if self.segments == 1 else "segments"
        return f"{self.segments} {noun} · {self.units}/{self.limit} {self.encoding}"


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _costs(text: str, encoding: str):
    for ch in text:
        if encoding == GSM7:
            yield 2 if ch in GSM7_EXTENSION else 1
        else:
            yield 2 if ord(ch) > 0xFFFF else 1


def count(text: str) -> SegmentInfo:
    encoding = GSM7 if is_gsm7(text) else UCS2
    costs = list(_costs(text, encoding))
    units = sum(costs)
    if units <= SINGLE[encoding]:
        return SegmentInfo(encoding, units, 1 if units else 0, SINGLE[encoding])
    size = PER_SEGMENT[encoding]
    segments, used = 1, 0
    for cost in costs:
        if used + cost > size:
            segments, used = segments + 1, 0
        used += cost
    return SegmentInfo(encoding, units, segments, segments * size)
