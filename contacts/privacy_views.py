"""Privacy pages (contacts.privacy): the export and erase confirmations reached from the contact
page's privacy card, and /settings/privacy/ (org admins): the request log with downloads, the
trash retention setting, and recording an erased person's consent to be added again."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from contacts import privacy
from contacts.models import PrivacyRequest
from crm.models import Organization
from crm.pages import require_admin

LOG_LENGTH = 100


class RetentionForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ["trash_retention_days"]
        help_texts = {"trash_retention_days": "Contacts in the trash longer than this are erased for good, "
                                              "with their activities, messages and history (1–3650)."}


class LiftForm(forms.Form):
    email = forms.EmailField(required=False)
    phone = forms.CharField(required=False, max_length=40)
    evidence = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
                               help_text="How the person gave their consent (form, message, call …).")


@login_required
@require_http_methods(["GET", "POST"])
def confirm(request, pk, kind):
    """GET: what will happen; POST: queue the export or erasure (404/403 as privacy.subject)."""
    contact = privacy.subject(request.user, pk)
    if request.method == "POST":
        if kind == PrivacyRequest.Kind.ERASURE:
            privacy.request_erasure(request.user, contact.pk)
            messages.success(request, f"Erasure of contact #{contact.pk} requested: it runs in the next minutes.")
        else:
            privacy.request_export(request.user, contact.pk)
            messages.success(request, f"Export of contact #{contact.pk} requested: download it here when it is done.")
        return redirect("contact_settings:privacy")
    return render(request, "contacts/privacy_confirm.html", {"contact": contact, "kind": kind,
                                                              "erasure": kind == PrivacyRequest.Kind.ERASURE})


@login_required
@require_http_methods(["GET", "POST"])
def privacy_settings(request):
    scope = require_admin(request.user)
    organization = Organization.objects.get(pk=scope.organization_id)
    retention = RetentionForm(request.POST if request.POST.get("form") == "retention" else None,
                              instance=organization, prefix="retention")
    lift = LiftForm(request.POST if request.POST.get("form") == "lift" else None, prefix="lift")
    if request.method == "POST":
        if retention.is_bound and retention.is_valid():
            retention.save()
            messages.success(request, f"Deleted contacts are now purged after "
                                      f"{organization.trash_retention_days} days in the trash.")
            return redirect("contact_settings:privacy")
        if lift.is_bound and lift.is_valid():
            try:
                count = privacy.lift_tombstones(request.user, **lift.cleaned_data)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    lift.add_error(field if field in lift.fields else None, errors)
            else:
                messages.success(request, f"Consent recorded: {count} erased value{'s' if count != 1 else ''} "
                                          "may be added again.")
                return redirect("contact_settings:privacy")
    requests = list(privacy.visible_requests(request.user)[:LOG_LENGTH])
    for item in requests:
        item.downloadable = privacy.downloadable(item)
        item.expires_at = privacy.export_expires_at(item.job) if item.kind == PrivacyRequest.Kind.EXPORT else None
    return render(request, "contacts/settings/privacy.html", {
        "requests": requests, "retention_form": retention, "lift_form": lift, "log_days": privacy.log_days(),
        "export_hours": int(privacy.export_ttl().total_seconds() // 3600)},
        status=400 if request.method == "POST" else 200)


@login_required
def download(request, pk):
    require_admin(request.user)
    item = privacy.visible_requests(request.user).filter(pk=pk).first()
    if item is None:
        raise Http404("No such request.")
    handle, name = privacy.open_download(request.user, item)
    return FileResponse(handle, as_attachment=True, filename=name, content_type="application/zip")
