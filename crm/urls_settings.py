"""/settings/: org admins manage members and teams."""

from django.urls import path

from crm import views_settings as views

urlpatterns = [
    path("", views.settings_home, name="settings"),
    path("members/", views.members, name="settings_members"),
    path("members/<int:pk>/", views.member_edit, name="settings_member"),
    path("members/<int:pk>/deactivate/", views.member_deactivate, name="settings_member_deactivate"),
    path("members/<int:pk>/reactivate/", views.member_reactivate, name="settings_member_reactivate"),
    path("members/<int:pk>/resend-invite/", views.member_resend_invite, name="settings_member_resend"),
    path("teams/", views.teams, name="settings_teams"),
    path("teams/<int:pk>/", views.team_edit, name="settings_team"),
    path("teams/<int:pk>/delete/", views.team_delete, name="settings_team_delete"),
]
