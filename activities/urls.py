from django.urls import path

from activities import views

app_name = "activities"
urlpatterns = [
    path("contacts/<int:pk>/timeline/", views.timeline_view, {"model": "contact"}, name="contact_timeline"),
    path("companies/<int:pk>/timeline/", views.timeline_view, {"model": "company"}, name="company_timeline"),
    path("contacts/<int:pk>/timeline/add/<str:kind>/", views.quick_add, {"model": "contact"},
         name="contact_quick_add"),
    path("companies/<int:pk>/timeline/add/<str:kind>/", views.quick_add, {"model": "company"},
         name="company_quick_add"),
    path("activities/<int:pk>/done/", views.task_done, name="task_done"),
    path("activities/<int:pk>/cancel/", views.activity_cancel, name="activity_cancel"),
    path("activities/<int:pk>/delete/", views.activity_delete, name="activity_delete"),
    path("tasks/", views.my_tasks, name="my_tasks"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/count/", views.notification_count, name="notification_count"),
    path("notifications/read-all/", views.notification_read_all, name="notification_read_all"),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification_read"),
]
