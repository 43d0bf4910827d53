"""/settings/: org admins manage members, teams and webhooks."""

from django.urls import path

from crm import views_account
from crm import views_settings as views
from crm import views_webhooks as webhooks

urlpatterns = [
    path("", views.settings_home, name="settings"),
    path("members/", views.members, name="settings_members"),
    path("members/<int:pk>/", views.member_edit, name="settings_member"),
    path("members/<int:pk>/deactivate/", views.member_deactivate, name="settings_member_deactivate"),
    path("members/<int:pk>/reactivate/", views.member_reactivate, name="settings_member_reactivate"),
    path("members/<int:pk>/resend-invite/", views.member_resend_invite, name="settings_member_resend"),
    path("security/", views_account.security_settings, name="settings_security"),
    path("teams/", views.teams, name="settings_teams"),
    path("teams/<int:pk>/", views.team_edit, name="settings_team"),
    path("teams/<int:pk>/delete/", views.team_delete, name="settings_team_delete"),
    path("webhooks/", webhooks.endpoint_list, name="settings_webhooks"),
    path("webhooks/new/", webhooks.endpoint_create, name="settings_webhook_new"),
    path("webhooks/<int:pk>/", webhooks.endpoint_detail, name="settings_webhook"),
    path("webhooks/<int:pk>/edit/", webhooks.endpoint_edit, name="settings_webhook_edit"),
    path("webhooks/<int:pk>/delete/", webhooks.endpoint_delete, name="settings_webhook_delete"),
    path("webhooks/<int:pk>/rotate-secret/", webhooks.endpoint_rotate, name="settings_webhook_rotate"),
    path("webhooks/<int:pk>/test/", webhooks.endpoint_test, name="settings_webhook_test"),
    path("webhooks/<int:pk>/deliveries/<int:delivery_pk>/redeliver/", webhooks.delivery_redeliver,
         name="settings_webhook_redeliver"),
]
