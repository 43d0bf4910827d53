"""Search endpoints: suggestions as you type and ranked full text with facets.
Both answer only from what the caller may see (contacts.search starts from visible_to)."""

from __future__ import annotations

from django_filters import utils as filter_utils
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.filters import ContactFilter
from contacts.models import Contact
from contacts.search import MAX_QUERY_LENGTH, autocomplete, full_text, labelled_facets
from crm.api.views import IsOrganizationMember, check_query_params


class HitSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["contact", "company"])
    id = serializers.IntegerField()
    label = serializers.CharField(help_text='"Full Name (Company)" for contacts, the name for companies.')
    how = serializers.ChoiceField(choices=["prefix", "typo"], help_text="typo: found by correcting a typed word.")


class SuggestionsSerializer(serializers.Serializer):
    results = HitSerializer(many=True)


class FullTextHitSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    company_name = serializers.CharField()
    email = serializers.CharField()
    lifecycle_stage = serializers.CharField()
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    highlights = serializers.SerializerMethodField()

    def get_highlights(self, row) -> dict:
        """HTML-escaped text with <mark>…</mark> around the matched words."""
        return {"display_name": str(row.name_hl), "company_name": str(row.company_hl), "email": str(row.email_hl),
                "job_title": str(row.title_hl)}


class FacetValueSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class FullTextSerializer(serializers.Serializer):
    results = FullTextHitSerializer(many=True)
    facets = serializers.DictField(child=FacetValueSerializer(many=True))
    capped = serializers.BooleanField(help_text="True when more than 1,000 contacts match: the ranking "
                                                "covers the 1,000 newest matches.")


def _query(request, *, required=True) -> str:
    q = request.query_params.get("q", "").strip()
    if required and not q:
        raise ValidationError({"q": ["Type something to search for."]})
    if len(q) > MAX_QUERY_LENGTH:
        raise ValidationError({"q": [f"Search for at most {MAX_QUERY_LENGTH} characters."]})
    return q


class SearchView(APIView):
    """Suggestions for a search box, from the first keystroke: contacts whose name (first or
    last name first), email or phone starts with `q` (any format: "+1 415…", "(415) …"),
    case- and accent-insensitive, corrected for typos; then companies whose name starts with it."""

    permission_classes = [IsAuthenticated, IsOrganizationMember]
    action = "search"

    @extend_schema(parameters=[OpenApiParameter("q", str, required=True),
                               OpenApiParameter("limit", int, description="Contacts to return (1–25, default 10).")],
                   responses=SuggestionsSerializer)
    def get(self, request):
        check_query_params(request, {"q", "limit", "format"})
        q = _query(request)
        try:
            limit = int(request.query_params.get("limit", 10))
        except ValueError:
            raise ValidationError({"limit": ["Give a whole number from 1 to 25."]}) from None
        if not 1 <= limit <= 25:
            raise ValidationError({"limit": ["Give a whole number from 1 to 25."]})
        hits = autocomplete(request.user, q, limit=limit)
        return Response(SuggestionsSerializer({"results": hits}).data)


class FullTextSearchView(APIView):
    """Ranked full-text search over names, emails, companies, job titles and notes, with
    highlighted matches and facet counts (stage, source, owner, company, tag). Takes the
    contact list's filters to narrow the results."""

    permission_classes = [IsAuthenticated, IsOrganizationMember]
    action = "search"

    @extend_schema(parameters=[OpenApiParameter("q", str, required=True)], responses=FullTextSerializer)
    def get(self, request):
        q = _query(request)
        filterset = ContactFilter({k: v for k, v in request.query_params.lists() if k not in {"q", "format"}},
                                  queryset=Contact.objects.visible_to(request.user), request=request)
        check_query_params(request, {"q", "format"} | set(filterset.filters))
        if not filterset.is_valid():
            raise filter_utils.translate_validation(filterset.errors)
        result = full_text(request.user, q, queryset=filterset.qs)
        facets = {key: [{"value": str(value), "label": label, "count": n} for value, label, n in counts]
                  for key, counts in labelled_facets(result.facets).items()}
        return Response(FullTextSerializer({"results": result.contacts, "facets": facets,
                                            "capped": result.capped}).data)
