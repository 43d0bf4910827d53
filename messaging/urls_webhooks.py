"""/webhooks/: Twilio's status callbacks and inbound messages, per organization (public id)."""

from django.urls import path

from messaging import webhooks

app_name = "messaging"
urlpatterns = [
    path("twilio/<uuid:org>/status/", webhooks.status_callback, name="twilio_status"),
    path("twilio/<uuid:org>/inbound/", webhooks.inbound_message, name="twilio_inbound"),
]
