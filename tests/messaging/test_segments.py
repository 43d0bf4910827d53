"""Segment counting against known GSM-7 and UCS-2 cases."""

from __future__ import annotations

import pytest

from messaging.segments import count

GSM, UCS = "GSM-7", "UCS-2"


@pytest.mark.parametrize("text,encoding,units,segments", [
    ("", GSM, 0, 0),
    ("Hello", GSM, 5, 1),
    ("a" * 160, GSM, 160, 1),
    ("a" * 161, GSM, 161, 2),
    ("a" * 306, GSM, 306, 2),
    ("a" * 307, GSM, 307, 3),
    ("a" * 1530, GSM, 1530, 10),
    ("a" * 1531, GSM, 1531, 11),
    # extension characters take an escape septet too
    ("€" * 80, GSM, 160, 1),
    ("a" * 159 + "€", GSM, 161, 2),
    ("^{}\\[~]|", GSM, 16, 1),
    # a two-septet character is never split: 152 + € does not fit in the first 153
    ("a" * 152 + "€" + "a" * 10, GSM, 164, 2),
    ("a" * 152 + "€" + "a" * 152, GSM, 306, 3),
    ("a" * 151 + "€" + "a" * 153, GSM, 306, 2),
    ("é£¥ÄÖÑÜ§¿ßÆ", GSM, 11, 1),
    ("Café at 8?\nBring ID.", GSM, 20, 1),
    # any other character switches to UCS-2
    ("ç" * 70, UCS, 70, 1),
    ("ç" * 71, UCS, 71, 2),
    ("ç" * 134, UCS, 134, 2),
    ("ç" * 135, UCS, 135, 3),
    ("Hi 👋", UCS, 5, 1),
    ("👋" * 35, UCS, 70, 1),
    ("👋" * 36, UCS, 72, 2),
    # a surrogate pair is not split across segments: 66 units + emoji > 67
    ("ç" * 66 + "👋" + "ç", UCS, 69, 1),
    ("ç" * 66 + "👋" + "ç" * 5, UCS, 73, 2),
    ("ç" * 66 + "👋" + "ç" * 66, UCS, 134, 3),
    ("Привет", UCS, 6, 1),
])
def test_counts(text, encoding, units, segments):
    info = count(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)


def test_label():
    assert count("x" * 42).label() == "1 segment · 42/160 GSM-7"
    assert count("x" * 200).label() == "2 segments · 200/306 GSM-7"
    assert count("ç").label() == "1 segment · 1/70 UCS-2"
    assert count("a" * 1531).too_long and not count("a" * 1530).too_long
