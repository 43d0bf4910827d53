from __future__ import annotations

from activities.api.serializers import ActivitySerializer
from activities.filters import ActivityFilter
from activities.models import Activity
from crm.api.views import OrgViewSet, sorts


class ActivityViewSet(OrgViewSet):
    """The timeline: a contact's activities follow the contact's visibility; company-only
    activities are visible to every member and writable by every writer."""

    queryset = Activity.objects.all()
    serializer_class = ActivitySerializer
    filterset_class = ActivityFilter
    orderings = sorts(occurred="occurred_at", created="created_at")
    default_ordering = "-occurred"
