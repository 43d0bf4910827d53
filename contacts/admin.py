from django.contrib import admin

from contacts import phones
from contacts.models import (
    ErasureTombstone, PrivacyRequest,
    AssignmentRule, CompanyDuplicate, ConsentEvent, Contact, ContactCompany, ContactDuplicate, ContactImport,
    ContactRelationship, ContactTag, ContactUserLink, FormLayout, FormLayoutField, ImportMapping,
    ImportRow, Merge, NameWord, SavedView, ScoreHistory, ScoringModel, Segment,
)
from contacts.resources import ContactResource
from contacts.services import restore_contact, soft_delete_contact
from crm.admin_base import DeletedFilter, OrgAdmin, ReadOnlyAdminMixin, SoftDeleteAdminMixin
from crm.resources import resource_for


class ContactTagInline(admin.TabularInline):
    model = ContactTag
    extra = 0
    autocomplete_fields = ["tag"]
    exclude = ["organization"]


class ContactCompanyInline(admin.TabularInline):
    model = ContactCompany
    fk_name = "contact"
    extra = 0
    autocomplete_fields = ["company"]
    exclude = ["organization"]



@admin.register(Contact)
class ContactAdmin(SoftDeleteAdminMixin, OrgAdmin):
    resource_classes = [ContactResource]
    list_display = ["display_name", "email", "phone", "lifecycle_stage", "owner", "team", "created_at", "deleted_at"]
    list_select_related = ["owner", "team", "organization"]
    list_filter = [DeletedFilter, "lifecycle_stage", "source", "team", "sms_consent", "email_consent"]
    search_fields = ["first_name", "last_name", "email", "phone", "mobile"]
    autocomplete_fields = ["owner", "team"]
    readonly_fields = ["display_name", "score", "email_consent", "sms_consent", "call_consent", "last_activity_at",
                       "last_contacted_at", "created_by", "created_at", "updated_at", "deleted_at"]
    inlines = [ContactTagInline, ContactCompanyInline]
    trash_service = staticmethod(soft_delete_contact)
    restore_service = staticmethod(restore_contact)

    def get_search_results(self, request, queryset, search_term):
        # Encrypted phones (contacts.phones) are found by the whole number, through their blind index.
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if phones.as_e164(search_term) and sum(ch.isdigit() for ch in search_term) >= 7:
            queryset |= self.get_queryset(request).filter(phones.phone_q(search_term))
        return queryset, may_have_duplicates


@admin.register(ContactTag)
class ContactTagAdmin(OrgAdmin):
    resource_classes = [resource_for(ContactTag)]
    list_display = ["contact", "tag", "created_at"]
    list_select_related = ["contact", "tag"]
    list_filter = ["tag"]
    search_fields = ["contact__display_name", "tag__name"]
    autocomplete_fields = ["contact", "tag"]


@admin.register(ContactCompany)
class ContactCompanyAdmin(OrgAdmin):
    resource_classes = [resource_for(ContactCompany)]
    list_display = ["contact", "company", "role", "decision_role", "is_primary"]
    list_select_related = ["contact", "company"]
    list_filter = ["decision_role", "is_primary"]
    search_fields = ["contact__display_name", "company__name", "role"]
    autocomplete_fields = ["contact", "company"]


@admin.register(ContactRelationship)
class ContactRelationshipAdmin(OrgAdmin):
    resource_classes = [resource_for(ContactRelationship)]
    list_display = ["from_contact", "type", "to_contact", "note"]
    list_select_related = ["from_contact", "to_contact"]
    list_filter = ["type"]
    search_fields = ["from_contact__display_name", "to_contact__display_name"]
    autocomplete_fields = ["from_contact", "to_contact"]


@admin.register(ContactUserLink)
class ContactUserLinkAdmin(OrgAdmin):
    resource_classes = [resource_for(ContactUserLink)]
    list_display = ["contact", "user", "role"]
    list_select_related = ["contact", "user"]
    list_filter = ["role"]
    search_fields = ["contact__display_name", "user__email"]
    autocomplete_fields = ["contact", "user"]


@admin.register(ConsentEvent)
class ConsentEventAdmin(OrgAdmin):
    """Read-only ledger: consent changes are recorded through the contact, never edited."""

    resource_classes = [resource_for(ConsentEvent)]
    list_display = ["contact", "channel", "status", "source", "occurred_at", "actor"]
    list_select_related = ["contact", "actor"]
    list_filter = ["channel", "status", "source"]
    search_fields = ["contact__display_name", "contact__email"]
    autocomplete_fields = ["contact"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_import_permission(self, request):
        return False


@admin.register(NameWord)
class NameWordAdmin(OrgAdmin):
    """The name vocabulary behind typo-tolerant search (derived from contacts; read-only)."""

    list_display = ["word", "organization"]
    list_select_related = ["organization"]
    search_fields = ["word"]
    ordering = ["word"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_import_permission(self, request):
        return False


@admin.register(Segment)
class SegmentAdmin(OrgAdmin):
    """Segments: the criteria tree is validated by the model (errors name the rule's path)."""

    list_display = ["name", "sharing", "team", "created_by", "updated_at"]
    list_select_related = ["team", "created_by"]
    list_filter = ["sharing"]
    search_fields = ["name", "description"]
    autocomplete_fields = ["team"]
    readonly_fields = ["created_by", "created_at", "updated_at"]


@admin.register(SavedView)
class SavedViewAdmin(OrgAdmin):
    list_display = ["name", "user", "sharing", "team", "ordering", "updated_at"]
    list_select_related = ["user", "team"]
    list_filter = ["sharing"]
    search_fields = ["name"]
    autocomplete_fields = ["team"]
    readonly_fields = ["user", "created_at", "updated_at"]


@admin.register(FormLayout)
class FormLayoutAdmin(OrgAdmin):
    resource_classes = [resource_for(FormLayout)]
    list_display = ["industry", "organization", "updated_at"]
    list_select_related = ["organization"]
    search_fields = ["industry"]


@admin.register(FormLayoutField)
class FormLayoutFieldAdmin(OrgAdmin):
    resource_classes = [resource_for(FormLayoutField)]
    list_display = ["layout", "definition", "position", "required"]
    list_select_related = ["layout", "definition"]
    list_filter = ["required"]
    search_fields = ["layout__industry", "definition__key", "definition__label"]
    autocomplete_fields = ["layout", "definition"]


@admin.register(AssignmentRule)
class AssignmentRuleAdmin(OrgAdmin):
    resource_classes = [resource_for(AssignmentRule)]
    list_display = ["name", "position", "is_active", "industry", "country", "region", "source", "team",
                    "owner_strategy", "owner"]
    list_select_related = ["team", "owner"]
    list_filter = ["is_active", "owner_strategy", "source", "team"]
    search_fields = ["name", "industry", "region"]
    autocomplete_fields = ["team", "owner"]


@admin.register(ContactImport)
class ContactImportAdmin(ReadOnlyAdminMixin, OrgAdmin):
    """Imports are made through the import pages, the API or the contact admin's Import button;
    here back-office staff look them up (counts, stage, who, when)."""

    list_display = ["file_name", "stage", "format", "created_by", "created_at"]
    list_select_related = ["created_by", "organization"]
    list_filter = ["stage", "format"]
    search_fields = ["file_name"]
    readonly_fields = ["file", "file_name", "file_size", "format", "encoding", "delimiter", "headers", "mapping",
                       "options", "stage", "error", "preview", "counts", "created_by", "preview_job", "run_job",
                       "revert_job", "created_at", "updated_at"]
    exclude = ["sample", "created_companies", "created_tags"]


@admin.register(ImportRow)
class ImportRowAdmin(ReadOnlyAdminMixin, OrgAdmin):
    """What each row of an import did (its outcome, message, values before and after)."""

    list_display = ["contact_import", "line", "outcome", "contact_id", "message", "organization"]
    list_select_related = ["contact_import", "organization"]
    list_filter = ["outcome"]
    search_fields = ["=contact_import__id", "=contact_id", "=line"]
    raw_id_fields = ["contact_import"]


@admin.register(ImportMapping)
class ImportMappingAdmin(OrgAdmin):
    list_display = ["name", "created_by", "created_at"]
    list_select_related = ["created_by", "organization"]
    search_fields = ["name"]
    readonly_fields = ["created_by", "created_at", "updated_at"]


@admin.register(Merge)
class MergeAdmin(ReadOnlyAdminMixin, OrgAdmin):
    """Merges are made and undone through the merge pages and the API (contacts/merge.py);
    here back-office staff look them up."""

    list_display = ["id", "kind", "survivor_id", "merged_ids", "actor", "created_at", "undone_at"]
    list_select_related = ["actor", "organization"]
    list_filter = ["kind"]
    search_fields = ["=survivor_id"]
    exclude = ["log"]
    readonly_fields = ["kind", "survivor_id", "merged_ids", "actor", "fields", "summary", "job", "undone_at",
                       "undone_by", "created_at", "updated_at"]


@admin.register(ContactDuplicate)
@admin.register(CompanyDuplicate)
class DuplicatePairAdmin(ReadOnlyAdminMixin, OrgAdmin):
    """Pairs the duplicate scan found and what people decided (reviewed on /contacts/duplicates/)."""

    list_display = ["first", "second", "score", "status", "decided_by", "updated_at"]
    list_select_related = ["first", "second", "decided_by", "organization"]
    list_filter = ["status"]
    search_fields = ["=first__id", "=second__id"]
    raw_id_fields = ["first", "second"]



@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(ReadOnlyAdminMixin, OrgAdmin):
    """The GDPR request log (contacts.privacy): made from the contact page or the API, purged after 30 days."""

    list_display = ["kind", "contact_id", "requested_by", "status", "created_at", "finished_at"]
    list_select_related = ["requested_by"]
    list_filter = ["kind", "status"]
    search_fields = ["=contact_id", "requested_by__email"]

    def has_import_permission(self, request):
        return False


@admin.register(ErasureTombstone)
class ErasureTombstoneAdmin(ReadOnlyAdminMixin, OrgAdmin):
    """Keyed hashes of erased people's email and phones; lifted through Settings › Privacy."""

    list_display = ["kind", "created_at", "lifted_at", "lifted_by"]
    list_select_related = ["lifted_by"]
    list_filter = ["kind"]
    search_fields = ["evidence"]

    def has_import_permission(self, request):
        return False
@admin.register(ScoringModel)
class ScoringModelAdmin(OrgAdmin):
    """An organization's lead-scoring weights (org admins change them on /settings/scoring/, which
    also rescores the organization; a change here is picked up by the nightly run)."""

    list_display = ["organization", "half_life_days", "updated_at"]
    list_select_related = ["organization"]


@admin.register(ScoreHistory)
class ScoreHistoryAdmin(ReadOnlyAdminMixin, OrgAdmin):
    """Each change of a contact's lead score, with its breakdown (contacts.scoring)."""

    list_display = ["contact", "previous", "score", "reason", "computed_at"]
    list_select_related = ["contact", "organization"]
    list_filter = ["reason"]
    search_fields = ["=contact__id"]
    raw_id_fields = ["contact"]
