"""Who a task on a contact can go to: the active members who can see the contact and
write (the contact visibility rules of crm.permissions.contact_visibility_q, applied to
every member at once instead of one visible_to query per member)."""

from __future__ import annotations

from crm.models import User
from crm.permissions import SHARED_CODENAMES, VIEW, Role


def assignable_users(organization_id: int, contact=None) -> list[User]:
    """Active members of the organization (not viewers) who can see `contact` (a
    company-only task: every such member), by name. Two queries."""
    members = list(User.objects.filter(is_active=True, membership__organization_id=organization_id)
                   .exclude(membership__role=Role.VIEWER).select_related("membership")
                   .order_by("full_name", "email"))
    if contact is None:
        return members
    if contact.deleted_at is not None:
        return []
    from contacts.models import ContactUserObjectPermission

    shared = set(ContactUserObjectPermission.objects.filter(
        content_object_id=contact.pk, permission__codename__in=SHARED_CODENAMES[VIEW],
    ).values_list("user_id", flat=True))

    def sees(user) -> bool:
        membership = user.membership
        if membership.role == Role.ADMIN:
            return True
        if user.pk in shared or contact.owner_id == user.pk:
            return True
        if membership.role == Role.MANAGER:
            return ((contact.team_id is not None and contact.team_id == membership.team_id)
                    or (contact.owner_id is None and contact.team_id is None))
        return False

    return [user for user in members if sees(user)]
