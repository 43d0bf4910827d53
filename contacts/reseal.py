"""Jobs that move stored values when what is encrypted changes (crm.encryption, contacts.phones):

- a custom field marked sensitive (or no longer): its values move between the `custom_fields`
  JSONB and the encrypted `custom_fields_sealed` column of every contact (or company) that has
  one; when it becomes sensitive, the history tables (pghistory events) get the same treatment,
  so no plaintext copy stays there;
- an organization turning `encrypt_phone_numbers` on (or off): its contacts' phones move between
  the plain columns and the encrypted ones with their blind index; turning it on also encrypts
  the numbers in the history tables.

Each job runs in resumable steps (crm.jobs.run_job) of BATCH rows: phase and position in
`checkpoint`, counts in `processed`/`succeeded`. A step writes only rows whose stored form
differs from what it should be, so running one twice changes nothing more.
"""

from __future__ import annotations

from django.apps import apps
from django.db import transaction
from django.db.models import Q

from crm import jobs
from crm.encryption import bulk_update_sealed, sensitive_keys, split_custom_fields
from crm.models import Job

SENSITIVITY_KIND = "crm.custom_field_sensitivity"
PHONES_KIND = "contacts.phone_encryption"
TASK = "contacts.tasks.run_reseal"
BATCH = 500
INLINE_LIMIT = 200


def _model(name: str):
    return apps.get_model("contacts", "Contact") if name == "contact" else apps.get_model("companies", "Company")


def _event_model(name: str):
    return apps.get_model("contacts", "ContactEvent") if name == "contact" else apps.get_model(
        "companies", "CompanyEvent")


def _start(organization_id, kind, params, total, *, actor=None, inline=None, send_options=None) -> Job:
    with transaction.atomic():
        # A newer decision replaces a running job of the same kind and subject.
        for running in Job.objects.select_for_update().filter(organization_id=organization_id, kind=kind,
                                                              status__in=Job.ACTIVE):
            if kind == PHONES_KIND or running.params.get("key") == params.get("key"):
                jobs.cancel(running)
        job = Job.objects.create(organization_id=organization_id, kind=kind, task=TASK, actor=actor, params=params,
                                 total=total, checkpoint={"phase": "rows", "after": 0})
    if inline is None:
        inline = total <= INLINE_LIMIT
    return jobs.launch(job, inline=inline, run=run, send_options=send_options)


def start_sensitivity_move(definition, *, actor=None, inline=None, send_options=None) -> Job:
    """Move the stored values of `definition` to where its `sensitive` flag says they belong."""
    model = _model(definition.model)
    total = model.all_objects.filter(organization_id=definition.organization_id).filter(
        _holding(definition.key)).count()
    return _start(definition.organization_id, SENSITIVITY_KIND,
                  {"model": definition.model, "key": definition.key, "sensitive": definition.sensitive},
                  total, actor=actor, inline=inline, send_options=send_options)


def start_phone_conversion(organization_id, *, encrypt: bool, actor=None, inline=None, send_options=None) -> Job:
    """Convert the organization's contact phones to the form `encrypt` asks for."""
    Contact = _model("contact")
    total = Contact.all_objects.filter(organization_id=organization_id).filter(_phones_to_convert(encrypt)).count()
    return _start(organization_id, PHONES_KIND, {"encrypt": encrypt}, total, actor=actor, inline=inline,
                  send_options=send_options)


def latest(organization_id, kind: str) -> Job | None:
    return Job.objects.filter(organization_id=organization_id, kind=kind).order_by("-created_at", "-id").first()


def run(job_id: int) -> Job | None:
    return jobs.run_job(job_id, step)


def _holding(key: str) -> Q:
    return Q(custom_fields__has_key=key) | Q(custom_fields_sealed__isnull=False)


def _phones_to_convert(encrypt: bool) -> Q:
    if encrypt:
        return ~Q(phone="") | ~Q(mobile="")
    return Q(phone_sealed__isnull=False) | Q(mobile_sealed__isnull=False)


def step(job: Job) -> bool:
    cp = dict(job.checkpoint or {})
    if job.kind == SENSITIVITY_KIND:
        done = (_sensitivity_rows if cp.get("phase", "rows") == "rows" else _sensitivity_events)(job, cp)
    else:
        done = (_phone_rows if cp.get("phase", "rows") == "rows" else _phone_events)(job, cp)
    job.checkpoint = cp
    return done


# -- sensitive custom fields ----------------------------------------------------------------------

def _sensitivity_rows(job, cp) -> bool:
    params = job.params
    model = _model(params["model"])
    sensitive = sensitive_keys(job.organization_id, params["model"])
    rows = list(model.all_objects.select_for_update().filter(organization_id=job.organization_id,
                                                             pk__gt=cp.get("after", 0))
                .filter(_holding(params["key"])).order_by("pk")[:BATCH])
    # Stored: plain JSONB + sealed part, both merged in `custom_fields` on load. The sealed part
    # being what the definitions now ask for means the plain part is too.
    changed = [row for row in rows
               if split_custom_fields(row.custom_fields, sensitive)[1] != dict(row.custom_fields_sealed or {})]
    if changed:
        bulk_update_sealed(model, changed, [])
    job.processed += len(rows)
    job.succeeded += len(changed)
    if not rows or len(rows) < BATCH:
        if params.get("sensitive"):
            cp.update(phase="events", after=0)
            return False
        return True
    cp["after"] = rows[-1].pk
    return False


def _sensitivity_events(job, cp) -> bool:
    """Values of a field that became sensitive, in the history rows written before: moved into the
    event's own encrypted column, out of its JSONB."""
    key = job.params["key"]
    event_model = _event_model(job.params["model"])
    events = list(event_model.objects.filter(organization_id=job.organization_id, pgh_id__gt=cp.get("after", 0),
                                             custom_fields__has_key=key).order_by("pgh_id")[:BATCH])
    for event in events:
        values = dict(event.custom_fields or {})
        secret = dict(event.custom_fields_sealed or {})
        secret[key] = values.pop(key)
        event.custom_fields, event.custom_fields_sealed = values, secret
    if events:
        event_model.objects.bulk_update(events, ["custom_fields", "custom_fields_sealed"])
    if len(events) < BATCH:
        return True
    cp["after"] = events[-1].pgh_id
    return False


# -- phone numbers --------------------------------------------------------------------------------

_PHONE_COLUMNS = ["phone", "mobile", "phone_sealed", "mobile_sealed", "phone_hash", "mobile_hash", "phone_digits",
                  "dedupe_keys"]
_PHONE_TYPES = {"phone": "text", "mobile": "text", "phone_sealed": "text", "mobile_sealed": "text",
                "phone_hash": "text", "mobile_hash": "text", "phone_digits": "text", "dedupe_keys": "text[]"}


def _token(row, column):
    """The stored form of a sealed column (its Fernet token, kept when unchanged)."""
    return type(row)._meta.get_field(column).get_prep_value(getattr(row, column))


def _update_rows(table: str, key: str, values: list[dict], types: dict) -> None:
    """One UPDATE for a batch (bulk_update's CASE per column is ~10x slower at 500 rows)."""
    import json

    from django.db import connection

    columns = ", ".join(f'"{name}" = v."{name}"' for name in types)
    record = ", ".join([f'"{key}" bigint', *(f'"{name}" {kind}' for name, kind in types.items())])
    with connection.cursor() as cursor:
        cursor.execute(f'UPDATE {table} t SET {columns} FROM jsonb_to_recordset(%s::jsonb) AS v({record}) '
                       f'WHERE t."{key}" = v."{key}"', [json.dumps(values)])


def _phone_rows(job, cp) -> bool:
    from contacts import phones
    from contacts.dedupe import keys_for
    from contacts.models import derived_values

    encrypt = job.params["encrypt"]
    Contact = _model("contact")
    rows = list(Contact.all_objects.select_for_update(of=("self",))
                .filter(organization_id=job.organization_id, pk__gt=cp.get("after", 0))
                .filter(_phones_to_convert(encrypt))
                .only("id", "organization_id", "first_name", "last_name", "email", "company_name",
                      *_PHONE_COLUMNS).order_by("pk")[:BATCH])
    for contact in rows:
        plain = phones.seal(contact, encrypt)
        contact.phone_digits = "" if encrypt else derived_values("", "", "", str(contact.phone or ""),
                                                                 str(contact.mobile or ""))["phone_digits"]
        contact.dedupe_keys = keys_for(contact)
        contact.phone, contact.mobile = plain["phone"], plain["mobile"]
    if rows:
        _update_rows(Contact._meta.db_table, "id", [
            {"id": c.pk, "phone": str(c.phone or ""), "mobile": str(c.mobile or ""),
             "phone_sealed": _token(c, "phone_sealed"), "mobile_sealed": _token(c, "mobile_sealed"),
             "phone_hash": c.phone_hash, "mobile_hash": c.mobile_hash, "phone_digits": c.phone_digits,
             "dedupe_keys": c.dedupe_keys} for c in rows], _PHONE_TYPES)
    job.processed += len(rows)
    job.succeeded += len(rows)
    if len(rows) < BATCH:
        if encrypt:
            cp.update(phase="events", after=0)
            return False
        return True
    cp["after"] = rows[-1].pk
    return False


def _phone_events(job, cp) -> bool:
    """Numbers in the history rows written before the organization encrypted them: encrypted there too."""
    from contacts import phones

    event_model = _event_model("contact")
    sealed = event_model._meta.get_field("phone_sealed")
    events = list(event_model.objects.filter(organization_id=job.organization_id, pgh_id__gt=cp.get("after", 0))
                  .filter(~Q(phone="") | ~Q(mobile="")).order_by("pgh_id")[:BATCH])
    for event in events:
        for name in phones.PHONE_FIELDS:
            number = phones.as_e164(getattr(event, name))
            if number:
                setattr(event, f"{name}_sealed", sealed.to_python(sealed.get_prep_value(number)))
                setattr(event, name, "")  # (the history keeps no blind index: it is derived, untracked)
    if events:
        _update_rows(event_model._meta.db_table, "pgh_id", [
            {"pgh_id": e.pgh_id, "phone": str(e.phone or ""), "mobile": str(e.mobile or ""),
             "phone_sealed": _token(e, "phone_sealed"), "mobile_sealed": _token(e, "mobile_sealed")}
            for e in events], {k: _PHONE_TYPES[k] for k in ("phone", "mobile", "phone_sealed", "mobile_sealed")})
    if len(events) < BATCH:
        return True
    cp["after"] = events[-1].pgh_id
    return False
