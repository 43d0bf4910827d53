from django.contrib import admin

from activities.models import Activity, Notification
from activities.services import refresh_contact_dates
from crm.admin_base import OrgAdmin, ReadOnlyAdminMixin
from crm.resources import resource_for


@admin.register(Activity)
class ActivityAdmin(OrgAdmin):
    resource_classes = [resource_for(Activity)]
    list_display = ["occurred_at", "type", "direction", "status", "contact", "company", "actor", "subject"]
    list_select_related = ["contact", "company", "actor"]
    list_filter = ["type", "direction", "status"]
    search_fields = ["subject", "contact__display_name", "company__name"]
    autocomplete_fields = ["contact", "company", "actor", "assigned_to"]

    # Edits here keep the contacts' last activity / last contacted dates right, as the services do.
    def save_model(self, request, obj, form, change):
        before = Activity.objects.filter(pk=obj.pk).values_list("contact_id", flat=True).first() if change else None
        super().save_model(request, obj, form, change)
        for contact_id in {before, obj.contact_id} - {None}:
            refresh_contact_dates(contact_id)

    def delete_model(self, request, obj):
        contact_id = obj.contact_id
        super().delete_model(request, obj)
        refresh_contact_dates(contact_id)

    def delete_queryset(self, request, queryset):
        contact_ids = set(queryset.exclude(contact_id=None).values_list("contact_id", flat=True))
        super().delete_queryset(request, queryset)
        for contact_id in contact_ids:
            refresh_contact_dates(contact_id)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, OrgAdmin):
    """Notifications are made by the system (activities.notifications.notify); staff look them up."""

    list_display = ["created_at", "recipient", "kind", "title", "read_at", "organization"]
    list_select_related = ["recipient", "organization"]
    list_filter = ["kind"]
    search_fields = ["title", "recipient__email"]
