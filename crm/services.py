"""Domain operations of the core: organizations, members, tags."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from crm.models import Membership, Organization, Tag, Team, User
from crm.permissions import Role

BACK_OFFICE_GROUP = "Back office"
BACK_OFFICE_APPS = ("crm", "contacts", "companies", "activities", "messaging")


def back_office_group() -> Group:
    """Django-admin permissions for staff who are not superusers. What they see is
    still limited to their own organization by the admin classes."""
    group, _ = Group.objects.get_or_create(name=BACK_OFFICE_GROUP)
    perms = Permission.objects.filter(content_type__app_label__in=BACK_OFFICE_APPS).exclude(
        content_type__model__in=["organization", "user", "contactuserobjectpermission"]
    )
    group.permissions.set(perms)
    return group


def generate_password() -> str:
    return secrets.token_urlsafe(12)


@transaction.atomic
def create_organization(name: str, *, admin_email: str, admin_password: str | None = None,
                        superuser: bool = False, admin_name: str = "") -> tuple[Organization, User, str]:
    """A new organization with its first org admin (staff for the Django admin).
    Returns (organization, admin, password)."""
    password = admin_password or generate_password()
    email = User.objects.normalize_email(admin_email)
    if User.objects.filter(email__iexact=email).exists():
        raise ValueError(f"A user with the email {email} already exists.")
    organization = Organization.objects.create(name=name.strip())
    if superuser:
        admin = User.objects.create_superuser(email, password, full_name=admin_name)
    else:
        admin = User.objects.create_user(email, password, full_name=admin_name, is_staff=True)
    admin.groups.add(back_office_group())
    Membership.objects.create(user=admin, organization=organization, role=Role.ADMIN)
    return organization, admin, password


@transaction.atomic
def add_member(organization: Organization, *, email: str, password: str | None = None, role: str = Role.REP,
               team: Team | None = None, full_name: str = "", is_staff: bool = False) -> User:
    user = User.objects.create_user(email, password, full_name=full_name, is_staff=is_staff)
    membership = Membership(user=user, organization=organization, team=team, role=role)
    membership.full_clean()
    membership.save()
    if is_staff:
        user.groups.add(back_office_group())
    return user


def recount_tag_usage(organization_id: int) -> int:
    from contacts.models import ContactTag

    counts = (
        ContactTag.objects.filter(tag_id=OuterRef("pk"), contact__deleted_at__isnull=True)
        .order_by().values("tag_id").annotate(n=Count("*")).values("n")
    )
    actual = Coalesce(Subquery(counts), 0)
    return Tag.objects.filter(organization_id=organization_id).exclude(usage_count=actual).update(usage_count=actual)


def editable_fields(model) -> set[str]:
    """Fields a caller may set through a service's create/update (not id, organization,
    nor anything derived or managed, which are non-editable)."""
    return {f.name for f in model._meta.concrete_fields if f.editable and f.name not in {"id", "organization"}}


def apply_changes(instance, data: dict, allowed: set[str]) -> list[str]:
    """Set `data` on `instance` (related fields by object or id); returns the changed names.
    Names outside `allowed` are a ValidationError naming each."""
    from django.core.exceptions import ValidationError
    from django.db import models

    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError({name: "This field cannot be set." for name in unknown})
    changed = []
    for name, value in data.items():
        field = instance._meta.get_field(name)
        attname, new = name, value
        if field.is_relation:
            attname, new = field.attname, (value.pk if isinstance(value, models.Model) else value)
        if getattr(instance, attname) != new:
            setattr(instance, attname, new)
            changed.append(name)
    return changed


def save_validated(instance, **save_kwargs):
    """full_clean() then save; a unique constraint lost to a concurrent write is reported
    like the validation would have (on the constraint's field, with its message)."""
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError

    instance.full_clean()
    try:
        with transaction.atomic():
            instance.save(**save_kwargs)
    except IntegrityError as exc:
        fields = getattr(instance, "constraint_error_fields", {})
        for constraint in instance._meta.constraints:
            field = fields.get(getattr(constraint, "violation_error_code", None))
            if field and constraint.name in str(exc):
                raise ValidationError({field: constraint.violation_error_message}) from None
        raise
    return instance
