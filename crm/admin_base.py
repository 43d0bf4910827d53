"""Base admin for tenant models: staff who are not superusers see and edit only
their own organization; objects outside it answer 404; history shows the audit trail."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from import_export.admin import ImportExportModelAdmin

from crm.audit import history_for
from crm.permissions import Scope


def organization_id_for(request):
    """None for platform staff (superusers without a membership): they see all organizations."""
    scope = Scope.of(request.user)
    if scope is None:
        return None if request.user.is_superuser else -1
    return scope.organization_id if not request.user.is_superuser else None


class NotFoundOutsideScopeMixin:
    """Objects outside the admin's queryset (another organization's) answer 404,
    not Django's redirect with a "does not exist" message."""

    def _object_or_404(self, request, object_id):
        obj = self.get_object(request, admin.utils.unquote(object_id)) if object_id is not None else None
        if object_id is not None and obj is None:
            raise Http404(f"No {self.opts.verbose_name} with this id.")
        return obj

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._object_or_404(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        self._object_or_404(request, object_id)
        return super().delete_view(request, object_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._object_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context)


class OrgAdmin(NotFoundOutsideScopeMixin, ImportExportModelAdmin):
    list_per_page = 50
    show_full_result_count = False  # no COUNT(*) over a million rows on every page

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        org_id = organization_id_for(request)
        if org_id is None:
            return qs
        return qs.filter(organization_id=org_id)

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if organization_id_for(request) is not None:
            exclude.append("organization")
        return exclude

    def get_fields(self, request, obj=None):
        # An admin that lists its fields (`fields = [...]`) names the organization for platform
        # staff; org staff's form has no such field (get_exclude).
        fields = super().get_fields(request, obj)
        if organization_id_for(request) is not None:
            fields = [f for f in fields if f != "organization"]
        return fields

    def get_list_filter(self, request):
        filters = []
        for item in super().get_list_filter(request):
            if isinstance(item, str) and "__" not in item and self.model._meta.get_field(item).is_relation:
                item = (item, OrgRelatedFilter)
            filters.append(item)
        if organization_id_for(request) is None:
            filters.insert(0, "organization")
        return filters

    def save_formset(self, request, form, formset, change):
        """Inline rows take their organization from the parent object."""
        for obj in formset.save(commit=False):
            if getattr(obj, "organization_id", False) is None:
                obj.organization_id = form.instance.organization_id
            obj.save()
        for obj in formset.deleted_objects:
            obj.delete()
        formset.save_m2m()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        org_id = organization_id_for(request)
        if org_id is not None and field is not None and hasattr(field, "queryset"):
            field.queryset = scope_related(field.queryset, org_id)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        org_id = organization_id_for(request)
        if org_id is not None and field is not None and hasattr(field, "queryset"):
            field.queryset = scope_related(field.queryset, org_id)
        return field

    def save_model(self, request, obj, form, change):
        org_id = organization_id_for(request)
        if org_id is not None and not change:
            obj.organization_id = org_id
        if not change and hasattr(obj, "created_by_id") and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        org_id = organization_id_for(request)
        if org_id is None:
            return form

        # The organization is not a form field for org staff; set it before validation
        # so model.clean() can check custom fields and same-organization links.
        class ScopedForm(form):
            def _post_clean(self):
                if self.instance.organization_id is None:
                    self.instance.organization_id = org_id
                super()._post_clean()

        ScopedForm.__name__ = form.__name__
        return ScopedForm

    def history_view(self, request, object_id, extra_context=None):
        """The audit trail (old → new per field) instead of Django's admin log."""
        obj = self._object_or_404(request, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise Http404(f"No {self.opts.verbose_name} with this id.")
        events = list(history_for(obj)[:200]) if hasattr(self.model, "pgh_event_models") else []
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change history: {obj}",
            "subtitle": None,
            "object": obj,
            "opts": self.opts,
            "events": events,
            "tracked": hasattr(self.model, "pgh_event_models"),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/kith_history.html", context)

    def get_export_queryset(self, request):
        # The export page takes the change list's filters from the address; one that names no
        # field answers 400 (the change list itself redirects with ?e=1), not a server error.
        try:
            return super().get_export_queryset(request)
        except IncorrectLookupParameters as exc:
            raise BadRequest(f"The export filter in the address is not valid: {exc}") from exc

    # Import/export work inside the organization of the signed-in staff member.
    def get_resource_kwargs(self, request, *args, **kwargs):
        kwargs = super().get_resource_kwargs(request, *args, **kwargs)
        kwargs["organization_id"] = organization_id_for(request)
        return kwargs


class OrgRelatedFilter(admin.RelatedFieldListFilter):
    """Related-object filter whose choices come from the staff member's organization only."""

    def field_choices(self, field, request, model_admin):
        org_id = organization_id_for(request)
        if org_id is None:
            return super().field_choices(field, request, model_admin)
        related = scope_related(field.related_model._default_manager.all(), org_id)
        return [(obj.pk, str(obj)) for obj in related[:200]]


def scope_related(queryset, org_id):
    model = queryset.model
    if model._meta.label == "crm.User":
        return queryset.filter(membership__organization_id=org_id)
    if model._meta.label == "crm.Organization":
        return queryset.filter(pk=org_id)
    if any(f.name == "organization" for f in model._meta.fields):
        return queryset.filter(organization_id=org_id)
    return queryset


class DeletedFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("deleted", "Deleted (in trash)")]

    def queryset(self, request, queryset):
        if self.value() == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "active":
            return queryset.filter(deleted_at__isnull=True)
        return queryset


class SoftDeleteAdminMixin:
    """Admin of a model with a trash (deleted_at, `all_objects`): shows the trash too
    (filter "status"), and moves rows to and from it through the model's services
    (`trash_service`, `restore_service`), reporting rows that cannot be restored."""

    trash_service = None
    restore_service = None
    actions = ["move_to_trash", "restore"]

    def get_queryset(self, request):
        qs = self.model.all_objects.get_queryset()
        org_id = organization_id_for(request)
        return qs if org_id is None else qs.filter(organization_id=org_id)

    # Django's own delete (the change page's Delete button) moves the row to the trash too,
    # so nothing that hangs off it (activities, links) is lost; "delete selected" is replaced
    # by "Move selected to the trash".
    def delete_model(self, request, obj):
        if obj.deleted_at is None:
            type(self).trash_service(obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset.filter(deleted_at__isnull=True):
            type(self).trash_service(obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_deleted_objects(self, objs, request):
        # Nothing cascades: the confirmation lists just the rows going to the trash.
        objs = list(objs)
        return [str(obj) for obj in objs], {self.model._meta.verbose_name_plural: len(objs)}, set(), []

    def _each(self, request, queryset, service, verb):
        done, failed = 0, []
        for obj in queryset:
            try:
                service(obj)
                done += 1
            except Exception as exc:  # noqa: BLE001 - reported to the user per row
                failed.append(f"{obj}: {' '.join(getattr(exc, 'messages', [str(exc)]))}")
        self.message_user(request, f"{verb} {done} {self.model._meta.verbose_name_plural}.")
        for message in failed:
            self.message_user(request, message, level="error")

    @admin.action(description="Move selected to the trash", permissions=["delete"])
    def move_to_trash(self, request, queryset):
        self._each(request, queryset.filter(deleted_at__isnull=True), type(self).trash_service, "Moved to the trash:")

    @admin.action(description="Restore selected from the trash", permissions=["change"])
    def restore(self, request, queryset):
        self._each(request, queryset.filter(deleted_at__isnull=False), type(self).restore_service, "Restored")


class ReadOnlyAdminMixin:
    """Records kept by the system (jobs and their rows): staff look, nobody edits them here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PermissionBeforeLookupMixin:
    """Django's history view looks the object up before it checks permissions, so staff without
    any permission on the model could tell an existing id (403) from a missing one (a redirect).
    Check the model permission first: the same 403 whatever the id."""

    def history_view(self, request, object_id, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return super().history_view(request, object_id, extra_context)


def check_permission_before_lookup(site=None) -> None:
    """Give every registered admin outside our own base classes (auth groups, API tokens, Celery
    results, history events) the permission-first history view."""
    site = site or admin.site
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, (PermissionBeforeLookupMixin, NotFoundOutsideScopeMixin)):
            continue
        cls = type(model_admin)
        scoped = type(cls.__name__, (PermissionBeforeLookupMixin, cls), {"__module__": cls.__module__})
        site.unregister(model)
        site.register(model, scoped)
