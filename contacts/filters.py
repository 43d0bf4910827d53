"""One FilterSet per model, shared by the pages and the API."""

from __future__ import annotations

import django_filters as filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from companies.models import Company
from contacts.models import (
    AssignmentRule, ConsentStatus, Contact, ContactCompany, ContactRelationship, ContactTag, DecisionRole,
    FormLayout, LifecycleStage, RelationshipType, SavedView, Segment, Source,
)
from contacts.phones import no_phone_q, phone_q
from crm.filters import DayFromFilter, DayToFilter, OrgScopedFilterSet
from crm.models import CustomFieldDefinition, Job, Tag, Team, User
from crm.pagination import SortKey
from crm.search import fold


# Sorts offered on lists, each backed by an index that starts with organization.
CONTACT_ORDERINGS = {
    "created": ("created_at",),
    "updated": ("updated_at",),
    "last_activity": ("last_activity_at",),
    "name": ("search_name",),
    "score": ("score",),
}


def _json_value(value):
    """Form values as stored in JSONB (NumberFilter gives Decimal)."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _custom_field_filter(definition):
    """Filters for one custom field: `cf_<key>` (equality / contains for choices),
    plus `cf_<key>_min` / `cf_<key>_max` for numbers and dates."""
    key, t = definition.key, definition.field_type
    name = f"cf_{key}"

    def equals(queryset, _name, value):
        if value in (None, "", []):
            return queryset
        value = _json_value(value)
        if t == "boolean":
            return queryset.filter(custom_fields__contains={key: value})
        if t == "multiselect":
            return queryset.filter(custom_fields__contains={key: [value]})
        if t in ("text", "textarea", "url", "email", "phone"):
            return queryset.filter(**{f"custom_fields__{key}__icontains": value})
        return queryset.filter(custom_fields__contains={key: value})

    def bound(op):
        def method(queryset, _name, value):
            if value in (None, ""):
                return queryset
            value = value.isoformat() if t in ("date", "datetime") else _json_value(value)
            return queryset.filter(**{f"custom_fields__{key}__{op}": value})
        return method

    result = {}
    if t == "boolean":
        result[name] = filters.BooleanFilter(method=equals, label=definition.label)
    elif t in ("select", "multiselect"):
        result[name] = filters.ChoiceFilter(method=equals, label=definition.label,
                                            choices=[(o, o) for o in definition.options])
    elif t in ("number", "currency"):
        result[name] = filters.NumberFilter(method=equals, label=definition.label)
        result[f"{name}_min"] = filters.NumberFilter(method=bound("gte"), label=f"{definition.label} from")
        result[f"{name}_max"] = filters.NumberFilter(method=bound("lte"), label=f"{definition.label} to")
    elif t in ("date", "datetime"):
        result[f"{name}_min"] = filters.DateFilter(method=bound("gte"), label=f"{definition.label} from")
        result[f"{name}_max"] = filters.DateFilter(method=bound("lte"), label=f"{definition.label} to")
    else:
        result[name] = filters.CharFilter(method=equals, label=definition.label)
    return result


# Multiple-choice filters below match a column of the row itself (never a join), so they
# skip django-filter's default SELECT DISTINCT, which costs ~20 ms on a large list.
class ContactFilter(OrgScopedFilterSet):
    q = filters.CharFilter(method="filter_q", label="Name, email or phone starts with")
    lifecycle_stage = filters.MultipleChoiceFilter(distinct=False, choices=LifecycleStage.choices)
    source = filters.MultipleChoiceFilter(distinct=False, choices=Source.choices)
    owner = filters.ModelMultipleChoiceFilter(distinct=False, queryset=User.objects.all())
    unowned = filters.BooleanFilter(field_name="owner", lookup_expr="isnull", label="Without owner")
    team = filters.ModelMultipleChoiceFilter(distinct=False, queryset=Team.objects.all())
    tags = filters.ModelMultipleChoiceFilter(queryset=Tag.objects.all(), method="filter_tags")
    tags_mode = filters.ChoiceFilter(choices=[("any", "Any of the tags"), ("all", "All of the tags")],
                                     method="noop", empty_label=None)
    company = filters.ModelChoiceFilter(queryset=Company.objects.all(), method="filter_company")
    created_after = DayFromFilter(field_name="created_at")
    created_before = DayToFilter(field_name="created_at")
    updated_after = DayFromFilter(field_name="updated_at")
    updated_before = DayToFilter(field_name="updated_at")
    last_activity_after = DayFromFilter(field_name="last_activity_at")
    last_activity_before = DayToFilter(field_name="last_activity_at")
    score_min = filters.NumberFilter(field_name="score", lookup_expr="gte")
    score_max = filters.NumberFilter(field_name="score", lookup_expr="lte")
    has_email = filters.BooleanFilter(method="filter_has", field_name="email")
    has_phone = filters.BooleanFilter(method="filter_has_phone")
    phone = filters.CharFilter(method="filter_phone", label="Phone or mobile (the exact number)",
                               help_text="E.164 or as typed in the default region; never a part of a number.")
    email_consent = filters.ChoiceFilter(choices=ConsentStatus.choices)
    sms_consent = filters.ChoiceFilter(choices=ConsentStatus.choices)
    call_consent = filters.ChoiceFilter(choices=ConsentStatus.choices)
    segment = filters.ModelChoiceFilter(queryset=Segment.objects.all(), method="filter_segment",
                                        label="Segment")
    view = filters.ModelChoiceFilter(queryset=SavedView.objects.all(), method="filter_view", label="Saved view",
                                     help_text="Apply a saved view's filters (when no other filter is given).")

    class Meta:
        model = Contact
        fields: list[str] = []

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        self.saved_view = saved_view_for(request, data)
        if self.saved_view is not None:
            data = with_view_filters(data, self.saved_view, self.base_filters)
        super().__init__(data, queryset, request=request, prefix=prefix)
        self.sensitive_filters = set()
        if self.scope is not None:
            for definition in CustomFieldDefinition.objects.filter(organization_id=self.scope.organization_id,
                                                                   model="contact"):
                if definition.sensitive:  # encrypted at rest: no filter (README, "Encryption at rest")
                    name = f"cf_{definition.key}"
                    self.sensitive_filters.add(name)
                    flt = filters.CharFilter(method="noop", label=definition.label)
                    flt.model, flt.parent = Contact, self
                    self.filters[name] = flt
                    self.form.fields[name] = flt.field
                    continue
                for name, flt in _custom_field_filter(definition).items():
                    flt.model = Contact
                    flt.parent = self
                    self.filters[name] = flt
                    self.form.fields[name] = flt.field
        self.unknown_custom_fields = [name for name in (data or {})
                                      if name.startswith("cf_") and name not in self.filters]
        for name in self.unknown_custom_fields:
            self.form.fields[name] = forms.CharField(required=False)

    def is_valid(self):
        valid = super().is_valid()
        for name in self.unknown_custom_fields:
            self.form.add_error(name, f"No custom field {name[3:]!r} on contacts in your organization.")
        for name in sorted(self.sensitive_filters):
            if (self.data or {}).get(name) not in (None, ""):
                self.form.add_error(name, f"The custom field {name[3:]!r} is sensitive (encrypted at rest) and "
                                          "cannot be filtered.")
                valid = False
        segment = self.form.cleaned_data.get("segment") if hasattr(self.form, "cleaned_data") else None
        if segment is not None:
            from contacts.segments import CriteriaError

            try:
                self.segment_q = segment.q()
            except CriteriaError as exc:
                # A stored tree can go stale (a custom field it uses was removed).
                self.form.add_error("segment", f"The criteria of {segment} no longer apply: "
                                               f"{' '.join(exc.messages)}")
                valid = False
        return valid and not self.unknown_custom_fields

    @extend_schema_field(OpenApiTypes.INT)  # a saved view id; its filters were merged in __init__
    def filter_view(self, queryset, name, value):
        return queryset

    @extend_schema_field(OpenApiTypes.INT)  # a segment id, for the API schema
    def filter_segment(self, queryset, name, segment):
        if segment is None:
            return queryset
        q = getattr(self, "segment_q", None)
        return queryset.filter(q if q is not None else segment.q())

    def noop(self, queryset, name, value):
        return queryset

    def filter_q(self, queryset, name, value):
        return search_prefix(queryset, value)

    def filter_tags(self, queryset, name, tags):
        if not tags:
            return queryset
        if self.form.cleaned_data.get("tags_mode") == "all":
            for tag in tags:
                queryset = queryset.filter(Exists(ContactTag.objects.filter(contact_id=OuterRef("pk"), tag=tag)))
            return queryset
        return queryset.filter(Exists(ContactTag.objects.filter(contact_id=OuterRef("pk"), tag__in=tags)))

    @extend_schema_field(OpenApiTypes.INT)  # a company id, for the API schema
    def filter_company(self, queryset, name, company):
        if company is None:
            return queryset
        return queryset.filter(Exists(ContactCompany.objects.filter(contact_id=OuterRef("pk"), company=company)))

    def filter_has(self, queryset, name, value):
        if value is None:
            return queryset
        empty = Q(**{name: ""})
        return queryset.exclude(empty) if value else queryset.filter(empty)

    def filter_has_phone(self, queryset, name, value):
        if value is None:
            return queryset
        empty = no_phone_q()
        return queryset.exclude(empty) if value else queryset.filter(empty)

    def filter_phone(self, queryset, name, value):
        # Exact number only: encrypted phones are found by their blind index (contacts.phones).
        if not value:
            return queryset
        return queryset.filter(phone_q(value))


def saved_view_for(request, data):
    """The saved view named by `?view=<id>` if the requesting user may see it (cached on
    the request: the page reads its columns and sort too). A bad or hidden id gives None
    here; the `view` filter then reports it as an invalid choice."""
    raw = (data or {}).get("view") if hasattr(data, "get") else None
    user = getattr(request, "user", None)
    if not raw or user is None:
        return None
    cache = getattr(request, "_kith_saved_views", None)
    if cache is None:
        cache = request._kith_saved_views = {}
    if raw not in cache:
        try:
            pk = int(raw)
        except (TypeError, ValueError):
            pk = None
        cache[raw] = SavedView.objects.visible_to(user).filter(pk=pk).first() if pk else None
    return cache[raw]


# Parameters that page, sort or shape a list rather than filter it.
NON_FILTER_PARAMS = {"view", "ordering", "cursor", "per_page", "page_size", "fields", "expand", "format"}


def with_view_filters(data, view, filter_names):
    """The request's parameters with the saved view's filters, when the request brings no
    filter of its own (with any, the request's filters are used as they are, so a filter
    the user cleared on the page stays cleared; the view still gives columns and sort)."""
    from django.http import QueryDict

    own = [key for key in data if key not in NON_FILTER_PARAMS and (key in filter_names or key.startswith("cf_"))
           and any(v not in ("", None) for v in (data.getlist(key) if hasattr(data, "getlist") else [data[key]]))]
    if own:
        return data
    merged = QueryDict(mutable=True)
    for key, value in (view.filters or {}).items():
        merged.setlist(key, [str(v) for v in value] if isinstance(value, list) else [str(value)])
    for key in data:
        if key in NON_FILTER_PARAMS:
            merged.setlist(key, data.getlist(key) if hasattr(data, "getlist") else [data[key]])
    return merged


def clean_view_filters(filters: dict, request) -> dict:
    """A saved view's filters checked against ContactFilter as the given user would apply
    them: {name: value or [values]}; errors name the filter."""
    if not isinstance(filters, dict):
        raise ValidationError("Filters must be an object of parameter: value(s).")
    cleaned, errors = {}, {}
    for key, value in filters.items():
        if key in NON_FILTER_PARAMS:
            errors[key] = [f"{key} is not a filter."]
            continue
        values = value if isinstance(value, list) else [value]
        if not values or any(isinstance(v, (dict, list)) or v is None for v in values):
            errors[key] = ["Give a value or a list of values."]
            continue
        cleaned[key] = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    if errors:
        raise ValidationError(errors)
    from django.http import QueryDict

    data = QueryDict(mutable=True)
    for key, values in cleaned.items():
        data.setlist(key, values)
    filterset = ContactFilter(data, queryset=Contact.objects.none(), request=request)
    unknown = [key for key in cleaned if key not in filterset.filters]
    if unknown or not filterset.is_valid():
        errors = {key: ["Unknown filter."] for key in unknown}
        errors.update({name: list(messages) for name, messages in filterset.errors.items()
                       if name not in unknown})
        raise ValidationError(errors)
    return {key: values[0] if len(values) == 1 else values for key, values in cleaned.items()
            if any(v != "" for v in values)}


def search_prefix(queryset, text: str):
    """Contacts whose name (first or last name first), email or phone starts with `text`,
    case- and accent-insensitive; each condition is served by an index."""
    from functools import reduce
    from operator import or_

    from contacts.search import prefix_branches, with_prefix_keys
    from crm.search import digits

    folded = fold(text)
    if not folded:
        return queryset
    conditions = [condition for condition, _order in prefix_branches(folded, digits(text))]
    return with_prefix_keys(queryset).filter(reduce(or_, conditions))


def contact_sort_key(value: str) -> SortKey:
    """The keyset sort of an ordering value such as '-created' (unknown: ValidationError naming `ordering`)."""
    key, descending = validate_ordering(value)
    # Names sort in "C" collation: that is the order of the search-name index.
    return SortKey(CONTACT_ORDERINGS[key][0], descending, collation="C" if key == "name" else None)


def validate_ordering(value: str) -> tuple[str, bool]:
    """'-created' -> ('created', descending). Unknown sorts are a 400 naming the parameter."""
    descending = value.startswith("-")
    key = value.lstrip("-")
    if key not in CONTACT_ORDERINGS:
        raise ValidationError({"ordering": f"Unknown sort {value!r}; use one of "
                                           f"{', '.join(sorted(CONTACT_ORDERINGS))} (prefix - for descending)."})
    return key, descending


class ContactRelationshipFilter(OrgScopedFilterSet):
    contact = filters.ModelChoiceFilter(queryset=Contact.objects.all(), method="filter_contact",
                                        label="Either side is this contact")
    from_contact = filters.ModelChoiceFilter(queryset=Contact.objects.all())
    to_contact = filters.ModelChoiceFilter(queryset=Contact.objects.all())
    type = filters.MultipleChoiceFilter(distinct=False, choices=RelationshipType.choices)

    class Meta:
        model = ContactRelationship
        fields: list[str] = []

    @extend_schema_field(OpenApiTypes.INT)  # a contact id, for the API schema
    def filter_contact(self, queryset, name, contact):
        if contact is None:
            return queryset
        return queryset.filter(Q(from_contact=contact) | Q(to_contact=contact))


class ContactCompanyFilter(OrgScopedFilterSet):
    contact = filters.ModelChoiceFilter(queryset=Contact.objects.all())
    company = filters.ModelChoiceFilter(queryset=Company.objects.all())
    is_primary = filters.BooleanFilter()
    decision_role = filters.MultipleChoiceFilter(distinct=False, choices=DecisionRole.choices)

    class Meta:
        model = ContactCompany
        fields: list[str] = []


class BulkOperationFilter(OrgScopedFilterSet):
    status = filters.MultipleChoiceFilter(distinct=False, choices=Job.Status.choices)

    class Meta:
        model = Job
        fields: list[str] = []


class FormLayoutFilter(OrgScopedFilterSet):
    industry = filters.CharFilter(field_name="industry", lookup_expr="iexact", label="Industry (any capitalization)")

    class Meta:
        model = FormLayout
        fields: list[str] = []


class AssignmentRuleFilter(OrgScopedFilterSet):
    is_active = filters.BooleanFilter()
    team = filters.ModelChoiceFilter(queryset=Team.objects.all())
    source = filters.ChoiceFilter(choices=Source.choices)
    owner_strategy = filters.ChoiceFilter(choices=AssignmentRule.OwnerStrategy.choices)

    class Meta:
        model = AssignmentRule
        fields: list[str] = []
