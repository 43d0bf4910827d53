"""The latency cases: search-as-you-type shapes (issue targets: p95 < 100 ms)."""

from __future__ import annotations

from contacts.models import Contact
from contacts.search import autocomplete, full_text
from crm.models import Membership
from crm.permissions import Role

SEARCH_TARGET_MS = 100


def _users():
    """The org admin and a sales rep of the first seeded organization."""
    admin = Membership.objects.filter(role=Role.ADMIN).order_by("organization_id").select_related("user").first()
    rep = (Membership.objects.filter(role=Role.REP, organization_id=admin.organization_id)
           .select_related("user").first())
    return admin.user, rep.user


def _sample(user):
    """Real values to search for, taken from contacts the user can see."""
    contact = (Contact.objects.visible_to(user).exclude(last_name="").exclude(phone="")
               .order_by("-created_at").first())
    return contact


def cases():
    admin, rep = _users()
    for who, user in (("admin", admin), ("rep", rep)):
        c = _sample(user)
        first, last = c.first_name, c.last_name
        typo = first[:-2] + first[-1] + first[-2] if len(first) > 3 else first + "x"
        shapes = [
            ("one letter", first[:1]),
            ("prefix (3 letters)", first[:3]),
            ("full name", f"{first} {last}"),
            ("last name first", f"{last} {first[:2]}"),
            ("phone fragment", str(c.phone)[-7:-3]),
            ("email prefix", c.email[:6] if c.email else first[:4]),
            ("unselective common word", "john"),
            ("typo", f"{typo} {last}"),
        ]
        for label, text in shapes:
            yield (f"autocomplete {who}: {label} {text!r}", lambda u=user, t=text: autocomplete(u, t),
                   SEARCH_TARGET_MS)
        for label, text in (("full text, selective", f"{first} {last}"), ("full text, common word", "john")):
            yield (f"search page {who}: {label} {text!r}", lambda u=user, t=text: full_text(u, t),
                   SEARCH_TARGET_MS)
