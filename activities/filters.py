"""FilterSet of the timeline, shared by the pages and the API."""

from __future__ import annotations

import django_filters as filters

from activities.models import Activity, Notification
from companies.models import Company
from contacts.models import Contact
from crm.filters import DayFromFilter, DayToFilter, OrgScopedFilterSet
from crm.models import User


class ActivityFilter(OrgScopedFilterSet):
    contact = filters.ModelChoiceFilter(queryset=Contact.objects.all())
    company = filters.ModelChoiceFilter(queryset=Company.objects.all())
    type = filters.MultipleChoiceFilter(distinct=False, choices=Activity.Type.choices)
    direction = filters.ChoiceFilter(choices=Activity.Direction.choices)
    status = filters.MultipleChoiceFilter(distinct=False, choices=Activity.Status.choices)
    actor = filters.ModelChoiceFilter(queryset=User.objects.all())
    assigned_to = filters.ModelChoiceFilter(queryset=User.objects.all())
    open_tasks = filters.BooleanFilter(method="filter_open_tasks", label="Open tasks only")
    occurred_after = DayFromFilter(field_name="occurred_at")
    occurred_before = DayToFilter(field_name="occurred_at")

    class Meta:
        model = Activity
        fields: list[str] = []

    def filter_open_tasks(self, queryset, name, value):
        if value is None:
            return queryset
        open_q = {"type": Activity.Type.TASK, "completed_at__isnull": True}
        return queryset.filter(**open_q) if value else queryset.exclude(**open_q)


class NotificationFilter(OrgScopedFilterSet):
    kind = filters.MultipleChoiceFilter(distinct=False, choices=Notification.Kind.choices)
    unread = filters.BooleanFilter(field_name="read_at", lookup_expr="isnull", label="Unread only")

    class Meta:
        model = Notification
        fields: list[str] = []
