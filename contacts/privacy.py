"""GDPR: subject access export, erasure with a tombstone, the request log, and trash retention.

Export. `request_export` (org admins only) logs a PrivacyRequest and queues a `crm.models.Job`
(kind "contacts.privacy_export") that writes a zip to Django's default storage: `subject.json`
with everything about the contact and one CSV per kind (contact, custom_fields, tags, companies,
relationships, consent, activities, tasks, messages, enrichment, insights, history). Other
modules add sections through `EXPORT_SECTIONS`. The file is downloadable by org admins for
KITH_PRIVACY_EXPORT_TTL_SECONDS after it was made; the beat task `purge_privacy` deletes it then.

Erasure. `request_erasure` (org admins only) logs a PrivacyRequest and queues a Job (kind
"contacts.erasure") that the worker runs at once. `erase` hard-deletes, in one transaction, the
contact and the records merged into it (same person) with every row that hangs off them, sends
`contacts.signals.contact_erasing` for modules that keep the person's data elsewhere, and
scrubs what is not reached by foreign keys: mentions of the person's email, phones (E.164 and
national spellings) and name in other activities, messages, notifications, jobs and their
items, import rows and previews, merge snapshots, Django admin log entries, Celery task
results and audit contexts; the audit trail (pghistory event tables of Contact and of every
tracked model pointing at it); the name vocabulary; dedupe blocks; and files under the default
storage (contact exports, subject access exports, import uploads) that hold the person. Values
another contact of the organization still has (a shared landline, a common name) are left
alone. Last it records a tombstone (`ErasureTombstone`): keyed HMAC-SHA256 digests of the
normalized email and of each E.164 phone, no plaintext. Creating a contact with such a value
(form, API, import) is refused naming the field until an org admin records the person's consent
(`lift_tombstones`, Settings › Privacy or POST /api/privacy-tombstones/lift/).

Retention. `purge_trash` (beat, daily) erases contacts that stayed in the trash longer than
their organization's `trash_retention_days` (default 30): the same scrub, without a tombstone.
The request log keeps KITH_PRIVACY_LOG_DAYS (30) days (`purge_privacy`, beat).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import logging
import re
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta

import phonenumbers
import pgtrigger
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.http import Http404
from django.utils import timezone

from contacts.models import (
    ConsentEvent, Contact, ContactCompany, ContactImport, ContactRelationship, ContactTag, DedupeBlock,
    ErasureTombstone, ImportRow, Merge, NameWord, PrivacyRequest, normalize_email,
)
from contacts.signals import contact_erasing
from crm import jobs
from crm.models import CustomFieldDefinition, Job, JobItem, Organization, Tag, User
from crm.permissions import VIEW, Scope

logger = logging.getLogger("kith.privacy")

EXPORT_KIND, EXPORT_TASK = "contacts.privacy_export", "contacts.tasks.run_privacy_export"
ERASURE_KIND, ERASURE_TASK = "contacts.erasure", "contacts.tasks.run_erasure"
SALT = "contacts.privacy_export"
LEDGER_TRIGGER = "contacts.ConsentEvent:consent_ledger_append_only"
REDACTED = "[erased]"
TOMBSTONE_MESSAGE = ("This person's data was erased at their request: they can be added again only after an "
                     "organization admin records their consent (Settings › Privacy › Record consent).")


# -- tombstones --------------------------------------------------------------------------------

def _tombstone_key() -> bytes:
    return (getattr(settings, "KITH_TOMBSTONE_KEY", "") or settings.SECRET_KEY).encode()


def normalize_phone(value) -> str:
    """E.164 of a phone number (read with PHONENUMBER_DEFAULT_REGION), "" when it is none."""
    text = str(value or "").strip()
    if not text:
        return ""
    try:
        number = phonenumbers.parse(text, getattr(settings, "PHONENUMBER_DEFAULT_REGION", None) or "US")
    except phonenumbers.NumberParseException:
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def digest(kind: str, value: str) -> str:
    """Keyed HMAC-SHA256 of a normalized email or E.164 phone: not reversible without the key,
    and the key (KITH_TOMBSTONE_KEY, else SECRET_KEY) is not in the database."""
    normalized = normalize_email(value) if kind == ErasureTombstone.Kind.EMAIL else normalize_phone(value)
    return hmac.new(_tombstone_key(), f"{kind}:{normalized}".encode(), hashlib.sha256).hexdigest()


def value_keys(email="", phones=()) -> dict[str, tuple[str, str]]:
    """digest -> (kind, the field it came from) for the non-empty values."""
    keys = {}
    if normalize_email(email):
        keys[digest("email", email)] = ("email", "email")
    for name, value in phones:
        if normalize_phone(value):
            keys[digest("phone", value)] = ("phone", name)
    return keys


def blocked(organization_id: int, email="", phones=()) -> dict[str, str]:
    """field -> TOMBSTONE_MESSAGE for the values that match an active tombstone (one query,
    none when there is nothing to check). `phones`: (field name, value) pairs."""
    keys = value_keys(email, phones)
    if not keys:
        return {}
    hits = ErasureTombstone.objects.filter(organization_id=organization_id, lifted_at__isnull=True,
                                           digest__in=list(keys)).values_list("digest", flat=True)
    return {keys[d][1]: TOMBSTONE_MESSAGE for d in hits}


def blocked_digests(organization_id: int, digests) -> set[str]:
    """The digests among `digests` with an active tombstone (imports check a batch at once)."""
    digests = list(digests)
    if not digests:
        return set()
    return set(ErasureTombstone.objects.filter(organization_id=organization_id, lifted_at__isnull=True,
                                               digest__in=digests).values_list("digest", flat=True))


def contact_errors(contact: Contact) -> dict[str, str]:
    """Tombstone errors of a contact being saved: its values that changed since it was read
    (all of them for a new one), so a family landline shared with an erased person does not
    stop edits of the other contact's unrelated fields."""
    loaded = getattr(contact, "_loaded_identity", None) or {}
    email = contact.email if normalize_email(contact.email) != normalize_email(loaded.get("email", "")) else ""
    phones = [(name, getattr(contact, name)) for name in ("phone", "mobile")
              if normalize_phone(getattr(contact, name))
              and normalize_phone(getattr(contact, name)) != normalize_phone(loaded.get(name, ""))]
    return blocked(contact.organization_id, email, phones) if contact.organization_id else {}


def tombstone(contact: Contact) -> int:
    """Record (or re-arm) the tombstones of an erased contact's email and phones."""
    keys = value_keys(contact.email, [("phone", contact.phone), ("mobile", contact.mobile)])
    for key, (kind, _) in keys.items():
        ErasureTombstone.objects.update_or_create(
            organization_id=contact.organization_id, kind=kind, digest=key,
            defaults={"lifted_at": None, "lifted_by": None, "evidence": ""})
    return len(keys)


def lift_tombstones(user, *, email="", phone="", evidence="") -> int:
    """An org admin records that the erased person consented to be added again: the tombstones
    matching `email` and/or `phone` are lifted (kept, with who, when and the evidence)."""
    scope = _admin_scope(user)
    errors = {}
    if not (email or "").strip() and not (phone or "").strip():
        errors["email"] = "Give the email or the phone number the person is to be added with."
    if (phone or "").strip() and not normalize_phone(phone):
        errors["phone"] = "This is not a phone number, e.g. +1 415 555 0100."
    if not (evidence or "").strip():
        errors["evidence"] = "Say how the person gave their consent (form, message, call …)."
    if errors:
        raise ValidationError(errors)
    keys = value_keys(email, [("phone", phone)] if (phone or "").strip() else [])
    lifted = ErasureTombstone.objects.filter(organization_id=scope.organization_id, digest__in=list(keys),
                                             lifted_at__isnull=True).update(
        lifted_at=timezone.now(), lifted_by=user, evidence=evidence.strip()[:500], updated_at=timezone.now())
    if not lifted:
        raise ValidationError({"email" if email else "phone": "No erased person has this value: nothing to lift."})
    logger.info("tombstones lifted: user=%s organization=%s count=%s", user.pk, scope.organization_id, lifted)
    return lifted


# -- requests ----------------------------------------------------------------------------------

def _admin_scope(user) -> Scope:
    scope = Scope.of(user)
    if scope is None or not scope.is_admin:
        raise PermissionDenied("Only organization admins handle privacy requests.")
    return scope


def subject(user, pk) -> Contact:
    """The contact a privacy request is about: 404 when the user does not see it (another
    organization, team or owner), 403 when they see it but are not an org admin. Contacts in
    the trash count (an admin may erase them); records merged into another one do not."""
    scope = Scope.of(user)
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404("No such contact.") from None
    if scope is None:
        raise Http404("No such contact.")
    contact = Contact.all_objects.visible_to(user, VIEW).filter(pk=pk, merged_into__isnull=True).first()
    if contact is None:
        raise Http404("No such contact.")
    if not scope.is_admin:
        raise PermissionDenied("Only organization admins may export or erase a person's data.")
    return contact


def _start(user, contact: Contact, kind: str, job_kind: str, task: str, send_options=None) -> PrivacyRequest:
    with transaction.atomic():
        request = PrivacyRequest.objects.create(organization_id=contact.organization_id, kind=kind,
                                                contact_id=contact.pk, requested_by=user)
        job = Job.objects.create(organization_id=contact.organization_id, kind=job_kind, task=task, actor=user,
                                 params={"contact_id": contact.pk, "request_id": request.pk}, total=1)
        request.job = job
        request.save(update_fields=["job", "updated_at"])
        jobs.enqueue(job, **(send_options or {}))
    logger.info("privacy request: kind=%s request=%s user=%s contact=%s", kind, request.pk, user.pk, contact.pk)
    return request


def request_export(user, pk, *, send_options=None) -> PrivacyRequest:
    contact = subject(user, pk)
    return _start(user, contact, PrivacyRequest.Kind.EXPORT, EXPORT_KIND, EXPORT_TASK, send_options)


def request_erasure(user, pk, *, send_options=None) -> PrivacyRequest:
    contact = subject(user, pk)
    return _start(user, contact, PrivacyRequest.Kind.ERASURE, ERASURE_KIND, ERASURE_TASK, send_options)


def _sync_request(job: Job | None) -> None:
    """The request follows its job (also when the job failed outside the step's transaction)."""
    if job is None or not job.params.get("request_id"):
        return
    status = {Job.Status.DONE: PrivacyRequest.Status.DONE, Job.Status.FAILED: PrivacyRequest.Status.FAILED,
              Job.Status.RUNNING: PrivacyRequest.Status.RUNNING}.get(job.status, PrivacyRequest.Status.QUEUED)
    PrivacyRequest.objects.filter(pk=job.params["request_id"]).update(
        status=status, finished_at=job.finished_at, updated_at=timezone.now(),
        # A job's error could quote data; the log keeps only that it failed.
        error="The request failed; see the job for details." if status == PrivacyRequest.Status.FAILED else "")


def visible_requests(user):
    return PrivacyRequest.objects.visible_to(user, VIEW).select_related("requested_by", "job")


# -- subject access export -------------------------------------------------------------------

# name -> callable(contact, ids) returning a list of dicts; other modules (enrichment, scoring …)
# register their own sections here.
EXPORT_SECTIONS: dict = {}

# Callables (contact) -> cache keys that may hold the person's data (e.g. a lookup cached by
# email or phone): erasure deletes them from Django's cache after its transaction commits.
CACHE_KEYS: list = []

_CONTACT_SKIP = {"embedding", "search_vector", "search_name", "search_name_rev", "phone_digits", "dedupe_keys"}


def _row(obj, skip=()) -> dict:
    data = {}
    for f in obj._meta.concrete_fields:
        if f.name in skip or f.name in _CONTACT_SKIP:
            continue
        value = getattr(obj, f.attname)
        data[f.attname if f.is_relation else f.name] = str(value) if f.name in ("phone", "mobile") else value
    return data


def subject_data(contact: Contact) -> dict:
    """Everything Kith holds about one contact (and the records merged into it)."""
    ids = _with_merged(contact)
    definitions = {d.key: d.label for d in CustomFieldDefinition.objects.filter(
        organization_id=contact.organization_id, model="contact")}
    from activities.models import Activity
    from messaging.models import Message

    activities = list(Activity.objects.filter(contact_id__in=ids).order_by("occurred_at", "id"))
    data = {
        "contact": _row(contact, skip={"custom_fields", "enrichment", "ai_insights"}),
        "merged_records": [_row(c, skip={"custom_fields", "enrichment", "ai_insights"})
                           for c in Contact.all_objects.filter(pk__in=ids).exclude(pk=contact.pk)],
        "custom_fields": [{"key": k, "label": definitions.get(k, k), "value": v}
                          for k, v in sorted((contact.custom_fields or {}).items())],
        "tags": [{"tag": name} for name in ContactTag.objects.filter(contact_id__in=ids)
                 .order_by("tag__name").values_list("tag__name", flat=True).distinct()],
        "companies": [{"company_id": cc.company_id, "company": cc.company.name, "domain": cc.company.domain,
                       "role": cc.role, "is_primary": cc.is_primary, "decision_role": cc.decision_role}
                      for cc in ContactCompany.objects.filter(contact_id__in=ids).select_related("company")],
        "relationships": [{"from_contact_id": r.from_contact_id, "to_contact_id": r.to_contact_id,
                           "type": r.type, "note": r.note}
                          for r in ContactRelationship.objects.filter(
                              Q(from_contact_id__in=ids) | Q(to_contact_id__in=ids))],
        "consent": [{"channel": e.channel, "status": e.status, "source": e.source, "occurred_at": e.occurred_at,
                     "ip_address": e.ip_address, "evidence": e.evidence, "actor_id": e.actor_id}
                    for e in ConsentEvent.objects.filter(contact_id__in=ids).order_by("occurred_at", "id")],
        "activities": [_row(a, skip={"organization"}) for a in activities if a.type != Activity.Type.TASK],
        "tasks": [_row(a, skip={"organization"}) for a in activities if a.type == Activity.Type.TASK],
        "messages": [_row(m, skip={"organization"}) for m in Message.objects.filter(contact_id__in=ids)
                     .order_by("created_at", "id")],
        "enrichment": [{"field": k, "value": v} for k, v in sorted((contact.enrichment or {}).items())],
        "insights": [{"score": contact.score, **({"insights": contact.ai_insights} if contact.ai_insights else {})}],
        "history": _history(ids),
    }
    for name, section in EXPORT_SECTIONS.items():
        data[name] = section(contact, ids)
    return data


def _history(ids) -> list[dict]:
    rows = []
    for model, column in _event_tables():
        if model.pgh_tracked_model is not Contact and column == "pgh_obj_id":
            continue
        for event in model.objects.filter(**{f"{column}__in": ids}).select_related("pgh_context").order_by(
                "pgh_created_at"):
            rows.append({"model": model.pgh_tracked_model._meta.label, "event": event.pgh_label,
                         "at": event.pgh_created_at,
                         "by_user_id": (event.pgh_context.metadata or {}).get("user") if event.pgh_context else None,
                         "source": (event.pgh_context.metadata or {}).get("source") if event.pgh_context else None,
                         "row": {f.attname: getattr(event, f.attname) for f in model._meta.concrete_fields
                                 if not f.name.startswith("pgh_") and f.name not in _CONTACT_SKIP}})
    rows.sort(key=lambda r: r["at"])
    return rows


class _Encoder(DjangoJSONEncoder):
    def default(self, o):
        try:
            return super().default(o)
        except TypeError:
            return str(o)  # phone numbers, IP addresses …


def _csv(rows: list[dict]) -> bytes:
    from contacts.exports import neutralize

    rows = rows if isinstance(rows, list) else [rows]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([neutralize(v if isinstance(v, str) else json.dumps(v, cls=_Encoder)
                                    if isinstance(v, (dict, list)) else "" if v is None else str(v))
                         for v in (row.get(c) for c in columns)])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def build_zip(data: dict) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("subject.json", json.dumps(data, cls=_Encoder, indent=2, ensure_ascii=False))
        for name, rows in data.items():
            if name == "contact":
                rows = [{"field": k, "value": v} for k, v in rows.items()]
            archive.writestr(f"{name}.csv", _csv(rows))
    return out.getvalue()


def run_export(job_id: int) -> Job | None:
    job = jobs.run_job(job_id, _export_step)
    _sync_request(job)
    return job


def _export_step(job: Job) -> bool:
    contact = Contact.all_objects.filter(pk=job.params["contact_id"], organization_id=job.organization_id).first()
    if contact is None:
        raise ValidationError("The contact no longer exists.")
    name = f"privacy/{job.organization_id}/{job.pk}/subject-access-{contact.pk}.zip"
    default_storage.delete(name)
    stored = default_storage.save(name, ContentFile(build_zip(subject_data(contact))))
    job.processed = job.succeeded = 1
    job.params = {**job.params, "file": stored, "filename": name.rsplit("/", 1)[1], "downloads": 0,
                  "token": signing.TimestampSigner(salt=SALT).sign(str(job.pk))}
    return True


def export_ttl() -> timedelta:
    return timedelta(seconds=getattr(settings, "KITH_PRIVACY_EXPORT_TTL_SECONDS", 259200))


def export_expires_at(job: Job | None):
    if job is None or not job.finished_at or not job.params.get("file"):
        return None
    return job.finished_at + export_ttl()


def downloadable(request: PrivacyRequest) -> bool:
    job = request.job
    at = export_expires_at(job)
    return (request.kind == PrivacyRequest.Kind.EXPORT and job is not None and job.status == Job.Status.DONE
            and not job.params.get("expired") and at is not None and at > timezone.now())


def open_download(user, request: PrivacyRequest):
    """The zip of a finished export (the caller fetched `request` through the admin-only gate);
    Http404 once it expired or was deleted. Each download is logged and counted."""
    _admin_scope(user)
    if not downloadable(request):
        raise Http404("This export has expired or is not ready.")
    job = request.job
    handle = default_storage.open(job.params["file"], "rb")
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        locked.params = {**locked.params, "downloads": locked.params.get("downloads", 0) + 1}
        locked.save(update_fields=["params", "updated_at"])
    logger.info("subject access export downloaded: user=%s request=%s", user.pk, request.pk)
    return handle, job.params["filename"]


# -- erasure -------------------------------------------------------------------------------------

def run_erasure(job_id: int) -> Job | None:
    job = jobs.run_job(job_id, _erasure_step)
    _sync_request(job)
    return job


def _erasure_step(job: Job) -> bool:
    contact = Contact.all_objects.filter(pk=job.params["contact_id"], organization_id=job.organization_id).first()
    if contact is not None:  # already gone: a retried step that committed before
        erase(contact, tombstone_values=True)
    job.processed = job.succeeded = 1
    return True


def _with_merged(contact: Contact, same_email: bool = True) -> list[int]:
    """The contact and every record of the same person: records merged into it (transitively)
    and records in the trash with the same email (a deleted earlier copy that a restore would
    otherwise bring back)."""
    ids = [contact.pk]
    if same_email and normalize_email(contact.email):
        ids += list(Contact.all_objects.filter(organization_id=contact.organization_id, email=contact.email,
                                               deleted_at__isnull=False).exclude(pk=contact.pk)
                    .values_list("pk", flat=True))
    frontier = list(ids)
    while frontier:
        frontier = list(Contact.all_objects.filter(merged_into_id__in=frontier).exclude(pk__in=ids)
                        .values_list("pk", flat=True))
        ids += frontier
    return ids


@dataclass
class Needles:
    """What identifies the person in free text: emails, names (literal, case-insensitive) and
    phone numbers (their digits with any spacing, with or without the country code)."""

    literals: list[str] = field(default_factory=list)
    phones: list[tuple[str, str]] = field(default_factory=list)  # (country code, national number)

    @classmethod
    def of(cls, people: list[Contact], organization_id: int, exclude_ids) -> "Needles":
        emails = {normalize_email(c.email) for c in people if normalize_email(c.email)}
        names = {c.display_name.strip() for c in people if len(c.display_name.strip()) >= 4}
        names |= {f"{c.first_name} {c.last_name}".strip() for c in people if c.last_name}
        e164 = {normalize_phone(v) for c in people for v in (c.phone, c.mobile) if normalize_phone(v)}
        # Values another contact of the organization still has are not this person's alone.
        others = Contact.all_objects.filter(organization_id=organization_id).exclude(pk__in=exclude_ids).filter(
            Q(email__in=emails) | Q(phone__in=e164) | Q(mobile__in=e164) | Q(display_name__in=names))
        for email, phone, mobile, name in others.values_list("email", "phone", "mobile", "display_name"):
            emails.discard(email)
            e164 -= {str(phone), str(mobile)}
            names.discard(name)
        phones = []
        for value in sorted(e164):
            number = phonenumbers.parse(value)
            phones.append((str(number.country_code), phonenumbers.national_significant_number(number)))
        return cls(literals=sorted(emails | names, key=len, reverse=True), phones=phones)

    def __bool__(self):
        return bool(self.literals or self.phones)

    def phone_patterns(self) -> list[str]:
        """Regular expressions (the same in Python and PostgreSQL) for each phone number."""
        sep = "[- ().]*"
        return [f"(?<![0-9])(\\+?{cc}{sep})?\\(?{sep.join(national)}(?![0-9])" for cc, national in self.phones]

    def q(self, alias: str) -> Q:
        q = Q()
        for literal in self.literals:
            q |= Q(**{f"{alias}__icontains": literal})
        for pattern in self.phone_patterns():
            q |= Q(**{f"{alias}__regex": pattern})
        return q

    def found_in(self, text: str) -> bool:
        lowered = text.lower()
        return any(l.lower() in lowered for l in self.literals) or any(
            re.search(p, text) for p in self.phone_patterns())

    def redact(self, value):
        """`value` with every mention replaced by REDACTED. In lists and dicts, a container that
        directly holds a mention is taken as a record of the person (an import row's cells, a
        row snapshot): all its strings are replaced, so a first name in the next cell goes too."""
        if isinstance(value, str):
            for literal in self.literals:
                value = re.sub(re.escape(literal), REDACTED, value, flags=re.IGNORECASE)
            for pattern in self.phone_patterns():
                value = re.sub(pattern, REDACTED, value)
            return value
        if isinstance(value, (list, dict)):
            items = value.values() if isinstance(value, dict) else value
            record = any(isinstance(v, str) and self.found_in(v) for v in items)
            if isinstance(value, list):
                return [REDACTED if record and isinstance(v, str) and v else self.redact(v) for v in value]
            return {k: REDACTED if record and isinstance(v, str) and v else self.redact(v) for k, v in value.items()}
        return value


_TEXT_TYPES = {"CharField", "TextField", "JSONField", "EmailField", "URLField"}


def text_columns(model) -> list[str]:
    """The model's text and JSON columns (where free text about a person can be)."""
    return [f.name for f in model._meta.concrete_fields
            if f.get_internal_type() in _TEXT_TYPES and not f.primary_key and not f.is_relation]


def _mentioning(queryset, columns, needles: Needles):
    """Rows of `queryset` where one of `columns` (text or JSON) mentions the person."""
    columns = columns or text_columns(queryset.model)
    aliases = {f"_privacy_{i}": Cast(c, TextField()) for i, c in enumerate(columns)}
    q = Q()
    for alias in aliases:
        q |= needles.q(alias)
    return queryset.annotate(**aliases).filter(q)


def _redact_rows(queryset, needles: Needles, columns=None) -> int:
    """Replace the mentions in every text and JSON column of the matching rows."""
    columns = columns or text_columns(queryset.model)
    count = 0
    for obj in _mentioning(queryset, columns, needles):
        for column in columns:
            setattr(obj, column, needles.redact(getattr(obj, column)))
        type(obj).objects.filter(pk=obj.pk).update(**{c: getattr(obj, c) for c in columns})
        count += 1
    return count


def _event_tables():
    """(event model, column) pairs that hold a contact's id: Contact's own events by pgh_obj_id,
    events of tracked models by their foreign keys to Contact."""
    from pghistory.models import Event

    from django.apps import apps

    pairs = []
    for model in apps.get_models():
        if not issubclass(model, Event) or getattr(model, "pgh_tracked_model", None) is None:
            continue
        tracked = model.pgh_tracked_model
        if tracked is Contact:
            pairs.append((model, "pgh_obj_id"))
        names = {f.name for f in model._meta.concrete_fields}
        for f in tracked._meta.concrete_fields:
            if f.is_relation and f.related_model is Contact and f.name in names:
                pairs.append((model, f.attname))
    return pairs


@transaction.atomic
def erase(contact: Contact, *, tombstone_values: bool) -> dict:
    """Hard-delete the contact (and the records merged into it) and scrub every copy of the
    person's data (see the module docstring). Returns counts per kind of row touched."""
    from activities.models import Activity, Notification
    from messaging.models import Message

    org = contact.organization_id
    # A retention purge takes only what was merged into the contact (other trashed copies keep
    # their own time in the trash).
    ids = _with_merged(contact, same_email=tombstone_values)
    people = list(Contact.all_objects.select_for_update().filter(pk__in=ids))
    needles = Needles.of(people, org, ids)
    counts: dict[str, int] = {}
    with pgtrigger.ignore(LEDGER_TRIGGER):
        for person in people:
            contact_erasing.send(sender=Contact, contact=person, organization=person.organization)
        if contact.deleted_at is None:
            from contacts.services import bump_tag_usage

            bump_tag_usage(Tag.objects.filter(contacttag__contact=contact), -1)

        # Rows that reference the contact without cascading, or by id only.
        phones = [normalize_phone(v) for c in people for v in (c.phone, c.mobile) if normalize_phone(v)]
        messages = Message.objects.filter(organization_id=org).filter(
            Q(contact_id__in=ids) | Q(to_number__in=phones) | Q(from_number__in=phones)) if phones else (
            Message.objects.filter(contact_id__in=ids))
        counts["messages"] = messages.delete()[0]
        url_pattern = r"/contacts/(" + "|".join(map(str, ids)) + r")(/|$|\?|#)"
        about = Q(url__regex=url_pattern)
        if needles:
            about |= Q(pk__in=_mentioning(Notification.objects.filter(organization_id=org), ["title"],
                                          needles).values("pk"))
        notifications = Notification.objects.filter(organization_id=org).filter(about)
        counts["notifications"] = Notification.objects.filter(pk__in=notifications.values("pk")).delete()[0]
        counts["import_rows"] = ImportRow.objects.filter(organization_id=org, contact_id__in=ids).delete()[0]
        contact_jobs = Job.objects.filter(organization_id=org, kind__startswith="contacts.")
        counts["job_items"] = JobItem.objects.filter(organization_id=org, object_id__in=ids,
                                                     job__in=contact_jobs).delete()[0]
        counts["merges"] = Merge.objects.filter(organization_id=org, kind=Merge.Kind.CONTACT).filter(
            Q(survivor_id__in=ids) | Q(merged_ids__overlap=ids)).delete()[0]
        contact_type = ContentType.objects.get_for_model(Contact)
        counts["admin_log"] = LogEntry.objects.filter(content_type=contact_type,
                                                      object_id__in=[str(i) for i in ids]).delete()[0]
        from guardian.models import UserObjectPermission

        UserObjectPermission.objects.filter(content_type=contact_type, object_pk__in=[str(i) for i in ids]).delete()
        with connection.cursor() as cursor:
            for pk in ids:
                cursor.execute(f"UPDATE {DedupeBlock._meta.db_table} SET members = array_remove(members, %s) "
                               "WHERE members @> ARRAY[%s]::bigint[]", [pk, pk])

        # Mentions in free text and JSON elsewhere in the organization.
        if needles:
            from django_celery_results.models import TaskResult
            from pghistory.models import Context

            members = list(User.objects.filter(membership__organization_id=org).values_list("pk", flat=True))
            counts["import_rows"] += _mentioning(ImportRow.objects.filter(organization_id=org), None,
                                                 needles).delete()[0]
            counts["task_results"] = _mentioning(TaskResult.objects.all(), None, needles).delete()[0]
            for key, rows in (
                    ("activities", Activity.objects.filter(organization_id=org).exclude(contact_id__in=ids)),
                    ("messages", Message.objects.filter(organization_id=org)),
                    ("notifications", Notification.objects.filter(organization_id=org)),
                    ("jobs", Job.objects.filter(organization_id=org)),
                    ("job_items", JobItem.objects.filter(organization_id=org)),
                    ("imports", ContactImport.objects.filter(organization_id=org)),
                    ("merges", Merge.objects.filter(organization_id=org)),
                    # Tables without an organization: only rows of this organization's members
                    # (and, for audit contexts, of no member: tasks, commands).
                    ("admin_log", LogEntry.objects.filter(user__membership__organization_id=org)),
                    ("audit_contexts", Context.objects.filter(
                        Q(metadata__user__in=members) | Q(metadata__user__isnull=True)))):
                counts[f"{key}_redacted"] = _redact_rows(rows, needles)

        # The name vocabulary: words of the person's names that no other contact uses.
        words = {w for c in people for w in c.search_name.split() if len(w) >= 2}
        others = Contact.all_objects.filter(organization_id=org).exclude(pk__in=ids)
        unused = [w for w in words if not others.filter(
            Q(search_name=w) | Q(search_name__startswith=f"{w} ") | Q(search_name__endswith=f" {w}")
            | Q(search_name__contains=f" {w} ")).exists()]
        NameWord.objects.filter(organization_id=org, word__in=unused).delete()

        # The contact and everything that cascades from it, then the audit trail (deleting
        # writes delete events with row copies, so the events go last).
        counts["contacts"] = len(ids)
        Contact.all_objects.filter(pk__in=ids).delete()
        counts["history_events"] = 0
        for model, column in _event_tables():
            counts["history_events"] += model.objects.filter(**{f"{column}__in": ids}).delete()[0]
        if needles:
            # Webhook outbox rows that mention the person (other records' events, and the
            # `updated` events the redactions above just wrote with the old text), with their
            # deliveries. The contact's own events went with contact_erasing.
            from crm.models import WebhookEvent

            counts["webhook_events"] = _mentioning(WebhookEvent.objects.filter(organization_id=org), None,
                                                   needles).delete()[0]

    keys = [key for person in people for keys_of in CACHE_KEYS for key in keys_of(person)]
    if keys:
        from django.core.cache import cache

        transaction.on_commit(lambda: cache.delete_many(keys))
    counts["cache_keys"] = len(keys)
    counts["files"] = _scrub_files(org, ids, needles)
    if tombstone_values:
        for person in people:
            tombstone(person)
    logger.info("contact erased: organization=%s contact=%s records=%s", org, contact.pk, len(ids))
    return counts


def _file_text(name: str) -> str:
    try:
        with default_storage.open(name, "rb") as handle:
            data = handle.read()
    except (FileNotFoundError, OSError):
        return ""
    texts = [data]
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            texts += [archive.read(member) for member in archive.namelist()]
    out = []
    for blob in texts:
        out.append(blob.decode("utf-8", errors="ignore"))
        if blob[:2] in (b"\xff\xfe", b"\xfe\xff"):
            out.append(blob.decode("utf-16", errors="ignore"))
    return "\n".join(out)


def _scrub_files(org: int, ids, needles: Needles) -> int:
    """Delete stored files that hold the person: contact exports, their subject access exports,
    uploaded import files (the import is marked failed if it had not run yet)."""
    from contacts import exports

    deleted = 0
    for job in Job.objects.filter(organization_id=org, kind__in=[exports.KIND, EXPORT_KIND],
                                  params__has_key="file"):
        if job.params.get("expired"):
            continue
        mine = job.kind == EXPORT_KIND and job.params.get("contact_id") in ids
        if mine or (needles and needles.found_in(_file_text(job.params["file"]))):
            default_storage.delete(job.params["file"])
            Job.objects.filter(pk=job.pk).update(params={**job.params, "expired": True, "erased": True})
            deleted += 1
    # A contact export running right now: the parts it wrote so far may hold the person; it is
    # cancelled (its parts deleted) rather than finishing with them.
    for job in Job.objects.filter(organization_id=org, kind=exports.KIND, status__in=Job.ACTIVE):
        parts = (job.checkpoint or {}).get("parts", [])
        if needles and any(needles.found_in(_file_text(name)) for name in parts):
            exports.cancel(job)
            Job.objects.filter(pk=job.pk).update(error="Cancelled: it held data of a person erased at their request.")
            deleted += len(parts)
    for imp in ContactImport.objects.filter(organization_id=org).exclude(file=""):
        if needles and needles.found_in(_file_text(imp.file.name)):
            default_storage.delete(imp.file.name)
            update = {"file": ""}
            if imp.stage in (ContactImport.Stage.UPLOADED, ContactImport.Stage.PREVIEWING,
                             ContactImport.Stage.PREVIEWED, ContactImport.Stage.IMPORTING):
                update.update(stage=ContactImport.Stage.FAILED,
                              error="The file was deleted: it held data of a person erased at their request.")
            ContactImport.objects.filter(pk=imp.pk).update(**update)
            deleted += 1
    return deleted


# -- retention and purges ---------------------------------------------------------------------

def purge_trash(now=None, limit: int = 1000) -> int:
    """Erase (without tombstones) contacts in the trash longer than their organization's
    retention; at most `limit` per run (beat runs it again)."""
    now = now or timezone.now()
    purged = 0
    for org in Organization.objects.only("id", "trash_retention_days"):
        cutoff = now - timedelta(days=org.trash_retention_days)
        # Survivors first: a merged record goes with the contact it was merged into.
        for pk in (Contact.all_objects.filter(organization_id=org.pk, deleted_at__lt=cutoff)
                   .order_by(models.F("merged_into").asc(nulls_first=True), "pk").values_list("pk", flat=True)):
            if purged >= limit:
                return purged
            contact = Contact.all_objects.filter(pk=pk, deleted_at__lt=cutoff).first()
            if contact is None:
                continue  # went with its survivor
            erase(contact, tombstone_values=False)
            purged += 1
    if purged:
        logger.info("trash purged: contacts=%s", purged)
    return purged


def log_days() -> int:
    return getattr(settings, "KITH_PRIVACY_LOG_DAYS", 30)


def purge_privacy(now=None) -> dict:
    """Beat: delete expired subject access exports and request-log entries older than 30 days."""
    now = now or timezone.now()
    files = 0
    for job in Job.objects.filter(kind=EXPORT_KIND, finished_at__lt=now - export_ttl(), params__has_key="file"):
        if job.params.get("expired"):
            continue
        default_storage.delete(job.params["file"])
        Job.objects.filter(pk=job.pk).update(params={**job.params, "expired": True}, updated_at=now)
        files += 1
    requests = PrivacyRequest.objects.filter(created_at__lt=now - timedelta(days=log_days())).delete()[0]
    return {"files": files, "requests": requests}

