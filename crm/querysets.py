from __future__ import annotations

from django.db import models

from crm.permissions import Scope, check_action


class OrgQuerySet(models.QuerySet):
    """Base queryset of every tenant model."""

    def for_organization(self, organization):
        organization_id = getattr(organization, "pk", organization)
        return self.filter(organization_id=organization_id)

    def visible_to(self, user, action: str = "view"):
        """The one gate for every queryset a user touches (pages, API, search,
        exports, bulk actions, tasks acting for a user).

        Organization first, then the model's own team/owner/sharing rules.
        Superusers without a membership are platform staff and see everything.
        """
        check_action(action)
        scope = Scope.of(user)
        if scope is None:
            if user is not None and getattr(user, "is_superuser", False) and user.is_active:
                return self.all()
            return self.none()
        q = self.model.visibility_q(scope, action)
        if q is None:
            return self.none()
        return self.filter(q, organization_id=scope.organization_id)


class SoftDeleteQuerySet(OrgQuerySet):
    """Rows of a model with a trash (a `deleted_at` column)."""

    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def deleted(self):
        return self.filter(deleted_at__isnull=False)


class LiveManager(models.Manager.from_queryset(SoftDeleteQuerySet)):
    """Default manager of a model with a trash: rows in the trash are hidden (the model's
    `all_objects` manager, a plain SoftDeleteQuerySet, shows them)."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)
