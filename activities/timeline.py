"""The timeline of a contact or company: its activities and its recorded changes as one
stream, newest first, filterable by kind, in keyset pages.

Why changes come from the audit trail instead of Activity rows: every change of a
contact or company is already recorded by database triggers (django-pghistory), including
imports, bulk actions and raw SQL. Writing an Activity per changed row as well would keep
two records of the same fact (which can disagree) and would double the writes of an import
or bulk edit of a million rows. So the timeline reads both tables and merges them.

Paging: the stream is ordered by (when, source, id) descending, where `source` ranks an
activity (1) above a change (0) at the same instant. That is a total order, so a cursor
holding the last shown (when, source, id) continues exactly where the page stopped, with
no duplicates or gaps across equal timestamps. A page costs a fixed number of queries
whatever the timeline's length: one for activities after the cursor, one for changes
after the cursor (one row more than needed, to diff the oldest shown change against the
change before it), and one per related model to name the ids in the changes.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.core import signing
from django.db.models import BooleanField, ExpressionWrapper, Q, Value
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format

from activities.models import Activity
from crm.permissions import CHANGE as CHANGE_ACTION, Scope

PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
_SALT = "kith.timeline"

ACTIVITY, CHANGE = 1, 0  # the source rank at equal timestamps

# ?type= on the timeline: a kind of entry and the activity types it covers.
GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "all": ("All", ()),
    "notes": ("Notes", (Activity.Type.NOTE,)),
    "calls": ("Calls", (Activity.Type.CALL,)),
    "meetings": ("Meetings", (Activity.Type.MEETING_SCHEDULED, Activity.Type.MEETING_HELD)),
    "tasks": ("Tasks", (Activity.Type.TASK,)),
    "sms": ("SMS", (Activity.Type.SMS_SENT, Activity.Type.SMS_RECEIVED)),
    "emails": ("Emails", (Activity.Type.EMAIL_SENT, Activity.Type.EMAIL_RECEIVED, Activity.Type.EMAIL_OPENED,
                          Activity.Type.EMAIL_CLICKED)),
    "changes": ("Changes", (Activity.Type.STAGE_CHANGE, Activity.Type.FIELD_CHANGE)),
}
# Groups that include the audit trail's changes.
_WITH_CHANGES = {"all", "changes"}


class TimelineError(ValueError):
    """A bad ?type= or cursor: `field` names the parameter."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def parse_group(value: str | None) -> str:
    value = (value or "all").strip()
    if value not in GROUPS:
        raise TimelineError("type", f"Unknown type {value!r}; use one of {', '.join(GROUPS)}.")
    return value


@dataclass
class Entry:
    """One line of the timeline: an activity, or a recorded change (a dict as
    crm.audit.describe_history makes them, plus `title`)."""

    when: datetime.datetime
    source: int
    id: int
    activity: Activity | None = None
    change: dict | None = None

    @property
    def key(self):
        return (self.when, self.source, self.id)

    @property
    def kind(self) -> str:
        return "activity" if self.activity is not None else "change"


@dataclass
class TimelinePage:
    entries: list[Entry]
    group: str
    next_cursor: str | None = None
    page_size: int = PAGE_SIZE
    extra: dict = field(default_factory=dict)

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None


# -- cursors

def _encode(entry: Entry, group: str, subject: str) -> str:
    return signing.dumps({"w": entry.when.isoformat(), "s": entry.source, "i": entry.id, "g": group,
                          "o": subject}, salt=_SALT, compress=True)


def _decode(cursor: str, group: str, subject: str):
    bad = TimelineError("cursor", "This page link is invalid or out of date. Reload the timeline and try again.")
    try:
        data = signing.loads(cursor, salt=_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        raise bad from None
    if not isinstance(data, dict) or set(data) != {"w", "s", "i", "g", "o"}:
        raise bad
    if data["g"] != group or data["o"] != subject:
        raise TimelineError("cursor", "This page link was made for another timeline or filter. Reload the "
                                      "timeline and try again.")
    when = parse_datetime(data["w"]) if isinstance(data["w"], str) else None
    if when is None or data["s"] not in (ACTIVITY, CHANGE) or not isinstance(data["i"], int):
        raise bad
    return when, data["s"], data["i"]


def _after(field_when: str, field_id: str, rank: int, cursor) -> Q:
    """Rows of one source (`rank`) that come after the cursor in (when, source, id) descending.
    The leading `when <= cursor` is what the index range scan uses; the rest is checked only
    on the rows at the cursor's instant."""
    when, source, pk = cursor
    if rank < source:  # this source sorts after the cursor's source at the same instant
        return Q(**{f"{field_when}__lte": when})
    older = Q(**{f"{field_when}__lt": when})
    if rank == source:
        older |= Q(**{field_when: when, f"{field_id}__lt": pk})
    return Q(**{f"{field_when}__lte": when}) & older


# -- the two sources

def activity_rows(user, *, contact=None, company=None):
    """The activities on a contact's or company's timeline that `user` may see. A company's
    timeline also shows the activities of its (visible) contacts."""
    from contacts.models import ContactCompany

    rows = Activity.objects.visible_to(user)
    if contact is not None:
        return rows.filter(contact=contact)
    people = ContactCompany.objects.filter(company=company).values("contact_id")
    return rows.filter(Q(company=company) | Q(contact__in=people))


def _activities(user, subject, group, cursor, limit):
    kind = {"contact": subject} if subject._meta.model_name == "contact" else {"company": subject}
    rows = activity_rows(user, **kind)
    types = GROUPS[group][1]
    if types:
        rows = rows.filter(type__in=types)
    if cursor is not None:
        rows = rows.filter(_after("occurred_at", "id", ACTIVITY, cursor))
    # Whether the user may change each row (done checkbox, cancel, delete), as an expression
    # over the row's own joins: an EXISTS over visible_to would be planned as a hashed scan of
    # every activity of the organization.
    scope = Scope.of(user)
    change_q = Activity.visibility_q(scope, CHANGE_ACTION) if scope is not None else None
    if change_q is None:
        can_change = Value(False)
    elif not change_q:
        can_change = Value(True)
    else:
        can_change = ExpressionWrapper(change_q, output_field=BooleanField())
    # The related rows the entries name, without their heavy columns (embeddings, search vectors).
    if "contact" in kind:
        rows = rows.select_related("actor", "assigned_to", "company").defer(*_HEAVY["company"])
    else:
        rows = rows.select_related("actor", "assigned_to", "contact").defer(*_HEAVY["contact"])
    rows = rows.annotate(can_change=can_change).order_by("-occurred_at", "-id")
    activities = list(rows[:limit])
    if "contact" in kind:
        for activity in activities:  # all on this contact, which is already at hand
            activity.contact = subject
    return activities


_HEAVY = {
    "contact": [f"contact__{name}" for name in ("embedding", "search_vector", "enrichment", "ai_insights",
                                                "custom_fields", "custom_fields_sealed", "description")],
    "company": [f"company__{name}" for name in ("embedding", "enrichment", "custom_fields", "custom_fields_sealed",
                                                "description")],
}


def _events(subject, cursor, limit):
    event_model = type(subject).pgh_event_model
    # The subject's own changes and those of the records merged into it (contacts/merge.py:
    # merged_into points at the final survivor, also through earlier merges), in the same query.
    merged = type(subject).all_objects.filter(merged_into_id=subject.pk).values("pk")
    rows = event_model.objects.filter(Q(pgh_obj_id=subject.pk) | Q(pgh_obj_id__in=merged))
    if cursor is not None:
        rows = rows.filter(_after("pgh_created_at", "pgh_id", CHANGE, cursor))
    return list(rows.select_related("pgh_context").order_by("-pgh_created_at", "-pgh_id")[:limit])


def _context(event) -> dict:
    """The audit context (user, source, operation …) the change was made in."""
    return (event.pgh_context.metadata or {}) if event.pgh_context_id else {}


# -- changes, readable

def _display(field, value, names) -> str:
    from crm.audit import _show

    if isinstance(value, datetime.datetime):
        return date_format(timezone.localtime(value) if timezone.is_aware(value) else value, "DATETIME_FORMAT")
    if isinstance(value, datetime.date):
        return date_format(value, "DATE_FORMAT")
    if value is not None and not isinstance(value, (str, int, float, bool, list, dict)):
        value = str(value)  # phone numbers, decimals
    return _show(field, value, names)


def _describe_events(subject, events: list, shown: int) -> list[Entry]:
    """The first `shown` of `events` (newest first) as entries; each update is compared with
    the event after it in the list (the one before it in time)."""
    from crm.audit import _QUIET_FIELDS, field_label
    from crm.models import User

    model = type(subject)
    fields = [f for f in model._meta.concrete_fields if f.name not in _QUIET_FIELDS
              and hasattr(events[0] if events else None, f.attname)]
    diffs = []
    wanted: dict = {}
    previous = _previous_events(subject, events, shown)
    for index, event in enumerate(events[:shown]):
        before = previous.get(event.pgh_id) if previous is not None else (
            events[index + 1] if index + 1 < len(events) else None)
        changed = []
        if event.pgh_label == "update" and before is not None:
            for f in fields:
                old, new = getattr(before, f.attname), getattr(event, f.attname)
                if old != new:
                    changed.append((f, old, new))
                    if f.is_relation:
                        wanted.setdefault(f.related_model, set()).update(v for v in (old, new) if v is not None)
        diffs.append((event, before, changed))
        user_id = _context(event).get("user")
        if user_id:
            wanted.setdefault(User, set()).add(user_id)
    names = {related: related._default_manager.in_bulk(ids) for related, ids in wanted.items() if ids}

    entries = []
    for event, before, changed in diffs:
        context = _context(event)
        summary = {"insert": "Created", "delete": "Deleted"}.get(event.pgh_label, "Changed")
        note = ""
        changes = []
        if event.pgh_label == "update" and before is None:
            note = "Earlier values were not recorded, so the change itself cannot be shown."
        for f, old, new in changed:
            if f.name == "deleted_at":
                summary = "Moved to the trash" if new else "Restored from the trash"
                continue
            changes.append({"field": f.name, "label": field_label(f), "old": _display(f, old, names),
                            "new": _display(f, new, names)})
        if event.pgh_label == "update" and before is not None and not changes and summary == "Changed":
            continue  # only derived or automatic columns changed
        title = _change_title(summary, changes, model)
        user_id = context.get("user")
        merged_record = event.pgh_obj_id if event.pgh_obj_id != subject.pk else None
        if merged_record:
            title = f"{title} (merged record #{merged_record})"
        entries.append(Entry(when=event.pgh_created_at, source=CHANGE, id=event.pgh_id, change={
            "merged_record": merged_record, "merge": context.get("merge"),
            "event_id": event.pgh_id, "when": event.pgh_created_at, "summary": summary, "title": title,
            "actor": names.get(User, {}).get(user_id) if user_id else None,
            "source": context.get("source", ""), "operation": context.get("operation"),
            "import": context.get("import"), "changes": changes, "note": note,
        }))
    return entries


def _previous_events(subject, events: list, shown: int) -> dict | None:
    """With records merged into the subject the events of several rows interleave: each update
    is compared with the previous event of the same row (in the list, else fetched: two queries).
    None when all events are the subject's own (the next event in the list is the previous one)."""
    if all(e.pgh_obj_id == subject.pk for e in events):
        return None
    from django.db.models import OuterRef, Subquery

    result, missing = {}, []
    for index, event in enumerate(events[:shown]):
        before = next((e for e in events[index + 1:] if e.pgh_obj_id == event.pgh_obj_id), None)
        if before is not None:
            result[event.pgh_id] = before
        elif event.pgh_label == "update":
            missing.append(event.pgh_id)
    if missing:
        model = type(events[0])
        earlier = model.objects.filter(pgh_obj_id=OuterRef("pgh_obj_id"), pgh_id__lt=OuterRef("pgh_id")).order_by(
            "-pgh_id").values("pgh_id")[:1]
        pairs = dict(model.objects.filter(pgh_id__in=missing).annotate(prev=Subquery(earlier))
                     .values_list("pgh_id", "prev"))
        rows = model.objects.in_bulk([p for p in pairs.values() if p is not None])
        result.update({pk: rows.get(prev) for pk, prev in pairs.items() if prev is not None})
    return result


def _change_title(summary: str, changes: list[dict], model) -> str:
    noun = model._meta.verbose_name
    if summary == "Created":
        return f"{noun.capitalize()} created"
    if summary != "Changed":
        return summary
    names = {c["field"] for c in changes}
    if names == {"lifecycle_stage"}:
        return f"Stage changed to {changes[0]['new']}"
    if names == {"owner"}:
        return f"Owner changed to {changes[0]['new']}"
    if len(changes) == 1:
        return f"{changes[0]['label']} changed"
    return f"{len(changes)} fields changed"


# -- a page

def page(user, subject, *, group: str = "all", cursor: str | None = None, page_size: int = PAGE_SIZE) -> TimelinePage:
    """One page of the timeline of `subject` (a contact or company the caller fetched through
    the visibility gate) as `user` sees it. Raises TimelineError for a bad type or cursor."""
    group = parse_group(group)
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    subject_key = f"{subject._meta.model_name}:{subject.pk}"
    after = _decode(cursor, group, subject_key) if cursor else None
    activities = _activities(user, subject, group, after, page_size + 1)
    events = _events(subject, after, page_size + 2) if group in _WITH_CHANGES else []
    # Merge the candidates, newest first, and keep a page of them (the changes are
    # described after the cut, so only shown ones cost name lookups).
    candidates = sorted(
        [(a.occurred_at, ACTIVITY, a.pk, a) for a in activities]
        + [(e.pgh_created_at, CHANGE, e.pgh_id, e) for e in events[:page_size + 1]],
        key=lambda c: (c[0], c[1], c[2]), reverse=True)
    has_next = len(candidates) > page_size
    taken = candidates[:page_size]
    shown_events = sum(1 for c in taken if c[1] == CHANGE)
    changes = {e.id: e for e in _describe_events(subject, events, shown_events)} if shown_events else {}
    entries = []
    for when, source, pk, row in taken:
        if source == ACTIVITY:
            entries.append(Entry(when=when, source=ACTIVITY, id=pk, activity=row))
        elif pk in changes:
            entries.append(changes[pk])
    next_cursor = None
    if has_next and taken:
        last = taken[-1]
        next_cursor = _encode(Entry(when=last[0], source=last[1], id=last[2]), group, subject_key)
    return TimelinePage(entries=entries, group=group, next_cursor=next_cursor, page_size=page_size)
