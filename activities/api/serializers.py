from __future__ import annotations

from activities.models import Activity, Notification
from activities.services import log_activity, update_activity
from contacts.api.serializers import ContactSummarySerializer
from crm.api.serializers import Expansion, OrgSerializer, UserSummarySerializer


class ActivitySerializer(OrgSerializer):
    expandable = {
        "contact": Expansion(ContactSummarySerializer, "contact"),
        "company": Expansion("companies.api.serializers.CompanySummarySerializer", "company"),
        "actor": Expansion(UserSummarySerializer, "actor"),
        "assigned_to": Expansion(UserSummarySerializer, "assigned_to"),
    }
    parent_fields = ("contact",)
    write_hints = {"actor": "This field is read-only: the actor is the signed-in user."}

    class Meta:
        model = Activity
        fields = [
            "id", "contact", "company", "type", "direction", "status", "occurred_at", "actor", "subject", "body",
            "metadata", "due_at", "assigned_to", "completed_at", "created_at", "updated_at",
        ]
        read_only_fields = ["actor"]

    def create(self, validated_data):
        return log_activity(organization_id=self.scope.organization_id, data=validated_data, actor=self.user)

    def update(self, instance, validated_data):
        return update_activity(activity=instance, data=validated_data, actor=self.user)


class NotificationSerializer(OrgSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "url", "read_at", "created_at"]
        read_only_fields = fields
