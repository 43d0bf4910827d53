"""Who may see and change what: the single visibility gate behind `visible_to`.

`Scope.of(user)` resolves a user's organization, role and teams once per request
(cached on the user object). Each tenant model says which rows a scope may see
or change through `visibility_q(scope, action)`; `OrgQuerySet.visible_to` applies
the organization filter and that Q in one SQL WHERE clause.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q

VIEW = "view"
CHANGE = "change"
DELETE = "delete"
ACTIONS = (VIEW, CHANGE, DELETE)
# Object permissions (django-guardian) that share a contact with a user, per action.
SHARED_CODENAMES = {VIEW: ("view_contact", "change_contact"), CHANGE: ("change_contact",),
                    DELETE: ("delete_contact",)}


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
    # Contact ids shared with the user through object permissions, per set of codenames
    # (looked up once per request: see contact_visibility_q).
    _shared: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
    # The member's own time zone (empty: the site's), activated for their requests.
    timezone: str = field(default="", compare=False, hash=False)

    def shared_contact_ids(self, codenames: tuple[str, ...]) -> list[int]:
        if codenames not in self._shared:
            from contacts.models import ContactUserObjectPermission

            self._shared[codenames] = list(ContactUserObjectPermission.objects.filter(
                user_id=self.user_id, permission__codename__in=codenames,
            ).values_list("content_object_id", flat=True).distinct())
        return self._shared[codenames]

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

        from django.contrib.postgres.expressions import ArraySubquery
        from django.db.models import OuterRef

        from contacts.models import ContactUserObjectPermission

        def grants(codenames):
            return ArraySubquery(ContactUserObjectPermission.objects.filter(
                user_id=OuterRef("user_id"), permission__codename__in=codenames,
            ).values("content_object_id").distinct())

        # One query: the membership, and the contacts shared with the user per action.
        membership = (Membership.objects.filter(user_id=user.pk)
                      .only("organization_id", "role", "team_id", "timezone")
                      .annotate(**{f"shared_{action}": grants(codenames)
                                   for action, codenames in SHARED_CODENAMES.items()}).first())
        scope = None
        if membership is not None:
            teams = (membership.team_id,) if membership.team_id else ()
            scope = cls(user.pk, membership.organization_id, membership.role, teams, timezone=membership.timezone)
            for action, codenames in SHARED_CODENAMES.items():
                scope._shared[codenames] = getattr(membership, f"shared_{action}")
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
    p = path
    # Rows hanging off a contact in the trash are hidden with it.
    alive = Q(**{f"{p}deleted_at__isnull": True}) if p else Q()
    if scope.is_admin:
        return alive
    if action != VIEW and not scope.can_write:
        return None

    # Contacts shared with the user (guardian grants), as a list of ids fetched once: an
    # OR with a list keeps "owner = me" an index condition (an OR with a subquery would
    # turn the rep's whole list into a filtered scan of the organization).
    shared_ids = scope.shared_contact_ids(SHARED_CODENAMES[action])
    shared_q = Q(**{f"{p}pk__in" if p else "pk__in": shared_ids}) if shared_ids else Q(pk__in=[])

    own = Q(**{f"{p}owner_id": scope.user_id})
    team = Q(**{f"{p}team_id__in": scope.team_ids}) if scope.team_ids else Q(pk__in=[])
    if scope.role == Role.MANAGER:
        unassigned = Q(**{f"{p}owner_id__isnull": True, f"{p}team_id__isnull": True})
        return alive & (team | own | unassigned | shared_q)
    if scope.role == Role.REP:
        return alive & (own | shared_q)
    # viewer (only reaches here for VIEW)
    return alive & (team | shared_q)


def own_or_admin_q(scope: Scope, action: str, owner_field: str) -> Q | None:
    """Records a member made for themselves (jobs, imports): seen by them and by org admins;
    changed by them unless their role is read-only."""
    if scope.is_admin:
        return Q()
    if action != VIEW and not scope.can_write:
        return None
    return Q(**{f"{owner_field}_id": scope.user_id})
