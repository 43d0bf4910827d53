"""The contact page's lead score card: `{% score_card_data contact as score %}` gives the stored
score's breakdown (the latest ScoreHistory row), a short history and the insights, in four queries."""

from __future__ import annotations

from django import template

from contacts import insights, scoring

register = template.Library()

HISTORY_ON_CARD = 6


@register.simple_tag
def score_card_data(contact) -> dict:
    history = scoring.latest_history(contact, HISTORY_ON_CARD)
    latest = history[0] if history else None
    components = latest.breakdown.get("components", []) if latest and latest.score == contact.score else []
    return {"history": history, "latest": latest, "components": components,
            "insights": insights.insights(contact)}
