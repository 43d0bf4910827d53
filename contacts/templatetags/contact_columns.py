"""The optional columns a saved view can add to the contact list (one tag, no per-row include)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()


def _date(value):
    if not value:
        return mark_safe('<span class="muted">Never</span>')
    from django.utils import timezone
    from django.utils.dateformat import format as date_format

    local = timezone.localtime(value)
    return format_html('<time datetime="{}">{}</time>', local.isoformat(), date_format(local, "M j, Y"))


@register.simple_tag
def contact_cell(contact, key):
    if key == "email":
        return contact.email or "—"
    if key == "phone":
        phone = contact.phone or contact.mobile
        return phone.as_national if phone else "—"
    if key == "score":
        return format_html('<span class="score">{}</span>', contact.score)
    if key == "source":
        return contact.get_source_display() or "—"
    if key == "last_activity":
        return _date(contact.last_activity_at)
    if key == "created":
        return _date(contact.created_at)
    return getattr(contact, key, "") or "—"
