from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.api.views import OrgReadOnlyViewSet, OrgViewSet, sorts
from crm.permissions import CHANGE
from messaging import services
from messaging.api.serializers import MessageSerializer, PreviewSerializer, SendSerializer, SmsTemplateSerializer
from messaging.filters import MessageFilter, SmsTemplateFilter
from messaging.models import Message, SmsTemplate


class MessageViewSet(mixins.CreateModelMixin, OrgReadOnlyViewSet):
    """Text messages, in and out; a message follows its contact's visibility. POST sends (or
    schedules) one through messaging.services.send_sms: 201 with the message."""

    queryset = Message.objects.all()
    serializer_class = MessageSerializer
    filterset_class = MessageFilter
    orderings = sorts(created="created_at")
    default_ordering = "-created"

    def get_serializer_class(self):
        return SendSerializer if self.action == "create" else super().get_serializer_class()

    @extend_schema(request=SendSerializer, responses={201: MessageSerializer})
    def create(self, request, *args, **kwargs):
        serializer = SendSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        message = serializer.save()
        return Response(MessageSerializer(message, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=PreviewSerializer)
    @action(detail=False, methods=["post"], serializer_class=PreviewSerializer)
    def preview(self, request):
        """The text with its merge fields filled in for the contact, and its segments."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.preview())

    @extend_schema(request=None, responses=MessageSerializer)
    @action(detail=True, methods=["post"], permission_action=CHANGE)
    def cancel(self, request, pk=None):
        """Cancel a scheduled (or still unsent) text; sent ones are left as they are."""
        message = services.cancel_message(self.get_object(), reason=f"Cancelled by {request.user.get_full_name()}")
        return Response(MessageSerializer(message, context=self.get_serializer_context()).data)


class SmsTemplateViewSet(OrgViewSet):
    """SMS templates with merge fields ({{first_name}} …): every member reads them, writers change them."""

    queryset = SmsTemplate.objects.all()
    serializer_class = SmsTemplateSerializer
    filterset_class = SmsTemplateFilter
    orderings = sorts(name="name", created="created_at")
    default_ordering = "name"
