"""Two-factor sign-in with time-based one-time codes (TOTP, RFC 6238, pyotp).

A member enrols from their account page (/account/two-factor/): Kith makes a secret, shows it as a
QR code (segno, inline SVG) for an authenticator app, and turns two-factor on once the member
confirms a code. Signing in then takes the password and a code (crm.views_account), and so does
POST /api/auth/token/ (the `totp` field). Each code is accepted once: the time step of the last
accepted code is stored, and a code of that step or an earlier one is refused. Ten one-time
recovery codes, stored hashed, stand in for a code when the phone is lost.

An organization admin can require two-factor for every member (Organization.require_two_factor):
TwoFactorRequiredMiddleware sends members without it to enrolment, and the token endpoint gives
them no token, until they enrol.

The secret is stored encrypted (crm.encryption: Fernet, keys from SECRET_KEY)."""

from __future__ import annotations

import secrets
import time

import pyotp
import segno
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from crm.models import User

ISSUER = "Kith"
STEP = 30  # seconds per code
RECOVERY_CODES = 10
WRONG_CODE = "That code is wrong or was already used. Enter the current code from your authenticator app."


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(user, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code of an otpauth:// URI as inline SVG markup (no script, allowed by our CSP)."""
    return segno.make(uri, error="m").svg_inline(scale=5, title="QR code for your authenticator app")


def _normalize(code) -> str:
    return "".join(str(code or "").split()).replace("-", "")


def matching_step(secret: str, code, *, at: float | None = None) -> int | None:
    """The time step a 6-digit code belongs to (now, or one step either side for clock drift)."""
    code = _normalize(code)
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    now = time.time() if at is None else at
    current = int(now // STEP)
    for step in (current, current - 1, current + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def verify(user: User, code) -> bool:
    """Check a sign-in code of a user with two-factor on, and use it up (no replay): True if it is
    the current code not used before, or one of the user's recovery codes (then removed)."""
    if not user.has_two_factor:
        return False
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        step = matching_step(locked.totp_secret, code)
        if step is not None:
            if locked.totp_last_step is not None and step <= locked.totp_last_step:
                return False
            locked.totp_last_step = step
            locked.save(update_fields=["totp_last_step"])
            user.totp_last_step = step
            return True
        return _use_recovery_code(locked, user, code)


def _use_recovery_code(locked: User, user: User, code) -> bool:
    code = _normalize(code).lower()
    if len(code) != 10:
        return False
    for hashed in locked.totp_recovery_codes:
        if check_password(code, hashed):
            locked.totp_recovery_codes = [h for h in locked.totp_recovery_codes if h != hashed]
            locked.save(update_fields=["totp_recovery_codes"])
            user.totp_recovery_codes = locked.totp_recovery_codes
            return True
    return False


def count_failure(request, user) -> None:
    """A wrong code counts as a failed sign-in of that email from that address (django-axes), so
    codes cannot be guessed faster than passwords."""
    from django.contrib.auth.signals import user_login_failed

    django_request = getattr(request, "_request", request)
    if django_request is not None:
        user_login_failed.send(sender=__name__, credentials={"username": user.email}, request=django_request)


def enable(user: User, secret: str, code) -> list[str]:
    """Turn two-factor on with the secret the member scanned, once they give its current code.
    Returns the recovery codes (shown once; stored hashed)."""
    step = matching_step(secret, code)
    if step is None:
        raise ValidationError({"code": WRONG_CODE})
    codes = [secrets.token_hex(5) for _ in range(RECOVERY_CODES)]
    user.totp_secret = secret
    user.totp_confirmed_at = timezone.now()
    user.totp_last_step = step
    user.totp_recovery_codes = [make_password(c) for c in codes]
    user.save(update_fields=["totp_secret", "totp_confirmed_at", "totp_last_step", "totp_recovery_codes"])
    return codes


def disable(user: User, code) -> None:
    """Turn two-factor off (with a current code); refused when the organization requires it."""
    if required_for(user):
        raise ValidationError({"code": "Your organization requires two-factor sign-in: it cannot be turned off."})
    if not verify(user, code):
        raise ValidationError({"code": WRONG_CODE})
    user.totp_secret = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    user.totp_recovery_codes = []
    user.save(update_fields=["totp_secret", "totp_confirmed_at", "totp_last_step", "totp_recovery_codes"])


def required_for(user) -> bool:
    organization = getattr(user, "organization", None)
    return bool(organization and organization.require_two_factor)


def must_enrol(user) -> bool:
    return bool(user.is_authenticated and required_for(user) and not user.has_two_factor)


# Session key set at sign-in for a member who must enrol first (checked on every request without a
# query; cleared by enrolment).
ENROL_FLAG = "kith_enrol_two_factor"
ENROL_FIRST = ("Your organization requires two-factor sign-in. Set it up on your account page "
               "(/account/two-factor/) before using Kith.")


def flag_enrolment(sender, request, user, **kwargs):
    """user_logged_in: remember in the session whether this member still has to enrol."""
    if request is not None and hasattr(request, "session"):
        if must_enrol(user):
            request.session[ENROL_FLAG] = True
        else:
            request.session.pop(ENROL_FLAG, None)


class TwoFactorRequiredMiddleware:
    """Members of an organization that requires two-factor who have not enrolled can only reach
    the enrolment page (and sign out) until they do; the API answers 403."""

    ALLOWED_PREFIXES = ("/account/two-factor/", "/logout/", "/static/", "/healthz", "/login/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if (session is not None and session.get(ENROL_FLAG) and not request.path.startswith(self.ALLOWED_PREFIXES)
                and request.user.is_authenticated):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": ENROL_FIRST}, status=403)
            return redirect(f"{reverse('two_factor')}?required=1")
        return self.get_response(request)
