"""GET /api/dashboard/: the dashboard's metrics as JSON (crm/dashboard.py, shared with the page)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from crm.api.views import COMMON_PARAMS, IsOrganizationMember, check_query_params
from crm.dashboard import DashboardFilterForm, metrics


class DashboardViewSet(viewsets.ViewSet):
    """Contacts (total, active, new, growth, by lifecycle stage and source, SMS opt-in rate),
    messages sent/delivered/failed, response rate and activities per rep over a date range,
    counted over what the caller may see."""

    permission_classes = [IsAuthenticated, IsOrganizationMember]

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day (YYYY-MM-DD, inclusive); "
                                                                    "default: 29 days before `to`."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (inclusive); default: today."),
            OpenApiParameter("team", OpenApiTypes.INT, description="Only the contacts of this team (id)."),
            OpenApiParameter("industry", OpenApiTypes.STR, description="Only contacts of this industry "
                                                                       "(any capitalization)."),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def list(self, request):
        check_query_params(request, COMMON_PARAMS | set(DashboardFilterForm.PARAMS))
        form = DashboardFilterForm(request.query_params, user=request.user)
        if not form.is_valid():
            raise ValidationError({name: [error["message"] for error in errors]
                                   for name, errors in form.errors.get_json_data().items()})
        return Response(metrics(request.user, form.filters()))
