from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from contacts import views_search
from crm import views, views_account, views_dashboard

# Oversized request bodies are 413s naming the limit (crm.pages.request_error).
handler400 = "crm.pages.request_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", views_account.SignInView.as_view(), name="login"),
    path("login/code/", views_account.login_code, name="login_code"),
    path("account/two-factor/", views_account.two_factor, name="two_factor"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("password-change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password-change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("dashboard/", views_dashboard.dashboard, name="dashboard"),
    path("search/", views_search.search_page, name="search"),
    path("search/suggest/", views_search.search_suggest, name="search_suggest"),
    path("contacts/", include("contacts.urls")),
    path("companies/", include("companies.urls")),
    path("", include("activities.urls")),
    path("messages/", include("messaging.urls")),
    path("settings/", include("crm.urls_settings")),
    path("settings/", include("contacts.urls_settings")),
    path("settings/", include("messaging.urls_settings")),
    path("api/", include("crm.api.urls")),
    path("webhooks/", include("messaging.urls_webhooks")),
    path("admin/", admin.site.urls),
]
