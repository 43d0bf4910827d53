from django import template

register = template.Library()

# Provider states -> the existing badge colours.
_BADGES = {"ok": "done", "failed": "failed", "not_checked": "unknown", "skipped": "cancelled"}


@register.inclusion_tag("contacts/_enrichment_values.html")
def enrichment_card(contact):
    """The body of the contact page's enrichment card: {% load enrichment %}{% enrichment_card contact %}."""
    from contacts.enrichment import card_rows

    rows = card_rows(contact)
    for state in rows["states"]:
        state["badge"] = _BADGES.get(state["status"], "unknown")
    return {**rows, "contact": contact}
