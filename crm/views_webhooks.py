"""/settings/webhooks/: org admins register endpoints, read the delivery log, redeliver.

Everybody else gets a 404 (the endpoints are not theirs to know about), like another
organization's endpoint. Writes go through crm.webhooks."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from crm import webhooks
from crm.forms_settings import WebhookEndpointForm, add_service_errors
from crm.models import WebhookDelivery, WebhookEndpoint
from crm.pages import bad_request
from crm.pagination import InvalidCursor, KeysetPaginator, SortKey, page_size_from
from crm.permissions import Scope

LOG_SORT = SortKey("created_at", descending=True)


def _admin(user) -> Scope:
    scope = Scope.of(user)
    if scope is None or not scope.is_admin:
        raise Http404("No such page.")
    return scope


def _endpoint(user, pk) -> WebhookEndpoint:
    _admin(user)
    endpoint = WebhookEndpoint.objects.visible_to(user, "change").filter(pk=pk).first()
    if endpoint is None:
        raise Http404("No such endpoint.")
    return endpoint


@login_required
def endpoint_list(request):
    _admin(request.user)
    endpoints = WebhookEndpoint.objects.visible_to(request.user, "view").order_by("-created_at", "-id")
    return render(request, "crm/settings/webhooks.html", {"endpoints": endpoints})


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_create(request):
    scope = _admin(request.user)
    form = WebhookEndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = webhooks.create_endpoint(organization_id=scope.organization_id, actor=request.user,
                                                **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            # The secret is shown in full once, right after creation.
            request.session[f"webhook_secret_shown:{endpoint.pk}"] = True
            messages.success(request, "Added the endpoint. Copy its signing secret now.")
            return redirect("settings_webhook", pk=endpoint.pk)
    return render(request, "crm/settings/webhook_form.html", {"form": form, "endpoint": None},
                  status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_edit(request, pk):
    endpoint = _endpoint(request.user, pk)
    initial = {"url": endpoint.url, "description": endpoint.description, "event_types": endpoint.event_types,
               "is_active": endpoint.is_active}
    form = WebhookEndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            webhooks.update_endpoint(endpoint, data=form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Saved the endpoint.")
            return redirect("settings_webhook", pk=endpoint.pk)
    return render(request, "crm/settings/webhook_form.html", {"form": form, "endpoint": endpoint},
                  status=400 if form.errors else 200)


@login_required
def endpoint_detail(request, pk):
    """The endpoint, its state (disabled and why) and its delivery log, newest first."""
    endpoint = _endpoint(request.user, pk)
    rows = (WebhookDelivery.objects.visible_to(request.user, "view").filter(endpoint=endpoint)
            .select_related("event"))
    paginator = KeysetPaginator(rows, LOG_SORT, page_size=page_size_from(request.GET.get("page_size")),
                                namespace=f"webhook-log:{endpoint.pk}")
    try:
        page = paginator.page(request.GET.get("cursor"))
    except InvalidCursor as exc:
        return bad_request(request, str(exc))
    show_secret = request.session.pop(f"webhook_secret_shown:{endpoint.pk}", False) or request.GET.get("reveal") == "1"
    return render(request, "crm/settings/webhook.html", {
        "endpoint": endpoint, "page": page, "show_secret": show_secret,
    })


@login_required
@require_POST
def endpoint_delete(request, pk):
    endpoint = _endpoint(request.user, pk)
    endpoint.delete()
    messages.success(request, f"Deleted the endpoint {endpoint.url}.")
    return redirect("settings_webhooks")


@login_required
@require_POST
def endpoint_rotate(request, pk):
    endpoint = _endpoint(request.user, pk)
    webhooks.rotate_secret(endpoint)
    request.session[f"webhook_secret_shown:{endpoint.pk}"] = True
    messages.success(request, "New signing secret: update your receiver, the old one no longer signs.")
    return redirect("settings_webhook", pk=endpoint.pk)


@login_required
@require_POST
def endpoint_test(request, pk):
    endpoint = _endpoint(request.user, pk)
    try:
        webhooks.send_test_event(endpoint)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Sent a test event; it shows in the log within seconds.")
    return redirect("settings_webhook", pk=endpoint.pk)


@login_required
@require_POST
def delivery_redeliver(request, pk, delivery_pk):
    endpoint = _endpoint(request.user, pk)
    delivery = (WebhookDelivery.objects.visible_to(request.user, "change").filter(endpoint=endpoint, pk=delivery_pk)
                .select_related("endpoint").first())
    if delivery is None:
        raise Http404("No such delivery.")
    try:
        webhooks.redeliver(delivery)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Sending {delivery.event.type} again.")
    return redirect("settings_webhook", pk=endpoint.pk)
