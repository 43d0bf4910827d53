from django.urls import path

from companies import views
from crm.views_history import revert_company_change

app_name = "companies"
urlpatterns = [
    path("", views.CompanyListView.as_view(), name="list"),
    path("new/", views.company_create, name="create"),
    path("options/", views.company_options, name="options"),
    path("trash/", views.CompanyTrashView.as_view(), name="trash"),
    path("<int:pk>/", views.company_detail, name="detail"),
    path("<int:pk>/edit/", views.company_edit, name="edit"),
    path("<int:pk>/field/<str:field>/", views.company_inline, name="inline"),
    path("<int:pk>/delete/", views.company_delete, name="delete"),
    path("<int:pk>/restore/", views.company_restore, name="restore"),
    path("<int:pk>/history/<int:event_id>/revert/", revert_company_change, name="history_revert"),
]
