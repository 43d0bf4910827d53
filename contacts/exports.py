"""Export of contacts: what a contact list shows (its filters, a segment, a saved view) or a
selection of ids, to CSV, Excel (XLSX) or vCard, with the columns the user picks.

The sibling of contacts.bulk, on the same machinery: the selection is validated by bulk's
`clean_filters` / `clean_ids` and read through bulk's `matching` (so through
`Contact.objects.visible_to(actor, "view")`, recomputed in the worker for the job's actor);
one export is one `crm.models.Job` (kind "contacts.export") — the audit record of who exported
what (format, columns, selection), when, and how many rows — run by `crm.jobs.run_job` in
chunks with progress and heartbeat. Up to INLINE_LIMIT rows run in the request; more in Celery.

Resuming. Each chunk (KITH_EXPORT_CHUNK_SIZE contacts in primary-key order, three queries: the rows, their
tags, their companies) is rendered and stored as a *part* in Django's default storage, in the
same step that records the checkpoint {"after": last pk, "parts": [...]}; the last step joins
the parts into the file (CSV and vCard: concatenated; XLSX: written once from the parts with
contacts.xlsx, streaming) and deletes them. A worker killed mid-way therefore resumes from
its last committed chunk on any machine: a part written by a step that did not commit has a
name the retry overwrites, and nothing lives in a worker's memory or local disk between steps.

Spreadsheet cells are neutralized against formula injection (OWASP "CSV injection"): a text
cell starting with = + - @ tab or CR gets a leading apostrophe, in CSV and XLSX (where every
cell is also written as a string, never as a formula). Phone numbers in E.164 start with "+",
so they come out as "'+14155550100" — the accepted OWASP behaviour. To read such a file back,
an importer strips one leading apostrophe that precedes = + - @ tab or CR (a contract with
the import feature, which reads these same column labels).

The file is served by a signed link (TimestampSigner, salt "contacts.export") that expires
KITH_EXPORT_TTL_SECONDS after the export finished; the beat task `purge_expired_exports`
then deletes the file. Each download is counted in params["downloads"] and logged to the
"kith.audit" logger.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import logging
import shutil
import tempfile
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import Http404, HttpResponse
from django.db.models import TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.text import slugify

from contacts import bulk
from contacts.columns import COLUMNS, CUSTOM_PREFIX, LIST_SEPARATOR, SPECIAL, custom_key, label
from contacts.models import Contact, ContactCompany, ContactTag
from contacts.xlsx import write_xlsx
from crm import jobs, quotas
from crm.models import CustomFieldDefinition, Job, User
from crm.permissions import VIEW, Scope

KIND = "contacts.export"
TASK = "contacts.tasks.run_export"
ACTION = "export"  # for bulk's selection helpers: live contacts the actor sees
INLINE_LIMIT = bulk.INLINE_LIMIT
SALT = "contacts.export"

audit = logging.getLogger("kith.audit")

# format -> (label, content type, file extension)
FORMATS = {
    "csv": ("CSV", "text/csv; charset=utf-8", "csv"),
    "xlsx": ("Excel (XLSX)", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "vcf": ("vCard", "text/vcard; charset=utf-8", "vcf"),
}

# What the export form ticks by default.
DEFAULT_COLUMNS = ["first_name", "last_name", "email", "phone", "mobile", "job_title", "company",
                   "lifecycle_stage", "owner", "team", "tags"]

# Contact fields fetched for special columns and for vCards.
_SPECIAL_FIELDS = {"full_name": ("display_name",), "owner": ("owner__email",), "team": ("team__name",),
                   "company": (), "company_domain": (), "tags": ()}
_VCARD_FIELDS = ("display_name", "first_name", "middle_name", "last_name", "email", "phone", "mobile",
                 "job_title", "department", "birth_date", "website", "street", "city", "region",
                 "postal_code", "country", "description")
# Phone numbers are read as text: PhoneNumberField would parse every value with phonenumbers
# (~66k values/s on one core), which alone would cap an export's speed.
_RAW_TEXT = {"phone", "mobile"}
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def chunk_size() -> int:
    """Contacts per step (KITH_EXPORT_CHUNK_SIZE, 5,000 by default)."""
    return max(1, getattr(settings, "KITH_EXPORT_CHUNK_SIZE", 5000))


def exportable_columns() -> list[str]:
    """Standard columns an export can write: the catalogue's special columns and those that are
    fields of Contact (a catalogue entry the model does not have yet is not offered)."""
    fields = {f.name for f in Contact._meta.concrete_fields}
    return [key for key in COLUMNS if key in SPECIAL or key in fields]


def custom_definitions(organization_id: int) -> dict[str, CustomFieldDefinition]:
    return {d.key: d for d in CustomFieldDefinition.objects.filter(organization_id=organization_id,
                                                                     model="contact")}


def column_choices(user) -> list[tuple[str, str]]:
    """(column, header label) of every column the user can export, custom fields last."""
    scope = Scope.of(user)
    definitions = custom_definitions(scope.organization_id) if scope else {}
    return ([(key, COLUMNS[key]) for key in exportable_columns()]
            + [(f"{CUSTOM_PREFIX}{key}", d.label) for key, d in definitions.items()])


def neutralize(value: str) -> str:
    """A spreadsheet text cell that would start a formula gets a leading apostrophe (OWASP
    CSV injection): = + - @ tab CR. E.164 phone numbers ("+1…") are neutralized too."""
    return "'" + value if value and value[0] in _DANGEROUS else value


# -- validation and starting -----------------------------------------------------------------

def clean_format(value) -> str:
    if value not in FORMATS:
        raise ValidationError({"format": f"Unknown format {value!r}; use one of {', '.join(FORMATS)}."})
    return value


def clean_columns(user, columns, *, required=True) -> list[str]:
    """The columns in the order given (duplicates dropped); an error names the unknown ones."""
    if columns in (None, "", []) and not required:
        return []
    if not isinstance(columns, (list, tuple)) or not columns:
        raise ValidationError({"columns": "Choose one or more columns."})
    scope = Scope.of(user)
    known = {key for key, _ in column_choices(user)} if scope else set()
    unknown = [str(c) for c in columns if not isinstance(c, str) or c not in known]
    if unknown:
        raise ValidationError({"columns": f"Unknown column(s): {', '.join(unknown[:10])}."})
    return list(dict.fromkeys(columns))


def start_export(user, *, format, columns, filters=None, ids=None, send_options=None) -> Job:  # noqa: A002
    """Validate and start an export of the contacts `user` sees: `ids`, or `filters` (the contact
    list's query parameters, `segment` and `view` included). Columns are keys of
    contacts.columns.COLUMNS or "custom:<key>"; a vCard export needs none. Up to INLINE_LIMIT
    rows it runs here and the returned job is finished; more are queued for Celery.
    A ValidationError names each parameter at fault; nothing is created then."""
    scope = Scope.of(user)
    if scope is None:
        raise PermissionDenied("Your account does not belong to an organization.")
    errors: dict = {}
    cleaned: dict = {}
    try:
        cleaned["format"] = clean_format(format)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        cleaned["columns"] = clean_columns(user, columns, required=format != "vcf")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        cleaned.update(bulk.clean_selection(user, ACTION, ids=ids, filters=filters))
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    quotas.check(user, quotas.EXPORTS)
    size = selection(user, cleaned).order_by()[:INLINE_LIMIT + 1].count()
    job = Job.objects.create(organization_id=scope.organization_id, kind=KIND, task=TASK, actor=user,
                             params={**cleaned, "downloads": 0},
                             total=size if size <= INLINE_LIMIT else None)
    audit.info("export started: user=%s job=%s format=%s", user.pk, job.pk, cleaned["format"])
    return jobs.launch(job, inline=size <= INLINE_LIMIT, run=run, send_options=send_options)


def selection(actor, spec: dict):
    """The live contacts of an export's selection that `actor` sees."""
    if "ids" in spec:
        return Contact.objects.visible_to(actor, VIEW).filter(pk__in=spec["ids"])
    return bulk.matching(actor, ACTION, spec["filters"])


def run(job_id: int) -> Job | None:
    """Run or resume an export to its end (called inline and by the Celery task)."""
    return jobs.run_job(job_id, _step)


def cancel(job: Job) -> bool:
    """Stop a queued or running export before its next chunk; its parts are deleted."""
    if not jobs.cancel(job):
        return False
    _delete_dir(_parts_dir(job))
    return True


# -- one chunk -------------------------------------------------------------------------------

def _job_dir(job: Job) -> str:
    return f"exports/{job.organization_id}/{job.pk}"


def _parts_dir(job: Job) -> str:
    return f"{_job_dir(job)}/parts"


def filename(job: Job) -> str:
    ext = FORMATS[job.params["format"]][2]
    stamp = timezone.localtime(job.created_at).strftime("%Y-%m-%d-%H%M")
    org = slugify(getattr(job.organization, "name", "")) or "contacts"
    return f"{org}-contacts-{stamp}-{job.pk}.{ext}"


def _step(job: Job) -> bool:
    actor = User.objects.filter(pk=job.actor_id, is_active=True).first()
    if actor is None or Scope.of(actor) is None:
        raise PermissionDenied("The member who started this export can no longer export.")
    spec = job.params
    rows = selection(actor, spec)
    if job.total is None:
        job.total = rows.order_by().count()
    checkpoint = job.checkpoint or {}
    org = job.organization_id
    writer = Writer(spec["format"], spec["columns"], custom_definitions(org), org)
    ids, records = writer.fetch(rows.filter(pk__gt=checkpoint.get("after", 0)))
    data = writer.part(records)
    parts = list(checkpoint.get("parts", []))
    job.processed += len(ids)
    job.succeeded += len(ids)
    if len(ids) >= chunk_size():
        name = f"{_parts_dir(job)}/{len(parts):06d}.part"
        default_storage.delete(name)  # left by a step that did not commit
        parts.append(default_storage.save(name, ContentFile(data)))
        job.checkpoint = {"after": ids[-1], "parts": parts}
        return False
    _finish(job, writer, parts, data)
    return True


def _finish(job: Job, writer: Writer, parts: list[str], last: bytes) -> None:
    """Join the parts and the last chunk into the file, store it, record where and until when."""
    with tempfile.TemporaryFile() as out:
        writer.assemble(out, parts, last, rows=job.processed)
        size = out.tell()
        out.seek(0)
        name = f"{_job_dir(job)}/{filename(job)}"
        default_storage.delete(name)
        stored = default_storage.save(name, File(out, name=filename(job)))
    _delete_dir(_parts_dir(job))
    job.total = job.processed
    job.checkpoint = {"after": job.checkpoint.get("after", 0), "parts": []}
    job.params = {**job.params, "file": stored, "filename": filename(job), "size": size, "rows": job.processed,
                  "token": signing.TimestampSigner(salt=SALT).sign(str(job.pk))}


def _delete_dir(path: str) -> None:
    try:
        _, files = default_storage.listdir(path)
    except (FileNotFoundError, NotImplementedError):
        return
    for name in files:
        default_storage.delete(f"{path}/{name}")


def _links(ids: list[int], needs: set[str], organization_id: int) -> tuple[dict, dict]:
    """Tags (names, sorted) and companies ((name, domain), primary first) of the contacts `ids`
    (ascending): one query each. A dense chunk (an admin's, a team's) is read as an id range,
    which is cheaper for PostgreSQL to plan than thousands of parameters; rows of contacts in
    the range but not in the chunk are fetched and ignored."""
    if not ids:
        return {}, {}
    dense = ids[-1] - ids[0] < 2 * len(ids)
    where = {"contact_id__gte": ids[0], "contact_id__lte": ids[-1]} if dense else {"contact_id__in": ids}
    where["organization_id"] = organization_id  # every query names its tenant (DESIGN.md, scaling)
    tags: dict[int, list[str]] = {}
    if "tags" in needs:
        for contact_id, name in (ContactTag.objects.filter(**where)
                                 .order_by("contact_id", "tag__name").values_list("contact_id", "tag__name")):
            tags.setdefault(contact_id, []).append(name)
    companies: dict[int, list[tuple[str, str]]] = {}
    if "companies" in needs:
        for contact_id, name, domain in (ContactCompany.objects.filter(company__deleted_at__isnull=True, **where)
                                         .order_by("contact_id", "-is_primary", "company__name", "company_id")
                                         .values_list("contact_id", "company__name", "company__domain")):
            companies.setdefault(contact_id, []).append((name, domain))
    return tags, companies


def _without_gc(fn):
    """Building tens of thousands of tuples and strings triggers the cyclic garbage collector
    over and over (a third of a chunk's time, measured); none of them form cycles."""
    def wrapper(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()
    return wrapper


# -- rendering -------------------------------------------------------------------------------

def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return LIST_SEPARATOR.join(_text(v) for v in value)
    return str(value)


def _json_list(value: str) -> str:
    """A multiselect value as PostgreSQL gives it ('["en", "de"]') -> "en; de"."""
    if not value.startswith("["):
        return value
    try:
        return _text(json.loads(value))
    except ValueError:
        return value


_NAMED = {"full_name": "display_name", "owner": "owner__email", "team": "team__name"}


_LINKED = ("tags", "company", "company_domain")
_DANGER = frozenset(_DANGEROUS)


class Writer:
    """Fetches and renders the chunks of one export and assembles the file.

    Spreadsheet formats let PostgreSQL produce the cells: every column is selected as text
    (NULL as ''), a custom field as `custom_fields ->> key` (so numbers and booleans come as
    "1500" and "true"), in the order of the columns; Python only fills in tags and companies,
    joins multiselect values and neutralizes formulas."""

    def __init__(self, fmt: str, columns: list[str], definitions: dict, organization_id: int):
        self.format, self.columns, self.definitions = fmt, columns, definitions
        self.organization_id = organization_id
        if fmt == "vcf":
            self.fields = list(_VCARD_FIELDS)
            self.needs = {"tags", "companies"}
            self.index = {name: i + 1 for i, name in enumerate(self.fields)}
            return
        self.exprs, self.patches = {}, []
        # Encrypted values (crm.encryption) are selected as their own columns, decrypted, and put
        # in their cells in Python: sensitive custom fields, and phones where the organization
        # encrypts them (the plain column is then empty).
        self.sealed_phones, self.secret_keys = [], []
        for pos, column in enumerate(columns):
            key = custom_key(column)
            name = f"_c{pos}"
            if key is not None and definitions.get(key) is not None and definitions[key].sensitive:
                self.exprs[name] = Value("", output_field=TextField())
                self.secret_keys.append((pos, key))
                if definitions[key].field_type == "multiselect":
                    self.patches.append((pos, "list"))
                continue
            if column in _RAW_TEXT:
                self.sealed_phones.append((pos, f"{column}_sealed"))
            if key is not None:
                self.exprs[name] = Coalesce(KeyTextTransform(key, "custom_fields"), Value(""),
                                            output_field=TextField())
                definition = definitions.get(key)
                if definition is None or definition.field_type == "multiselect":
                    self.patches.append((pos, "list"))  # a JSON array: joined in Python
            elif column in _LINKED:
                self.exprs[name] = Value("", output_field=TextField())
                self.patches.append((pos, column))
            else:
                self.exprs[name] = Coalesce(Cast(_NAMED.get(column, column), TextField()), Value(""),
                                            output_field=TextField())
        self.needs = ({"tags"} if "tags" in columns else set()) | (
            {"companies"} if {"company", "company_domain"} & set(columns) else set())

    def header(self) -> list[str]:
        return [neutralize(label(c, self.definitions)) for c in self.columns]

    @_without_gc
    def fetch(self, rows, size: int | None = None) -> tuple[list[int], list]:
        """The next chunk of `rows` in primary-key order: (ids, records to render)."""
        size = size or chunk_size()
        if self.format == "vcf":
            chunk = fetch_chunk(rows, self.fields, self.needs, self.organization_id, size)
            return [row[0] for row in chunk], chunk
        extra = [column for _, column in self.sealed_phones] + (["custom_fields_sealed"] if self.secret_keys else [])
        chunk = list(rows.annotate(**self.exprs).order_by("pk").values_list("pk", *self.exprs, *extra)[:size])
        if extra:
            width = 1 + len(self.exprs)
            unsealed = []
            for row in chunk:
                cells = list(row[:width])
                for (pos, _), value in zip(self.sealed_phones, row[width:]):
                    if value and not cells[pos + 1]:
                        cells[pos + 1] = str(value)
                secret = row[-1] if self.secret_keys else None
                for pos, key in self.secret_keys:
                    cells[pos + 1] = _json_text((secret or {}).get(key))
                unsealed.append(tuple(cells))
            chunk = unsealed
        ids = [row[0] for row in chunk]
        if self.patches:
            tags, companies = _links(ids, self.needs, self.organization_id)
            linked = {
                "tags": {pk: LIST_SEPARATOR.join(names) for pk, names in tags.items()},
                "company": {pk: LIST_SEPARATOR.join(name for name, _ in links) for pk, links in companies.items()},
                "company_domain": {pk: links[0][1] for pk, links in companies.items()},
            }
            patches = [(pos + 1, linked.get(kind)) for pos, kind in self.patches]
            patched = []
            for row in chunk:
                cells = list(row)
                pk = row[0]
                for at, values in patches:
                    cells[at] = values.get(pk, "") if values is not None else _json_list(cells[at])
                patched.append(cells)
            chunk = patched
        # Formula neutralization: most of a chunk's Python time, so as one tight comprehension
        # (measured faster than doing it in SQL with CASE or regexp_replace).
        danger = _DANGER
        return ids, [[("'" + v) if v[:1] in danger else v for v in row[1:]] for row in chunk]

    @_without_gc
    def part(self, records) -> bytes:
        """A chunk rendered: CSV rows (also what XLSX is assembled from) or vCards."""
        if self.format == "vcf":
            return "".join(vcard(self.index, row, len(self.fields) + 1, len(self.fields) + 2)
                           for row in records).encode()
        buffer = io.StringIO()
        csv.writer(buffer).writerows(records)
        return buffer.getvalue().encode("utf-8")

    def assemble(self, out, parts: list[str], last: bytes, rows: int) -> None:
        if self.format == "xlsx":
            return self._assemble_xlsx(out, parts, last, rows)
        if self.format == "csv":
            buffer = io.StringIO()
            csv.writer(buffer).writerow(self.header())
            out.write(b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8"))  # BOM: Excel reads it as UTF-8
        for name in parts:
            with default_storage.open(name, "rb") as part:
                shutil.copyfileobj(part, out)
        out.write(last)

    @_without_gc
    def _assemble_xlsx(self, out, parts, last, count: int) -> None:
        def rows():
            for name in parts:
                with default_storage.open(name, "rb") as part:
                    yield from csv.reader(io.TextIOWrapper(part, encoding="utf-8", newline=""))
            yield from csv.reader(io.StringIO(last.decode("utf-8"), newline=""))

        write_xlsx(out, self.header(), rows(), count=count, widths=[_WIDTHS.get(c, 18) for c in self.columns],
                   sheet="Contacts")


def _unsealed(row, width: int, positions: list[int]) -> tuple:
    """A row without its trailing decrypted columns, each put in its position where that is empty."""
    cells = list(row[:width])
    for at, value in zip(positions, row[width:]):
        if value and not cells[at]:
            cells[at] = str(value)
    return tuple(cells)


def _json_text(value) -> str:
    """A decrypted custom-field value as `custom_fields ->> key` gives a stored one."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def fetch_chunk(rows, fields: list[str], needs: set[str], organization_id: int,
                size: int | None = None) -> list[tuple]:
    """vCards: one chunk of contacts in primary-key order as tuples (pk, *fields, tags,
    companies): one query for the rows, one for their tags and one for their companies."""
    size = size or chunk_size()
    raw = {f"_raw_{f}": Cast(f, TextField()) for f in fields if f in _RAW_TEXT}
    names = [f"_raw_{f}" if f in _RAW_TEXT else f for f in fields]
    sealed = [f"{f}_sealed" for f in fields if f in _RAW_TEXT]
    chunk = list(rows.annotate(**raw).order_by("pk").values_list("pk", *names, *sealed)[:size])
    if sealed:  # encrypted phones (contacts.phones) come decrypted from their own columns
        at = {f"{f}_sealed": 1 + fields.index(f) for f in fields if f in _RAW_TEXT}
        width = 1 + len(fields)
        chunk = [_unsealed(row, width, [at[name] for name in sealed]) for row in chunk]
    tags, companies = _links([row[0] for row in chunk], needs, organization_id)
    return [(*row, tags.get(row[0], ()), companies.get(row[0], ())) for row in chunk]


_WIDTHS = {"email": 30, "full_name": 28, "company": 28, "company_domain": 22, "description": 40,
           "street": 28, "owner": 26, "tags": 24, "website": 28, "linkedin": 28, "first_name": 14,
           "middle_name": 12, "last_name": 16, "phone": 17, "mobile": 17, "country": 8, "postal_code": 11}


# -- vCard 4.0 (RFC 6350) --------------------------------------------------------------------

def _esc(value: str) -> str:
    """A text value (or one component of a structured one): \\ , ; and newlines escaped."""
    return (value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def _fold(line: str) -> str:
    """Lines longer than 75 octets are folded (CRLF + space), never inside a UTF-8 character."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return line + "\r\n"
    out, start, limit = [], 0, 75
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # continuation byte: back off
            end -= 1
        out.append(data[start:end].decode("utf-8"))
        start, limit = end, 74  # continuation lines start with the space
    return "\r\n ".join(out) + "\r\n"


def vcard(index: dict, row, tags_at: int, companies_at: int) -> str:
    def get(name):
        value = row[index[name]]
        return "" if value is None else value if isinstance(value, str) else _text(value)

    lines = ["BEGIN:VCARD", "VERSION:4.0", f"FN:{_esc(get('display_name') or get('first_name'))}",
             "N:" + ";".join(_esc(get(n)) for n in ("last_name", "first_name", "middle_name")) + ";;"]
    if get("email"):
        lines.append(f"EMAIL:{_esc(get('email'))}")
    if get("phone"):
        lines.append(f"TEL;TYPE=work:{_esc(get('phone'))}")
    if get("mobile"):
        lines.append(f"TEL;TYPE=cell:{_esc(get('mobile'))}")
    companies = row[companies_at]
    if companies or get("department"):
        org = _esc(companies[0][0] if companies else "")
        lines.append(f"ORG:{org};{_esc(get('department'))}" if get("department") else f"ORG:{org}")
    if get("job_title"):
        lines.append(f"TITLE:{_esc(get('job_title'))}")
    birth = row[index["birth_date"]]
    if birth:
        lines.append(f"BDAY:{birth:%Y%m%d}")
    if get("website"):
        lines.append(f"URL:{get('website')}")
    address = [get(n) for n in ("street", "city", "region", "postal_code", "country")]
    if any(address):
        lines.append("ADR;TYPE=work:;;" + ";".join(_esc(a) for a in address))
    if get("description"):
        lines.append(f"NOTE:{_esc(get('description'))}")
    if row[tags_at]:
        lines.append("CATEGORIES:" + ",".join(_esc(t) for t in row[tags_at]))
    lines.append("END:VCARD")
    return "".join(_fold(line) for line in lines)


def contact_vcard(user, pk) -> tuple[str, bytes] | None:
    """One contact's vCard (filename, bytes), or None when the user does not see it."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    scope = Scope.of(user)
    if scope is None:
        return None
    writer = Writer("vcf", [], {}, scope.organization_id)
    _, chunk = writer.fetch(Contact.objects.visible_to(user, VIEW).filter(pk=pk), 1)
    if not chunk:
        return None
    name = slugify(chunk[0][writer.index["display_name"]]) or f"contact-{pk}"
    audit.info("vcard downloaded: user=%s contact=%s", user.pk, pk)
    return f"{name}.vcf", writer.part(chunk)


# -- downloads and expiry --------------------------------------------------------------------

def ttl() -> timedelta:
    return timedelta(seconds=getattr(settings, "KITH_EXPORT_TTL_SECONDS", 86400))


def expires_at(job: Job) -> datetime | None:
    """When a finished export's link stops working (its file is deleted after that)."""
    return job.finished_at + ttl() if job.finished_at and job.params.get("file") else None


def is_expired(job: Job) -> bool:
    at = expires_at(job)
    return bool(job.params.get("expired")) or (at is not None and at <= timezone.now())


def downloadable(job: Job) -> bool:
    return job.status == Job.Status.DONE and bool(job.params.get("file")) and not is_expired(job)


class Expired(Exception):
    """The link or the file has expired (answered with 410 Gone)."""


def check_token(job: Job, token: str) -> None:
    """Raise Expired for an expired link, signing.BadSignature for a link that is not this job's."""
    if job.status != Job.Status.DONE or not job.params.get("file"):
        raise signing.BadSignature("Not a finished export.")
    if job.params.get("expired"):
        raise Expired()
    try:
        value = signing.TimestampSigner(salt=SALT).unsign(token, max_age=ttl())
    except signing.SignatureExpired:
        raise Expired() from None
    if value != str(job.pk) or token != job.params.get("token"):
        raise signing.BadSignature("Not this export's link.")


def open_download(user, job: Job, token: str):
    """The stored file to send (opened) after checking the link; counts and logs the download.
    The caller fetched `job` through the gate (its actor or an org admin)."""
    check_token(job, token)
    handle = default_storage.open(job.params["file"], "rb")
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        locked.params = {**locked.params, "downloads": locked.params.get("downloads", 0) + 1}
        locked.save(update_fields=["params", "updated_at"])
    job.params = locked.params
    audit.info("export downloaded: user=%s job=%s rows=%s format=%s", user.pk, job.pk,
               job.params.get("rows"), job.params.get("format"))
    return handle


def content_type(job: Job) -> str:
    return FORMATS[job.params["format"]][1]


def purge_expired() -> list[int]:
    """Delete the files of exports whose link expired; mark them expired (the job stays, as the
    audit record). Also the parts of exports that stopped without finishing."""
    now = timezone.now()
    purged = []
    candidates = Job.objects.filter(kind=KIND, finished_at__lt=now - ttl()).order_by("pk")
    for job in candidates.only("id", "organization_id", "params", "status").iterator():
        if job.params.get("expired"):
            continue
        _delete_dir(_parts_dir(job))
        if job.params.get("file"):
            default_storage.delete(job.params["file"])
        Job.objects.filter(pk=job.pk).update(params={**job.params, "expired": True}, updated_at=now)
        purged.append(job.pk)
    return purged


def describe(job: Job) -> str:
    """"CSV export of 1,204 contacts" — for pages and messages."""
    fmt = FORMATS.get(job.params.get("format"), (job.params.get("format", "?"),))[0]
    rows = job.params.get("rows", job.total)
    what = f"{rows:,} contact{'s' if rows != 1 else ''}" if rows is not None else "contacts"
    return f"{fmt} export of {what}"


def vcard_response(user, pk) -> HttpResponse:
    """A contact's vCard as a download (pages and API); 404 outside the user's view."""
    card = contact_vcard(user, pk)
    if card is None:
        raise Http404("No such contact.")
    name, data = card
    response = HttpResponse(data, content_type=FORMATS["vcf"][1])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
