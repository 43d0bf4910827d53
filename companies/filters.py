"""FilterSet of companies, shared by the pages and the API."""

from __future__ import annotations

import django_filters as filters
from django.core.validators import RegexValidator
from django.db.models import Q

from companies.models import Company, normalize_domain
from crm.filters import DayFromFilter, DayToFilter, OrgScopedFilterSet
from crm.models import User


class CompanyFilter(OrgScopedFilterSet):
    q = filters.CharFilter(method="filter_q", label="Name or domain starts with")
    industry = filters.CharFilter(lookup_expr="iexact")
    size_band = filters.MultipleChoiceFilter(distinct=False, choices=Company.Size.choices)
    country = filters.CharFilter(
        method="filter_country",
        validators=[RegexValidator(r"^[A-Za-z]{2}$", "Use a two-letter ISO country code, e.g. US or DE.")])
    owner = filters.ModelMultipleChoiceFilter(distinct=False, queryset=User.objects.all())
    unowned = filters.BooleanFilter(field_name="owner", lookup_expr="isnull", label="Without owner")
    parent = filters.ModelChoiceFilter(queryset=Company.objects.all())
    created_after = DayFromFilter(field_name="created_at")
    created_before = DayToFilter(field_name="created_at")

    class Meta:
        model = Company
        fields: list[str] = []

    def filter_q(self, queryset, name, value):
        return search_prefix(queryset, value)

    def filter_country(self, queryset, name, value):
        return queryset.filter(country=value.upper()) if value else queryset



def search_prefix(queryset, text: str):
    """Companies whose name (case- and accent-insensitive) or domain starts with `text`;
    the name condition is a range on the C-collated search-name index."""
    from django.db.models.functions import Collate

    from crm.search import fold, prefix_upper_bound

    folded = fold(text)
    if not folded:
        return queryset
    return queryset.alias(name_c=Collate("search_name", "C")).filter(
        Q(name_c__gte=folded, name_c__lt=prefix_upper_bound(folded))
        | Q(domain__startswith=normalize_domain(text)))
