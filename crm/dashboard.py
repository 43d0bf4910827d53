"""The dashboard's metrics: one organization's contacts, SMS and activities over a date range,
through the visibility gate (a rep counts their book, a manager their teams, an admin the
organization), optionally narrowed to a team and an industry.

Shared by the page (crm/views_dashboard.py) and the API (crm/api/dashboard.py): both parse
their query string with `DashboardFilterForm` and call `metrics(user, filters)`, which runs
a fixed number of aggregate queries whatever the amount of data (no per-row Python):

1. contacts per (lifecycle stage, source, industry), each group with its total, new
   before the range, active and SMS opt-in counts: the totals, the stage and source
   breakdowns and the industries the filter offers, in one pass;
2. new contacts per day/week/month bucket in the range (zero-filled buckets in Python);
3. messages in the range by direction and status, and the response rate;
4. activities in the range per actor and type (on contacts; on companies only).
(Plus the filter form's team lookups.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django import forms
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Q, Value
from django.db.models.functions import Trunc
from django.utils import timezone

from activities.models import Activity
from contacts.models import ConsentStatus, Contact, LifecycleStage, Source
from crm.models import Team
from crm.permissions import Scope
from messaging.models import Message

# Longest range the dashboard draws (monthly buckets: 120 points).
MAX_RANGE_DAYS = 3660
DEFAULT_DAYS = 30
MIN_DATE, MAX_DATE = dt.date(1900, 1, 1), dt.date(2199, 12, 31)
PRESETS = (("7d", "Last 7 days", 7), ("30d", "Last 30 days", 30), ("90d", "Last 90 days", 90), ("year", "This year", None))

# Outbound statuses that mean "handed to the provider" (sent), delivered, and failed
# (refused by the provider or not delivered by the carrier).
SENT_STATUSES = (Message.Status.SENT, Message.Status.DELIVERED, Message.Status.UNDELIVERED, Message.Status.FAILED)
FAILED_STATUSES = (Message.Status.UNDELIVERED, Message.Status.FAILED)
PENDING_STATUSES = (Message.Status.SCHEDULED, Message.Status.QUEUED, Message.Status.SENDING)
# A contact counts as "texted" when a message to them was at least queued for sending.
TEXTED_EXCLUDED = (Message.Status.SCHEDULED, Message.Status.CANCELLED)


def today() -> dt.date:
    return timezone.localdate()


def preset_range(key: str, *, on: dt.date | None = None) -> tuple[dt.date, dt.date]:
    on = on or today()
    for name, _label, days in PRESETS:
        if name == key:
            return (on.replace(month=1, day=1) if days is None else on - dt.timedelta(days=days - 1)), on
    raise KeyError(key)


class DashboardFilterForm(forms.Form):
    """The query string of the page and the API: ?from=YYYY-MM-DD&to=YYYY-MM-DD&team=<id>&industry=<text>.
    Dates are inclusive days in the server's time zone; both default to the last 30 days."""

    PARAMS = ("from", "to", "team", "industry")

    def __init__(self, data, *, user):
        super().__init__(data)
        self.user = user
        date_errors = {"invalid": "Enter a date as YYYY-MM-DD."}
        self.fields["from"] = forms.DateField(required=False, label="From", input_formats=["%Y-%m-%d"],
                                              error_messages=date_errors)
        self.fields["to"] = forms.DateField(required=False, label="To", input_formats=["%Y-%m-%d"],
                                            error_messages=date_errors)
        self.fields["team"] = forms.ModelChoiceField(
            queryset=Team.objects.visible_to(user).order_by("name", "id"), required=False, label="Team",
            empty_label="All teams",
            error_messages={"invalid_choice": "Choose one of your organization's teams (by id)."})
        self.fields["industry"] = forms.CharField(required=False, max_length=120, label="Industry")

    def clean_industry(self):
        return " ".join(self.cleaned_data.get("industry", "").split())

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        start, end = cleaned.get("from"), cleaned.get("to")
        for name, day in (("from", start), ("to", end)):
            if day is not None and not MIN_DATE <= day <= MAX_DATE:
                self.add_error(name, f"Enter a date between {MIN_DATE.year} and {MAX_DATE.year}.")
        if self.errors:
            return cleaned
        end = end or today()
        start = start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            self.add_error("from", "The start date is after the end date.")
        elif (end - start).days + 1 > MAX_RANGE_DAYS:
            self.add_error("from", f"Choose a range of at most {MAX_RANGE_DAYS // 366} years.")
        cleaned["from"], cleaned["to"] = start, end
        return cleaned

    def filters(self) -> "Filters":
        data = self.cleaned_data
        return Filters(start_date=data["from"], end_date=data["to"], team=data.get("team"),
                       industry=data.get("industry", ""))


@dataclass(frozen=True)
class Filters:
    start_date: dt.date
    end_date: dt.date  # inclusive
    team: Team | None = None
    industry: str = ""

    @property
    def start(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.start_date, dt.time.min))

    @property
    def end(self) -> dt.datetime:
        """Exclusive: midnight after the last day."""
        return timezone.make_aware(dt.datetime.combine(self.end_date + dt.timedelta(days=1), dt.time.min))

    @property
    def days(self) -> int:
        return (self.end_date - self.start_date).days + 1

    @property
    def bucket(self) -> str:
        """Growth buckets: days up to a month, weeks up to half a year, then months."""
        if self.days <= 31:
            return "day"
        if self.days <= 183:
            return "week"
        return "month"

    def contact_q(self, path: str = "") -> Q:
        """The team and industry filters on Contact rows, or on rows reached through `path`."""
        q = Q()
        if self.team is not None:
            q &= Q(**{f"{path}team_id": self.team.pk})
        if self.industry:
            q &= Q(**{f"{path}industry__iexact": self.industry})
        return q


def bucket_starts(filters: Filters) -> list[dt.date]:
    """Every bucket of the range, in order (the query only returns buckets with rows)."""
    kind, day = filters.bucket, filters.start_date
    if kind == "week":
        day -= dt.timedelta(days=day.weekday())  # PostgreSQL's weeks start on Monday
    elif kind == "month":
        day = day.replace(day=1)
    starts = []
    while day <= filters.end_date:
        starts.append(day)
        if kind == "day":
            day += dt.timedelta(days=1)
        elif kind == "week":
            day += dt.timedelta(days=7)
        else:
            day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return starts


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def metrics(user, filters: Filters) -> dict:
    """Every number of the dashboard, as plain data (JSON-serializable)."""
    start, end = filters.start, filters.end
    scope = Scope.of(user)
    # Said again on the joined contact: a strict condition on it turns the gate's outer join
    # into an inner one and keeps the join to the organization's contacts (not the table's).
    same_org = {"contact__organization_id": scope.organization_id} if scope else {}
    contacts = Contact.objects.visible_to(user).filter(filters.contact_q())

    # 1. One pass over the contacts (team filter only) grouped by stage, source and industry,
    # each group with its counts: totals, stage and source breakdowns (industry filter
    # applied in SQL as the `selected` flag) and the industries the filter offers all come
    # from it. A contact is active when a done activity on it happened in the range;
    # last_activity_at (the newest done activity, kept by activities.services) answers
    # most rows without the subquery: only contacts touched again after the range need it.
    # (The organization is repeated so that, where PostgreSQL hashes the subquery instead of
    # probing activity_contact_timeline per row, it reads one organization's range.)
    in_range_activity = Activity.objects.filter(contact_id=OuterRef("pk"), status=Activity.Status.DONE,
                                                occurred_at__gte=start, occurred_at__lt=end,
                                                organization_id=OuterRef("organization_id"))
    team_only = Contact.objects.visible_to(user).filter(created_at__lt=end)
    if filters.team is not None:
        team_only = team_only.filter(team_id=filters.team.pk)
    selected = (ExpressionWrapper(Q(industry__iexact=filters.industry), output_field=BooleanField())
                if filters.industry else Value(True))
    groups = (team_only.order_by().annotate(selected=selected)
              .values("lifecycle_stage", "source", "industry", "selected")
              .annotate(n=Count("pk"),
                        before=Count("pk", filter=Q(created_at__lt=start)),
                        active=Count("pk", filter=Q(last_activity_at__gte=start)
                                     & (Q(last_activity_at__lt=end) | Q(Exists(in_range_activity)))),
                        sms_opted_in=Count("pk", filter=Q(sms_consent=ConsentStatus.GRANTED))))
    totals = dict.fromkeys(("total", "before", "active", "sms_opted_in"), 0)
    by_stage = dict.fromkeys(LifecycleStage.values, 0)
    by_source = {}
    industries: dict[str, str] = {}
    for group in groups:
        if group["industry"]:
            industries.setdefault(group["industry"].lower(), group["industry"])
        if group["selected"]:
            by_stage[group["lifecycle_stage"]] = by_stage.get(group["lifecycle_stage"], 0) + group["n"]
            by_source[group["source"]] = by_source.get(group["source"], 0) + group["n"]
            totals["total"] += group["n"]
            for key in ("before", "active", "sms_opted_in"):
                totals[key] += group[key]
    source_labels = dict(Source.choices)
    sources = sorted(by_source.items(), key=lambda item: (-item[1], item[0]))

    # 2. Growth: new contacts per bucket, with the running total.
    tz = timezone.get_current_timezone()
    rows = (contacts.filter(created_at__gte=start, created_at__lt=end)
            .annotate(bucket=Trunc("created_at", filters.bucket, tzinfo=tz)).order_by()
            .values("bucket").annotate(n=Count("pk")))
    per_bucket = {timezone.localtime(row["bucket"], tz).date(): row["n"] for row in rows}
    growth, running = [], totals["before"]
    for day in bucket_starts(filters):
        running += per_bucket.get(day, 0)
        growth.append({"start": day.isoformat(), "new": per_bucket.get(day, 0), "cumulative": running})

    # 3. Messages of contacts in the range (by when they were created) and replies: a texted
    # contact replied when an inbound message of theirs came after one of the range's
    # outbound ones (after any of them is the same as after the first) and before the
    # range's end. Texts from unknown numbers belong to no contact and are not counted.
    out = Q(direction=Message.Direction.OUTBOUND)
    reply = Message.objects.filter(contact_id=OuterRef("contact_id"), direction=Message.Direction.INBOUND,
                                   created_at__gt=OuterRef("created_at"), created_at__lt=end)
    texted = out & ~Q(status__in=TEXTED_EXCLUDED)
    sms = (Message.objects.visible_to(user)
           .filter(filters.contact_q("contact__"), created_at__gte=start, created_at__lt=end, **same_org)
           .aggregate(
               sent=Count("pk", filter=out & Q(status__in=SENT_STATUSES)),
               delivered=Count("pk", filter=out & Q(status=Message.Status.DELIVERED)),
               failed=Count("pk", filter=out & Q(status__in=FAILED_STATUSES)),
               pending=Count("pk", filter=out & Q(status__in=PENDING_STATUSES)),
               received=Count("pk", filter=Q(direction=Message.Direction.INBOUND)),
               texted=Count("contact_id", distinct=True, filter=texted),
               replied=Count("contact_id", distinct=True, filter=texted & Q(Exists(reply))),
           ))

    # 4. Activities in the range per actor and type: those on contacts, and (without a team
    # or industry filter, which only contacts have) those on companies only; two queries so
    # each joins just what it needs.
    in_range = (Activity.objects.visible_to(user).filter(occurred_at__gte=start, occurred_at__lt=end,
                                                         actor__isnull=False).order_by())
    per_rep = ("actor_id", "actor__full_name", "actor__email", "type")
    activity_rows = list(in_range.filter(filters.contact_q("contact__"), **same_org)
                         .values(*per_rep).annotate(n=Count("pk")))
    if filters.team is None and not filters.industry:
        activity_rows += in_range.filter(contact__isnull=True).values(*per_rep).annotate(n=Count("pk"))
    reps: dict[int, dict] = {}
    for row in activity_rows:
        rep = reps.setdefault(row["actor_id"], {"id": row["actor_id"],
                                                "name": row["actor__full_name"] or row["actor__email"],
                                                "total": 0, "by_type": {}})
        rep["by_type"][row["type"]] = rep["by_type"].get(row["type"], 0) + row["n"]
        rep["total"] += row["n"]
    type_labels = dict(Activity.Type.choices)
    types_used = sorted({t for rep in reps.values() for t in rep["by_type"]},
                        key=lambda t: (list(type_labels).index(t) if t in type_labels else len(type_labels), t))

    return {
        "range": {"from": filters.start_date.isoformat(), "to": filters.end_date.isoformat(),
                  "days": filters.days, "bucket": filters.bucket},
        "filters": {"team": filters.team.pk if filters.team else None, "industry": filters.industry},
        "contacts": {
            "total": totals["total"],
            "active": totals["active"],
            "new": totals["total"] - totals["before"],
            "sms_opted_in": totals["sms_opted_in"],
            "sms_opt_in_rate": ratio(totals["sms_opted_in"], totals["total"]),
        },
        "growth": growth,
        "by_stage": [{"stage": value, "label": label, "count": by_stage.get(value, 0)}
                     for value, label in LifecycleStage.choices],
        "by_source": [{"source": value, "label": source_labels.get(value, "No source") if value else "No source",
                       "count": n} for value, n in sources],
        "messages": {
            "sent": sms["sent"], "delivered": sms["delivered"], "failed": sms["failed"],
            "pending": sms["pending"], "received": sms["received"],
            "delivery_rate": ratio(sms["delivered"], sms["sent"]),
        },
        "responses": {"texted": sms["texted"], "replied": sms["replied"],
                      "rate": ratio(sms["replied"], sms["texted"])},
        "activities": {
            "types": [{"type": t, "label": type_labels.get(t, t)} for t in types_used],
            "by_rep": sorted(reps.values(), key=lambda rep: (-rep["total"], rep["name"].lower())),
            "total": sum(rep["total"] for rep in reps.values()),
        },
        "industries": sorted(industries.values(), key=str.lower),
    }
