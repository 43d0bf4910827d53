from django.urls import path

from contacts import bulk_views, segment_views, views
from crm.views_history import revert_contact_change

app_name = "contacts"
urlpatterns = [
    path("", views.ContactListView.as_view(), name="list"),
    path("new/", views.contact_create, name="create"),
    path("new/custom-fields/", views.contact_custom_fields, name="new_custom_fields"),
    path("trash/", views.ContactTrashView.as_view(), name="trash"),
    path("bulk/", bulk_views.bulk_apply, name="bulk"),
    path("bulk/params/", bulk_views.bulk_params, name="bulk_params"),
    path("bulk/count/", bulk_views.bulk_count, name="bulk_count"),
    path("bulk/<int:pk>/", bulk_views.bulk_detail, name="bulk_detail"),
    path("bulk/<int:pk>/undo/", bulk_views.bulk_undo, name="bulk_undo"),
    path("bulk/<int:pk>/cancel/", bulk_views.bulk_cancel, name="bulk_cancel"),
    path("<int:pk>/", views.contact_detail, name="detail"),
    path("<int:pk>/edit/", views.contact_edit, name="edit"),
    path("<int:pk>/edit/custom-fields/", views.contact_custom_fields, name="custom_fields"),
    path("<int:pk>/delete/", views.contact_delete, name="delete"),
    path("<int:pk>/restore/", views.contact_restore, name="restore"),
    path("<int:pk>/field/<str:field>/", views.contact_inline, name="inline"),
    path("<int:pk>/tags/", views.contact_tag_add, name="tag_add"),
    path("<int:pk>/tags/<int:tag_pk>/remove/", views.contact_tag_remove, name="tag_remove"),
    path("<int:pk>/consent/", views.contact_consent, name="consent"),
    path("<int:pk>/history/<int:event_id>/revert/", revert_contact_change, name="history_revert"),
    # Segments and saved views (contacts/segment_views.py)
    path("segments/", segment_views.segment_list, name="segment_list"),
    path("segments/new/", segment_views.segment_create, name="segment_create"),
    path("segments/preview/", segment_views.segment_preview, name="segment_preview"),
    path("segments/<int:pk>/", segment_views.segment_detail, name="segment_detail"),
    path("segments/<int:pk>/edit/", segment_views.segment_edit, name="segment_edit"),
    path("segments/<int:pk>/delete/", segment_views.segment_delete, name="segment_delete"),
    path("segments/<int:pk>/count/", segment_views.segment_count, name="segment_count"),
    path("views/", segment_views.saved_view_create, name="saved_view_create"),
    path("views/<int:pk>/delete/", segment_views.saved_view_delete, name="saved_view_delete"),
]
