from django.urls import path

from messaging import views

app_name = "sms"
urlpatterns = [
    path("templates/", views.template_list, name="templates"),
    path("templates/new/", views.template_create, name="template_create"),
    path("templates/<int:pk>/", views.template_edit, name="template_edit"),
    path("templates/<int:pk>/delete/", views.template_delete, name="template_delete"),
    path("contact/<int:pk>/send/", views.contact_send, name="contact_send"),
    path("contact/<int:pk>/preview/", views.contact_preview, name="contact_preview"),
    path("<int:pk>/cancel/", views.message_cancel, name="cancel"),
]
