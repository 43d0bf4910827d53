"""/api/: every app's routes under one router (its root lists them), tokens, the OpenAPI schema and docs."""

from django.http import JsonResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from activities.api.urls import router as activities_router
from activities.api.views import TimelineView
from companies.api.urls import router as companies_router
from contacts.api.encryption import EncryptionSettingsView
from contacts.api.merges import (
    BulkMergeDetailView, BulkMergeView, MergeCreateView, MergeDetailView, MergeUndoView,
)
from contacts.api.scoring import ScoringModelView
from contacts.api.search import FullTextSearchView, SearchIndexView, SearchView
from contacts.api.urls import router as contacts_router
from crm.api.dashboard import DashboardViewSet
from crm.api.members import MemberViewSet, TeamViewSet
from crm.api.views import CustomFieldDefinitionViewSet, TagViewSet, TokenView
from crm.api.webhooks import WebhookEndpointViewSet
from messaging.api.urls import router as messaging_router
from messaging.api.settings import MessagingSettingsView

app_name = "api"

# No format-suffix routes (".json"): the API speaks JSON, and the suffix variants of the
# custom actions did not take the `format` argument (a 500 on any such URL).
router = DefaultRouter()
router.include_format_suffixes = False
router.register("tags", TagViewSet, basename="tag")
router.register("custom-fields", CustomFieldDefinitionViewSet, basename="custom-field")
router.register("teams", TeamViewSet, basename="team")
router.register("members", MemberViewSet, basename="member")
router.register("dashboard", DashboardViewSet, basename="dashboard")
router.register("webhooks", WebhookEndpointViewSet, basename="webhook")
for app_router in (contacts_router, companies_router, activities_router, messaging_router):
    router.registry.extend(app_router.registry)


@csrf_exempt  # a POST to an unknown URL is a JSON 404 too, not the HTML CSRF failure page
def not_found(request, *args, **kwargs):
    # Unknown /api/ URLs answer JSON like every other API error, not the HTML 404 page.
    return JsonResponse({"detail": "Not found."}, status=404)


urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="token"),
    path("search/", SearchView.as_view(), name="search"),
    path("search/full-text/", FullTextSearchView.as_view(), name="search-full-text"),
    path("search/index/", SearchIndexView.as_view(), name="search-index"),
    path("contacts/<int:pk>/timeline/", TimelineView.as_view(model="contact"), name="contact-timeline"),
    path("companies/<int:pk>/timeline/", TimelineView.as_view(model="company"), name="company-timeline"),
    # Before the router: "contacts/merge/" is not a contact id.
    path("contacts/merge/", MergeCreateView.as_view(kind="contact"), name="contact-merge"),
    path("companies/merge/", MergeCreateView.as_view(kind="company"), name="company-merge"),
    path("merges/bulk/", BulkMergeView.as_view(), name="merge-bulk"),
    path("merges/bulk/<int:pk>/", BulkMergeDetailView.as_view(), name="merge-bulk-detail"),
    path("merges/<int:pk>/", MergeDetailView.as_view(), name="merge-detail"),
    path("merges/<int:pk>/undo/", MergeUndoView.as_view(), name="merge-undo"),
    path("messaging-settings/", MessagingSettingsView.as_view(), name="messaging-settings"),
    path("settings/encryption/", EncryptionSettingsView.as_view(), name="encryption-settings"),
    path("scoring-model/", ScoringModelView.as_view(), name="scoring-model"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The page's script is served separately (?script), so the Content-Security-Policy needs no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    *router.urls,
    re_path(r"^.*/$", not_found),
]
