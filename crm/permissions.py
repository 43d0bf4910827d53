"""Who may see and change what: the single visibility gate behind `visible_to`.

`Scope.of(user)` resolves a user's organization, role and teams once per request
(cached on the user object). Each tenant model says which rows a scope may see
or change through `visibility_q(scope, action)`; `OrgQuerySet.visible_to` applies
the organization filter and that Q in one SQL WHERE clause.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q

VIEW = "view"
CHANGE = "change"
DELETE = "delete"
ACTIONS = (VIEW, CHANGE, DELETE)


class Role:
    ADMIN = "admin"
    MANAGER = "manager"
    REP = "rep"
    VIEWER = "viewer"
    CHOICES = [
        (ADMIN, "Organization admin"),
        (MANAGER, "Sales manager"),
        (REP, "Sales rep"),
        (VIEWER, "Viewer (read-only)"),
    ]


@dataclass(frozen=True)
class Scope:
    user_id: int
    organization_id: int
    role: str
    team_ids: tuple[int, ...]

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def can_write(self) -> bool:
        return self.role != Role.VIEWER

    @classmethod
    def of(cls, user) -> "Scope | None":
        """The user's scope, or None for anonymous users and users without a membership."""
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return None
        cached = getattr(user, "_kith_scope", False)
        if cached is not False:
            return cached
        from crm.models import Membership

        membership = Membership.objects.filter(user_id=user.pk).only("organization_id", "role", "team_id").first()
        scope = None
        if membership is not None:
            teams = (membership.team_id,) if membership.team_id else ()
            scope = cls(user.pk, membership.organization_id, membership.role, teams)
        user._kith_scope = scope
        return scope


def check_action(action: str) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {ACTIONS}")


def organization_wide_q(scope: Scope, action: str) -> Q | None:
    """Reference data (tags, custom-field definitions, teams): every member sees
    them; only org admins change them. None means "no row"."""
    if action == VIEW or scope.is_admin:
        return Q()
    return None


def contact_visibility_q(scope: Scope, action: str, path: str = "") -> Q | None:
    """Rows of Contact (or rows reached through `path`, e.g. "contact__") the scope may act on.

    - org admin: the whole organization
    - manager: their teams' contacts, their own, the organization's unassigned queue
      (no owner, no team), plus contacts shared with them
    - rep: contacts they own plus contacts shared with them (guardian grants)
    - viewer: their team's contacts plus shared ones, read-only
    """
    from contacts.models import ContactUserObjectPermission

    p = path
    # Rows hanging off a contact in the trash are hidden with it.
    alive = Q(**{f"{p}deleted_at__isnull": True}) if p else Q()
    if scope.is_admin:
        return alive
    if action != VIEW and not scope.can_write:
        return None

    def shared(codenames):
        grants = ContactUserObjectPermission.objects.filter(
            content_object_id=OuterRef(f"{p}pk" if p else "pk"),
            user_id=scope.user_id,
            permission__codename__in=codenames,
        )
        return Q(Exists(grants))

    if action == VIEW:
        shared_q = shared(["view_contact", "change_contact"])
    elif action == CHANGE:
        shared_q = shared(["change_contact"])
    else:
        shared_q = shared(["delete_contact"])

    own = Q(**{f"{p}owner_id": scope.user_id})
    team = Q(**{f"{p}team_id__in": scope.team_ids}) if scope.team_ids else Q(pk__in=[])
    if scope.role == Role.MANAGER:
        unassigned = Q(**{f"{p}owner_id__isnull": True, f"{p}team_id__isnull": True})
        return alive & (team | own | unassigned | shared_q)
    if scope.role == Role.REP:
        return alive & (own | shared_q)
    # viewer (only reaches here for VIEW)
    return alive & (team | shared_q)
