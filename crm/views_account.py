"""Sign-in with two-factor, and the member's own two-factor settings (crm.twofactor)."""

from __future__ import annotations

import time

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from crm import twofactor
from crm.forms import EmailAuthenticationForm
from crm.models import Organization, User
from crm.pages import require_admin

# The password step's result, waiting for the code: user, backend, where to go, when, wrong codes.
PENDING = "kith_two_factor_pending"
PENDING_SECONDS = 300
MAX_WRONG_CODES = 5
ENROL_SECRET = "kith_two_factor_secret"


class CodeForm(forms.Form):
    code = forms.CharField(label="Code", max_length=20, strip=True,
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                                         "autofocus": True}))


class SignInView(LoginView):
    """The password step; members with two-factor continue to the code step."""

    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        if not user.has_two_factor:
            return super().form_valid(form)
        self.request.session[PENDING] = {"user": user.pk, "backend": user.backend, "next": self.get_success_url(),
                                         "at": time.time(), "wrong": 0}
        return redirect("login_code")


def _pending_user(request):
    pending = request.session.get(PENDING)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        request.session.pop(PENDING, None)
        return None, None
    user = User.objects.filter(pk=pending["user"], is_active=True).first()
    return pending, user


@require_http_methods(["GET", "POST"])
def login_code(request):
    """The code step of signing in."""
    pending, user = _pending_user(request)
    if user is None:
        messages.error(request, "Your sign-in timed out. Enter your email and password again.")
        return redirect("login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if twofactor.verify(user, form.cleaned_data["code"]):
            request.session.pop(PENDING, None)
            login(request, user, backend=pending["backend"])
            return redirect(pending["next"])
        twofactor.count_failure(request, user)
        pending["wrong"] += 1
        if pending["wrong"] >= MAX_WRONG_CODES:
            request.session.pop(PENDING, None)
            messages.error(request, "Too many wrong codes. Enter your email and password again.")
            return redirect("login")
        request.session[PENDING] = pending
        form.add_error("code", twofactor.WRONG_CODE)
    return render(request, "registration/login_code.html", {"form": form},
                  status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def two_factor(request):
    """Set up two-factor sign-in (scan the QR code, confirm a code), or turn it off."""
    user = request.user
    required = twofactor.required_for(user)
    form = CodeForm(request.POST or None)
    context = {"form": form, "required": required, "required_now": request.GET.get("required") == "1"}
    if user.has_two_factor:
        if request.method == "POST" and form.is_valid():
            try:
                twofactor.disable(user, form.cleaned_data["code"])
            except ValidationError as exc:
                form.add_error("code", exc.message_dict["code"])
            else:
                messages.success(request, "Two-factor sign-in is off.")
                return redirect("two_factor")
        context["recovery_left"] = len(user.totp_recovery_codes)
        return render(request, "crm/two_factor.html", context, status=400 if form.errors else 200)

    secret = request.session.get(ENROL_SECRET) or twofactor.new_secret()
    request.session[ENROL_SECRET] = secret
    if request.method == "POST" and form.is_valid():
        try:
            codes = twofactor.enable(user, secret, form.cleaned_data["code"])
        except ValidationError as exc:
            form.add_error("code", exc.message_dict["code"])
        else:
            request.session.pop(ENROL_SECRET, None)
            request.session.pop(twofactor.ENROL_FLAG, None)
            messages.success(request, "Two-factor sign-in is on. Keep your recovery codes somewhere safe.")
            return render(request, "crm/two_factor.html", {**context, "recovery_codes": codes,
                                                            "form": CodeForm()})
    uri = twofactor.provisioning_uri(user, secret)
    context.update({"secret": secret, "qr_svg": twofactor.qr_svg(uri)})
    return render(request, "crm/two_factor.html", context, status=400 if form.errors else 200)


class SecuritySettingsForm(forms.Form):
    require_two_factor = forms.BooleanField(
        label="Require two-factor sign-in for every member", required=False,
        help_text="Members who have not set it up are asked to at their next sign-in, before they can use Kith.")


@login_required
@require_http_methods(["GET", "POST"])
def security_settings(request):
    """Org admins: require two-factor sign-in for all members."""
    scope = require_admin(request.user)
    organization = Organization.objects.get(pk=scope.organization_id)
    form = SecuritySettingsForm(request.POST or None, initial={"require_two_factor": organization.require_two_factor})
    if request.method == "POST" and form.is_valid():
        organization.require_two_factor = form.cleaned_data["require_two_factor"]
        organization.save(update_fields=["require_two_factor"])
        messages.success(request, "Two-factor sign-in is now required for every member."
                         if organization.require_two_factor else "Two-factor sign-in is now optional.")
        return redirect("settings_security")
    members = User.objects.filter(membership__organization_id=organization.pk, is_active=True)
    return render(request, "crm/settings/security.html", {
        "form": form, "members_total": members.count(),
        "members_enrolled": members.filter(totp_confirmed_at__isnull=False).count()})
