from django.urls import path

from contacts import views
from crm.views_history import revert_contact_change

app_name = "contacts"
urlpatterns = [
    path("", views.ContactListView.as_view(), name="list"),
    path("new/", views.contact_create, name="create"),
    path("new/custom-fields/", views.contact_custom_fields, name="new_custom_fields"),
    path("trash/", views.ContactTrashView.as_view(), name="trash"),
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
]
