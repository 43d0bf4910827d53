"""Pages show and read dates in the signed-in member's time zone (Membership.timezone,
set on /notifications/), or the site's TIME_ZONE when they chose none."""

from __future__ import annotations

import zoneinfo

from django.utils import timezone

from crm.permissions import Scope


class MemberTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = None
        user = getattr(request, "user", None)
        # Scope.of is cached on the user and needed by every signed-in page anyway: no extra query.
        if user is not None and user.is_authenticated:
            scope = Scope.of(user)
            if scope is not None and scope.timezone:
                try:
                    zone = zoneinfo.ZoneInfo(scope.timezone)
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    zone = None
        if zone is None:
            return self.get_response(request)
        timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
