"""Import benchmark: a large CSV of contacts through the service the web form uses.

    python -m bench.imports [--rows 1000000] [--existing-org-contacts 1000000] [--org ID]
                            [--baseline-rows 20000] [--no-baselines] [--profile FILE] [--csv PATH]

Against the (seeded) database in DATABASE_URL; `python -m bench --only import` runs it on the
throwaway `<db>_bench` database. Steps:

1. Picks the organization with the most contacts (or --org) and its admin.
2. Writes a CSV (streamed to disk) with our own export labels, 20 columns: 20 % of the rows
   carry the email of an existing contact of the organization (updates), 2 % are invalid
   (bad email, phone or date), the rest are new contacts, with realistic values and tags and
   companies (existing and new ones).
3. Baselines on the first --baseline-rows rows of the same file, in a child process and in
   transactions that are rolled back: django-import-export upserting by email with its
   default settings and tuned (use_bulk, batch_size=1000, skip_diff), and a bare COPY of the
   same rows into a copy of the contacts table with the same indexes (and into the contacts
   table itself, with and without its audit trigger).
4. The import as the web form runs it, in this process: `imports.upload`, `imports.configure`
   (the dry run), `imports.start_import`; the jobs those enqueue are run here with
   `imports.run(job_id)`, exactly what the Celery task does. Timed per step, with the peak RSS
   of this process, then checked: outcome counts equal what was generated, one ImportRow per
   row, one audit event per created and updated contact.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from random import Random

ROOT = Path(__file__).resolve().parent.parent

# The 20 columns, as our export heads them (contacts.columns.COLUMNS labels).
KEYS = ["first_name", "last_name", "email", "phone", "mobile", "job_title", "department", "company", "city",
        "country", "lifecycle_stage", "source", "industry", "website", "linkedin", "street", "postal_code",
        "birth_date", "description", "tags"]
UPDATE_SHARE, INVALID_SHARE = 0.20, 0.02


def setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    # The benchmark runs the import jobs itself: never hand them to a real broker (a worker
    # watching another checkout's queue would pick them up against another database).
    os.environ["CELERY_BROKER_URL"] = "memory://"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# -- the file --------------------------------------------------------------------------------

def headers():
    from contacts.columns import COLUMNS

    return [COLUMNS[k] for k in KEYS]


def pick_org(org_id=None):
    from django.db import connection

    with connection.cursor() as cur:
        if org_id is None:
            cur.execute("SELECT organization_id, count(*) FROM contacts_contact WHERE deleted_at IS NULL "
                        "GROUP BY 1 ORDER BY 2 DESC LIMIT 1")
        else:
            cur.execute("SELECT %s, count(*) FROM contacts_contact WHERE deleted_at IS NULL AND organization_id = %s",
                        [org_id, org_id])
        row = cur.fetchone()
    return (row[0], row[1]) if row else (None, 0)


def generate(path: Path, org_id: int, rows: int, seed: int, token: str) -> dict:
    """Write the CSV; returns the counts generated per kind."""
    from django.db import connection

    from contacts.models import LifecycleStage, Source
    from crm import seeding as s

    rng = Random(seed)
    n_update = int(rows * UPDATE_SHARE)
    n_invalid = int(rows * INVALID_SHARE)
    n_new = rows - n_update - n_invalid
    with connection.cursor() as cur:
        cur.execute("SELECT setseed(%s)", [(seed % 1000) / 1000])
        cur.execute("SELECT email, first_name, last_name FROM contacts_contact WHERE organization_id = %s "
                    "AND deleted_at IS NULL AND email <> '' ORDER BY random() LIMIT %s", [org_id, n_update])
        existing = cur.fetchall()
        cur.execute("SELECT name FROM companies_company WHERE organization_id = %s AND deleted_at IS NULL "
                    "ORDER BY id LIMIT 3000", [org_id])
        companies = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT name FROM crm_tag WHERE organization_id = %s", [org_id])
        tags = [r[0] for r in cur.fetchall()]
    if len(existing) < n_update:
        raise SystemExit(f"the organization has only {len(existing):,} contacts with an email; "
                         f"{n_update:,} updates need more (seed more contacts or import fewer rows)")
    companies += [f"{rng.choice(s.COMPANY_WORD_A)} {rng.choice(s.COMPANY_WORD_B)} {c} {token}"
                  for c, _ in rng.sample(s.COMPANY_WORD_C, min(20, len(s.COMPANY_WORD_C))) for _ in range(10)]
    tags += ["Imported list", "Spring campaign", "Partner referral"]
    kinds = ["u"] * n_update + ["i"] * n_invalid + ["n"] * n_new
    rng.shuffle(kinds)

    cities = s.CITIES
    city_weights = [s.COUNTRY_WEIGHTS.get(c[0], 0.2) / sum(1 for x in cities if x[0] == c[0]) for c in cities]
    pick_city = s._picker(rng, cities, city_weights)
    phone_fns = {}

    def phone(spec):
        key = repr(spec)
        if key not in phone_fns:
            phone_fns[key] = s.Loader._phone_fn(None, rng, spec)
        fn = phone_fns[key]
        return fn() if fn else ""

    stages = [label for _, label in LifecycleStage.choices]
    sources = [label for _, label in Source.choices] + ["Trade show", "Offline Sources"]
    countries = {"US": "United States", "GB": "United Kingdom", "DE": "Germany", "FR": "France"}
    departments = sorted({d for _, d in s.JOB_TITLES})
    counts = {"update": 0, "invalid": 0, "new": 0}
    existing_iter = iter(existing)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers())
        for i, kind in enumerate(kinds):
            city = pick_city()
            country, city_name, _region, _tz, phone_spec, mobile_spec, postal_spec, street_style = city
            if kind == "u":
                email, first, last = next(existing_iter)
                if rng.random() < 0.1:
                    email = email.capitalize()  # exports change case; matching must not care
            else:
                first = rng.choice(s.FIRST_NAMES)
                last = rng.choice(s.LAST_NAMES)
                local = s.ascii_slug(f"{first} {last}", ".") or "contact"
                email = f"{local}.{token}{i}@{rng.choice(s.PERSONAL_DOMAINS)}"
            title, department = rng.choice(s.JOB_TITLES)
            company = rng.choice(companies) if rng.random() < 0.9 else ""
            number = phone(phone_spec)
            if number and rng.random() < 0.4:
                number = f"{number[:3]} {number[3:6]} {number[6:]}"
            mobile = phone(mobile_spec) if rng.random() < 0.7 else ""
            industry = rng.choice(s.INDUSTRIES)
            slug = s.ascii_slug(company, "-") or s.ascii_slug(last, "-")
            birth = (f"{rng.randint(1950, 2002)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                     if rng.random() < 0.5 else "")
            description = rng.choice(s.DESCRIPTIONS) if rng.random() < 0.4 else ""
            if description and rng.random() < 0.05:
                description += "\nFollow up: \"call after the demo\", then email."
            row = [first, last, email, number, mobile, title, rng.choice(departments) if rng.random() < 0.2
                   else department, company, city_name,
                   countries.get(country, country) if rng.random() < 0.2 else country,
                   rng.choice(stages), rng.choice(sources), industry,
                   f"https://www.{slug}.test" if company and rng.random() < 0.6 else "",
                   f"https://www.linkedin.com/in/{s.ascii_slug(first + ' ' + last, '-')}-{rng.randint(1, 99999)}"
                   if rng.random() < 0.5 else "",
                   s.Loader._street(None, rng, street_style), s.Loader._postal(None, rng, postal_spec), birth,
                   description, "; ".join(rng.sample(tags, rng.choice((0, 0, 1, 1, 1, 2, 3))))]
            if kind == "i":
                what = i % 3
                if what == 0:
                    row[2] = rng.choice((email.replace("@", " at "), email.split("@")[0] + "@example", "@" + email))
                elif what == 1:
                    row[3] = rng.choice(("12345", "+1 555 01", "call me", "+44 12"))
                else:
                    row[17] = rng.choice(("1985-13-45", "31/31/1990", "next tuesday", "0000-00-00"))
                counts["invalid"] += 1
            elif kind == "u":
                counts["update"] += 1
            else:
                counts["new"] += 1
            writer.writerow(row)
    return counts


# -- memory ----------------------------------------------------------------------------------

class RssSampler:
    """Peak resident memory of this process, sampled every 0.1 s, per phase."""

    def __init__(self):
        import psutil

        self.process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(0.1)

    def start(self):
        self.peak = self.process.memory_info().rss
        self.thread.start()
        return self

    def phase(self):
        peak, self.peak = self.peak, self.process.memory_info().rss
        return max(peak, self.peak)

    def stop(self):
        self._stop.set()
        self.thread.join()


def max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


# -- where the time goes (light wrappers, on for every run) ----------------------------------

class Timers:
    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, owner, name, label):
        original = getattr(owner, name)
        timers = self

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timers.seconds[label] = timers.seconds.get(label, 0.0) + time.perf_counter() - started
                timers.calls[label] = timers.calls.get(label, 0) + 1

        setattr(owner, name, timed)
        return original

    def install(self):
        from contacts import imports
        from crm import jobs

        B, W = imports.BatchRunner, imports._Writer
        for owner, name, label in [
            (jobs, "run_job", "job total"),
            (B, "next_batch", "read file (CSV parse)"),
            (B, "plan", "plan: clean + match + decide"),
            (B, "_match", "  plan: match query"),
            (B, "_current", "  plan: current values query"),
            (B, "_taken", "  plan: unique-column query"),
            (W, "write", "write total"),
            (W, "_companies", "  write: companies"),
            (W, "_tags", "  write: tags"),
            (W, "_create", "  write: create (COPY contacts)"),
            (W, "_update", "  write: update (temp table + UPDATE)"),
            (W, "_links", "  write: tag + company links"),
            (W, "_rows", "  write: ImportRow COPY"),
        ]:
            self.wrap(owner, name, label)
        # imports.run calls jobs.run_job through the module attribute: wrapped above.

    def report(self, total_rows):
        lines = []
        for label, secs in self.seconds.items():
            lines.append(f"  {label:<42} {secs:8.2f} s  {self.calls[label]:>6} calls"
                         f"  {secs / max(total_rows, 1) * 1e6:8.1f} µs/row")
        return "\n".join(lines)


# -- the import through the service ----------------------------------------------------------

def run_import(path: Path, admin, sampler, profile: str | None, timers: Timers):
    from django.core.files import File

    from contacts import imports
    from contacts.models import ContactImport

    result = {}
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    t0 = time.perf_counter()
    with open(path, "rb") as handle:
        imp = imports.upload(admin, File(handle, name="bench.csv"))
    t_upload = time.perf_counter()
    result["upload_s"] = t_upload - t0
    result["rss_upload"] = sampler.phase()
    unmapped = [h for h, m in zip(imp.headers, imp.mapping) if not m]
    result["mapping"] = dict(zip(imp.headers, imp.mapping))
    if unmapped:
        print(f"  note: columns not mapped by the guess: {unmapped}", flush=True)
    options = {**imports.default_options(), "invalid": "skip"}
    imp = imports.configure(imp, admin, mapping=imp.mapping, options=options)
    if imp.stage == ContactImport.Stage.PREVIEWING:  # queued (files over INLINE_BYTES): run it like the worker
        t_configured = time.perf_counter()
        if profiler:
            profiler.enable()
        imports.run(imp.preview_job_id)
        if profiler:
            profiler.disable()
        imp.refresh_from_db()
    else:
        t_configured = t_upload
    t_preview = time.perf_counter()
    result["preview_s"] = t_preview - t_upload
    result["preview_job_s"] = t_preview - t_configured
    result["rss_preview"] = sampler.phase()
    if imp.stage != ContactImport.Stage.PREVIEWED:
        raise SystemExit(f"preview ended {imp.stage}: {imp.error}")
    result["preview_counts"] = imp.preview["counts"]
    imp = imports.start_import(imp, admin)
    t_started = time.perf_counter()
    if imp.stage == ContactImport.Stage.IMPORTING:
        if profiler:
            profiler.enable()
        imports.run(imp.run_job_id)
        if profiler:
            profiler.disable()
        imp.refresh_from_db()
    t_done = time.perf_counter()
    result["import_s"] = t_done - t_preview
    result["import_job_s"] = t_done - t_started
    result["rss_import"] = sampler.phase()
    result["end_to_end_s"] = t_done - t0
    result["stage"] = imp.stage
    result["error"] = imp.error
    result["counts"] = imp.counts
    result["import_id"] = imp.pk
    if profiler:
        profiler.dump_stats(profile)
    return imp, result


def verify(imp, generated: dict, rows: int, org_id: int, before: int) -> list[str]:
    """Problems found (empty: the import did what the file asked)."""
    from django.apps import apps
    from django.db import connection

    from contacts.models import Contact, ImportRow

    problems = []
    counts = imp.counts
    expected = {"created": generated["new"], "updated": generated["update"], "invalid": generated["invalid"]}
    for outcome, n in expected.items():
        if counts.get(outcome, 0) != n:
            problems.append(f"{outcome}: {counts.get(outcome, 0):,} (generated {n:,})")
    other = {k: v for k, v in counts.items() if k not in expected and v}
    if other:
        problems.append(f"unexpected outcomes: {other}")
    n_rows = ImportRow.objects.filter(contact_import=imp).count()
    if n_rows != rows:
        problems.append(f"ImportRow rows: {n_rows:,} (file rows {rows:,})")
    missing_revert = ImportRow.objects.filter(contact_import=imp, outcome="updated").filter(after__isnull=True).count()
    if missing_revert:
        problems.append(f"{missing_revert:,} updated rows without the values after")
    after = Contact.objects.filter(organization_id=org_id).count()
    if after - before != generated["new"]:
        problems.append(f"contacts in the organization grew by {after - before:,} (new rows {generated['new']:,})")
    try:
        event = apps.get_model("contacts", "ContactEvent")
        with connection.cursor() as cur:
            cur.execute(f'SELECT e.pgh_label, count(*) FROM "{event._meta.db_table}" e '
                        "JOIN pghistory_context c ON c.id = e.pgh_context_id "
                        "WHERE c.metadata->>'import' = %s GROUP BY 1", [str(imp.pk)])
            events = dict(cur.fetchall())
        if events.get("insert", 0) != generated["new"] or events.get("update", 0) != generated["update"]:
            problems.append(f"audit events {events} (expected insert {generated['new']:,}, "
                            f"update {generated['update']:,})")
    except LookupError:
        pass
    return problems


# -- baselines (child process, rolled back) --------------------------------------------------

def sample_file(path: Path, rows: int, out: Path):
    with open(path, newline="", encoding="utf-8") as src, open(out, "w", newline="", encoding="utf-8") as dst:
        reader, writer = csv.reader(src), csv.writer(dst)
        writer.writerow(next(reader))
        for i, row in enumerate(reader):
            if i >= rows:
                break
            writer.writerow(row)


class _Rollback(Exception):
    pass


def _rolled_back(fn):
    """fn() inside a transaction that is rolled back; returns fn's value."""
    from django.db import transaction

    box = {}
    try:
        with transaction.atomic():
            box["value"] = fn()
            raise _Rollback
    except _Rollback:
        pass
    return box["value"]


def contact_resource(org_id, **meta):
    """A django-import-export resource for Contact keyed by email, columns under our labels."""
    from import_export import fields, resources, widgets

    from contacts.columns import COLUMNS
    from contacts.import_rows import COUNTRY_NAMES, _SOURCES, _STAGES
    from contacts.models import Contact
    from crm.resources import OrgResource

    plain = [k for k in KEYS if k not in ("company", "tags")]
    attrs = {}
    for key in plain:
        widget = widgets.DateWidget("%Y-%m-%d") if key == "birth_date" else None
        attrs[key] = fields.Field(attribute=key, column_name=COLUMNS[key], widget=widget)

    def before_import_row(self, row, **kwargs):
        # Our labels -> stored values (what our own import's cleaners do), so rows are valid for the model.
        stage, source, country = COLUMNS["lifecycle_stage"], COLUMNS["source"], COLUMNS["country"]
        row[stage] = _STAGES.get((row.get(stage) or "").lower(), "lead")
        value = _SOURCES.get((row.get(source) or "").lower(), "other")
        row[source] = value if isinstance(value, str) else value[0]
        c = row.get(country) or ""
        row[country] = c.upper() if len(c) == 2 else COUNTRY_NAMES.get(c.lower(), "")
        row[COLUMNS["email"]] = (row.get(COLUMNS["email"]) or "").strip().lower()

    # import-export's defaults otherwise (no full_clean of each instance: clean_model_instances=False).
    meta_attrs = {"model": Contact, "fields": tuple(plain), "import_id_fields": ("email",), **meta}
    attrs["Meta"] = type("Meta", (), meta_attrs)
    attrs["before_import_row"] = before_import_row
    attrs["__module__"] = __name__
    cls = type("BenchContactResource", (OrgResource,), attrs)
    return cls(organization_id=org_id)


def baseline_import_export(sample: Path, org_id: int, **meta) -> dict:
    import tablib

    with open(sample, encoding="utf-8") as handle:
        dataset = tablib.Dataset().load(handle.read(), format="csv")
    resource = contact_resource(org_id, **meta)

    def go():
        started = time.perf_counter()
        result = resource.import_data(dataset, dry_run=False, raise_errors=False, use_transactions=False,
                                      collect_failed_rows=True)
        return time.perf_counter() - started, result.totals, len(result.invalid_rows), result.has_errors()

    seconds, totals, invalid, errors = _rolled_back(go)
    return {"rows": len(dataset), "seconds": seconds, "rows_s": len(dataset) / seconds,
            "totals": {k: v for k, v in dict(totals).items() if v}, "invalid_rows": invalid, "errors": errors}


def _copy_lines(sample: Path, org_id: int, table) -> list[str]:
    """The sample's rows as COPY text for `table` (a seeding.CopyTable of Contact): the cells as
    they are (emails prefixed so they are new), what COPY cannot take (a bad date) as NULL."""
    import datetime

    from contacts.import_rows import COUNTRY_NAMES, _SOURCES, _STAGES
    from crm.search import fold
    from crm.seeding import NULL, copy_text

    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    lines = []
    with open(sample, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            v = dict(zip(KEYS, row))
            try:
                birth = datetime.date.fromisoformat(v["birth_date"]).isoformat() if v["birth_date"] else NULL
            except ValueError:
                birth = NULL
            c = v["country"]
            source = _SOURCES.get(v["source"].lower(), "other")
            display = f"{v['first_name']} {v['last_name']}".strip()
            values = [str(org_id), now, now, display, fold(display), fold(f"{v['last_name']} {v['first_name']}"),
                      "", v["company"], "{}",
                      v["first_name"], v["last_name"], "copy." + v["email"].lower(), v["phone"], v["mobile"],
                      v["job_title"], v["department"], v["city"],
                      c.upper() if len(c) == 2 else COUNTRY_NAMES.get(c.lower(), ""),
                      _STAGES.get(v["lifecycle_stage"].lower(), "lead"),
                      source if isinstance(source, str) else source[0], v["industry"], v["website"], v["linkedin"],
                      v["street"], v["postal_code"], v["description"]]
            lines.append("\t".join(copy_text(x) for x in values) + "\t" + birth + table.suffix)
    return lines


_COPY_FIELDS = ["organization", "created_at", "updated_at", "display_name", "search_name", "search_name_rev",
                "phone_digits", "company_name", "custom_fields", "first_name", "last_name", "email", "phone",
                "mobile", "job_title", "department", "city", "country", "lifecycle_stage", "source", "industry",
                "website", "linkedin", "street", "postal_code", "description", "birth_date"]


def baseline_copy(sample: Path, org_id: int) -> dict:
    """Bare COPY of the sample: into an empty copy of contacts_contact with all its indexes and
    its generated search column (no triggers, no foreign keys), and into contacts_contact itself
    (1M rows, indexes) with and without the audit trigger. Each rolled back."""
    from django.db import connection

    from contacts.models import Contact
    from crm.seeding import CopyTable, audited_trigger_uris

    table = CopyTable(Contact, _COPY_FIELDS)
    lines = _copy_lines(sample, org_id, table)
    data = "".join(lines)
    out = {"rows": len(lines)}

    def copy_into(name, ignore=None, context=False):
        def go():
            with connection.cursor() as cur:
                if name != Contact._meta.db_table:
                    cur.execute(f'CREATE TEMP TABLE "{name}" (LIKE "{Contact._meta.db_table}" INCLUDING ALL) '
                                "ON COMMIT DROP")
                if ignore is not None:
                    cur.execute("SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + ",".join(ignore) + "}"])
                if context:  # what an import's batch has: an audit context for every event
                    cur.execute("SELECT set_config('pghistory.context_id', gen_random_uuid()::text, true), "
                                "set_config('pghistory.context_metadata', %s, true)",
                                [json.dumps({"source": "import", "import": 0})])
                sql = table.sql.replace(f'"{Contact._meta.db_table}"', f'"{name}"')
                started = time.perf_counter()
                with cur.copy(sql) as copy:
                    for i in range(0, len(data), 1 << 20):
                        copy.write(data[i:i + (1 << 20)])
                return time.perf_counter() - started
        seconds = _rolled_back(go)
        return {"seconds": seconds, "rows_s": len(lines) / seconds}

    _uris, pgids = audited_trigger_uris()
    out["copy_indexed_table"] = copy_into("bench_copy_contacts")
    out["copy_contacts_no_trigger"] = copy_into(Contact._meta.db_table, ignore=pgids)
    out["copy_contacts_with_trigger"] = copy_into(Contact._meta.db_table)
    out["copy_contacts_trigger_context"] = copy_into(Contact._meta.db_table, ignore=[], context=True)
    return out


def baselines_main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", required=True)
    parser.add_argument("--org", type=int, required=True)
    parser.add_argument("--skip-import-export", action="store_true")
    args = parser.parse_args(argv)
    setup()
    sample = Path(args.sample)
    out = {"copy": baseline_copy(sample, args.org)}
    if not args.skip_import_export:
        out["iie_default"] = baseline_import_export(sample, args.org)
        out["iie_tuned"] = baseline_import_export(sample, args.org, use_bulk=True, batch_size=1000, skip_diff=True)
    print("BASELINES " + json.dumps(out, default=str), flush=True)


def run_baselines(sample: Path, org_id: int, skip_iie: bool) -> dict:
    cmd = [sys.executable, "-m", "bench.imports", "--baselines-child", "--sample", str(sample), "--org", str(org_id)]
    if skip_iie:
        cmd.append("--skip-import-export")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-5000:], sep="\n", file=sys.stderr)
        raise SystemExit("baselines failed")
    line = [x for x in proc.stdout.splitlines() if x.startswith("BASELINES ")][-1]
    return json.loads(line[len("BASELINES "):])


# -- main ------------------------------------------------------------------------------------

def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--baselines-child"]:
        return baselines_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench.imports")
    parser.add_argument("--rows", type=int, default=1_000_000, help="data rows in the file (default 1,000,000)")
    parser.add_argument("--existing-org-contacts", type=int, default=0,
                        help="require the target organization to hold at least this many contacts")
    parser.add_argument("--org", type=int, default=None, help="target organization (default: the largest)")
    parser.add_argument("--baseline-rows", type=int, default=20_000)
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--no-import-export", action="store_true", help="baselines: only the COPY ones")
    parser.add_argument("--profile", default=None, help="cProfile the preview and import jobs into this file")
    parser.add_argument("--csv", default=None, help="keep the generated file at this path")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    setup()
    from django.conf import settings
    from django.db import connection

    from contacts.models import Contact
    from crm.models import Membership
    from crm.permissions import Role

    sampler = RssSampler().start()
    org_id, existing = pick_org(args.org)
    if org_id is None:
        raise SystemExit("no contacts: seed the database first (python -m bench --contacts … --orgs 1 --keep)")
    if existing < args.existing_org_contacts:
        raise SystemExit(f"organization {org_id} holds {existing:,} contacts; --existing-org-contacts "
                         f"{args.existing_org_contacts:,} asks for more (seed with --contacts … --orgs 1)")
    admin = (Membership.objects.filter(organization_id=org_id, role=Role.ADMIN).select_related("user")
             .order_by("id").first().user)
    work = Path(tempfile.mkdtemp(prefix="kith-import-bench-"))
    settings.MEDIA_ROOT = str(work / "media")  # the stored upload goes here, removed at the end
    from django.core.files.storage import storages

    storages._storages.clear() if hasattr(storages, "_storages") else None
    path = Path(args.csv) if args.csv else work / "bench.csv"
    token = format(int(time.time()) % 36 ** 6, "x")
    print(f"\n== Import: {args.rows:,} rows into organization {org_id} ({existing:,} contacts), "
          f"{connection.settings_dict['NAME']} ==", flush=True)
    try:
        started = time.perf_counter()
        generated = generate(path, org_id, args.rows, args.seed, token)
        size = path.stat().st_size
        print(f"file: {path.name} {size / 1e6:,.1f} MB, 20 columns, {args.rows:,} rows "
              f"({generated['update']:,} updates, {generated['invalid']:,} invalid, {generated['new']:,} new), "
              f"written in {time.perf_counter() - started:.1f} s", flush=True)
        sampler.phase()
        base = None
        if not args.no_baselines:
            sample = work / "sample.csv"
            sample_file(path, args.baseline_rows, sample)
            print(f"baselines on the first {args.baseline_rows:,} rows (child process, rolled back) …", flush=True)
            base = run_baselines(sample, org_id, args.no_import_export)
        timers = Timers()
        timers.install()
        before = Contact.objects.filter(organization_id=org_id).count()
        rss_before = sampler.phase()
        imp, result = run_import(path, admin, sampler, args.profile, timers)
        ru_max = max_rss_bytes()
        sampler.stop()
        problems = verify(imp, generated, args.rows, org_id, before) if result["stage"] == "imported" else [
            f"import ended {result['stage']}: {result['error']}"]
        report(args, generated, size, result, base, timers, rss_before, ru_max, problems)
        if args.profile:
            print_profile(args.profile)
    finally:
        keep = {path} if args.csv else set()
        for p in work.iterdir() if work.exists() else []:
            if p not in keep:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def report(args, generated, size, r, base, timers, rss_before, ru_max, problems):
    rows = args.rows
    gib = 1024 ** 3
    imp_rate = rows / r["import_s"]
    print(f"\n{'step':<44} {'seconds':>9} {'rows/s':>10}")
    print(f"{'upload (store file, read header)':<44} {r['upload_s']:9.1f}")
    print(f"{'preview (dry run, whole file)':<44} {r['preview_s']:9.1f} {rows / r['preview_s']:10,.0f}")
    print(f"{'import (start_import + job)':<44} {r['import_s']:9.1f} {imp_rate:10,.0f}")
    print(f"{'end to end (upload → imported)':<44} {r['end_to_end_s']:9.1f} {rows / r['end_to_end_s']:10,.0f}"
          f"   target ≥ 10,000")
    print(f"outcomes: {r['counts']}")
    print(f"peak RSS: {max(r['rss_upload'], r['rss_preview'], r['rss_import']) / 2**20:,.0f} MiB sampled "
          f"(before upload {rss_before / 2**20:,.0f}, upload {r['rss_upload'] / 2**20:,.0f}, preview "
          f"{r['rss_preview'] / 2**20:,.0f}, import {r['rss_import'] / 2**20:,.0f}); ru_maxrss "
          f"{ru_max / 2**20:,.0f} MiB (whole process, file generation included) — "
          f"{'≤' if ru_max <= gib else '>'} 1 GiB")
    print(f"row cap: none hit — {rows:,} rows in one file ({size / 1e6:,.0f} MB; "
          f"{'above' if rows > 1_048_576 else 'at or below'} 1,048,576)")
    print("checks: " + ("all good (created / updated / invalid as generated, one ImportRow per row, "
                        "audit events per contact)" if not problems else "; ".join(problems)))
    print("\nwhere the time went (wrapped calls; read and plan: preview and import jobs, write: import job):")
    print(timers.report(rows))
    if base:
        print(f"\nbaselines on {base['copy']['rows']:,} rows of the same file (same run, rolled back):")
        print(f"{'':<58} {'rows/s':>10} {'our import ÷ it':>16}")
        entries = []
        if "iie_default" in base:
            entries += [("django-import-export, default (upsert by email)", base["iie_default"]),
                        ("django-import-export, use_bulk+batch_size=1000+skip_diff", base["iie_tuned"])]
        c = base["copy"]
        entries += [("bare COPY, empty copy of contacts with its indexes", c["copy_indexed_table"]),
                    ("bare COPY into contacts_contact, trigger off", c["copy_contacts_no_trigger"]),
                    ("bare COPY into contacts_contact, audit trigger on", c["copy_contacts_with_trigger"]),
                    ("  … trigger on + audit context (as in an import batch)", c["copy_contacts_trigger_context"])]
        for name, e in entries:
            print(f"{name:<58} {e['rows_s']:10,.0f} {imp_rate / e['rows_s']:15.2f}×")
        if "iie_default" in base:
            print(f"  import-export totals: default {base['iie_default']['totals']}, "
                  f"tuned {base['iie_tuned']['totals']}")
    print(json.dumps({"result": {k: v for k, v in r.items() if k != "mapping"}, "baselines": base,
                      "timers": timers.seconds}, default=str), flush=True)


def print_profile(path):
    import pstats

    print(f"\ncProfile of the preview and import jobs ({path}), top by own time:")
    stats = pstats.Stats(path)
    stats.sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
