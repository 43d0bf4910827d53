"""/settings/ pages of the contacts app (org admins): form layouts, assignment rules, search, lead scoring."""

from django.urls import path

from contacts import privacy_views
from contacts import views_settings as views

app_name = "contact_settings"
urlpatterns = [
    path("form-layouts/", views.layout_list, name="layouts"),
    path("form-layouts/new/", views.layout_create, name="layout_create"),
    path("form-layouts/presets/", views.layout_preset, name="layout_preset"),
    path("form-layouts/<int:pk>/", views.layout_edit, name="layout_edit"),
    path("form-layouts/<int:pk>/delete/", views.layout_delete, name="layout_delete"),
    path("search/", views.search_settings, name="search"),
    path("privacy/", privacy_views.privacy_settings, name="privacy"),
    path("privacy/requests/<int:pk>/download/", privacy_views.download, name="privacy_download"),
    path("encryption/", views.encryption_settings, name="encryption"),
    path("scoring/", views.scoring_settings, name="scoring"),
    path("assignment-rules/", views.rule_list, name="rules"),
    path("assignment-rules/new/", views.rule_create, name="rule_create"),
    path("assignment-rules/<int:pk>/", views.rule_edit, name="rule_edit"),
    path("assignment-rules/<int:pk>/delete/", views.rule_delete, name="rule_delete"),
    path("assignment-rules/<int:pk>/toggle/", views.rule_toggle, name="rule_toggle"),
    path("assignment-rules/<int:pk>/move-up/", views.rule_move, {"direction": "up"}, name="rule_move_up"),
    path("assignment-rules/<int:pk>/move-down/", views.rule_move, {"direction": "down"}, name="rule_move_down"),
]
