from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from companies.api.serializers import CompanySerializer
from companies.filters import CompanyFilter
from companies.models import Company
from companies.services import delete_company, restore_company
from crm.api.history import HistoryMixin
from crm.api.views import OrgViewSet, sorts
from crm.permissions import DELETE


class CompanyViewSet(HistoryMixin, OrgViewSet):
    """Companies are shared reference data: every member reads them; admins, managers
    and the company's owner change them. DELETE moves a company to the trash;
    POST …/restore/ brings it back."""

    queryset = Company.objects.all()
    serializer_class = CompanySerializer
    filterset_class = CompanyFilter
    # Both backed by (organization, name) and (organization, created_at, id).
    orderings = sorts(name="name", created="created_at")
    default_ordering = "name"

    def perform_destroy(self, instance):
        delete_company(instance)

    def rows(self):
        # Restoring reaches into the trash, which the default manager hides.
        return Company.all_objects.all() if self.action == "restore" else Company.objects.all()

    @extend_schema(request=None, responses=CompanySerializer)
    @action(detail=True, methods=["post"], permission_action=DELETE)
    def restore(self, request, pk=None):
        """Bring a company back from the trash (fails naming `domain` when a live company took its domain)."""
        company = self.get_object()
        if company.deleted_at is not None:
            restore_company(company)
        return Response(self.get_serializer(company).data)
