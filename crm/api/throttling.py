"""API request rates per token: a script with its own token cannot use up a person's rate, and
every token of a user is counted on its own. Signed in through the session (the browsable
API, the pages' fetches), the user is the key. Counts live in the shared cache (Redis or the
database cache, crm.settings CACHES), so every web process sees the same numbers."""

from __future__ import annotations

import hashlib

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class TokenRateThrottle(SimpleRateThrottle):
    """`DEFAULT_THROTTLE_RATES["token"]` (KITH_API_RATE_TOKEN); over it DRF answers 429 with
    Retry-After (the seconds until the oldest request in the window leaves it)."""

    scope = "token"

    def get_rate(self):
        # Read at request time (DRF binds THROTTLE_RATES at import), so settings can change it.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None  # AnonRateThrottle's part
        key = getattr(request.auth, "key", None)
        if key:
            # The token itself never goes into the cache (keys are readable there).
            ident = "t" + hashlib.sha256(key.encode()).hexdigest()[:32]
        else:
            ident = f"u{user.pk}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
