from django.urls import path

from contacts import bulk_views, views

app_name = "contacts"
urlpatterns = [
    path("", views.ContactListView.as_view(), name="list"),
    path("new/", views.contact_create, name="create"),
    path("trash/", views.ContactTrashView.as_view(), name="trash"),
    path("bulk/", bulk_views.bulk_apply, name="bulk"),
    path("bulk/params/", bulk_views.bulk_params, name="bulk_params"),
    path("bulk/count/", bulk_views.bulk_count, name="bulk_count"),
    path("bulk/<int:pk>/", bulk_views.bulk_detail, name="bulk_detail"),
    path("bulk/<int:pk>/undo/", bulk_views.bulk_undo, name="bulk_undo"),
    path("bulk/<int:pk>/cancel/", bulk_views.bulk_cancel, name="bulk_cancel"),
    path("<int:pk>/", views.contact_detail, name="detail"),
    path("<int:pk>/edit/", views.contact_edit, name="edit"),
    path("<int:pk>/delete/", views.contact_delete, name="delete"),
    path("<int:pk>/restore/", views.contact_restore, name="restore"),
    path("<int:pk>/field/<str:field>/", views.contact_inline, name="inline"),
    path("<int:pk>/tags/", views.contact_tag_add, name="tag_add"),
    path("<int:pk>/tags/<int:tag_pk>/remove/", views.contact_tag_remove, name="tag_remove"),
    path("<int:pk>/consent/", views.contact_consent, name="consent"),
]
