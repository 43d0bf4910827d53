"""/settings/messaging/ (org admins)."""

from django.urls import path

from messaging import views

app_name = "messaging_settings"
urlpatterns = [
    path("messaging/", views.messaging_settings, name="edit"),
]
