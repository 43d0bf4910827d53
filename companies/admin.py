from django.contrib import admin

from companies.models import Company
from contacts.models import ContactCompany
from crm.admin_base import OrgAdmin
from crm.resources import resource_for


class CompanyContactsInline(admin.TabularInline):
    model = ContactCompany
    fk_name = "company"
    extra = 0
    autocomplete_fields = ["contact"]
    exclude = ["organization"]
    show_change_link = True


@admin.register(Company)
class CompanyAdmin(OrgAdmin):
    resource_classes = [resource_for(Company, exclude=["embedding", "logo"])]
    list_display = ["name", "domain", "industry", "size_band", "country", "parent", "owner", "created_at"]
    list_select_related = ["parent", "owner", "organization"]
    list_filter = ["size_band", "industry", "country"]
    search_fields = ["name", "domain"]
    autocomplete_fields = ["parent", "owner"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    inlines = [CompanyContactsInline]
