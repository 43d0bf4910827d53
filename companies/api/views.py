from __future__ import annotations

from companies.api.serializers import CompanySerializer
from companies.filters import CompanyFilter
from companies.models import Company
from companies.services import delete_company, restore_company
from crm.api.history import HistoryMixin
from crm.api.views import OrgViewSet, TrashMixin, sorts


class CompanyViewSet(HistoryMixin, TrashMixin, OrgViewSet):
    """Companies are shared reference data: every member reads them; admins, managers
    and the company's owner change them. DELETE moves a company to the trash;
    POST …/restore/ brings it back."""

    queryset = Company.objects.all()
    serializer_class = CompanySerializer
    filterset_class = CompanyFilter
    # Both backed by (organization, name) and (organization, created_at, id).
    orderings = sorts(name="name", created="created_at")
    default_ordering = "name"
    trash_service = delete_company
    restore_service = restore_company
