from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from contacts.api.serializers import (
    ContactCompanySerializer, ContactLinkSerializer, ContactRelationshipSerializer, ContactSerializer,
    PhoneCheckResultSerializer, PhoneCheckSerializer,
)
from contacts.filters import (
    CONTACT_ORDERINGS, ContactCompanyFilter, ContactFilter, ContactRelationshipFilter, contact_sort_key,
    saved_view_for,
)
from contacts.models import Contact, ContactCompany, ContactRelationship
from contacts.services import restore_contact, soft_delete_contact
from crm.api.history import HistoryMixin
from crm.api.views import OrgViewSet
from crm.permissions import CHANGE, DELETE


class ContactViewSet(HistoryMixin, OrgViewSet):
    """Contacts the caller may see. DELETE moves a contact to the trash; POST …/restore/ brings it back."""

    queryset = Contact.objects.all()
    serializer_class = ContactSerializer
    filterset_class = ContactFilter
    # The pages' sorts: each backed by an index, names in the "C" collation of theirs.
    orderings = {value: contact_sort_key(value) for key in CONTACT_ORDERINGS for value in (f"-{key}", key)}
    default_ordering = "-created"

    def get_sort(self):
        # ?view=<id> without ?ordering= sorts as the saved view does.
        if not self.request.query_params.get("ordering"):
            view = saved_view_for(self.request, self.request.query_params)
            if view is not None and view.ordering in self.orderings:
                return view.ordering, self.orderings[view.ordering]
        return super().get_sort()

    def rows(self):
        # Restoring reaches into the trash, which the default manager hides.
        return Contact.all_objects.all() if self.action == "restore" else Contact.objects.all()

    def perform_destroy(self, instance):
        soft_delete_contact(instance)

    @extend_schema(request=None, responses=ContactSerializer)
    @action(detail=True, methods=["post"], permission_action=DELETE)
    def restore(self, request, pk=None):
        """Bring a contact back from the trash (fails naming `email` when a live contact took its email)."""
        contact = self.get_object()
        if contact.deleted_at is not None:
            restore_contact(contact)
        return Response(self.get_serializer(contact).data)

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

    @extend_schema(request=PhoneCheckSerializer, responses=PhoneCheckResultSerializer)
    @action(detail=False, methods=["post"], url_path="validate-phone", serializer_class=PhoneCheckSerializer)
    def validate_phone(self, request):
        """Parse a phone number: valid or not, E.164, region, type (mobile, fixed line …), national format."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(PhoneCheckResultSerializer(serializer.validated_data).data)


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
