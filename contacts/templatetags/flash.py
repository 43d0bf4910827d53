"""Flash messages that carry an action: extra tag "undo:<url>" adds an Undo button (a POST
form) to the message, e.g. after a merge."""

from django import template

register = template.Library()


@register.filter
def flash_classes(tags: str) -> str:
    return " ".join(t for t in (tags or "").split() if not t.startswith("undo:"))


@register.filter
def flash_undo(tags: str) -> str:
    return next((t[len("undo:"):] for t in (tags or "").split() if t.startswith("undo:")), "")
