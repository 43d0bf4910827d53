"""Messages per second per sending number, across every worker: each sender's time is cut
into slots of 1/rate seconds, and a send needs its slot, taken with an atomic cache.add in
the shared cache (Redis, or the database cache; never per-process memory)."""

from __future__ import annotations

import math
import time

from django.core.cache import cache


def acquire(sender: str, rate: float) -> float:
    """0 when the caller may send now (the current slot is theirs); otherwise the seconds to
    wait for the next free slot."""
    if rate <= 0:
        return 0.0
    now = time.time()
    slot = math.floor(now * rate)
    if cache.add(f"kith:sms-slot:{sender}:{slot}", 1, timeout=max(2, math.ceil(2 / rate))):
        return 0.0
    return max((slot + 1) / rate - now, 0.01)
