"""FilterSet of companies, shared by the pages and the API."""

from __future__ import annotations

import django_filters as filters
from django.core.validators import RegexValidator
from django.db.models import Q

from companies.models import Company, normalize_domain
from crm.filters import OrgScopedFilterSet
from crm.models import User


class CompanyFilter(OrgScopedFilterSet):
    q = filters.CharFilter(method="filter_q", label="Name or domain starts with")
    industry = filters.CharFilter(lookup_expr="iexact")
    size_band = filters.MultipleChoiceFilter(choices=Company.Size.choices)
    country = filters.CharFilter(
        method="filter_country",
        validators=[RegexValidator(r"^[A-Za-z]{2}$", "Use a two-letter ISO country code, e.g. US or DE.")])
    owner = filters.ModelMultipleChoiceFilter(queryset=User.objects.all())
    unowned = filters.BooleanFilter(field_name="owner", lookup_expr="isnull", label="Without owner")
    parent = filters.ModelChoiceFilter(queryset=Company.objects.all())
    created_after = filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    created_before = filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = Company
        fields: list[str] = []

    def filter_q(self, queryset, name, value):
        value = (value or "").strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__istartswith=value) | Q(domain__startswith=normalize_domain(value)))

    def filter_country(self, queryset, name, value):
        return queryset.filter(country=value.upper()) if value else queryset

