"""Search endpoints: suggestions as you type and ranked full text with facets.
Both answer only from what the caller may see (contacts.search starts from visible_to)."""

from __future__ import annotations

from django_filters import utils as filter_utils
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.api.serializers import SimilarContactSerializer
from contacts.filters import ContactFilter
from contacts.models import Contact
from contacts.search import MAX_QUERY_LENGTH, MODES, autocomplete, full_text, labelled_facets, ranked_search
from crm.api.views import IsOrganizationMember, check_query_params, reject_null_characters


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


class RankedHitSerializer(SimilarContactSerializer):
    email = serializers.CharField(source="contact.email")
    score = serializers.FloatField(help_text="Reciprocal-rank fusion score of the ways it matched.")
    similarity = serializers.FloatField(allow_null=True, help_text="Cosine similarity to the query, when found "
                                                                   "by meaning.")
    reasons = serializers.ListField(child=serializers.CharField(), help_text='Why it matched, e.g. "matched '
                                    "'fintech' in notes\" or \"close in meaning to 'payments startup CTO' (0.61)\".")


class RankedSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=MODES)
    results = RankedHitSerializer(many=True)


def _filterset(request, exclude):
    filterset = ContactFilter({k: v for k, v in request.query_params.lists() if k not in exclude},
                              queryset=Contact.objects.visible_to(request.user), request=request)
    check_query_params(request, exclude | set(filterset.filters))
    if not filterset.is_valid():
        raise filter_utils.translate_validation(filterset.errors)
    return filterset


def _query(request, *, required=True) -> str:
    reject_null_characters(request)
    q = request.query_params.get("q", "").strip()
    if required and not q:
        raise ValidationError({"q": ["Type something to search for."]})
    if len(q) > MAX_QUERY_LENGTH:
        raise ValidationError({"q": [f"Search for at most {MAX_QUERY_LENGTH} characters."]})
    return q


class SearchView(APIView):
    """Without `mode`: suggestions for a search box, from the first keystroke: contacts whose
    name (first or last name first), email or phone starts with `q` (any format: "+1 415…",
    "(415) …"), case- and accent-insensitive, corrected for typos; then companies whose name
    starts with it.

    With `mode`: ranked contacts, each with the reasons it matched — `text` (full-text rank and
    similar names), `semantic` (nearest in meaning: "payments startup CTO" finds a fintech's
    chief technology officer), or `hybrid` (both, fused by reciprocal rank). The contact list's
    filters narrow the results inside the search."""

    permission_classes = [IsAuthenticated, IsOrganizationMember]
    action = "search"

    @extend_schema(parameters=[OpenApiParameter("q", str, required=True),
                               OpenApiParameter("mode", str, enum=list(MODES),
                                                description="Ranked search instead of suggestions."),
                               OpenApiParameter("limit", int, description="Results to return (1–25, default 10; "
                                                                          "1–50 with mode, default 20).")],
                   responses={200: PolymorphicProxySerializer(component_name="SearchResults",
                                                              serializers=[SuggestionsSerializer, RankedSerializer],
                                                              resource_type_field_name=None)})
    def get(self, request):
        mode = request.query_params.get("mode")
        if mode is None:
            check_query_params(request, {"q", "limit", "format"})
        elif mode not in MODES:
            raise ValidationError({"mode": [f"Choose one of: {', '.join(MODES)}."]})
        q = _query(request)
        most = 50 if mode else 25
        try:
            limit = int(request.query_params.get("limit", 20 if mode else 10))
        except ValueError:
            raise ValidationError({"limit": [f"Give a whole number from 1 to {most}."]}) from None
        if not 1 <= limit <= most:
            raise ValidationError({"limit": [f"Give a whole number from 1 to {most}."]})
        if mode:
            filterset = _filterset(request, {"q", "mode", "limit", "format"})
            hits = ranked_search(request.user, q, queryset=filterset.qs, mode=mode, limit=limit)
            return Response(RankedSerializer({"mode": mode, "results": hits}).data)
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
        filterset = _filterset(request, {"q", "format"})
        result = full_text(request.user, q, queryset=filterset.qs)
        facets = {key: [{"value": str(value), "label": label, "count": n} for value, label, n in counts]
                  for key, counts in labelled_facets(result.facets).items()}
        return Response(FullTextSerializer({"results": result.contacts, "facets": facets,
                                            "capped": result.capped}).data)


class EmbeddingJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    rebuild = serializers.BooleanField(source="params.rebuild", default=False)
    total = serializers.IntegerField(allow_null=True)
    processed = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField(help_text="Changed while being analysed: the worker's next round has them.")
    progress = serializers.IntegerField(help_text="Per cent done.")
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class SearchIndexSerializer(serializers.Serializer):
    pending = serializers.IntegerField(help_text="Contacts and companies waiting for their embedding.")
    job = EmbeddingJobSerializer(allow_null=True, help_text="The latest analysis job, to poll while it runs.")


class SearchIndexRequestSerializer(serializers.Serializer):
    rebuild = serializers.BooleanField(default=False, help_text="Analyse every record again (e.g. after changing "
                                                                "the model), not only those waiting.")


class SearchIndexView(APIView):
    """Search by meaning's index of the caller's organization (org admins): how many records
    wait for their embedding and the latest analysis job (GET); POST starts a job that embeds
    what is waiting, or everything with `rebuild` (202; poll GET for its progress)."""

    permission_classes = [IsAuthenticated, IsOrganizationMember]
    action = "search_index"

    def _scope(self, request):
        from crm.pages import require_admin

        return require_admin(request.user)

    def _answer(self, request, organization_id, status=200):
        from contacts import semantic

        return Response(SearchIndexSerializer({"pending": semantic.count_pending(organization_id),
                                               "job": semantic.latest_backfill(request.user)}).data, status=status)

    @extend_schema(responses=SearchIndexSerializer)
    def get(self, request):
        scope = self._scope(request)
        check_query_params(request, {"format"})
        return self._answer(request, scope.organization_id)

    @extend_schema(request=SearchIndexRequestSerializer, responses={202: SearchIndexSerializer})
    def post(self, request):
        from contacts import semantic

        scope = self._scope(request)
        data = SearchIndexRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if semantic.running_backfill(scope.organization_id) is not None:
            raise ValidationError({"rebuild": ["An analysis is already running; poll GET for its progress."]})
        semantic.start_backfill(scope.organization_id, actor=request.user, rebuild=data.validated_data["rebuild"])
        return self._answer(request, scope.organization_id, status=202)
