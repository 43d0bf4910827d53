"""Pages: the contact page's SMS panel (send, schedule, preview, cancel) and the SMS templates."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from contacts.models import Contact
from crm import quotas
from crm.pages import form_page, get_visible_or_404, require_writer, wants_partial
from crm.permissions import CHANGE, DELETE, Scope
from messaging import services
from messaging.forms import SendSmsForm, SmsTemplateForm
from messaging.models import Message, SmsTemplate


def panel_context(user, contact, form=None) -> dict:
    """What templates/messaging/_sms_panel.html needs (also the {% sms_panel %} tag)."""
    can_send = bool(getattr(contact, "can_change", False))
    form = form or SendSmsForm(contact=contact, user=user)
    templates = []
    for template in form.fields["template"].queryset:
        try:
            body = services.render(template.body, contact)
        except ValidationError:  # an unknown merge field: the preview names it
            body = template.body
        templates.append({"pk": template.pk, "name": template.name, "body": body})
    return {
        "contact": contact, "sms_form": form, "can_send": can_send, "problem": services.send_problem(contact),
        "sms_templates": templates, "timezone": str(form.tz),
        "pending": list(Message.objects.filter(contact=contact, direction="outbound", status="scheduled")
                        .order_by("scheduled_for")[:5]),
    }


def _contact(request, pk):
    return get_visible_or_404(request.user, Contact.objects.select_related("owner"), pk, CHANGE)


@login_required
@require_POST
def contact_send(request, pk):
    contact = _contact(request, pk)
    form = SendSmsForm(request.POST, contact=contact, user=request.user)
    try:
        message = form.save() if form.is_valid() else None
    except quotas.QuotaExceeded as exc:
        form.add_error(None, exc.message)
        context = panel_context(request.user, contact, form)
        template = "messaging/_sms_panel.html" if wants_partial(request) else "messaging/send_page.html"
        response = render(request, template, context, status=429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    if message is not None:
        if message.status == Message.Status.SCHEDULED:
            local = message.scheduled_for.astimezone(services.contact_timezone(contact))
            messages.success(request, f"Scheduled the text for {local:%b %d, %H:%M} ({local.tzname()}).")
        else:
            messages.success(request, f"Text sent to {contact}." if message.status != "failed" else
                             f"The text to {contact} failed: {message.error_message}")
        url = reverse("contacts:detail", args=[contact.pk])
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    context = panel_context(request.user, contact, form)
    if wants_partial(request):
        return render(request, "messaging/_sms_panel.html", context)
    return render(request, "messaging/send_page.html", context, status=400)


@login_required
@require_POST
def contact_preview(request, pk):
    contact = _contact(request, pk)
    form = SendSmsForm(request.POST, contact=contact, user=request.user)
    text, info = form.preview() if form.is_valid() else ("", None)
    return render(request, "messaging/_preview.html", {"text": text, "info": info, "form": form})


@login_required
@require_POST
def message_cancel(request, pk):
    message = get_visible_or_404(request.user, Message.objects.all(), pk, CHANGE)
    services.cancel_message(message, reason="Cancelled by " + request.user.get_full_name())
    messages.success(request, "Cancelled the scheduled text.")
    return redirect("contacts:detail", pk=message.contact_id) if message.contact_id else redirect("sms:templates")


# -- templates

@login_required
def template_list(request):
    templates = SmsTemplate.objects.visible_to(request.user).select_related("created_by").order_by("name")
    return render(request, "messaging/templates.html", {"templates": templates,
                                                        "can_write": bool(_scope_writes(request.user))})


def _scope_writes(user):
    scope = Scope.of(user)
    return scope is not None and scope.can_write


def _template_page(request, template):
    form = SmsTemplateForm(request.POST or None, instance=template, user=request.user)
    return form_page(request, form, template="messaging/template_form.html", context={"template": template},
                     success="Saved the template {obj}.", done_url="sms:templates")


@login_required
@require_http_methods(["GET", "POST"])
def template_create(request):
    scope = require_writer(request.user)
    return _template_page(request, SmsTemplate(organization_id=scope.organization_id))


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request, pk):
    require_writer(request.user)
    return _template_page(request, get_visible_or_404(request.user, SmsTemplate.objects.all(), pk, CHANGE))


@login_required
@require_POST
def template_delete(request, pk):
    require_writer(request.user)
    template = get_visible_or_404(request.user, SmsTemplate.objects.all(), pk, DELETE)
    template.delete()
    messages.success(request, f"Deleted the template {template.name}.")
    return redirect("sms:templates")
