from django.urls import path

from companies import views
from contacts import merge_views
from crm.views_history import revert_company_change

app_name = "companies"
urlpatterns = [
    path("", views.CompanyListView.as_view(), name="list"),
    path("new/", views.company_create, name="create"),
    path("options/", views.company_options, name="options"),
    path("trash/", views.CompanyTrashView.as_view(), name="trash"),
    path("merge/", merge_views.merge_form, {"kind": "company"}, name="merge"),
    path("merges/<int:pk>/", merge_views.merge_detail, {"kind": "company"}, name="merge_detail"),
    path("merges/<int:pk>/undo/", merge_views.merge_undo, {"kind": "company"}, name="merge_undo"),
    path("<int:pk>/", views.company_detail, name="detail"),
    path("<int:pk>/edit/", views.company_edit, name="edit"),
    path("<int:pk>/field/<str:field>/", views.company_inline, name="inline"),
    path("<int:pk>/delete/", views.company_delete, name="delete"),
    path("<int:pk>/restore/", views.company_restore, name="restore"),
    path("<int:pk>/history/<int:event_id>/revert/", revert_company_change, name="history_revert"),
]
