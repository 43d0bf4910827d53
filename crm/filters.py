"""The base FilterSet of every tenant list (pages and API), and the core models' FilterSets."""

from __future__ import annotations

import datetime

import django_filters as filters
from django.utils import timezone

from crm.models import CustomFieldDefinition, Membership, Tag, Team, User
from crm.permissions import VIEW, Role, Scope
from crm.querysets import OrgQuerySet


class OrgScopedFilterSet(filters.FilterSet):
    """Narrows every related-object choice to what the requesting user may see in their
    organization, so a filter value from another organization (or a row hidden from the
    user) is "not a valid choice" — never a leak, never an empty page that confirms it exists."""

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        super().__init__(data, queryset, request=request, prefix=prefix)
        user = getattr(request, "user", None)
        scope = Scope.of(user) if user is not None else None
        org_id = scope.organization_id if scope else -1
        self.scope = scope
        for name, field in self.form.fields.items():
            qs = getattr(field, "queryset", None)
            if qs is None:
                continue
            if qs.model is User:
                field.queryset = qs.filter(membership__organization_id=org_id)
            elif isinstance(qs, OrgQuerySet) and scope is not None:
                field.queryset = qs.visible_to(user, VIEW)
            else:
                field.queryset = qs.filter(organization_id=org_id)


class TagFilter(OrgScopedFilterSet):
    q = filters.CharFilter(field_name="name", lookup_expr="istartswith", label="Name starts with")

    class Meta:
        model = Tag
        fields: list[str] = []


class CustomFieldDefinitionFilter(OrgScopedFilterSet):
    model = filters.ChoiceFilter(choices=CustomFieldDefinition.Model.choices)
    field_type = filters.MultipleChoiceFilter(distinct=False, choices=CustomFieldDefinition.Type.choices)
    required = filters.BooleanFilter()

    class Meta:
        model = CustomFieldDefinition
        fields: list[str] = []


class TeamFilter(OrgScopedFilterSet):
    q = filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains")

    class Meta:
        model = Team
        fields: list[str] = []


class MemberFilter(OrgScopedFilterSet):
    q = filters.CharFilter(method="filter_q", label="Name or email contains")
    role = filters.MultipleChoiceFilter(choices=Role.CHOICES, distinct=False)
    team = filters.ModelMultipleChoiceFilter(queryset=Team.objects.all(), distinct=False)
    no_team = filters.BooleanFilter(field_name="team", lookup_expr="isnull", label="Without team")
    is_active = filters.BooleanFilter(field_name="user__is_active", label="Active")

    class Meta:
        model = Membership
        fields: list[str] = []

    def filter_q(self, queryset, name, value):
        from django.db.models import Q

        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(user__email__icontains=value) | Q(user__full_name__icontains=value))


class DayFromFilter(filters.DateFilter):
    """`<field> >= start of that day` (in the site time zone): a plain range on the
    timestamp, so the (organization, <field>) index serves it (`__date` would not)."""

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        return qs.filter(**{f"{self.field_name}__gte": _start_of_day(value)})


class DayToFilter(filters.DateFilter):
    """`<field> < start of the next day`: the whole given day is included."""

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        return qs.filter(**{f"{self.field_name}__lt": _start_of_day(value + datetime.timedelta(days=1))})


def _start_of_day(day):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
