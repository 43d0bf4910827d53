from django.contrib import admin

from companies.models import Company
from contacts.models import ContactCompany
from companies.services import delete_company, restore_company
from crm.admin_base import DeletedFilter, OrgAdmin, SoftDeleteAdminMixin
from crm.resources import resource_for


class CompanyContactsInline(admin.TabularInline):
    model = ContactCompany
    fk_name = "company"
    extra = 0
    autocomplete_fields = ["contact"]
    exclude = ["organization"]
    show_change_link = True


@admin.register(Company)
class CompanyAdmin(SoftDeleteAdminMixin, OrgAdmin):
    resource_classes = [resource_for(Company, exclude=["embedding", "logo", "custom_fields_sealed"])]
    list_display = ["name", "domain", "industry", "size_band", "country", "parent", "owner", "created_at",
                    "deleted_at"]
    list_select_related = ["parent", "owner", "organization"]
    list_filter = [DeletedFilter, "size_band", "industry", "country"]
    search_fields = ["name", "domain"]
    autocomplete_fields = ["parent", "owner"]
    readonly_fields = ["created_by", "created_at", "updated_at", "deleted_at"]
    inlines = [CompanyContactsInline]
    trash_service = staticmethod(delete_company)
    restore_service = staticmethod(restore_company)
