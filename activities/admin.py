from django.contrib import admin

from activities.models import Activity
from crm.admin_base import OrgAdmin
from crm.resources import resource_for


@admin.register(Activity)
class ActivityAdmin(OrgAdmin):
    resource_classes = [resource_for(Activity)]
    list_display = ["occurred_at", "type", "direction", "status", "contact", "company", "actor", "subject"]
    list_select_related = ["contact", "company", "actor"]
    list_filter = ["type", "direction", "status"]
    search_fields = ["subject", "contact__display_name", "company__name"]
    autocomplete_fields = ["contact", "company", "actor", "assigned_to"]
