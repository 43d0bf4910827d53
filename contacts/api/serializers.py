from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import APIException

from companies.models import Company
from django.db.models import Prefetch

from contacts.models import (
    AssignmentRule, Contact, ContactCompany, ContactRelationship, ContactUserLink, FormLayout, FormLayoutField,
    RelationshipType,
)
from contacts import bulk, dedupe
from contacts.services import PRESETS, create_contact, save_layout, save_rule, set_tags, update_contact
from crm.api.serializers import (
    Expansion, OrgSerializer, StrictInputMixin, TagSummarySerializer, TeamSummarySerializer,
    UserSummarySerializer, visible_choices,
)
from crm.models import CustomFieldDefinition, Job, JobItem, Tag, User
from crm.permissions import Scope
from messaging.lookup import PHONE_TYPES

COMPANY_SUMMARY = "companies.api.serializers.CompanySummarySerializer"


class ContactSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "display_name", "email"]


class DuplicateWarningSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    score = serializers.FloatField()
    reasons = serializers.ListField(child=serializers.CharField())
    reasons_text = serializers.CharField()


class DuplicateConflict(APIException):
    """?on_duplicate=reject and the contact looks like one the caller can see: nothing is saved."""

    status_code = 409
    default_code = "duplicate"

    def __init__(self, found: list[dict]):
        super().__init__()
        self.detail = {"detail": "This contact looks like a contact that already exists; nothing was saved. "
                                 "Send the request without on_duplicate=reject to save it anyway.",
                       "duplicates": found}


class ContactSerializer(OrgSerializer):
    duplicates = serializers.SerializerMethodField(
        help_text="Likely duplicates the caller can see, found when this request created or updated the contact "
                  "(id, display_name, score, reasons); null on reads. With ?on_duplicate=reject such a write "
                  "is refused with 409 and the same list.")
    tags = serializers.PrimaryKeyRelatedField(many=True, queryset=Tag.objects.all(), required=False,
                                              help_text="Ids of the contact's tags; writing replaces them.")
    companies = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True, help_text="Linked companies (manage links through /api/contact-companies/).")

    expandable = {
        "owner": Expansion(UserSummarySerializer, "owner"),
        "team": Expansion(TeamSummarySerializer, "team"),
        "tags": Expansion(TagSummarySerializer, "tags", many=True),
        "companies": Expansion(COMPANY_SUMMARY, "companies", many=True),
    }
    prefetch_fields = {"tags": "tags", "companies": "companies"}
    deferred_fields = ("embedding", "search_vector")
    write_hints = {
        "companies": "This field is read-only: link companies through /api/contact-companies/ "
                     "or POST /api/contacts/{id}/relationships/.",
        "score": "This field is read-only: the score is computed from the organization's scoring model "
                 "(/api/scoring-model/); GET /api/contacts/{id}/score/ explains it.",
    }

    class Meta:
        model = Contact
        fields = [
            "id", "first_name", "middle_name", "last_name", "display_name", "email", "phone", "mobile",
            "job_title", "department", "companies", "company_name", "birth_date", "website", "linkedin",
            "twitter", "skype", "telegram", "street", "city", "region", "postal_code", "country", "source",
            "source_detail", "lifecycle_stage", "score", "industry", "description", "timezone",
            "preferred_channels", "preferred_contact_time", "notification_opt_ins", "email_consent",
            "sms_consent", "call_consent", "owner", "team", "tags", "custom_fields", "enrichment", "ai_insights",
            "search_name", "search_name_rev", "phone_digits", "last_activity_at", "last_contacted_at",
            "created_by", "created_at", "updated_at", "deleted_at", "duplicates",
        ]

    # Writes go through the contact services (validation, normalization, tag counts: as everywhere).

    def create(self, validated_data):
        tags = validated_data.pop("tags", ())
        found = self._check_duplicates(validated_data, None)
        contact = create_contact(organization=self.organization, data=validated_data, actor=self.user, tags=tags)
        contact._duplicates = found
        return contact

    def update(self, instance, validated_data):
        tags = validated_data.pop("tags", None)
        found = self._check_duplicates(validated_data, instance)
        update_contact(contact=instance, data=validated_data, actor=self.user)
        if tags is not None:
            set_tags(instance, tags)
        instance._duplicates = found
        return instance

    def _check_duplicates(self, data, instance) -> list:
        """Likely duplicates (contacts.dedupe) of the contact being written: reported in `duplicates`,
        or, with ?on_duplicate=reject, a 409 before anything is saved."""
        found = dedupe.check_before_save(self.user, data, instance)
        request = self.context.get("request")
        if found and request is not None and request.query_params.get("on_duplicate") == "reject":
            raise DuplicateConflict([dedupe.warning_of(c) for c in found])
        return found

    @extend_schema_field(DuplicateWarningSerializer(many=True, allow_null=True))
    def get_duplicates(self, contact):
        found = getattr(contact, "_duplicates", None)
        return None if found is None else [dedupe.warning_of(c) for c in found]


class ContactCompanySerializer(OrgSerializer):
    expandable = {
        "contact": Expansion(ContactSummarySerializer, "contact"),
        "company": Expansion(COMPANY_SUMMARY, "company"),
    }
    parent_fields = ("contact",)

    class Meta:
        model = ContactCompany
        fields = ["id", "contact", "company", "role", "decision_role", "is_primary", "created_at", "updated_at"]


class ContactRelationshipSerializer(OrgSerializer):
    expandable = {
        "from_contact": Expansion(ContactSummarySerializer, "from_contact"),
        "to_contact": Expansion(ContactSummarySerializer, "to_contact"),
    }
    parent_fields = ("from_contact",)

    class Meta:
        model = ContactRelationship
        fields = ["id", "from_contact", "to_contact", "type", "note", "created_at", "updated_at"]


class ContactLinkSerializer(StrictInputMixin, serializers.Serializer):
    """POST /api/contacts/{id}/relationships/: link the contact to another contact (a typed
    relationship), to a user (their role for the contact) or to a company (job role, primary)."""

    ENTITY_TYPES = ["contact", "user", "company"]
    # Model errors are reported on the fields of this endpoint.
    FIELD_FOR = {"to_contact": "entity_id", "user": "entity_id", "company": "entity_id", "type": "role"}

    id = serializers.IntegerField(read_only=True)
    entity_type = serializers.ChoiceField(choices=ENTITY_TYPES)
    entity_id = serializers.IntegerField(min_value=1)
    role = serializers.CharField(
        max_length=150, required=False, allow_blank=True, default="",
        help_text=f"contact: one of {', '.join(RelationshipType.values)}; user: one of "
                  f"{', '.join(ContactUserLink.Role.values)}; company: the job role there (free text).")
    is_primary = serializers.BooleanField(default=False, help_text="Company links only.")

    def validate(self, attrs):
        contact = self.context["contact"]
        request = self.context["request"]
        scope = Scope.of(request.user)
        kind, entity_id, role = attrs["entity_type"], attrs["entity_id"], attrs["role"]
        model = {"contact": Contact, "user": User, "company": Company}[kind]
        entity = visible_choices(model, request.user, scope).filter(pk=entity_id).first()
        if entity is None:
            raise serializers.ValidationError({"entity_id": [f'Invalid pk "{entity_id}" - object does not exist.']})
        if attrs["is_primary"] and kind != "company":
            raise serializers.ValidationError({"is_primary": ["Only company links can be primary."]})
        common = {"organization_id": contact.organization_id}
        if kind == "contact":
            self._check_choice(role, RelationshipType.values)
            link = ContactRelationship(**common, from_contact=contact, to_contact=entity, type=role)
        elif kind == "user":
            self._check_choice(role, ContactUserLink.Role.values)
            link = ContactUserLink(**common, contact=contact, user=entity, role=role)
        else:
            link = ContactCompany(**common, contact=contact, company=entity, role=role, is_primary=attrs["is_primary"])
        try:
            link.full_clean()
        except DjangoValidationError as exc:
            errors = serializers.as_serializer_error(exc)
            raise serializers.ValidationError({self.FIELD_FOR.get(k, k): v for k, v in errors.items()}) from None
        attrs["link"] = link
        return attrs

    @staticmethod
    def _check_choice(value, choices):
        if value not in choices:
            raise serializers.ValidationError({"role": [f"Choose one of: {', '.join(choices)}."]})

    def create(self, validated_data):
        link = validated_data["link"]
        link.save()
        return link

    def to_representation(self, link):
        if isinstance(link, ContactRelationship):
            kind, entity_id, role, primary = "contact", link.to_contact_id, link.type, False
        elif isinstance(link, ContactUserLink):
            kind, entity_id, role, primary = "user", link.user_id, link.role, False
        else:
            kind, entity_id, role, primary = "company", link.company_id, link.role, link.is_primary
        return {"id": link.pk, "entity_type": kind, "entity_id": entity_id, "role": role, "is_primary": primary}


class PhoneCheckSerializer(StrictInputMixin, serializers.Serializer):
    phone = serializers.CharField(max_length=64)
    region = serializers.CharField(
        required=False, default=settings.PHONENUMBER_DEFAULT_REGION,
        help_text="Two-letter country code used for numbers written without +country code.")

    def validate_region(self, value):
        value = value.strip().upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise serializers.ValidationError("Unknown region: use a two-letter country code such as US or GB.")
        return value


class PhoneCheckResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    possible = serializers.BooleanField(help_text="Has the length of a number of its region (valid or not).")
    e164 = serializers.CharField(allow_null=True)
    region = serializers.CharField(allow_null=True)
    number_type = serializers.ChoiceField(choices=sorted(PHONE_TYPES.values()), allow_null=True)
    national = serializers.CharField(allow_null=True)
    international = serializers.CharField(allow_null=True)
    carrier = serializers.CharField(allow_null=True, help_text="From Twilio Lookup, when configured.")
    line_type = serializers.CharField(allow_null=True, help_text="From Twilio Lookup (mobile, landline, "
                                                                 "nonFixedVoip …), when configured.")
    lookup = serializers.CharField(allow_null=True, help_text="\"twilio\" when Twilio Lookup was asked.")
    lookup_error = serializers.CharField(allow_null=True)


# Bulk operations (contacts.bulk)

class ContactSelectionSerializer(StrictInputMixin, serializers.Serializer):
    """Which contacts: `ids`, or everything the contact list's `filters` match (segment and saved
    view too: {"segment": 3} / {"view": 5}). Bulk actions and exports take it."""

    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False,
                                max_length=bulk.MAX_IDS, help_text="Contact ids (or give `filters`).")
    filters = serializers.JSONField(required=False, help_text=(
        "The contact list's query parameters, e.g. {\"lifecycle_stage\": [\"lead\"], \"tags\": [3]}."))

    def validate(self, attrs):
        if ("ids" in attrs) == ("filters" in attrs):
            raise serializers.ValidationError({"ids": ["Give either ids or filters."]})
        return attrs


class BulkRequestSerializer(ContactSelectionSerializer):
    """One action on a list of contact ids, or on everything the contact list's filters match."""

    action = serializers.ChoiceField(choices=[(name, spec[0]) for name, spec in bulk.ACTIONS.items()])
    params = serializers.JSONField(required=False, default=dict, help_text=(
        "assign_owner: {owner: user id or null}; assign_team: {team: id or null}; add_tags / remove_tags: "
        "{tags: [tag ids]}; set_stage: {lifecycle_stage}; set_custom_field: {key, value (null clears)}; "
        "delete / restore: {}; send_sms: {body: text, and/or template: SMS template id} (not undoable; "
        "contacts that cannot be texted are \"skipped\" with the reason)."))


class BulkResultRowSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The contact id.")
    result = serializers.ChoiceField(choices=JobItem.Outcome.choices)
    field = serializers.CharField(help_text="The field at fault, if any.")
    message = serializers.CharField()


class BulkOperationSerializer(OrgSerializer):
    action = serializers.SerializerMethodField()
    description = serializers.SerializerMethodField()
    progress = serializers.IntegerField(read_only=True, help_text="Per cent done.")
    url = serializers.SerializerMethodField()
    params = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ["id", "action", "description", "params", "status", "progress", "total", "processed",
                  "succeeded", "failed", "actor", "undoes", "error", "created_at", "started_at",
                  "finished_at", "url"]
        read_only_fields = fields

    def get_action(self, job) -> str:
        return job.params.get("action", "")

    def get_description(self, job) -> str:
        return bulk.action_label(job.params.get("action", ""))

    def get_params(self, job) -> dict:
        return job.params.get("params", {})

    def get_url(self, job) -> str:
        from django.urls import reverse

        path = reverse("api:bulk-operation-detail", args=[job.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


ERRORS_SHOWN = 1000


class BulkOperationDetailSerializer(BulkOperationSerializer):
    errors = serializers.SerializerMethodField(help_text=f"Rows not changed and why (the first {ERRORS_SHOWN}).")

    class Meta(BulkOperationSerializer.Meta):
        fields = [*BulkOperationSerializer.Meta.fields, "errors"]
        read_only_fields = fields

    @extend_schema_field(BulkResultRowSerializer(many=True))
    def get_errors(self, job) -> list[dict]:
        items = JobItem.objects.filter(job=job, outcome__in=JobItem.ERRORS).order_by("id")[:ERRORS_SHOWN]
        return [{k: row[k] for k in ("id", "result", "field", "message")} for row in bulk.item_rows(self.user, items)]


class BulkInlineResultSerializer(serializers.Serializer):
    operation = BulkOperationSerializer()
    results = BulkResultRowSerializer(many=True)


# Settings: form layouts and assignment rules


class FormLayoutEntrySerializer(StrictInputMixin, serializers.Serializer):
    definition = serializers.PrimaryKeyRelatedField(
        queryset=CustomFieldDefinition.objects.filter(model="contact"), help_text="Id of a contact custom field.")
    key = serializers.CharField(source="definition.key", read_only=True)
    label = serializers.CharField(source="definition.label", read_only=True)
    required = serializers.BooleanField(default=False, help_text="Required for contacts of this industry.")


class FormLayoutSerializer(OrgSerializer):
    custom_fields = FormLayoutEntrySerializer(
        many=True, source="entries", required=False,
        help_text="The fields the contact form shows for this industry, in order; writing replaces them.")

    prefetch_fields = {"custom_fields": Prefetch(
        "entries", queryset=FormLayoutField.objects.select_related("definition").order_by("position", "id"))}

    class Meta:
        model = FormLayout
        fields = ["id", "industry", "custom_fields", "created_at", "updated_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.scope is not None:
            definition = self.fields["custom_fields"].child.fields["definition"]
            definition.queryset = CustomFieldDefinition.objects.visible_to(self.user).filter(model="contact")

    def save_instance(self, instance, data):
        entries = data.get("entries")
        if entries is None:  # a partial update of the industry keeps the fields
            entries = [{"definition": e.definition, "required": e.required}
                       for e in instance.entries.select_related("definition").order_by("position", "id")
                       ] if instance.pk else []
        save_layout(layout=instance, industry=data.get("industry", instance.industry),
                    fields=[(e["definition"], e["required"]) for e in entries])
        instance._prefetched_objects_cache = {}
        return instance


class FormLayoutPresetSerializer(StrictInputMixin, serializers.Serializer):
    preset = serializers.ChoiceField(choices=list(PRESETS), help_text="The industry preset to apply.")


class AssignmentRuleSerializer(OrgSerializer):
    expandable = {
        "team": Expansion(TeamSummarySerializer, "team"),
        "owner": Expansion(UserSummarySerializer, "owner"),
    }

    class Meta:
        model = AssignmentRule
        fields = ["id", "name", "position", "is_active", "industry", "country", "region", "source", "team",
                  "owner_strategy", "owner", "last_assigned", "created_at", "updated_at"]
        extra_kwargs = {"position": {"required": False, "help_text": "Rules are tried in ascending position; "
                                                                     "new rules go last."}}

    def save_instance(self, instance, data):
        return save_rule(rule=instance, data=data)


class SimilarContactSerializer(serializers.Serializer):
    """A contact found by meaning (similar contacts; hits of /api/search/?mode=)."""

    id = serializers.IntegerField(source="contact.id")
    display_name = serializers.CharField(source="contact.display_name")
    company_name = serializers.CharField(source="contact.company_name")
    job_title = serializers.CharField(source="contact.job_title")
    similarity = serializers.FloatField(help_text="Cosine similarity of the two contacts' embeddings (−1 to 1).")


class EnrichmentQueuedSerializer(serializers.Serializer):
    """POST /api/contacts/{id}/enrich/: queued; the contact's `enrichment` shows the result."""

    status = serializers.CharField(help_text='"queued"')
    contact = serializers.IntegerField()
    enrichment = serializers.JSONField(help_text="The contact's enrichment as it stands (before this run).")
