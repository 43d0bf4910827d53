"""Twilio's webhooks: `/webhooks/twilio/<organization public id>/status/` and `…/inbound/`.

No session and no CSRF token: a request is Twilio's when its X-Twilio-Signature matches the
organization's auth token over the URL Twilio called (KITH_PUBLIC_URL + path when set, as a
proxy in front of us changes host and scheme) and the POSTed parameters. Anything else is a
403 and changes nothing. The work is done in messaging.inbound."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from crm import rls
from crm.models import Organization
from messaging import inbound
from messaging.config import sms_config

logger = logging.getLogger("kith.sms")


def called_url(request) -> str:
    """The URL Twilio signed: the public URL when the app sits behind a proxy."""
    if settings.KITH_PUBLIC_URL:
        return settings.KITH_PUBLIC_URL + request.get_full_path()
    return request.build_absolute_uri()


def signature_ok(request, organization: Organization) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    token = sms_config(organization.pk).auth_token
    if not signature or not token:
        return False
    return RequestValidator(token).validate(called_url(request), request.POST.dict(), signature)


def twilio_webhook(view):
    """POST only, CSRF-exempt, the organization from the URL (404 when unknown) and a valid
    signature (403 otherwise) before the view runs."""
    @csrf_exempt
    @require_POST
    def wrapper(request, org):
        organization = get_object_or_404(Organization, public_id=org)
        rls.activate(organization.pk)  # anonymous request: the organization of the URL (crm.rls)
        if not signature_ok(request, organization):
            logger.warning("Rejected Twilio webhook %s: missing or invalid X-Twilio-Signature", request.path)
            return HttpResponseForbidden("Invalid or missing X-Twilio-Signature.", content_type="text/plain")
        try:
            return view(request, organization)
        except inbound.MalformedWebhook as exc:
            return HttpResponseBadRequest(str(exc), content_type="text/plain")
    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def twiml(response: MessagingResponse) -> HttpResponse:
    return HttpResponse(str(response), content_type="text/xml")


@twilio_webhook
def status_callback(request, organization):
    """A message status callback: the message moves forward (or nothing changes)."""
    inbound.apply_status_callback(organization, request.POST)
    return HttpResponse("", content_type="text/plain")


@twilio_webhook
def inbound_message(request, organization):
    """An inbound text: stored, keywords acted on; TwiML answers HELP (nothing otherwise)."""
    result = inbound.receive_message(organization, request.POST)
    response = MessagingResponse()
    if result.reply:
        response.message(result.reply)
    return twiml(response)
