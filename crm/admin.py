from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm

from crm.admin_base import NotFoundOutsideScopeMixin, OrgAdmin, ReadOnlyAdminMixin, organization_id_for
from crm.models import (
    CustomFieldDefinition, Job, JobItem, Membership, Organization, Tag, Team, User, WebhookDelivery, WebhookEndpoint,
)
from crm.resources import resource_for


class MembershipInline(admin.StackedInline):
    model = Membership
    fk_name = "user"
    can_delete = False
    extra = 0
    autocomplete_fields = ["team"]


class KithUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class KithUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(NotFoundOutsideScopeMixin, DjangoUserAdmin):
    """Platform staff manage users here; organization members are managed by their org admins."""

    form = KithUserChangeForm
    add_form = KithUserCreationForm
    ordering = ["email"]
    list_display = ["email", "full_name", "organization_name", "role", "is_staff", "is_active"]
    list_select_related = ["membership__organization"]
    list_filter = ["is_staff", "is_superuser", "is_active", "membership__role"]
    search_fields = ["email", "full_name"]
    inlines = [MembershipInline]
    readonly_fields = ["totp_confirmed_at"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("full_name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
        ("Two-factor sign-in", {"fields": ("totp_confirmed_at",)}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        org_id = organization_id_for(request)
        return qs if org_id is None else qs.filter(membership__organization_id=org_id)

    @admin.display(description="Organization", ordering="membership__organization__name")
    def organization_name(self, obj):
        membership = getattr(obj, "membership", None)
        return membership.organization.name if membership else "—"

    @admin.display(description="Role", ordering="membership__role")
    def role(self, obj):
        membership = getattr(obj, "membership", None)
        return membership.get_role_display() if membership else "—"


@admin.register(Organization)
class OrganizationAdmin(NotFoundOutsideScopeMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "public_id", "created_at"]
    search_fields = ["name", "slug"]
    # Phone encryption converts stored rows in a job: changed on Settings → Encryption (contacts.services).
    readonly_fields = ["public_id", "created_at", "encrypt_phone_numbers"]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        org_id = organization_id_for(request)
        return qs if org_id is None else qs.filter(pk=org_id)


@admin.register(Team)
class TeamAdmin(OrgAdmin):
    resource_classes = [resource_for(Team)]
    list_display = ["name", "organization", "created_at"]
    list_select_related = ["organization"]
    search_fields = ["name"]


@admin.register(Membership)
class MembershipAdmin(OrgAdmin):
    resource_classes = [resource_for(Membership)]
    list_display = ["user", "organization", "team", "role"]
    list_select_related = ["user", "organization", "team"]
    list_filter = ["role", "team"]
    search_fields = ["user__email", "user__full_name"]
    autocomplete_fields = ["user", "team"]


@admin.register(Tag)
class TagAdmin(OrgAdmin):
    resource_classes = [resource_for(Tag)]
    list_display = ["name", "colour", "usage_count", "organization"]
    list_select_related = ["organization"]
    list_filter = ["colour"]
    search_fields = ["name", "description"]
    readonly_fields = ["usage_count"]


@admin.register(CustomFieldDefinition)
class CustomFieldDefinitionAdmin(OrgAdmin):
    resource_classes = [resource_for(CustomFieldDefinition)]
    list_display = ["label", "key", "model", "field_type", "required", "sensitive", "position", "organization"]
    list_select_related = ["organization"]
    list_filter = ["model", "field_type", "required", "sensitive"]
    search_fields = ["label", "key"]


@admin.register(Job)
class JobAdmin(ReadOnlyAdminMixin, OrgAdmin):
    list_display = ["id", "kind", "status", "actor", "total", "processed", "succeeded", "failed", "created_at",
                    "heartbeat_at", "organization"]
    list_select_related = ["actor", "organization"]
    list_filter = ["kind", "status"]
    search_fields = ["=id", "kind", "actor__email"]


@admin.register(JobItem)
class JobItemAdmin(ReadOnlyAdminMixin, OrgAdmin):
    list_display = ["job", "object_id", "outcome", "field", "message", "organization"]
    list_select_related = ["job", "organization"]
    list_filter = ["outcome"]
    search_fields = ["=job__id", "=object_id"]
    raw_id_fields = ["job"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdminMixin, OrgAdmin):
    """Managed on Settings › Webhooks (URL checks, the secret shown once); staff look here."""

    list_display = ["url", "is_active", "consecutive_failures", "last_success_at", "last_failure_at", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    exclude = ["secret"]

    def has_import_permission(self, request):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, OrgAdmin):
    """The delivery log: each event to each endpoint, its attempts and the last answer."""

    list_display = ["endpoint", "event", "status", "attempts", "response_status", "last_attempt_at"]
    list_select_related = ["endpoint", "event"]
    list_filter = ["status"]
    raw_id_fields = ["endpoint", "event"]

    def has_import_permission(self, request):
        return False
