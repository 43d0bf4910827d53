"""Insights on a contact, produced by documented rules (no external AI service).

Engagement trend
    Engagement activities (ENGAGEMENT_TYPES: emails sent, received, opened, clicked; SMS sent and
    received; calls; meetings scheduled and held — not notes, tasks or field changes; cancelled
    and failed ones left out) in the last 30 days against the 30 days before. The difference is
    significant when it is at least 2 and at least 20 % of the earlier count: "rising" or
    "falling"; otherwise "steady".

Days since last contact
    Whole days since `Contact.last_contacted_at` (the latest email, call, meeting held or SMS in
    either direction); None ("never") when there was none.

Best time to reach
    From past inbound replies (SMS and emails received, inbound calls; the latest REPLY_SAMPLE),
    in the contact's time zone (UTC when it has none): the weekday with most replies and the
    two-hour window with most replies (ties: earliest). Fewer than MIN_REPLIES replies: "not
    enough replies".

Score trend
    The score now against the score 30 days ago (ScoreHistory: the last change before then; 0
    when there was none): rising when up by SCORE_TREND_POINTS or more, falling when down by as
    much, else steady.

Suggested next action: the rules below in order, the first that matches wins.
    1. Every channel's consent is revoked                      -> "Do not contact"
    2. A meeting is planned (scheduled in the future)          -> "Prepare for the meeting"
    3. They replied (inbound) after our last outbound message,
       within the last 7 days                                  -> "Reply"
    4. No contact in 30+ days (or never) and score rising      -> "Call" (or text/email when calls
                                                                   are opted out or there is no
                                                                   phone number)
    5. No contact in 30+ days and score >= 50                  -> "Reach out"
    6. Engagement falling                                      -> "Re-engage"
    7. Score >= 70 and stage lead or MQL                       -> "Qualify"
    8. Never contacted                                         -> "Introduce yourself"
    9. Otherwise                                               -> "Keep in touch"
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from activities.models import Activity
from contacts.models import ScoreHistory

WINDOW_DAYS = 30
MIN_REPLIES = 3
REPLY_SAMPLE = 200
SCORE_TREND_POINTS = 5
STALE_DAYS = 30
REPLY_WITHIN_DAYS = 7

ENGAGEMENT_TYPES = ("email_sent", "email_received", "email_opened", "email_clicked", "sms_sent", "sms_received",
                    "call", "meeting_scheduled", "meeting_held")
REPLY_TYPES = ("sms_received", "email_received", "call")
OUTBOUND_TYPES = ("email_sent", "sms_sent", "call")
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def trend(recent: int, previous: int) -> str:
    difference = recent - previous
    if abs(difference) >= max(2, 0.2 * previous):
        return "rising" if difference > 0 else "falling"
    return "steady"


def best_time(replies, tz_name: str) -> dict:
    """{"enough", "weekday", "start_hour", "end_hour", "label", "replies", "timezone"} from reply
    datetimes (aware), in the contact's time zone."""
    try:
        zone = ZoneInfo(tz_name) if tz_name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone, tz_name = ZoneInfo("UTC"), ""
    tz_label = tz_name or "UTC"
    local = [moment.astimezone(zone) for moment in replies]
    if len(local) < MIN_REPLIES:
        return {"enough": False, "replies": len(local), "timezone": tz_label,
                "label": f"Not enough replies ({len(local)} of {MIN_REPLIES} needed)."}
    days = Counter(moment.weekday() for moment in local)
    weekday = min(days, key=lambda d: (-days[d], d))
    hours = Counter(moment.hour for moment in local)
    start = min(range(24), key=lambda h: (-(hours[h] + hours[(h + 1) % 24]), h))
    end = (start + 2) % 24
    return {"enough": True, "replies": len(local), "timezone": tz_label, "weekday": WEEKDAYS[weekday],
            "start_hour": start, "end_hour": end,
            "label": f"{WEEKDAYS[weekday]}s, {start:02d}:00–{end:02d}:00 ({tz_label}), from {len(local)} replies."}


def score_trend(contact, now) -> tuple[str, int]:
    """(rising/steady/falling, the score 30 days ago)."""
    before = (ScoreHistory.objects.filter(contact_id=contact.pk, computed_at__lte=now - timedelta(days=WINDOW_DAYS))
              .order_by("-computed_at", "-id").values_list("score", flat=True).first())
    then = before if before is not None else 0
    change = contact.score - then
    if change >= SCORE_TREND_POINTS:
        return "rising", then
    if change <= -SCORE_TREND_POINTS:
        return "falling", then
    return "steady", then


def _reach_channel(contact) -> str:
    if contact.call_consent != "revoked" and (contact.phone or contact.mobile):
        return "Call"
    if contact.sms_consent != "revoked" and contact.mobile:
        return "Text"
    return "Email"


def next_action(contact, facts: dict) -> dict:
    """The first matching rule (see the module docstring): {"rule", "action", "why"}."""
    days = facts["days_since_contact"]
    stale = days is None or days >= STALE_DAYS
    since = "never contacted" if days is None else f"no contact in {days} days"
    score_trend_ = facts["score_trend"]
    if all(getattr(contact, f"{c}_consent") == "revoked" for c in ("email", "sms", "call")):
        return {"rule": 1, "action": "Do not contact", "why": "Consent is revoked on every channel."}
    if facts["next_meeting_at"] is not None:
        return {"rule": 2, "action": "Prepare for the meeting",
                "why": f"A meeting is planned for {facts['next_meeting_at']:%Y-%m-%d %H:%M} UTC."}
    last_in, last_out = facts["last_inbound_at"], facts["last_outbound_at"]
    if last_in is not None and (last_out is None or last_in > last_out) and (
            facts["now"] - last_in <= timedelta(days=REPLY_WITHIN_DAYS)):
        return {"rule": 3, "action": "Reply", "why": f"They wrote on {last_in:%Y-%m-%d} and have no answer yet."}
    if stale and score_trend_ == "rising":
        channel = _reach_channel(contact)
        return {"rule": 4, "action": channel,
                "why": f"{since.capitalize()} and the score is rising ({facts['score_then']} → {contact.score})."}
    if stale and contact.score >= 50:
        return {"rule": 5, "action": "Reach out", "why": f"A high score ({contact.score}) and {since}."}
    if facts["engagement_trend"] == "falling":
        return {"rule": 6, "action": "Re-engage",
                "why": f"Engagement fell from {facts['previous_30']} to {facts['last_30']} activities in 30 days."}
    if contact.score >= 70 and contact.lifecycle_stage in ("lead", "mql"):
        return {"rule": 7, "action": "Qualify",
                "why": f"A score of {contact.score} at stage {contact.get_lifecycle_stage_display()}."}
    if days is None:
        return {"rule": 8, "action": "Introduce yourself", "why": "No contact yet."}
    return {"rule": 9, "action": "Keep in touch", "why": "Nothing urgent."}


def insights(contact, *, now=None) -> dict:
    """Everything above for one contact, in three queries."""
    now = now or timezone.now()
    recent_start, previous_start = now - timedelta(days=WINDOW_DAYS), now - timedelta(days=2 * WINDOW_DAYS)
    counted = Q(type__in=ENGAGEMENT_TYPES) & ~Q(status__in=("cancelled", "failed"))
    inbound = Q(type__in=REPLY_TYPES, direction="inbound") & ~Q(status__in=("cancelled", "failed", "planned"))
    outbound = Q(type__in=OUTBOUND_TYPES, direction="outbound") & ~Q(status__in=("cancelled", "failed", "planned"))
    facts = Activity.objects.filter(contact_id=contact.pk).aggregate(
        last_30=Count("id", filter=counted & Q(occurred_at__gt=recent_start, occurred_at__lte=now)),
        previous_30=Count("id", filter=counted & Q(occurred_at__gt=previous_start, occurred_at__lte=recent_start)),
        last_inbound_at=Max("occurred_at", filter=inbound & Q(occurred_at__lte=now)),
        last_outbound_at=Max("occurred_at", filter=outbound & Q(occurred_at__lte=now)),
        next_meeting_at=Min("occurred_at", filter=Q(type__in=("meeting_scheduled", "meeting_held"), status="planned",
                                                    occurred_at__gt=now)),
    )
    replies = list(Activity.objects.filter(Q(contact_id=contact.pk) & inbound & Q(occurred_at__lte=now))
                   .order_by("-occurred_at").values_list("occurred_at", flat=True)[:REPLY_SAMPLE])
    facts["now"] = now
    facts["engagement_trend"] = trend(facts["last_30"], facts["previous_30"])
    last = contact.last_contacted_at
    facts["days_since_contact"] = None if last is None else max(0, (now - last).days)
    facts["score_trend"], facts["score_then"] = score_trend(contact, now)
    facts["best_time"] = best_time(replies, contact.timezone)
    facts["next_action"] = next_action(contact, facts)
    return facts


def as_json(facts: dict) -> dict:
    """The API's shape of `insights()`."""
    def iso(value):
        return value.isoformat() if value is not None else None

    return {
        "engagement": {"trend": facts["engagement_trend"], "last_30_days": facts["last_30"],
                       "previous_30_days": facts["previous_30"]},
        "days_since_last_contact": facts["days_since_contact"],
        "last_inbound_at": iso(facts["last_inbound_at"]), "last_outbound_at": iso(facts["last_outbound_at"]),
        "next_meeting_at": iso(facts["next_meeting_at"]),
        "score_trend": {"trend": facts["score_trend"], "score_30_days_ago": facts["score_then"]},
        "best_time_to_reach": facts["best_time"],
        "next_action": facts["next_action"],
    }
