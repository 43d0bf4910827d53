"""/settings/messaging/ (org admins)."""

from django.urls import path

from messaging import views_settings

app_name = "messaging_settings"
urlpatterns = [
    path("messaging/", views_settings.messaging_settings, name="edit"),
]
