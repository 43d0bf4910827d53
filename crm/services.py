"""Domain operations of the core: organizations, members, tags."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone
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


# -- Teams and members (org admins; pages under /settings/ and /api/teams/, /api/members/)
#
# Deleting a team leaves its members and contacts team-less (the foreign keys are
# SET NULL): team-less contacts without owner land in the organization's unassigned
# queue, which managers and admins see, so nothing becomes invisible to every manager.


def _team_clean_save(team: Team) -> Team:
    team.name = (team.name or "").strip()
    return save_validated(team)


@transaction.atomic
def create_team(organization, *, name: str, description: str = "", actor=None) -> Team:
    """A new team; a duplicate name (case-insensitive) is an error on `name`."""
    from crm.audit import change_context

    with change_context(actor=actor, source="settings"):
        return _team_clean_save(Team(organization_id=getattr(organization, "pk", organization), name=name,
                                     description=description))


@transaction.atomic
def update_team(team: Team, *, data: dict, actor=None) -> Team:
    """Rename a team or change its description."""
    apply_changes(team, data, {"name", "description"})
    return _team_clean_save(team)


@transaction.atomic
def delete_team(team: Team, *, actor=None) -> dict:
    """Delete a team; its members and contacts become team-less (audited as changes of
    those rows). Returns how many members and contacts were released."""
    from django.core.exceptions import ValidationError
    from django.db.models import ProtectedError, RestrictedError

    from contacts.models import Contact
    from crm.audit import change_context

    released = {"members": team.memberships.count(),
                "contacts": Contact.all_objects.filter(team_id=team.pk).count()}
    with change_context(actor=actor, source="settings", deleted_team=team.pk):
        # The contacts are released with one UPDATE (not Django's row-by-row collector).
        Contact.all_objects.filter(team_id=team.pk).update(team=None)
        try:
            with transaction.atomic():
                team.delete()
        except (ProtectedError, RestrictedError) as exc:
            used_by = sorted({obj._meta.verbose_name_plural for obj in exc.protected_objects}
                             if isinstance(exc, ProtectedError) else
                             {obj._meta.verbose_name_plural for obj in exc.restricted_objects})
            raise ValidationError({"team": f"This team is still used by {', '.join(used_by)}; change those first."})
    return released


def active_admins(organization_id: int, *, lock: bool = False):
    admins = Membership.objects.filter(organization_id=organization_id, role=Role.ADMIN, user__is_active=True)
    if lock:
        # Serializes concurrent role changes and deactivations of the admins.
        admins = admins.select_for_update(of=("self",))
    return admins


def _check_keeps_an_admin(membership: Membership, message: str) -> None:
    from django.core.exceptions import ValidationError

    others = active_admins(membership.organization_id, lock=True).exclude(pk=membership.pk)
    if not len(others):
        raise ValidationError({"role": message})


def _check_team(membership_or_org_id, team) -> None:
    from django.core.exceptions import ValidationError

    if team is not None and team.organization_id != membership_or_org_id:
        raise ValidationError({"team": "Choose a team from your organization."})


class InvitationForm:
    """Sends the set-password email of a new member through Django's password-reset
    machinery (token, uid, templates); PasswordResetForm itself only mails users with a
    usable password, which an invited member does not have yet."""

    subject_template_name = "registration/invitation_subject.txt"
    email_template_name = "registration/invitation_email.html"

    @classmethod
    def send(cls, user: User, *, request=None, invited_by=None, organization=None) -> None:
        from urllib.parse import urlsplit

        from django.conf import settings
        from django.contrib.auth.forms import PasswordResetForm
        from django.contrib.auth.tokens import default_token_generator
        from django.utils.encoding import force_bytes
        from django.utils.http import urlsafe_base64_encode

        public = urlsplit(settings.KITH_PUBLIC_URL) if settings.KITH_PUBLIC_URL else None
        if request is not None:
            domain, protocol = request.get_host(), ("https" if request.is_secure() else "http")
        elif public is not None:
            domain, protocol = public.netloc, public.scheme
        else:
            domain, protocol = "localhost:8000", "http"
        context = {
            "email": user.email, "domain": domain, "site_name": "Kith", "protocol": protocol, "user": user,
            "uid": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user),
            "invited_by": invited_by, "organization": organization,
        }
        PasswordResetForm().send_mail(cls.subject_template_name, cls.email_template_name, context,
                                      settings.DEFAULT_FROM_EMAIL, user.email)


@transaction.atomic
def invite_member(organization, *, email: str, role: str = Role.REP, team: Team | None = None,
                  full_name: str = "", password: str | None = None, actor=None, request=None) -> Membership:
    """Add a member. Without a password the user gets an unusable one and an email with a
    link to set it (sent after commit); with one, they can sign in at once.
    Errors name the field: `email` (taken, invalid), `role`, `team`."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    from crm.audit import change_context

    organization_id = getattr(organization, "pk", organization)
    email = User.objects.normalize_email(email)
    errors = {}
    if not email:
        errors["email"] = "Enter an email address."
    elif User.objects.filter(email=email).exists():
        # Accounts are global (one organization per user): say it without naming the other organization.
        errors["email"] = "A user with this email already exists."
    if role not in dict(Role.CHOICES):
        errors["role"] = f"Choose one of: {', '.join(dict(Role.CHOICES))}."
    if team is not None and team.organization_id != organization_id:
        errors["team"] = "Choose a team from your organization."
    if password:
        try:
            validate_password(password, User(email=email, full_name=full_name))
        except ValidationError as exc:
            errors["password"] = exc.messages
    if errors:
        raise ValidationError(errors)
    with change_context(actor=actor, source="settings"):
        org = organization if isinstance(organization, Organization) else Organization.objects.get(pk=organization_id)
        try:
            user = add_member(org, email=email, password=password or None, role=role, team=team,
                              full_name=full_name.strip())
        except ValidationError as exc:
            raise ValidationError({("email" if k == "__all__" else k): v for k, v in exc.message_dict.items()})
    if not password:
        transaction.on_commit(lambda: InvitationForm.send(user, request=request, invited_by=actor, organization=org))
    return user.membership


@transaction.atomic
def update_member(membership: Membership, *, data: dict, actor=None) -> Membership:
    """Change a member's role and/or team. Demoting the last active admin is an error on `role`."""
    from django.core.exceptions import ValidationError

    from crm.audit import change_context

    data = dict(data)
    if "role" in data and data["role"] not in dict(Role.CHOICES):
        raise ValidationError({"role": f"Choose one of: {', '.join(dict(Role.CHOICES))}."})
    _check_team(membership.organization_id, data.get("team"))
    if "full_name" in data:
        user = membership.user
        user.full_name = (data.pop("full_name") or "").strip()
        user.save(update_fields=["full_name"])
    if (data.get("role", membership.role) != Role.ADMIN and membership.role == Role.ADMIN
            and membership.user.is_active):
        _check_keeps_an_admin(membership, "The organization needs at least one active admin: "
                                          "make someone else an admin first.")
    with change_context(actor=actor, source="settings"):
        changed = apply_changes(membership, data, {"role", "team"})
        if changed:
            save_validated(membership)
    return membership


@transaction.atomic
def deactivate_member(membership: Membership, *, reassign_to: Membership | None = None, actor=None) -> dict:
    """Deactivate a member and, in the same transaction, hand their contacts and open
    tasks to `reassign_to` (another active member of the organization; required when
    they own any). The user can no longer sign in or use their API token.
    Returns the numbers of rows moved."""
    from django.core.exceptions import ValidationError
    from rest_framework.authtoken.models import Token

    from activities.models import Activity
    from companies.models import Company
    from contacts.models import Contact
    from crm.audit import change_context

    user = User.objects.select_for_update().get(pk=membership.user_id)
    if not user.is_active:
        return {"contacts": 0, "companies": 0, "tasks": 0}
    if actor is not None and getattr(actor, "pk", actor) == user.pk:
        raise ValidationError({"member": "You cannot deactivate your own account."})
    if membership.role == Role.ADMIN:
        _check_keeps_an_admin(membership, "The organization needs at least one active admin: "
                                          "make someone else an admin before deactivating this one.")
    contacts = Contact.all_objects.filter(organization_id=membership.organization_id, owner_id=user.pk)
    companies = Company.objects.filter(organization_id=membership.organization_id, owner_id=user.pk)
    # Open work: unfinished tasks and planned activities (meetings …) assigned to them.
    tasks = Activity.objects.filter(
        Q(type=Activity.Type.TASK, completed_at__isnull=True) | Q(status=Activity.Status.PLANNED),
        organization_id=membership.organization_id, assigned_to_id=user.pk)
    owns = contacts.exists() or companies.exists() or tasks.exists()
    if reassign_to is not None:
        if (reassign_to.organization_id != membership.organization_id or reassign_to.pk == membership.pk
                or not User.objects.filter(pk=reassign_to.user_id, is_active=True).exists()):
            raise ValidationError({"reassign_to": "Choose another active member of your organization."})
    elif owns:
        raise ValidationError({"reassign_to": f"{user.get_full_name()} owns contacts, companies or open tasks: "
                                              "choose an active member to reassign them to."})
    moved = {"contacts": 0, "companies": 0, "tasks": 0}
    with change_context(actor=actor, source="settings", deactivated_user=user.pk):
        if reassign_to is not None:
            # One UPDATE each; the history triggers audit every row's new owner.
            now = timezone.now()
            moved["contacts"] = contacts.update(owner_id=reassign_to.user_id, updated_at=now)
            moved["companies"] = companies.update(owner_id=reassign_to.user_id, updated_at=now)
            moved["tasks"] = tasks.update(assigned_to_id=reassign_to.user_id, updated_at=now)
        user.is_active = False
        user.save(update_fields=["is_active"])
        Token.objects.filter(user=user).delete()
    return moved


@transaction.atomic
def reactivate_member(membership: Membership, *, actor=None) -> Membership:
    from crm.audit import change_context

    with change_context(actor=actor, source="settings"):
        User.objects.filter(pk=membership.user_id).update(is_active=True)
    membership.user.is_active = True
    return membership
