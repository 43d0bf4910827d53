"""Lead scoring: a transparent, per-organization points model (contacts.models.ScoringModel).

A contact's score is the sum of these components, rounded and clamped to 0–100:

Demographic fit
  1. Job title seniority: the first rule of SENIORITY_RULES whose keywords appear in the job title
     (whole words, case-insensitive) gives its level's points: entry-level words (intern, assistant,
     junior, student, trainee) give none; then vice president (VP, SVP, EVP, "head of"); executive
     (chief, CEO/CTO/CFO/COO/CMO/CIO/CRO, founder, owner, president, partner, managing director);
     director; manager (manager, lead, supervisor); senior (senior, sr, principal, staff).
  2. Company size: the primary company's size band (primary link, else the oldest link; companies
     in the trash do not count): 1–50 people small, 51–1,000 mid, 1,001+ large.
  3. Industry: the primary company's industry (the contact's own industry when it has no company)
     is one of the organization's target industries (case-insensitive).
Behaviour
  4. Each activity of a scored type (email opened, clicked, received; SMS received, i.e. replies;
     call; meeting scheduled; meeting held) counts its type's points times 0.5 ** (age in days /
     half-life): an activity one half-life old counts half, two half-lives a quarter. Cancelled and
     failed activities do not count; future-dated ones (a meeting scheduled ahead) count in full.
Negative signals
  5. Opt-outs: each channel (email, SMS, call) whose consent is revoked — the contact's current
     status, i.e. the latest event of the consent ledger — subtracts the opt-out penalty.
  6. Bounces: each outbound SMS that failed or was undelivered and each "email sent" activity whose
     status is failed subtracts the bounce penalty (no decay: a dead address stays dead).

The breakdown lists every component that gave points, with the points and why. Freshness: triggers
queue contacts whose inputs changed (ScorePending); `score_pending` works through the queue in
batches after commit (debounced) and every minute from beat; the nightly job (beat) recomputes
every contact of every organization, because decay changes scores without any write; changing the
weights starts the same job for the organization. A ScoreHistory row is written whenever a
contact's score changes; the nightly job drops rows older than KITH_SCORE_HISTORY_DAYS (365),
each contact's latest row excepted.

Everything is set-based per batch of BATCH contacts: one query reads the contacts with their
primary company, one aggregates their decayed activities by type, one counts bounces; one UPDATE
writes the changed scores and one INSERT their history.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from contacts.models import ScoreHistory, ScoringModel

logger = logging.getLogger(__name__)

BATCH = 1000
JOB_KIND = "contacts.score"
JOB_TASK = "contacts.tasks.run_scoring_job"
PENDING_TASK = "contacts.tasks.score_pending"
_DEBOUNCE_KEY = "scoring:pending-scheduled"

# (level, label, weight field or None, keywords): first match wins.
SENIORITY_RULES = [
    ("entry", "entry level", None, ("intern", "internship", "assistant", "junior", "jr", "student", "trainee",
                                     "apprentice")),
    ("vp", "vice president", "title_vp", ("vice president", "vice-president", "vp", "svp", "evp", "avp",
                                          "head of")),
    ("executive", "executive", "title_executive", (
        "chief", "ceo", "cto", "cfo", "coo", "cmo", "cio", "cro", "cpo", "ciso", "founder", "co-founder",
        "cofounder", "owner", "president", "partner", "managing director", "general manager")),
    ("director", "director", "title_director", ("director",)),
    ("manager", "manager", "title_manager", ("manager", "mgr", "lead", "supervisor", "team leader")),
    ("senior", "senior", "title_senior", ("senior", "sr", "principal", "staff")),
]
_RULE_PATTERNS = [(level, label, field, re.compile(r"(?<![\w-])(" + "|".join(re.escape(k) for k in keys)
                                                     + r")(?![\w-])", re.IGNORECASE))
                  for level, label, field, keys in SENIORITY_RULES]

SIZE_BANDS = {"1-10": "size_small", "11-50": "size_small", "51-200": "size_mid", "201-500": "size_mid",
              "501-1000": "size_mid", "1001-5000": "size_large", "5001+": "size_large"}
SIZE_LABELS = {"size_small": "small (1–50)", "size_mid": "mid-sized (51–1,000)", "size_large": "large (1,001+)"}

# Activity type -> weight field, in the order the breakdown lists them.
BEHAVIOUR = {
    "meeting_held": ("meeting_held", "Meetings held"),
    "meeting_scheduled": ("meeting_scheduled", "Meetings scheduled"),
    "call": ("call", "Calls"),
    "email_received": ("email_received", "Emails received"),
    "sms_received": ("sms_received", "SMS replies"),
    "email_clicked": ("email_clicked", "Email clicks"),
    "email_opened": ("email_opened", "Email opens"),
}
CHANNEL_LABELS = {"email": "email", "sms": "SMS", "call": "calls"}


def seniority(job_title: str):
    """(level, label, weight field) of the first rule matching the title, or None."""
    for level, label, field, pattern in _RULE_PATTERNS:
        if job_title and pattern.search(job_title):
            return level, label, field
    return None


def _entry(group, component, label, points, why):
    return {"group": group, "component": component, "label": label, "points": round(points, 1), "why": why}


def _fmt(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def breakdown_for(model: ScoringModel, row: dict, behaviour: dict, bounces: int) -> tuple[int, dict]:
    """(score, breakdown) of one contact from its row, {type: (count, decayed count)} and bounces."""
    components = []
    title = (row["job_title"] or "").strip()
    found = seniority(title)
    if found and found[2]:
        points = getattr(model, found[2])
        if points:
            components.append(_entry("fit", "title", "Job title",
                                     points, f"“{title}” reads as {found[1]}: {_fmt(points)} points."))
    band_field = SIZE_BANDS.get(row["size_band"] or "")
    if band_field and getattr(model, band_field):
        points = getattr(model, band_field)
        components.append(_entry("fit", "company_size", "Company size", points,
                                 f"{row['company'] or 'The primary company'} is {SIZE_LABELS[band_field]}: "
                                 f"{_fmt(points)} points."))
    industry = (row["company_industry"] or "").strip() if row["company"] else (row["industry"] or "").strip()
    if industry and model.industry_match and industry.casefold() in model.industry_keys:
        whose = row["company"] or "The contact"
        components.append(_entry("fit", "industry", "Industry", model.industry_match,
                                 f"{whose}'s industry “{industry}” is a target industry: "
                                 f"{_fmt(model.industry_match)} points."))
    for kind, (field, label) in BEHAVIOUR.items():
        count, decayed = behaviour.get(kind, (0, 0.0))
        weight = getattr(model, field)
        if count and weight:
            points = weight * decayed
            components.append(_entry(
                "behaviour", kind, label, points,
                f"{count} × {_fmt(weight)} points, decayed by age (half-life {_fmt(model.half_life_days)} days) "
                f"to {decayed:.2f} × {_fmt(weight)}."))
    revoked = [label for channel, label in CHANNEL_LABELS.items() if row[f"{channel}_consent"] == "revoked"]
    if revoked and model.opt_out_penalty:
        components.append(_entry("negative", "opt_out", "Opt-outs", -model.opt_out_penalty * len(revoked),
                                 f"Consent revoked for {', '.join(revoked)} (consent ledger): "
                                 f"{len(revoked)} × −{_fmt(model.opt_out_penalty)} points."))
    if bounces and model.bounce_penalty:
        components.append(_entry("negative", "bounces", "Bounces", -model.bounce_penalty * bounces,
                                 f"{bounces} bounced email(s) or failed SMS: {bounces} × "
                                 f"−{_fmt(model.bounce_penalty)} points."))
    raw = sum(c["points"] for c in components)
    score = max(0, min(100, round(raw)))
    return score, {"components": components, "raw": round(raw, 1), "clamped": score != round(raw)}


# --- reading inputs in batches ------------------------------------------------------------------

_CONTACTS_SQL = """
SELECT c.id, c.score, c.job_title, c.industry, c.email_consent, c.sms_consent, c.call_consent,
       co.name, co.size_band, co.industry
FROM contacts_contact c
LEFT JOIN LATERAL (
    SELECT co.name, co.size_band, co.industry FROM contacts_contactcompany l
    JOIN companies_company co ON co.id = l.company_id AND co.deleted_at IS NULL
    WHERE l.contact_id = c.id ORDER BY l.is_primary DESC, l.id LIMIT 1) co ON true
WHERE c.id = ANY(%s) AND c.organization_id = %s AND c.deleted_at IS NULL
"""

_BEHAVIOUR_SQL = """
SELECT contact_id, type, count(*),
       sum(power(0.5, greatest(extract(epoch FROM %s - occurred_at), 0) / 86400.0 / %s))
FROM activities_activity
WHERE contact_id = ANY(%s) AND organization_id = %s AND type = ANY(%s) AND status NOT IN ('cancelled', 'failed')
GROUP BY contact_id, type
"""

_BOUNCES_SQL = """
SELECT contact_id, sum(n) FROM (
    SELECT contact_id, count(*) AS n FROM messaging_message
    WHERE contact_id = ANY(%s) AND organization_id = %s AND direction = 'outbound'
      AND status IN ('failed', 'undelivered') GROUP BY contact_id
    UNION ALL
    SELECT contact_id, count(*) FROM activities_activity
    WHERE contact_id = ANY(%s) AND organization_id = %s AND type = 'email_sent' AND status = 'failed'
    GROUP BY contact_id) b
GROUP BY contact_id
"""


def compute(organization_id: int, contact_ids, *, model: ScoringModel | None = None,
            now: datetime | None = None) -> dict[int, tuple[int, int, dict]]:
    """{contact id: (new score, stored score, breakdown)} for live contacts of the organization."""
    model = model or ScoringModel.for_organization(organization_id)
    now = now or timezone.now()
    ids = list(contact_ids)
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_CONTACTS_SQL, [ids, organization_id])
        rows = [dict(zip(("id", "score", "job_title", "industry", "email_consent", "sms_consent", "call_consent",
                          "company", "size_band", "company_industry"), r)) for r in cursor.fetchall()]
        live = [r["id"] for r in rows]
        behaviour: dict[int, dict] = defaultdict(dict)
        bounces: dict[int, int] = {}
        if live:
            cursor.execute(_BEHAVIOUR_SQL, [now, float(model.half_life_days), live, organization_id,
                                            list(BEHAVIOUR)])
            for contact_id, kind, count, decayed in cursor.fetchall():
                behaviour[contact_id][kind] = (count, float(decayed))
            cursor.execute(_BOUNCES_SQL, [live, organization_id, live, organization_id])
            bounces = {contact_id: int(n) for contact_id, n in cursor.fetchall()}
    result = {}
    for row in rows:
        score, breakdown = breakdown_for(model, row, behaviour.get(row["id"], {}), bounces.get(row["id"], 0))
        result[row["id"]] = (score, row["score"], breakdown)
    return result


def recompute(organization_id: int, contact_ids, *, reason: str, model: ScoringModel | None = None,
              now: datetime | None = None) -> int:
    """Compute and store the scores of some contacts of one organization; a history row for each
    score that changed. Returns how many changed."""
    now = now or timezone.now()
    results = compute(organization_id, contact_ids, model=model, now=now)
    changed = {pk: (new, old, breakdown) for pk, (new, old, breakdown) in results.items() if new != old}
    if not changed:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE contacts_contact c SET score = d.score FROM unnest(%s::bigint[], %s::smallint[]) AS d(id, score) "
            "WHERE c.id = d.id AND c.score IS DISTINCT FROM d.score RETURNING c.id",
            [list(changed), [new for new, _, _ in changed.values()]])
        written = {pk for (pk,) in cursor.fetchall()}
        ScoreHistory.objects.bulk_create([
            ScoreHistory(organization_id=organization_id, contact_id=pk, score=changed[pk][0],
                         previous=changed[pk][1], breakdown=changed[pk][2], computed_at=now, reason=reason)
            for pk in changed if pk in written])
    return len(written)


# --- the queue of changed contacts --------------------------------------------------------------

# Debounce: the first commit sends a task that runs DEBOUNCE_COUNTDOWN seconds later; commits in
# the next DEBOUNCE_WINDOW seconds send nothing, as that task (running after the window closed)
# finds their queued contacts. The countdown must exceed the window, so no commit is left behind.
DEBOUNCE_WINDOW = 2
DEBOUNCE_COUNTDOWN = 3


def schedule() -> None:
    """Ask the worker to rescore the queued contacts once the current transaction commits; the
    writes of a few seconds share one task (the queue itself is filled by triggers)."""
    def send():
        if cache.add(_DEBOUNCE_KEY, 1, timeout=DEBOUNCE_WINDOW):
            from crm.celery import app

            try:
                app.send_task(PENDING_TASK, countdown=DEBOUNCE_COUNTDOWN)
            except Exception:  # noqa: BLE001 - the write is committed; beat's run picks the queue up
                logger.warning("could not queue the scoring task; beat will rescore within a minute",
                               exc_info=True)

    transaction.on_commit(send)


def score_pending(*, limit: int = 100_000) -> int:
    """Rescore queued contacts, BATCH at a time; each batch leaves the queue in the transaction
    that stores its scores (a crash leaves it queued). Runners may overlap: each claims its batch
    with SKIP LOCKED. Returns how many contacts were scored."""
    done = 0
    while done < limit:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    # In primary-key order: an index scan that stops at the batch size, even with
                    # a million rows queued by an import (no sort of the whole queue).
                    "DELETE FROM contacts_scorepending WHERE contact_id IN (SELECT contact_id FROM "
                    "contacts_scorepending ORDER BY contact_id LIMIT %s FOR UPDATE SKIP LOCKED) "
                    "RETURNING contact_id, organization_id", [min(BATCH, limit - done)])
                rows = cursor.fetchall()
            if not rows:
                break
            by_org = defaultdict(list)
            for contact_id, organization_id in rows:
                by_org[organization_id].append(contact_id)
            for organization_id, ids in by_org.items():
                recompute(organization_id, ids, reason="change")
            done += len(rows)
    return done


# --- organization-wide job (nightly, after a weights change) ------------------------------------

def running_job(organization_id: int):
    from crm.models import Job

    return Job.objects.filter(organization_id=organization_id, kind=JOB_KIND, status__in=Job.ACTIVE).first()


def latest_job(organization_id: int):
    from crm.models import Job

    return Job.objects.filter(organization_id=organization_id, kind=JOB_KIND).order_by("-created_at", "-id").first()


def start_recompute(organization_id: int, *, reason: str, actor=None, queue: bool = True, send_options=None):
    """A job rescoring every live contact of the organization in batches, with progress. A new
    weights change cancels a running job (its later batches would mix old and new weights); the
    nightly run leaves a running job alone and returns it."""
    from crm.jobs import cancel, enqueue
    from crm.models import Job

    with transaction.atomic():
        running = running_job(organization_id)
        if running is not None:
            if reason != "weights":
                return running
            cancel(running)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM contacts_contact WHERE organization_id = %s AND deleted_at IS NULL",
                           [organization_id])
            total = cursor.fetchone()[0]
        job = Job.objects.create(organization_id=organization_id, kind=JOB_KIND, task=JOB_TASK, actor=actor,
                                 params={"reason": reason}, total=total, checkpoint={"after": 0})
        if queue:
            enqueue(job, **(send_options or {}))
    return job


def run(job_id: int):
    from crm.jobs import run_job

    return run_job(job_id, _step)


def _step(job) -> bool:
    after = int(job.checkpoint.get("after", 0))
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM contacts_contact WHERE organization_id = %s AND deleted_at IS NULL "
                       "AND id > %s ORDER BY id LIMIT %s", [job.organization_id, after, BATCH])
        ids = [pk for (pk,) in cursor.fetchall()]
    if not ids:
        return True
    model = ScoringModel.for_organization(job.organization_id)
    changed = recompute(job.organization_id, ids, reason=job.params.get("reason", "nightly"), model=model)
    with connection.cursor() as cursor:
        # A contact rescored here needs no queued recompute any more.
        cursor.execute("DELETE FROM contacts_scorepending WHERE contact_id = ANY(%s)", [ids])
        # History older than KITH_SCORE_HISTORY_DAYS goes, except each contact's latest row
        # (it explains the current score), through the (contact, computed_at) index.
        cursor.execute(
            "DELETE FROM contacts_scorehistory h WHERE h.contact_id = ANY(%s) AND h.computed_at < %s "
            "AND EXISTS (SELECT 1 FROM contacts_scorehistory n WHERE n.contact_id = h.contact_id "
            "AND (n.computed_at, n.id) > (h.computed_at, h.id))",
            [ids, timezone.now() - timedelta(days=settings.KITH_SCORE_HISTORY_DAYS)])
    job.processed += len(ids)
    job.succeeded += changed
    job.checkpoint = {"after": ids[-1]}
    return len(ids) < BATCH


def nightly(*, send_options=None) -> list[int]:
    """Beat: one recompute job per organization that has contacts (decay changes scores daily)."""
    from django.db.models import Exists, OuterRef

    from contacts.models import Contact
    from crm.models import Organization

    has_contacts = Exists(Contact.objects.filter(organization_id=OuterRef("pk")))
    return [start_recompute(organization_id, reason="nightly", send_options=send_options).pk
            for organization_id in Organization.objects.filter(has_contacts).values_list("pk", flat=True)]


def save_model(model: ScoringModel, *, actor=None, send_options=None):
    """Store new weights and rescore the organization (a job)."""
    with transaction.atomic():
        if model.pk is None:
            # Two admins saving an organization's first weights at once: the second one updates
            # the row the first created (the organization row serializes them).
            from crm.models import Organization

            list(Organization.objects.select_for_update().filter(pk=model.organization_id).values_list("pk"))
            existing = ScoringModel.objects.filter(organization_id=model.organization_id).values_list(
                "pk", "created_at").first()
            if existing:
                (model.pk, model.created_at), model._state.adding = existing, False
        model.save()
        return start_recompute(model.organization_id, reason="weights", actor=actor, send_options=send_options)


def forget_contact(sender, contact, **kwargs) -> None:
    """GDPR erasure (contacts.signals.contact_erasing): the contact's score history (its
    breakdowns quote the job title and company) and its place in the queue."""
    from contacts.models import ScorePending

    ScoreHistory.objects.filter(contact_id=contact.pk).delete()
    ScorePending.objects.filter(contact_id=contact.pk).delete()


def latest_history(contact, limit: int = 10) -> list[ScoreHistory]:
    return list(ScoreHistory.objects.filter(contact=contact).order_by("-computed_at", "-id")[:limit])
