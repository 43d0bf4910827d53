from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from contacts import bulk
from contacts.api.exports import VCardMixin
from contacts.api.privacy import PrivacyMixin
from contacts.api.scoring import ContactScoreMixin
from contacts.api.serializers import (
    AssignmentRuleSerializer, BulkInlineResultSerializer, BulkOperationDetailSerializer, BulkOperationSerializer,
    BulkRequestSerializer, ContactCompanySerializer, ContactLinkSerializer, ContactRelationshipSerializer,
    ContactSerializer, EnrichmentQueuedSerializer, FormLayoutPresetSerializer, FormLayoutSerializer,
    PhoneCheckResultSerializer, PhoneCheckSerializer, SimilarContactSerializer,
)
from contacts.filters import (
    CONTACT_ORDERINGS, AssignmentRuleFilter, BulkOperationFilter, ContactCompanyFilter, ContactFilter,
    ContactRelationshipFilter, FormLayoutFilter, contact_sort_key, saved_view_for,
)
from contacts.models import AssignmentRule, Contact, ContactCompany, ContactRelationship, FormLayout
from contacts.search import similar_contacts
from contacts.services import apply_preset, restore_contact, soft_delete_contact
from crm.api.history import HistoryMixin
from crm.api.views import OrgReadOnlyViewSet, OrgViewSet, TrashMixin, sorts
from crm.models import Job, JobItem
from crm.permissions import CHANGE, Scope
from messaging import lookup


_ON_DUPLICATE = OpenApiParameter(
    "on_duplicate", str, enum=["warn", "reject"],
    description="warn (default): save, and list likely duplicates in `duplicates`; reject: when the contact "
                "looks like one you can see, save nothing and answer 409 with the list.")


@extend_schema_view(create=extend_schema(parameters=[_ON_DUPLICATE]),
                    update=extend_schema(parameters=[_ON_DUPLICATE]),
                    partial_update=extend_schema(parameters=[_ON_DUPLICATE]))
class ContactViewSet(ContactScoreMixin, PrivacyMixin, VCardMixin, HistoryMixin, TrashMixin, OrgViewSet):
    """Contacts the caller may see. DELETE moves a contact to the trash; POST …/restore/ brings it back."""

    queryset = Contact.objects.all()
    serializer_class = ContactSerializer
    filterset_class = ContactFilter
    # The pages' sorts: each backed by an index, names in the "C" collation of theirs.
    orderings = {value: contact_sort_key(value) for key in CONTACT_ORDERINGS for value in (f"-{key}", key)}
    default_ordering = "-created"
    trash_service = soft_delete_contact
    restore_service = restore_contact

    def allowed_query_params(self):
        # ?on_duplicate=reject: refuse (409) a write that looks like an existing contact;
        # ?limit= for similar contacts.
        params = super().allowed_query_params()
        if self.action in ("create", "update", "partial_update"):
            return params | {"on_duplicate"}
        return params | {"limit"} if self.action == "similar" else params

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        value = request.query_params.get("on_duplicate")
        if value is not None and value not in ("warn", "reject"):
            raise ValidationError({"on_duplicate": ["Use warn (the default: save, and list likely duplicates) or "
                                                    "reject (save nothing and answer 409)."]})

    def get_sort(self):
        # ?view=<id> without ?ordering= sorts as the saved view does.
        if not self.request.query_params.get("ordering"):
            view = saved_view_for(self.request, self.request.query_params)
            if view is not None and view.ordering in self.orderings:
                return view.ordering, self.orderings[view.ordering]
        return super().get_sort()

    @extend_schema(responses=SimilarContactSerializer(many=True),
                   parameters=[OpenApiParameter("limit", int, description="How many (1–25, default 5).")])
    @action(detail=True, methods=["get"], serializer_class=SimilarContactSerializer, filterset_class=None,
            pagination_class=None)
    def similar(self, request, pk=None):
        """Contacts closest in meaning to this one (name, title, company, industry, notes, tags,
        custom text), among those the caller may see, nearest first. Empty until the contact's
        embedding has been computed (seconds after a change)."""
        contact = self.get_object()
        try:
            limit = int(request.query_params.get("limit", 5))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 25:
            raise ValidationError({"limit": ["Give a whole number from 1 to 25."]})
        found = similar_contacts(request.user, contact, limit)
        return Response(SimilarContactSerializer(found, many=True).data)

    @extend_schema(request=ContactLinkSerializer, responses={201: ContactLinkSerializer})
    @action(detail=True, methods=["post"], permission_action=CHANGE, serializer_class=ContactLinkSerializer)
    def relationships(self, request, pk=None):
        """Link this contact to a contact (relationship type), a user (their role) or a company."""
        contact = self.get_object()
        serializer = self.get_serializer(data=request.data, context={**self.get_serializer_context(),
                                                                     "contact": contact})
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: EnrichmentQueuedSerializer})
    @action(detail=True, methods=["post"], permission_action=CHANGE, serializer_class=EnrichmentQueuedSerializer,
            filterset_class=None)
    def enrich(self, request, pk=None):
        """Enrich this contact now with every provider (phone, email and its domain's MX, company
        from the email domain, social profiles, time zone): 202, queued; the contact's `enrichment`
        shows each value with its source, time and confidence, and each provider's state."""
        from contacts.enrichment import request_enrichment

        contact = self.get_object()
        request_enrichment(contact, request.user)
        return Response({"status": "queued", "contact": contact.pk, "enrichment": contact.enrichment},
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=BulkRequestSerializer,
                   responses={200: BulkInlineResultSerializer, 202: BulkOperationSerializer})
    @action(detail=False, methods=["post"], serializer_class=BulkRequestSerializer)
    def bulk(self, request):
        """Run one action on many contacts: `ids`, or `filters` (the list's query parameters).
        Up to 1,000 rows: runs now, 200 with a result per row. More: runs in the background,
        202 with the operation to poll at `url`. Rows the caller may not see are "not_found";
        rows they may not change are reported with the reason."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = bulk.start(request.user, action=data["action"], params=data.get("params"),
                         ids=data.get("ids"), filters=data.get("filters"))
        return bulk_response(request, job)

    @extend_schema(request=PhoneCheckSerializer, responses=PhoneCheckResultSerializer)
    @action(detail=False, methods=["post"], url_path="validate-phone", serializer_class=PhoneCheckSerializer)
    def validate_phone(self, request):
        """Check a phone number: valid or possible, E.164, national and international formats, region,
        type (mobile, fixed_line, fixed_line_or_mobile, voip, toll_free …); carrier and line type from
        Twilio Lookup when the organization sends through Twilio."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = lookup.check_phone(Scope.of(request.user).organization_id, data["phone"], data["region"])
        return Response(PhoneCheckResultSerializer(result).data)


class ContactCompanyViewSet(OrgViewSet):
    """Links between contacts and companies; visible and writable together with their contact."""

    queryset = ContactCompany.objects.all()
    serializer_class = ContactCompanySerializer
    filterset_class = ContactCompanyFilter


class ContactRelationshipViewSet(OrgViewSet):
    """Typed, directional relationships (`from_contact` reports to `to_contact` …);
    visible and writable together with `from_contact`."""

    queryset = ContactRelationship.objects.all()
    serializer_class = ContactRelationshipSerializer
    filterset_class = ContactRelationshipFilter


def bulk_response(request, job):
    """A finished operation with its per-row results (200), or a queued one to poll (202)."""
    context = {"request": request}
    operation = BulkOperationSerializer(job, context=context).data
    if job.is_active:
        return Response(operation, status=status.HTTP_202_ACCEPTED)
    rows = bulk.item_rows(request.user, JobItem.objects.filter(job=job).order_by("id"))
    results = [{k: row[k] for k in ("id", "result", "field", "message")} for row in rows]
    return Response({"operation": operation, "results": results})


class BulkOperationViewSet(OrgReadOnlyViewSet):
    """Bulk operations on contacts, newest first: status, progress, counts and (one by one) the
    rows that failed and why. Each is seen by the person who ran it and by org admins."""

    queryset = Job.objects.filter(kind=bulk.KIND)
    serializer_class = BulkOperationSerializer
    filterset_class = BulkOperationFilter

    def get_serializer_class(self):
        return BulkOperationDetailSerializer if self.action == "retrieve" else BulkOperationSerializer

    @extend_schema(request=None, responses={200: BulkInlineResultSerializer, 202: BulkOperationSerializer})
    @action(detail=True, methods=["post"], permission_action=CHANGE, serializer_class=BulkOperationSerializer)
    def undo(self, request, pk=None):
        """Restore each changed row's previous values, as an operation of its own. Rows changed
        again since are reported as "conflict" and left alone."""
        job = bulk.start_undo(request.user, self.get_object())
        return bulk_response(request, job)

    @extend_schema(request=None, responses=BulkOperationSerializer)
    @action(detail=True, methods=["post"], permission_action=CHANGE, serializer_class=BulkOperationSerializer)
    def cancel(self, request, pk=None):
        """Stop a queued or running operation after its current batch; what it changed can be undone."""
        job = self.get_object()
        if not bulk.cancel(job):
            raise ValidationError({"status": [f"This operation has already stopped ({job.status})."]})
        return Response(BulkOperationSerializer(job, context={"request": request}).data)


class FormLayoutViewSet(OrgViewSet):
    """Industry form layouts: which contact custom fields the form shows for an industry, in
    which order, which are required. Every member reads them; org admins manage them."""

    queryset = FormLayout.objects.all()
    serializer_class = FormLayoutSerializer
    filterset_class = FormLayoutFilter
    orderings = sorts(industry="industry", created="created_at")
    default_ordering = "industry"

    @extend_schema(request=FormLayoutPresetSerializer, responses={200: FormLayoutSerializer, 201: FormLayoutSerializer})
    @action(detail=False, methods=["post"], serializer_class=FormLayoutPresetSerializer)
    def presets(self, request):
        """Apply an industry preset (healthcare, legal): creates the custom fields it needs (reused by
        key) and the layout (201), or completes an existing one (200). Applying twice changes nothing."""
        scope = Scope.of(request.user)
        if FormLayout.visibility_q(scope, CHANGE) is None:
            raise PermissionDenied("Only organization admins manage form layouts.")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        layout, created = apply_preset(scope.organization_id, serializer.validated_data["preset"])
        layout = FormLayoutSerializer.optimize(FormLayout.objects.filter(pk=layout.pk)).get()
        data = FormLayoutSerializer(layout, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class AssignmentRuleViewSet(OrgViewSet):
    """Assignment rules, in the order they are tried: a new contact without owner and team goes
    to the first active rule whose conditions (industry, country, region, source; empty = any)
    match. Every member reads them; org admins manage them."""

    queryset = AssignmentRule.objects.all()
    serializer_class = AssignmentRuleSerializer
    filterset_class = AssignmentRuleFilter
    orderings = sorts(position="position", created="created_at")
    default_ordering = "position"
