from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from activities.models import Activity
from contacts.api.serializers import ContactSummarySerializer
from contacts.models import Contact
from crm.api.serializers import Expansion, OrgSerializer, StrictInputMixin, UserSummarySerializer, visible_choices
from crm.permissions import Scope
from messaging import services
from messaging.models import Message, SmsTemplate


class MessageSerializer(OrgSerializer):
    expandable = {
        "contact": Expansion(ContactSummarySerializer, "contact"),
        "actor": Expansion(UserSummarySerializer, "actor"),
    }

    class Meta:
        model = Message
        fields = [
            "id", "contact", "direction", "status", "to_number", "from_number", "body", "encoding", "segments",
            "provider_sid", "backend", "error_code", "error_message", "scheduled_for", "sent_at", "delivered_at",
            "attempts", "validity_seconds", "actor", "template", "activity", "reminder_for", "remind_before",
            "job", "created_at", "updated_at",
        ]
        read_only_fields = fields


class ScopedInputSerializer(StrictInputMixin, serializers.Serializer):
    """An input body whose ids may only point at rows the caller sees (else "object does not exist")."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        self.user = getattr(request, "user", None)
        scope = Scope.of(self.user) if self.user is not None else None
        if scope is not None:
            for field in self.fields.values():
                if isinstance(field, serializers.PrimaryKeyRelatedField):
                    field.queryset = visible_choices(field.queryset.model, self.user, scope)


class SendSerializer(ScopedInputSerializer):
    """POST /api/messages/: send (or schedule) a text to a contact; with `reminder_for` (a
    scheduled meeting) an appointment reminder `remind_before_minutes` ahead of it."""

    contact = serializers.PrimaryKeyRelatedField(queryset=Contact.objects.all(), required=False)
    body = serializers.CharField(required=False, allow_blank=True, max_length=5000, trim_whitespace=False)
    template = serializers.PrimaryKeyRelatedField(queryset=SmsTemplate.objects.all(), required=False, allow_null=True)
    scheduled_for = serializers.DateTimeField(required=False, allow_null=True)
    reminder_for = serializers.PrimaryKeyRelatedField(queryset=Activity.objects.all(), required=False,
                                                      allow_null=True)
    remind_before_minutes = serializers.IntegerField(required=False, min_value=1, max_value=60 * 24 * 30)

    def validate(self, attrs):
        if attrs.get("reminder_for") is None and attrs.get("contact") is None:
            raise serializers.ValidationError({"contact": ["This field is required."]})
        if attrs.get("reminder_for") is not None and attrs.get("scheduled_for"):
            raise serializers.ValidationError({"scheduled_for": ["A reminder's time follows its meeting: "
                                                                 "give remind_before_minutes instead."]})
        return attrs

    def save(self):
        from messaging import reminders

        data = self.validated_data
        meeting = data.get("reminder_for")
        if meeting is not None:
            if data.get("contact") is not None and data["contact"].pk != meeting.contact_id:
                raise DjangoValidationError({"contact": "The meeting is with another contact."})
            before = datetime.timedelta(minutes=data.get("remind_before_minutes") or 24 * 60)
            return reminders.schedule_reminder(self.user, meeting, template=data.get("template"), before=before)
        return services.send_sms(self.user, data["contact"], body=data.get("body"), template=data.get("template"),
                                 scheduled_for=data.get("scheduled_for"))


class PreviewSerializer(ScopedInputSerializer):
    contact = serializers.PrimaryKeyRelatedField(queryset=Contact.objects.all())
    body = serializers.CharField(required=False, allow_blank=True, max_length=5000, trim_whitespace=False)
    template = serializers.PrimaryKeyRelatedField(queryset=SmsTemplate.objects.all(), required=False, allow_null=True)

    def preview(self) -> dict:
        data = self.validated_data
        text = data.get("body") if (data.get("body") or "").strip() else (
            data["template"].body if data.get("template") else "")
        services.check_body(text)
        text = services.render(text, data["contact"])
        info = services.check_body(text)
        return {"text": text, "encoding": info.encoding, "units": info.units, "segments": info.segments,
                "limit": info.limit, "label": info.label()}


class SmsTemplateSerializer(OrgSerializer):
    write_hints = {"created_by": "This field is read-only: the author is the signed-in user."}

    class Meta:
        model = SmsTemplate
        fields = ["id", "name", "kind", "body", "created_by", "created_at", "updated_at"]
        read_only_fields = ["created_by"]

    def validate_body(self, value):
        try:
            services.check_template_text(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["body"]) from None
        return value
