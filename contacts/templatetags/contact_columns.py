"""The optional columns a saved view can add to the contact list (one tag, no per-row include)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join
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


def _tags(contact):
    from crm.templatetags.kith import tag_chip

    tags = list(contact.tags.all())
    if not tags:
        return ""
    chips = format_html_join("", "{}", ((tag_chip(t),) for t in tags[:2]))
    more = ""
    if len(tags) > 2:
        more = format_html('<span class="tag tag-more" title="{}">+{}</span>',
                           ", ".join(t.name for t in tags[2:]), len(tags) - 2)
    return format_html('<span class="tag-list tag-list-inline">{}{}</span>', chips, more)


def _reach(contact):
    if contact.email:
        return contact.email
    phone = contact.phone or contact.mobile
    return phone.as_national if phone else "No email or phone"


@register.simple_tag(takes_context=True)
def contact_row(context, contact):
    """One row of the contact list (_results.html): the page's columns in the saved view's
    choice, the selection checkbox for writers. Built in Python: a list page renders up to
    200 of these, and template nodes per row cost more than the page's SQL."""
    from crm.templatetags.kith import stage_pill

    columns = context.get("columns") or ()
    stage_label = contact.get_lifecycle_stage_display()
    pill = stage_pill(contact.lifecycle_stage, stage_label)
    name = contact.display_name
    cells = []
    if context.get("kith_scope") is not None and context["kith_scope"].can_write:
        cells.append(format_html(
            '<td class="col-check"><input type="checkbox" name="ids" value="{}" form="bulk-form" data-bulk-row '
            'aria-label="Select {}"></td>', contact.pk, name))
    company = contact.company_name
    cells.append(format_html(
        '<td><div class="person"><span class="avatar avatar-sm" aria-hidden="true">{}</span>'
        '<div class="person-text"><span class="person-line">'
        '<a class="person-name row-link" href="{}{}/">{}</a>{}</span>'
        '<span class="person-sub" title="{}">{}</span>'
        '<span class="show-sm person-extra">{}{}</span></div></div></td>',
        name[:1] or "?", context.get("detail_prefix", "/contacts/"), contact.pk, name or "Unnamed contact",
        _tags(contact), contact.email, _reach(contact), pill,
        format_html(' <span class="muted small">{}</span>', company) if company else ""))
    if "company" in columns:
        cells.append(format_html('<td class="hide-sm"><span class="cell-clip" title="{}">{}</span></td>',
                                 company, company or "—"))
    if "stage" in columns:
        cells.append(format_html('<td class="hide-sm">{}</td>', pill))
    if "owner" in columns:
        user = context.get("user")
        if contact.owner_id is None:
            owner = mark_safe('<span class="muted">Unassigned</span>')
        elif user is not None and contact.owner_id == user.pk:
            owner = "You"
        else:
            owner = contact.owner.get_full_name()
        team = format_html('<span class="person-sub">{}</span>', contact.team.name) if contact.team_id else ""
        cells.append(format_html('<td class="hide-sm hide-md hide-lg nowrap">{}{}</td>', owner, team))
    for key, _label in context.get("extra_columns") or ():
        cells.append(format_html('<td class="hide-sm">{}</td>', contact_cell(contact, key)))
    if "date" in columns:
        kind = context.get("date_column", "created")
        if kind == "score":
            cells.append(format_html('<td class="hide-sm nowrap num"><span class="score">{}</span></td>',
                                     contact.score))
        else:
            value = {"updated": contact.updated_at, "last_activity": contact.last_activity_at}.get(
                kind, contact.created_at)
            cells.append(format_html('<td class="hide-sm nowrap">{}</td>', _date(value)))
    return format_html("<tr>{}</tr>", mark_safe("".join(cells)))
