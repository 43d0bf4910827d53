"""/settings/messaging/: the organization's SMS backend and Twilio credentials (org admins)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from crm.models import Organization
from crm.pages import require_admin
from messaging import org_settings
from messaging.config import sms_config
from messaging.forms_settings import MessagingSettingsForm


@login_required
@require_http_methods(["GET", "POST"])
def messaging_settings(request):
    scope = require_admin(request.user)
    organization = Organization.objects.get(pk=scope.organization_id)
    row = org_settings.settings_row(scope.organization_id)
    form = MessagingSettingsForm(request.POST or None, instance=row)
    if request.method == "POST" and form.is_valid() and form.save() is not None:
        messages.success(request, "Saved the messaging settings.")
        return redirect("messaging_settings:edit")
    return render(request, "messaging/settings.html", {
        "form": form, "row": row, "token_stored": bool(row.twilio_auth_token),
        "effective": sms_config(scope.organization_id),
        "webhooks": org_settings.webhook_urls(organization, request),
    }, status=400 if form.errors else 200)
