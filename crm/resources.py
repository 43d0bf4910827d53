"""django-import-export resources: one per model, scoped to one organization."""

from __future__ import annotations

from functools import partial

from import_export import resources, widgets


class OrgForeignKeyWidget(widgets.ForeignKeyWidget):
    """Looks related rows up inside the importing organization only."""

    organization_id = None

    def get_queryset(self, value, row, *args, **kwargs):
        qs = super().get_queryset(value, row, *args, **kwargs)
        if self.organization_id is None:
            return qs
        if qs.model._meta.label == "crm.User":
            return qs.filter(membership__organization_id=self.organization_id)
        if any(f.name == "organization" for f in qs.model._meta.fields):
            return qs.filter(organization_id=self.organization_id)
        return qs


class OrgResource(resources.ModelResource):
    """Rows are read from and written to `organization_id` only (None: platform staff, all)."""

    def __init__(self, organization_id=None, **kwargs):
        super().__init__(**kwargs)
        self.organization_id = organization_id
        for field in self.fields.values():
            if isinstance(field.widget, OrgForeignKeyWidget):
                field.widget.organization_id = organization_id

    @classmethod
    def get_fk_widget(cls, field):
        return partial(OrgForeignKeyWidget, model=field.remote_field.model)

    def get_queryset(self):
        qs = self._meta.model._default_manager.all()
        if self.organization_id is not None:
            qs = qs.filter(organization_id=self.organization_id)
        return qs

    def before_save_instance(self, instance, row, **kwargs):
        if self.organization_id is not None:
            instance.organization_id = self.organization_id
        super().before_save_instance(instance, row, **kwargs)

    def import_instance(self, instance, row, **kwargs):
        super().import_instance(instance, row, **kwargs)
        # Set before validation so clean() can check custom fields and same-organization links.
        if self.organization_id is not None:
            instance.organization_id = self.organization_id


def resource_for(model, *, exclude=(), fields=None):
    """A scoped resource class for `model` (validated with full_clean on import)."""
    meta_attrs = {"model": model, "clean_model_instances": True, "skip_unchanged": True,
                  "exclude": tuple(exclude)}
    if fields is not None:
        meta_attrs["fields"] = tuple(fields)
    meta = type("Meta", (), meta_attrs)
    return type(f"{model.__name__}Resource", (OrgResource,), {"Meta": meta, "__module__": model.__module__})
