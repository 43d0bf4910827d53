"""Sign-in lockout (django-axes): too many failed sign-ins for one email from one address lock
that pair out for a while, on the sign-in page, the admin sign-in and POST /api/auth/token/.

The settings (crm/settings.py AXES_*): KITH_LOGIN_FAILURE_LIMIT failures, KITH_LOGIN_COOLOFF_MINUTES
of cool-off. A locked-out attempt answers 429 with Retry-After: the sign-in page shows the form with
the message, the API a JSON `detail`."""

from __future__ import annotations

import math

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.http import JsonResponse
from django.shortcuts import render

from crm.models import User


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' check before the password backend. Without a request there is no client address
    to count failures against (Django's test client `login()`, scripts): nothing to check."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def username_of(request, credentials) -> str:
    """The email the failure counts against, normalized as the user model stores it (so
    " Alice@ACME.test " and "alice@acme.test" are one count)."""
    credentials = credentials or {}
    value = credentials.get("username") or credentials.get("email")
    if value is None:
        data = getattr(request, "POST", None) or {}
        value = data.get("username") or data.get("email") or ""
    return User.objects.normalize_email(str(value))


def cool_off_seconds(request) -> int:
    cool_off = get_cool_off(request)
    return max(1, math.ceil(cool_off.total_seconds())) if cool_off else 0


def lockout_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return (f"Too many failed sign-ins for this email address. Sign-in is locked for {minutes} {unit}; "
            "try again later or reset your password.")


def lockout_response(request, original_response=None, credentials=None):
    """429 with Retry-After: JSON under /api/, otherwise the sign-in form with the message."""
    seconds = cool_off_seconds(request)
    message = lockout_message(seconds)
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=429)
    else:
        from crm.forms import EmailAuthenticationForm

        form = EmailAuthenticationForm(request, initial={"username": username_of(request, credentials)})
        response = render(request, "registration/login.html", {
            "form": form, "lockout_message": message, "next": request.POST.get("next", "")}, status=429)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response
