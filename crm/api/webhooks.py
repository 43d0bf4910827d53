"""/api/webhooks/: org admins manage webhook endpoints, read their delivery log and redeliver.

Other members get 403 on every request (the same answer whatever the id, so it tells nothing);
another organization's endpoint is a 404. Writes go through crm.webhooks (URL and SSRF checks)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from crm import webhooks
from crm.api.serializers import OrgSerializer
from crm.api.views import LIST_PARAMS, IsOrganizationAdmin, OrgViewSet, sorts
from crm.models import WEBHOOK_EVENT_TYPES, WebhookDelivery, WebhookEndpoint
from crm.permissions import CHANGE


class WebhookEndpointSerializer(OrgSerializer):
    url = serializers.CharField(max_length=2000, help_text="http(s) URL the events are POSTed to.")
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=WEBHOOK_EVENT_TYPES),
                                        allow_empty=False)
    secret = serializers.SerializerMethodField(
        help_text="The signing secret: in the answer to the create request only (GET …/secret/ shows it again).")

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "event_types", "is_active", "secret", "disabled_at",
                  "disabled_reason", "consecutive_failures", "last_success_at", "last_failure_at", "created_at",
                  "updated_at"]
        read_only_fields = ["disabled_at", "disabled_reason", "consecutive_failures", "last_success_at",
                            "last_failure_at"]

    def get_secret(self, obj) -> str | None:
        return obj.secret if self.context.get("show_secret") else None

    def create(self, validated_data):
        return webhooks.create_endpoint(organization_id=self.scope.organization_id, actor=self.user,
                                        **validated_data)

    def update(self, instance, validated_data):
        return webhooks.update_endpoint(instance, data=validated_data)


class WebhookEventSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="event_id")
    type = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event = WebhookEventSerializer()

    class Meta:
        model = WebhookDelivery
        fields = ["id", "event", "status", "manual", "attempts", "next_attempt_at", "last_attempt_at",
                  "response_status", "response_excerpt", "error", "duration_ms", "created_at"]


class WebhookEndpointViewSet(OrgViewSet):
    """Webhook endpoints of the organization (org admins only)."""

    queryset = WebhookEndpoint.objects.all()
    admin_manages = "webhooks"
    serializer_class = WebhookEndpointSerializer
    filterset_class = None
    orderings = sorts(created="created_at")
    default_ordering = "-created"

    def get_permissions(self):
        return [*super().get_permissions(), IsOrganizationAdmin()]

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["show_secret"] = self.action in ("create", "secret")
        return context

    def get_serializer_class(self):
        if self.action == "deliveries":
            return WebhookDeliverySerializer
        return super().get_serializer_class()

    def allowed_query_params(self):
        params = super().allowed_query_params()
        return params | LIST_PARAMS if self.action == "deliveries" else params

    def get_sort(self):
        if self.action == "deliveries":
            return "-created", self.orderings["-created"]
        return super().get_sort()

    @extend_schema(responses=WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The endpoint's delivery log, newest first (keyset pages)."""
        endpoint = self.get_object()
        rows = (WebhookDelivery.objects.visible_to(request.user, "view").filter(endpoint=endpoint)
                .select_related("event"))
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_pk>[0-9]+)/redeliver",
            permission_action=CHANGE)
    def redeliver(self, request, pk=None, delivery_pk=None):
        """Send a delivery's event again (a new delivery in the log)."""
        endpoint = self.get_object()
        delivery = (WebhookDelivery.objects.visible_to(request.user, CHANGE)
                    .filter(endpoint=endpoint, pk=delivery_pk).select_related("endpoint").first())
        if delivery is None:
            raise NotFound("No such delivery.")
        again = webhooks.redeliver(delivery)
        again = WebhookDelivery.objects.select_related("event").get(pk=again.pk)
        return Response(WebhookDeliverySerializer(again).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"], permission_action=CHANGE)
    def test(self, request, pk=None):
        """Send a `webhook.test` event to this endpoint."""
        delivery = webhooks.send_test_event(self.get_object())
        delivery = WebhookDelivery.objects.select_related("event").get(pk=delivery.pk)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=inline_serializer("WebhookSecret", {"secret": serializers.CharField()}))
    @action(detail=True, methods=["get"])
    def secret(self, request, pk=None):
        """The endpoint's signing secret."""
        return Response({"secret": self.get_object().secret})

    @extend_schema(request=None, responses=inline_serializer("WebhookNewSecret", {"secret": serializers.CharField()}))
    @action(detail=True, methods=["post"], url_path="rotate-secret", permission_action=CHANGE)
    def rotate_secret(self, request, pk=None):
        """Replace the signing secret (the old one stops signing at once)."""
        return Response({"secret": webhooks.rotate_secret(self.get_object())})
