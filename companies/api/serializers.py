from __future__ import annotations

from rest_framework import serializers

from companies.models import Company
from companies.services import create_company, update_company
from crm.api.serializers import Expansion, OrgSerializer, UserSummarySerializer


class CompanySummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Company
        fields = ["id", "name", "domain"]


class CompanySerializer(OrgSerializer):
    expandable = {
        "owner": Expansion(UserSummarySerializer, "owner"),
        "parent": Expansion(CompanySummarySerializer, "parent"),
    }
    deferred_fields = ("embedding",)

    class Meta:
        model = Company
        fields = [
            "id", "name", "domain", "website", "phone", "industry", "size_band", "annual_revenue", "currency",
            "street", "city", "region", "postal_code", "country", "timezone", "founded_year", "logo",
            "description", "parent", "owner", "custom_fields", "enrichment", "created_by", "created_at",
            "updated_at",
        ]
        # Logos are uploaded through the pages (multipart), not through JSON bodies.
        read_only_fields = ["logo"]

    # Writes go through the company services, as the pages' do.

    def create(self, validated_data):
        return create_company(organization=self.organization, data=validated_data, actor=self.user)

    def update(self, instance, validated_data):
        update_company(company=instance, data=validated_data, actor=self.user)
        return instance
