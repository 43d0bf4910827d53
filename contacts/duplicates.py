"""The duplicate review queue: the organization scan (a crm.models.Job) that fills it, and the
"not a duplicate" decision. Scoring and signals are in contacts.dedupe.

The scan runs in resumable steps (crm.jobs.run_job), its phase and position in `checkpoint`:
1. keys: contacts in id order, 5,000 per step; their blocking keys are recomputed and written
   where they changed (rows written by COPY, or before a rename, get theirs here);
2. blocks: one SQL statement groups the organization's keys and stores each block of 2 to
   MAX_BLOCK contacts sharing one (DedupeBlock) — set-wise, no pair of the whole table;
3. pairs: blocks in id order, 2,000 per step: their pairs are scored and the likely
   duplicates upserted; a pair marked "not a duplicate" is never reopened;
4. companies: the same for companies (domain, name without legal suffix), in one pass;
5. finish: open pairs whose side was merged away (moved to the trash) are marked merged, open
   pairs this scan no longer found are dropped, the scratch blocks deleted.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from contacts import dedupe
from contacts.models import CompanyDuplicate, Contact, ContactDuplicate, DedupeBlock, DuplicateStatus
from crm import jobs
from crm.models import Job
from crm.permissions import Scope

KIND = "contacts.dedupe_scan"
TASK = "contacts.tasks.run_dedupe_scan"
KEYS_BATCH = 5000
BLOCKS_BATCH = 2000
INLINE_LIMIT = 2000
# Progress: the phases' shares of the job's `total` (per mille).
_PROGRESS = {"keys": (0, 450), "blocks": (450, 550), "pairs": (550, 950), "companies": (950, 990),
             "finish": (990, 1000)}
MODELS = {"contact": ContactDuplicate, "company": CompanyDuplicate}


# -- starting --------------------------------------------------------------------------------

def running_scan(organization_id) -> Job | None:
    return Job.objects.filter(organization_id=organization_id, kind=KIND, status__in=Job.ACTIVE).first()


def latest_scan(user) -> Job | None:
    return Job.objects.visible_to(user).filter(kind=KIND).order_by("-created_at", "-id").first()


def start_scan(user, *, inline: bool | None = None, send_options=None) -> Job:
    """Scan the user's organization for duplicate contacts and companies (writers only). A scan
    already running is returned instead of starting a second one. Small organizations run in the
    request unless `inline` says otherwise."""
    scope = Scope.of(user)
    if scope is None or not scope.can_write:
        raise PermissionDenied("Your role is read-only.")
    org = scope.organization_id
    running = running_scan(org)
    if running is not None:
        return running
    # scratch blocks of scans that failed or were cancelled before their last step
    DedupeBlock.objects.filter(job__organization_id=org).exclude(job__status__in=Job.ACTIVE).delete()
    contacts = Contact.objects.filter(organization_id=org).count()
    job = Job.objects.create(organization_id=org, kind=KIND, task=TASK, actor=user, total=1000,
                             params={"threshold": dedupe.DEFAULT_THRESHOLD, "contacts": contacts},
                             checkpoint={"phase": "keys", "after": 0})
    if inline is None:
        inline = contacts <= INLINE_LIMIT
    return jobs.launch(job, inline=inline, run=run, send_options=send_options)


def run(job_id: int) -> Job | None:
    return jobs.run_job(job_id, step)


# -- the steps -------------------------------------------------------------------------------

def _progress(job, phase: str, fraction: float) -> None:
    low, high = _PROGRESS[phase]
    job.processed = max(job.processed, int(low + (high - low) * min(1.0, fraction)))


def step(job: Job) -> bool:
    cp = dict(job.checkpoint or {})
    phase = cp.get("phase", "keys")
    started = time.perf_counter()
    done = {"keys": _keys_step, "blocks": _blocks_step, "pairs": _pairs_step, "companies": _companies_step,
            "finish": _finish_step}[phase](job, cp)
    seconds = cp.setdefault("seconds", {})  # time per phase, for the benchmark and support
    seconds[phase] = round(seconds.get(phase, 0) + time.perf_counter() - started, 2)
    job.checkpoint = cp
    return done


def _contact_rows(where: str, params: list, *, with_keys: bool = False) -> list[tuple]:
    """(id, first, last, email, phone, mobile, company name[, keys]) of contacts; phones as the
    stored E.164 text (a PhoneNumber object per row would cost more than the scoring)."""
    keys = ", dedupe_keys" if with_keys else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, first_name, last_name, email, phone, mobile, company_name{keys}, "
                       f"phone_sealed, mobile_sealed FROM {Contact._meta.db_table} WHERE {where}", params)
        rows = cursor.fetchall()
    # Encrypted phones (contacts.phones) are decrypted here: the plain columns are empty then.
    sealed = Contact._meta.get_field("phone_sealed")
    return [(*row[:4], row[4] or (row[-2] and str(sealed.to_python(row[-2]))) or "",
             row[5] or (row[-1] and str(sealed.to_python(row[-1]))) or "", *row[6:-2]) for row in rows]


def _keys_step(job, cp) -> bool:
    org, after = job.organization_id, cp.get("after", 0)
    rows = _contact_rows("organization_id = %s AND id > %s ORDER BY id LIMIT %s", [org, after, KEYS_BATCH],
                         with_keys=True)
    changed = []
    for pk, first, last, email, phone, mobile, company, stored in rows:
        keys = dedupe.contact_keys(dedupe.contact_features(pk, first, last, email, phone, mobile, company))
        if keys != list(stored or ()):
            changed.append((pk, keys))
    if changed:
        ids, keys = [], []
        for pk, contact_keys in changed:
            for key in contact_keys or [None]:
                ids.append(pk)
                keys.append(key)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Contact._meta.db_table} c SET dedupe_keys = v.keys FROM ("
                "  SELECT id, array_remove(array_agg(k ORDER BY n), NULL)::varchar(200)[] AS keys"
                "  FROM unnest(%s::bigint[], %s::text[]) WITH ORDINALITY AS u(id, k, n) GROUP BY id) v "
                "WHERE c.id = v.id", [ids, keys])
    cp["keys_done"] = cp.get("keys_done", 0) + len(rows)
    cp["keys_changed"] = cp.get("keys_changed", 0) + len(changed)
    _progress(job, "keys", cp["keys_done"] / max(1, job.params.get("contacts") or 1))
    if len(rows) < KEYS_BATCH:
        cp.update(phase="blocks", after=0)
    else:
        cp["after"] = rows[-1][0]
    return False


def _blocks_step(job, cp) -> bool:
    DedupeBlock.objects.filter(job=job).delete()  # a re-run of this step starts clean
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {DedupeBlock._meta.db_table} (job_id, members) "
            "SELECT %s, array_agg(id) FROM ("
            f"  SELECT id, unnest(dedupe_keys) AS k FROM {Contact._meta.db_table} "
            "   WHERE organization_id = %s AND deleted_at IS NULL) s "
            "GROUP BY k HAVING count(*) BETWEEN 2 AND %s",
            [job.pk, job.organization_id, dedupe.MAX_BLOCK])
        cp["blocks"] = cursor.rowcount
    cp.update(phase="pairs", after=0, blocks_done=0)
    _progress(job, "blocks", 1)
    return False


def _upsert(model, job, rows) -> int:
    """Insert or refresh likely pairs [(first, second, Match)]; decided pairs stay as they are."""
    if not rows:
        return 0
    now = timezone.now()
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (organization_id, created_at, updated_at, first_id, second_id, score, reasons, "
            "status, scan_job_id) "
            "SELECT %s, %s, %s, f, s, sc, r::jsonb, 'open', %s FROM unnest(%s::bigint[], %s::bigint[], "
            "%s::float8[], %s::text[]) AS v(f, s, sc, r) "
            f"ON CONFLICT (first_id, second_id) DO UPDATE SET score = EXCLUDED.score, reasons = EXCLUDED.reasons, "
            f"scan_job_id = EXCLUDED.scan_job_id, updated_at = EXCLUDED.updated_at WHERE {table}.status = 'open'",
            [job.organization_id, now, now, job.pk, [a for a, _, _ in rows], [b for _, b, _ in rows],
             [m.score for _, _, m in rows], [json.dumps(m.reasons) for _, _, m in rows]])
        return cursor.rowcount


def _pairs_step(job, cp) -> bool:
    blocks = list(DedupeBlock.objects.filter(job=job, pk__gt=cp.get("after", 0)).order_by("pk")
                  .values_list("pk", "members")[:BLOCKS_BATCH])
    pairs = dedupe.candidate_pairs(members for _, members in blocks)
    threshold = job.params.get("threshold", dedupe.DEFAULT_THRESHOLD)
    found = []
    if pairs:
        ids = {i for pair in pairs for i in pair}
        features = {row[0]: dedupe.contact_features(*row) for row in _contact_rows(
            "id = ANY(%s) AND deleted_at IS NULL", [list(ids)])}
        for a, b in sorted(pairs):
            if a in features and b in features:
                match = dedupe.score(features[a], features[b])
                if match.score >= threshold:
                    found.append((a, b, match))
    cp["written"] = cp.get("written", 0) + _upsert(ContactDuplicate, job, found)
    cp["blocks_done"] = cp.get("blocks_done", 0) + len(blocks)
    _progress(job, "pairs", cp["blocks_done"] / max(1, cp.get("blocks") or 1))
    if len(blocks) < BLOCKS_BATCH:
        cp.update(phase="companies", after=0)
    else:
        cp["after"] = blocks[-1][0]
    return False


def _companies_step(job, cp) -> bool:
    from companies.models import Company

    features = {}
    blocks = defaultdict(list)
    for pk, name, domain, website in Company.objects.filter(organization_id=job.organization_id).values_list(
            "pk", "name", "domain", "website").iterator(chunk_size=5000):
        f = dedupe.company_features(pk, name, domain, website)
        features[pk] = f
        for key in dedupe.company_keys(f):
            blocks[key].append(pk)
    threshold = job.params.get("threshold", dedupe.DEFAULT_THRESHOLD)
    found = []
    for a, b in sorted(dedupe.candidate_pairs(blocks.values())):
        match = dedupe.score_companies(features[a], features[b])
        if match.score >= threshold:
            found.append((a, b, match))
    cp["written"] = cp.get("written", 0) + _upsert(CompanyDuplicate, job, found)
    cp.update(phase="finish")
    _progress(job, "companies", 1)
    return False


def _finish_step(job, cp) -> bool:
    org = job.organization_id
    for model in MODELS.values():
        open_pairs = model.objects.filter(organization_id=org, status=DuplicateStatus.OPEN)
        gone = Q(first__deleted_at__isnull=False) | Q(second__deleted_at__isnull=False)
        cp.setdefault("merged", 0)
        cp["merged"] += open_pairs.filter(gone).update(status=DuplicateStatus.MERGED, updated_at=timezone.now())
        open_pairs.exclude(scan_job_id=job.pk).delete()
    DedupeBlock.objects.filter(job=job).delete()
    cp["open"] = ContactDuplicate.objects.filter(organization_id=org, status=DuplicateStatus.OPEN).count()
    cp["open_companies"] = CompanyDuplicate.objects.filter(organization_id=org, status=DuplicateStatus.OPEN).count()
    job.succeeded = cp["open"] + cp["open_companies"]  # pairs to review (a pair found in two blocks counts once)
    _progress(job, "finish", 1)
    return True


# -- the queue -------------------------------------------------------------------------------

def queue(user, kind: str = "contact"):
    """Open pairs the user may see (both records), best first."""
    return (MODELS[kind].objects.visible_to(user).filter(status=DuplicateStatus.OPEN)
            .select_related("first", "second"))


def get_pair(user, kind: str, pk, action: str = "view"):
    """The pair if the user may see both records, else None (answered with 404)."""
    from crm.permissions import CHANGE

    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    pair = MODELS[kind].objects.visible_to(user).select_related("first", "second").filter(pk=pk).first()
    if pair is not None and action == CHANGE and not MODELS[kind].objects.visible_to(user, CHANGE).filter(
            pk=pk).exists():
        raise PermissionDenied("You can see these records but not change them.")
    return pair


def dismiss(user, pair) -> None:
    """"Not a duplicate": remembered, so later scans never reopen the pair."""
    type(pair).objects.filter(pk=pair.pk).update(status=DuplicateStatus.DISMISSED, decided_by=user,
                                                 decided_at=timezone.now(), updated_at=timezone.now())
    pair.status = DuplicateStatus.DISMISSED


def merge_url(pair, kind: str = "contact") -> str:
    return dedupe.merge_url(pair.first_id, pair.second_id, kind)


# Bulk merge from the queue: open pairs at or above this score, joined into groups.
BULK_MIN_SCORE = 0.95
BULK_MAX_PAIRS = 5000


def high_score_groups(user, kind: str = "contact", min_score: float = BULK_MIN_SCORE,
                      limit: int = BULK_MAX_PAIRS) -> list[list[int]]:
    """Groups of records to merge from the user's open pairs scoring at least `min_score`:
    pairs sharing a record are joined (A~B and B~C -> A, B, C), groups kept to what one merge
    takes (contacts.merge.MAX_RECORDS; a larger cluster waits for a person to review it)."""
    from contacts.merge import MAX_RECORDS

    pairs = queue(user, kind).filter(score__gte=min_score).order_by("-score", "pk") \
        .values_list("first_id", "second_id")[:limit]
    parent: dict[int, int] = {}

    def root(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for first, second in pairs:
        parent[root(first)] = root(second)
    groups: dict[int, list[int]] = {}
    for record in list(parent):
        groups.setdefault(root(record), []).append(record)
    return [sorted(group) for group in groups.values() if 2 <= len(group) <= MAX_RECORDS]
