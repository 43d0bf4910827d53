"""Embeddings of contacts and companies, kept fresh by the worker, and the nearest-neighbour
queries over them.

Freshness: a trigger clears `embedding` whenever the text it is made of changes (fields, tags),
whatever wrote the change; new rows start without one. So "needs embedding" is simply
`embedding IS NULL` (a partial index), and `embed_pending` works through it in batches: after a
save (on commit, debounced), every minute from beat as a catch-all for bulk writers, and for a
whole organization through the backfill job (`manage.py embed`). A batch writes a vector only
where the row is unchanged since it was read (same `xmin`), so an edit racing the worker is
never covered by a vector of its older text: it stays pending and is embedded next round.

Search: `nearest(queryset, vector, k)` orders by cosine distance inside the caller's queryset
(visibility and filters are part of that one query). It uses the HNSW index with pgvector's
iterative scan (`hnsw.iterative_scan`, pgvector >= 0.8), which keeps scanning the graph until k
rows pass the filter; when the filter is so selective that the scan gives up before finding k
(`hnsw.max_scan_tuples`), it falls back to an exact scan of the filtered rows — which is then
small."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import ExpressionWrapper, FloatField, Value
from pgvector.django import CosineDistance

from companies.models import COMPANY_EMBEDDING_FIELDS
from contacts.models import CONTACT_EMBEDDING_FIELDS
from crm import embeddings

logger = logging.getLogger(__name__)

BATCH = 256
# HNSW search breadth, and how far an iterative scan may go before giving up (then: exact search).
EF_SEARCH = 200
OVERFETCH = 4
MAX_SCAN_TUPLES = 20000
_DEBOUNCE_KEY = "embeddings:scheduled"
_TEXT_TYPES = ("text", "textarea", "select", "multiselect")


def _join(*parts) -> str:
    return ". ".join(part for part in (p.strip().rstrip(".").strip() for p in parts if p) if part)


def _custom_text(values, keys: list[str]) -> str:
    if isinstance(values, str):  # jsonb through a raw cursor arrives as text
        values = json.loads(values)
    out = []
    for key in keys:
        value = (values or {}).get(key)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if value not in (None, ""):
            out.append(str(value))
    return ". ".join(out)


def contact_text(row: dict, tags: list[str], custom_keys: list[str]) -> str:
    """'Ana Souza. CTO, Engineering at Pagato. Industry: fintech. Tags: vip. <notes>. <custom text>'."""
    name = " ".join(p for p in (row["first_name"], row["middle_name"], row["last_name"]) if p)
    work = ", ".join(p for p in (row["job_title"], row["department"]) if p)
    if row["company_name"]:
        work = f"{work} at {row['company_name']}" if work else f"Works at {row['company_name']}"
    return _join(name, work, row["industry"] and f"Industry: {row['industry']}",
                 tags and f"Tags: {', '.join(sorted(tags))}", row["description"],
                 _custom_text(row["custom_fields"], custom_keys))


def company_text(row: dict, tags: list[str], custom_keys: list[str]) -> str:
    place = ", ".join(p for p in (row["city"], row["country"]) if p)
    return _join(row["name"], row["domain"], row["industry"] and f"Industry: {row['industry']}",
                 row["size_band"] and f"{row['size_band']} employees", place and f"Based in {place}",
                 row["description"], _custom_text(row["custom_fields"], custom_keys))


@dataclass(frozen=True)
class Kind:
    name: str  # also the custom field definitions' model
    table: str
    columns: tuple
    text: object
    tags_sql: str | None


CONTACT = Kind("contact", "contacts_contact", CONTACT_EMBEDDING_FIELDS, contact_text,
               "SELECT ct.contact_id, t.name FROM contacts_contacttag ct JOIN crm_tag t ON t.id = ct.tag_id "
               "WHERE ct.contact_id = ANY(%s)")
COMPANY = Kind("company", "companies_company", COMPANY_EMBEDDING_FIELDS, company_text, None)
KINDS = {"contact": CONTACT, "company": COMPANY}


def _custom_keys(organization_ids, model: str) -> dict[int, list[str]]:
    from crm.models import CustomFieldDefinition

    keys = defaultdict(list)
    # Sensitive fields never feed the embedding (their values are not in the JSONB column either).
    rows = (CustomFieldDefinition.objects.filter(organization_id__in=organization_ids, model=model,
                                                 field_type__in=_TEXT_TYPES, sensitive=False)
            .order_by("position", "id").values_list("organization_id", "key"))
    for organization_id, key in rows:
        keys[organization_id].append(key)
    return keys


def pending(kind: Kind, *, organization_id: int | None = None, after=(0, 0), limit: int | None = None,
            everything: bool = False) -> list[tuple]:
    """(organization_id, id) of rows without an embedding (or all live rows: `everything`)
    after `after`, in index order."""
    limit = limit or BATCH
    where = "deleted_at IS NULL AND (organization_id, id) > (%s, %s)"
    if not everything:
        where = "embedding IS NULL AND " + where
    params = list(after)
    if organization_id is not None:
        where += " AND organization_id = %s"
        params.append(organization_id)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT organization_id, id FROM {kind.table} WHERE {where} "
                       f"ORDER BY organization_id, id LIMIT %s", [*params, limit])
        return cursor.fetchall()


def texts_for(kind: Kind, ids: list[int]) -> list[tuple[int, str, str]]:
    """(id, xmin, text) of live rows among `ids`."""
    columns = ", ".join(kind.columns)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, xmin::text, organization_id, {columns} FROM {kind.table} "
                       f"WHERE id = ANY(%s) AND deleted_at IS NULL ORDER BY id", [ids])
        names = [c.name for c in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor.fetchall()]
        tags = defaultdict(list)
        if kind.tags_sql and rows:
            cursor.execute(kind.tags_sql, [[row["id"] for row in rows]])
            for owner_id, tag in cursor.fetchall():
                tags[owner_id].append(tag)
    keys = _custom_keys({row["organization_id"] for row in rows}, kind.name)
    return [(row["id"], row["xmin"], kind.text(row, tags[row["id"]], keys[row["organization_id"]])) for row in rows]


def _literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{v:.6f}" for v in vector) + "]"


def embed_rows(kind: Kind, ids: list[int]) -> int:
    """Embeds the given rows and stores each vector unless the row changed since it was read.
    Returns how many were stored."""
    rows = texts_for(kind, ids)
    if not rows:
        return 0
    vectors = embeddings.embed([text for _, _, text in rows])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {kind.table} AS t SET embedding = d.vector::vector "
            f"FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS d(id, seen, vector) "
            f"WHERE t.id = d.id AND t.xmin::text = d.seen AND t.deleted_at IS NULL",
            [[pk for pk, _, _ in rows], [seen for _, seen, _ in rows], [_literal(v) for v in vectors]])
        return cursor.rowcount


def embed_pending(*, organization_id: int | None = None, limit: int = 10_000) -> int:
    """Embeds up to `limit` rows that have no embedding (contacts, then companies). Rows that
    changed while being embedded are left for the next round."""
    done = 0
    for kind in (CONTACT, COMPANY):
        after = (0, 0)
        while done < limit:
            keys = pending(kind, organization_id=organization_id, after=after, limit=min(BATCH, limit - done))
            if not keys:
                break
            done += embed_rows(kind, [pk for _, pk in keys])
            after = keys[-1]
    return done


def schedule() -> None:
    """Ask the worker to embed what changed, once the current transaction commits; many saves
    within a few seconds share one task."""
    def send():
        if cache.add(_DEBOUNCE_KEY, 1, timeout=5):
            from crm.celery import app

            app.send_task("contacts.tasks.embed_pending", countdown=2)

    transaction.on_commit(send)


# --- nearest neighbours -------------------------------------------------------------------------

def _search_settings(cursor, *, iterative: bool) -> None:
    statements = [f"SET LOCAL hnsw.ef_search = {int(EF_SEARCH)}"]
    if iterative:
        statements += ["SET LOCAL hnsw.iterative_scan = relaxed_order",
                       f"SET LOCAL hnsw.max_scan_tuples = {int(MAX_SCAN_TUPLES)}"]
    cursor.execute("; ".join(statements))


def nearest(queryset, vector, k: int = 10, *, exact: bool = False) -> list[tuple[int, float]]:
    """(id, cosine distance) of the k rows of `queryset` nearest to `vector`, nearest first.
    The queryset carries visibility and filters, so they apply inside the index scan."""
    vector = np.asarray(vector, dtype=np.float32)
    distance = CosineDistance("embedding", vector)
    qs = queryset.filter(embedding__isnull=False).order_by()
    # An iterative scan in relaxed order yields neighbours roughly nearest first: take a few
    # times k of them and keep the k nearest (pgvector's advice for relaxed_order).
    fetch = k if exact else min(max(OVERFETCH * k, 40), 400)
    with transaction.atomic():
        with connection.cursor() as cursor:
            _search_settings(cursor, iterative=not exact)
        if exact:
            # "+ 0" hides the distance from the planner's index matching: a sequential (exact) ranking.
            ordered = qs.annotate(distance=ExpressionWrapper(distance + Value(0.0), output_field=FloatField()))
        else:
            ordered = qs.annotate(distance=distance)
        rows = list(ordered.order_by("distance").values_list("pk", "distance")[:fetch])
    if not exact and len(rows) < k:
        exact_rows = nearest(queryset, vector, k, exact=True)
        if len(exact_rows) > len(rows):
            rows = exact_rows
    return sorted(rows, key=lambda row: (row[1], row[0]))[:k]


def similar_to(queryset, obj, k: int = 5) -> list[tuple[int, float]]:
    """Rows of `queryset` closest in meaning to `obj` (itself excluded); [] until it is embedded."""
    vector = type(obj).all_objects.filter(pk=obj.pk).values_list("embedding", flat=True).first()
    if vector is None:
        return []
    return nearest(queryset.exclude(pk=obj.pk), vector, k)


def embed_query(text: str) -> np.ndarray:
    return embeddings.embed([text])[0]


# --- backfill job ---------------------------------------------------------------------------

BACKFILL_KIND = "embed"
BACKFILL_TASK = "contacts.tasks.run_embedding_backfill"


def count_pending(organization_id: int, *, everything: bool = False) -> int:
    missing = "" if everything else "AND embedding IS NULL "
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM contacts_contact WHERE organization_id = %s {missing}"
            f"AND deleted_at IS NULL) + (SELECT count(*) FROM companies_company WHERE organization_id = %s "
            f"{missing}AND deleted_at IS NULL)", [organization_id, organization_id])
        return cursor.fetchone()[0]


def running_backfill(organization_id: int):
    from crm.models import Job

    return Job.objects.filter(organization_id=organization_id, kind=BACKFILL_KIND, status__in=Job.ACTIVE).first()


def latest_backfill(user):
    """The newest backfill job the user may see (its actor and org admins)."""
    from crm.models import Job

    return Job.objects.visible_to(user).filter(kind=BACKFILL_KIND).order_by("-created_at", "-id").first()


def start_backfill(organization_id: int, *, actor=None, rebuild: bool = False, queue: bool = True,
                   send_options=None):
    """A job embedding every contact and company of the organization that has no embedding
    (every one with `rebuild`, e.g. after changing the model: each keeps its old vector, and
    stays searchable, until its new one is stored), in batches, with progress; sent to the
    worker when `queue`."""
    from crm.jobs import enqueue
    from crm.models import Job

    with transaction.atomic():
        job = Job.objects.create(organization_id=organization_id, kind=BACKFILL_KIND, task=BACKFILL_TASK,
                                 actor=actor, params={"rebuild": rebuild},
                                 total=count_pending(organization_id, everything=rebuild))
        if queue:
            enqueue(job, **(send_options or {}))
    return job


def run_backfill(job_id: int, progress=None):
    """Run (or resume) a backfill job; `progress(job)` is called after every batch."""
    from crm.jobs import run_job

    def step(job):
        finished = _backfill_step(job)
        if progress is not None:
            progress(job)
        return finished

    return run_job(job_id, step)


def _backfill_step(job) -> bool:
    kind = job.checkpoint.get("kind", CONTACT.name)
    after = tuple(job.checkpoint.get("after", (0, 0)))
    keys = pending(KINDS[kind], organization_id=job.organization_id, after=after,
                   everything=job.params.get("rebuild", False))
    if not keys:
        if kind == CONTACT.name:
            job.checkpoint = {"kind": COMPANY.name, "after": [0, 0]}
            return False
        return True
    stored = embed_rows(KINDS[kind], [pk for _, pk in keys])
    job.processed += len(keys)
    job.succeeded += stored
    job.failed += len(keys) - stored  # changed or deleted meanwhile: the worker's next round has them
    job.checkpoint = {"kind": kind, "after": list(keys[-1])}
    return False
