"""contacts.exports: file contents (CSV, XLSX, vCard) read back with csv, openpyxl and vobject,
custom fields, tags, companies, formula neutralization, visibility, segments and saved views as
the selection, validation, resuming from a checkpoint, expiry and a query count that does not
grow with the rows."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import openpyxl
import pytest
import vobject
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from companies.models import Company
from contacts import exports
from contacts.columns import COLUMNS
from contacts.models import Contact, ContactCompany, SavedView, Segment
from contacts.services import create_contact, set_tags
from crm.models import CustomFieldDefinition, Job, Tag
from tests.conftest import fresh

pytestmark = pytest.mark.django_db

BOM = "\ufeff"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def contact(world, first, last="", *, owner=None, team=None, org=None, tags=(), **data):
    c = create_contact(organization=org or world.org,
                       data={"first_name": first, "last_name": last, "owner": owner, "team": team, **data})
    if tags:
        set_tags(c, tags)
    return c


@pytest.fixture
def rich(world):
    """A contact of alice's with every kind of value, and two companies."""
    org = world.org
    CustomFieldDefinition.objects.create(organization=org, model="contact", key="budget", label="Budget",
                                         field_type="number")
    CustomFieldDefinition.objects.create(organization=org, model="contact", key="vip", label="Is VIP",
                                         field_type="boolean")
    CustomFieldDefinition.objects.create(organization=org, model="contact", key="langs", label="Languages",
                                         field_type="multiselect", options=["en", "de", "fr"])
    vip = Tag.objects.create(organization=org, name="VIP")
    hot = Tag.objects.create(organization=org, name="Hot")
    ann = contact(world, "Ann", "Alpha", owner=world.alice, team=world.team_a, email="ann@example.com",
                  phone="+14155552671", mobile="+4915112345678", job_title="CTO", department="R&D",
                  birth_date=date(1985, 4, 12), website="https://ann.example.com", city="Berlin", country="DE",
                  street="Hauptstr. 1", postal_code="10115", region="BE", lifecycle_stage="customer",
                  description="Met at the fair;\nlikes, commas", tags=[vip, hot],
                  custom_fields={"budget": 1500, "vip": True, "langs": ["en", "de"]})
    zeta = Company.objects.create(organization=org, name="Zeta GmbH", domain="zeta.test")
    acme = Company.objects.create(organization=org, name="Acme Co", domain="acme.test")
    ContactCompany.objects.create(organization=org, contact=ann, company=acme)
    ContactCompany.objects.create(organization=org, contact=ann, company=zeta, is_primary=True)
    return ann


def read_file(job: Job) -> bytes:
    assert job.status == Job.Status.DONE, job.error
    with default_storage.open(job.params["file"], "rb") as f:
        return f.read()


def read_csv(job: Job) -> list[list[str]]:
    text = read_file(job).decode("utf-8")
    assert text.startswith(BOM)
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def read_xlsx(job: Job) -> list[list]:
    book = openpyxl.load_workbook(io.BytesIO(read_file(job)), read_only=True)
    # A CR is stored as "_x000D_" (the OOXML escape Excel reads back); openpyxl leaves it escaped.
    return [[("" if v is None else v.replace("_x000D_", "\r")) for v in row]
            for row in book.active.iter_rows(values_only=True)]


def by_first_name(rows, header):
    i = header.index("First name")
    return {row[i]: dict(zip(header, row)) for row in rows}


ALL = ["first_name", "last_name", "full_name", "email", "phone", "mobile", "company", "company_domain",
       "birth_date", "owner", "team", "tags", "lifecycle_stage", "city", "country", "description",
       "custom:budget", "custom:vip", "custom:langs"]


def test_csv_has_bom_header_labels_and_every_kind_of_value(world, rich):
    job = exports.start_export(world.admin, format="csv", columns=ALL, ids=[rich.pk])
    assert job.status == Job.Status.DONE and job.kind == "contacts.export"
    assert job.params["rows"] == 1 and job.processed == 1 and job.total == 1
    header, row = read_csv(job)
    assert header == [COLUMNS[c] for c in ALL[:-3]] + ["Budget", "Is VIP", "Languages"]
    assert row == ["Ann", "Alpha", "Ann Alpha", "ann@example.com", "'+14155552671", "'+4915112345678",
                   "Zeta GmbH; Acme Co", "zeta.test", "1985-04-12", "alice@acme.test", "Team A", "Hot; VIP",
                   "customer", "Berlin", "DE", "Met at the fair;\nlikes, commas", "1500", "true", "en; de"]


def test_xlsx_same_cells_as_strings_bold_header(world, rich):
    job = exports.start_export(world.admin, format="xlsx", columns=ALL, ids=[rich.pk])
    rows = read_xlsx(job)
    csv_job = exports.start_export(world.admin, format="csv", columns=ALL, ids=[rich.pk])
    assert rows == read_csv(csv_job)
    book = openpyxl.load_workbook(io.BytesIO(read_file(job)))  # not read-only: styles and types
    sheet = book.active
    assert sheet["A1"].font.b and not sheet["A2"].font.b
    assert all(cell.data_type == "s" for cell in sheet[2] if cell.value is not None)
    assert sheet.column_dimensions["D"].width > sheet.column_dimensions["A"].width  # email wider than name


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_injection_is_neutralized(world, fmt, start):
    payload = f"{start}HYPERLINK(\"http://evil.test\",\"x\")"
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="note", label="Note",
                                         field_type="text")
    c = contact(world, "Eve", job_title=payload, custom_fields={"note": payload})
    job = exports.start_export(world.admin, format=fmt, columns=["first_name", "job_title", "custom:note"],
                               ids=[c.pk])
    rows = read_csv(job) if fmt == "csv" else read_xlsx(job)
    assert rows[1] == ["Eve", "'" + payload, "'" + payload]
    if fmt == "xlsx":
        sheet = openpyxl.load_workbook(io.BytesIO(read_file(job))).active
        assert sheet["B2"].data_type == "s"  # a string, never a formula


def test_header_labels_from_custom_fields_are_neutralized_too(world):
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="evil", label="=cmd|x",
                                         field_type="text")
    c = contact(world, "Eve")
    job = exports.start_export(world.admin, format="csv", columns=["first_name", "custom:evil"], ids=[c.pk])
    assert read_csv(job)[0] == ["First name", "'=cmd|x"]


def test_vcard_reads_back_with_vobject(world, rich):
    job = exports.start_export(world.admin, format="vcf", columns=None, ids=[rich.pk])
    text = read_file(job).decode("utf-8")
    assert text.startswith("BEGIN:VCARD\r\nVERSION:4.0\r\n")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    card = vobject.readOne(text)
    assert card.fn.value == "Ann Alpha"
    assert (card.n.value.family, card.n.value.given) == ("Alpha", "Ann")
    assert card.email.value == "ann@example.com"
    tels = {tel.params["TYPE"][0]: tel.value for tel in card.contents["tel"]}
    assert tels == {"work": "+14155552671", "cell": "+4915112345678"}
    assert card.org.value == ["Zeta GmbH", "R&D"]
    assert card.title.value == "CTO"
    assert card.bday.value == "19850412"
    assert card.url.value == "https://ann.example.com"
    assert card.adr.value.street == "Hauptstr. 1" and card.adr.value.city == "Berlin"
    assert card.adr.value.code == "10115" and card.adr.value.country == "DE"
    assert card.note.value == "Met at the fair;\nlikes, commas"
    assert card.categories.value == ["Hot", "VIP"]


def test_vcard_folds_long_lines_without_splitting_characters(world):
    c = contact(world, "Zoë", description="ü" * 200 + ", ; \\ end")
    job = exports.start_export(world.admin, format="vcf", columns=[], ids=[c.pk])
    text = read_file(job).decode("utf-8")  # would fail on a split character
    lines = text.split("\r\n")
    assert max(len(line.encode()) for line in lines) <= 75 and any(line.startswith(" ") for line in lines)
    assert vobject.readOne(text).note.value == "ü" * 200 + ", ; \\ end"


def test_several_vcards_in_one_file(world):
    ids = [contact(world, f"P{i}", owner=world.alice, team=world.team_a).pk for i in range(3)]
    job = exports.start_export(world.admin, format="vcf", columns=None, ids=ids)
    cards = list(vobject.readComponents(read_file(job).decode()))
    assert [c.fn.value for c in cards] == ["P0", "P1", "P2"]


def test_contact_vcard_is_visibility_checked(world, rich):
    name, data = exports.contact_vcard(fresh(world.alice), rich.pk)
    assert name == "ann-alpha.vcf" and vobject.readOne(data.decode()).fn.value == "Ann Alpha"
    assert exports.contact_vcard(fresh(world.rita), rich.pk) is None
    assert exports.contact_vcard(fresh(world.charlie), rich.pk) is None


# -- visibility and selections ---------------------------------------------------------------

@pytest.fixture
def spread(world):
    return {
        "alice": contact(world, "AliceOwn", owner=world.alice, team=world.team_a),
        "bob": contact(world, "BobOwn", owner=world.bob, team=world.team_a),
        "rita": contact(world, "RitaOwn", owner=world.rita, team=world.team_b),
        "queue": contact(world, "TeamAQueue", team=world.team_a),
        "other": contact(world, "Foreign", owner=world.other_rep, org=world.other_org),
    }


def names(job) -> set[str]:
    header, *rows = read_csv(job)
    return {row[0] for row in rows}


@pytest.mark.parametrize(("who", "expected"), [
    ("admin", {"AliceOwn", "BobOwn", "RitaOwn", "TeamAQueue"}),
    ("manager_a", {"AliceOwn", "BobOwn", "TeamAQueue"}),
    ("alice", {"AliceOwn"}),
    ("viewer_a", {"AliceOwn", "BobOwn", "TeamAQueue"}),
    ("charlie", {"Foreign"}),
])
def test_an_export_holds_only_what_its_actor_sees(world, spread, who, expected):
    job = exports.start_export(fresh(getattr(world, who)), format="csv", columns=["first_name"], filters={})
    assert names(job) == expected
    assert job.params["filters"] == {}


def test_ids_outside_the_view_are_left_out(world, spread):
    ids = [c.pk for c in spread.values()]
    job = exports.start_export(fresh(world.alice), format="csv", columns=["first_name"], ids=ids)
    assert names(job) == {"AliceOwn"} and job.params["rows"] == 1


def test_filters_segment_and_saved_view_select(world, spread):
    Contact.objects.filter(pk=spread["bob"].pk).update(lifecycle_stage="customer")
    admin = fresh(world.admin)
    job = exports.start_export(admin, format="csv", columns=["first_name"],
                               filters={"team": [str(world.team_a.pk)], "lifecycle_stage": "lead"})
    assert names(job) == {"AliceOwn", "TeamAQueue"}

    segment = Segment.objects.create(organization=world.org, name="Customers", created_by=world.admin,
                                     criteria={"op": "and", "rules": [
                                         {"field": "lifecycle_stage", "operator": "in", "value": ["customer"]}]})
    job = exports.start_export(admin, format="csv", columns=["first_name"], filters={"segment": segment.pk})
    assert names(job) == {"BobOwn"}

    view = SavedView.objects.create(organization=world.org, name="Team B", user=world.admin,
                                    filters={"team": [str(world.team_b.pk)]})
    job = exports.start_export(admin, format="csv", columns=["first_name"], filters={"view": str(view.pk)})
    assert names(job) == {"RitaOwn"}


def test_trashed_contacts_are_not_exported(world, spread):
    Contact.objects.filter(pk=spread["alice"].pk).update(deleted_at=timezone.now())
    job = exports.start_export(fresh(world.admin), format="csv", columns=["first_name"], filters={})
    assert "AliceOwn" not in names(job)


def test_the_worker_recomputes_visibility_for_the_actor(world, spread):
    """A job is read for its actor at run time: a contact handed to someone else meanwhile is left out."""
    job = Job.objects.create(organization=world.org, kind=exports.KIND, task=exports.TASK, actor=world.alice,
                             params={"format": "csv", "columns": ["first_name"], "filters": {}, "downloads": 0})
    Contact.objects.filter(pk=spread["bob"].pk).update(owner=world.alice)
    Contact.objects.filter(pk=spread["alice"].pk).update(owner=world.bob)
    exports.run(job.pk)
    job.refresh_from_db()
    assert names(job) == {"BobOwn"}


# -- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "field"), [
    ({"format": "pdf", "columns": ["email"], "filters": {}}, "format"),
    ({"format": "csv", "columns": ["email", "shoe_size"], "filters": {}}, "columns"),
    ({"format": "csv", "columns": ["custom:nope"], "filters": {}}, "columns"),
    ({"format": "csv", "columns": [], "filters": {}}, "columns"),
    ({"format": "xlsx", "columns": None, "filters": {}}, "columns"),
    ({"format": "csv", "columns": ["email"]}, "ids"),
    ({"format": "csv", "columns": ["email"], "ids": [1], "filters": {}}, "ids"),
    ({"format": "csv", "columns": ["email"], "ids": ["x"]}, "ids"),
    ({"format": "csv", "columns": ["email"], "filters": {"owner": "abc"}}, "filters"),
    ({"format": "csv", "columns": ["email"], "filters": {"colour": "red"}}, "filters"),
    ({"format": "csv", "columns": ["email"], "filters": {"segment": "999999"}}, "filters"),
])
def test_bad_input_names_the_parameter_and_creates_nothing(world, kwargs, field):
    with pytest.raises(ValidationError) as exc:
        exports.start_export(fresh(world.admin), **kwargs)
    assert field in exc.value.message_dict
    assert not Job.objects.exists()


def test_another_organizations_custom_field_is_an_unknown_column(world):
    CustomFieldDefinition.objects.create(organization=world.other_org, model="contact", key="secret",
                                         label="Secret", field_type="text")
    with pytest.raises(ValidationError) as exc:
        exports.start_export(fresh(world.admin), format="csv", columns=["custom:secret"], filters={})
    assert "custom:secret" in exc.value.message_dict["columns"][0]


# -- chunks, resuming, query budget ----------------------------------------------------------

def make_many(world, n, **fields):
    rows = [Contact(organization=world.org, first_name=f"P{i:05d}", email=f"p{i}@example.com",
                    phone="+14155550100", **fields) for i in range(n)]
    for row in rows:
        row.derive_fields()
    return Contact.objects.bulk_create(rows)


def test_a_killed_export_resumes_from_its_last_chunk(world, settings):
    settings.KITH_EXPORT_CHUNK_SIZE = 4
    make_many(world, 10, team=world.team_a)
    vip = Tag.objects.create(organization=world.org, name="VIP")
    for c in Contact.objects.all()[:3]:
        set_tags(c, [vip])
    job = Job.objects.create(organization=world.org, kind=exports.KIND, task=exports.TASK, actor=world.admin,
                             params={"format": "xlsx", "columns": ["first_name", "tags"], "filters": {},
                                     "downloads": 0})
    # One chunk committed, then a second one rendered and its part stored, then the worker died
    # before committing: the retry must not duplicate it.
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        locked.status = Job.Status.RUNNING
        assert exports._step(locked) is False
        locked.save()
    with pytest.raises(RuntimeError), transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        assert exports._step(locked) is False
        raise RuntimeError("worker killed")
    assert Job.objects.get(pk=job.pk).processed == 4
    exports.run(job.pk)
    job.refresh_from_db()
    assert (job.status, job.processed, job.total, job.params["rows"]) == ("done", 10, 10, 10)
    rows = read_xlsx(job)
    assert [r[0] for r in rows] == ["First name"] + [f"P{i:05d}" for i in range(10)]
    assert sum(1 for r in rows if r[1] == "VIP") == 3
    # Parts are gone once the file is written.
    assert default_storage.listdir(f"exports/{world.org.pk}/{job.pk}")[1] == [job.params["filename"]]


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "vcf"])
def test_query_count_does_not_grow_with_rows(world, fmt, django_assert_max_num_queries, settings):
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="budget", label="Budget",
                                         field_type="number")
    columns = ALL[:-3] + ["custom:budget"] if fmt != "vcf" else []
    admin = fresh(world.admin)
    co = Company.objects.create(organization=world.org, name="Co", domain="co.test")
    vip = Tag.objects.create(organization=world.org, name="VIP")

    def export(n, budget=25):
        Contact.objects.all().delete()
        for c in make_many(world, n, team=world.team_a, owner=world.alice):
            ContactCompany.objects.create(organization=world.org, contact=c, company=co, is_primary=True)
            set_tags(c, [vip])
        with django_assert_max_num_queries(budget) as captured:
            job = exports.start_export(admin, format=fmt, columns=columns, filters={"team": str(world.team_a.pk)})
        assert job.params["rows"] == n
        return len(captured)

    export(1)  # warm-up: the actor's scope is looked up once and cached
    assert export(10) == export(100)
    settings.KITH_EXPORT_CHUNK_SIZE = 40
    few, many = export(10, 100), export(100, 100)  # three chunks instead of one
    assert many - few <= 2 * 12, (few, many)  # a constant number of queries per chunk


def test_more_than_the_inline_limit_is_queued(world, monkeypatch):
    sent = []
    monkeypatch.setattr("crm.jobs.enqueue", lambda job, **options: sent.append(job.pk))
    make_many(world, exports.INLINE_LIMIT + 1)
    job = exports.start_export(fresh(world.admin), format="csv", columns=["email"], filters={})
    assert job.status == Job.Status.QUEUED and job.total is None and sent == [job.pk]
    exports.run(job.pk)  # what the worker does
    job.refresh_from_db()
    assert job.params["rows"] == exports.INLINE_LIMIT + 1 == len(read_csv(job)) - 1


# -- links, downloads, expiry ----------------------------------------------------------------

def test_download_link_counts_logs_and_expires(world, rich, settings, caplog):
    job = exports.start_export(world.admin, format="csv", columns=["email"], ids=[rich.pk])
    token = job.params["token"]
    with caplog.at_level("INFO", logger="kith.audit"):
        with exports.open_download(world.admin, job, token) as f:
            assert f.read().startswith(BOM.encode())
    assert Job.objects.get(pk=job.pk).params["downloads"] == 1
    assert f"user={world.admin.pk} job={job.pk} rows=1" in caplog.text
    with pytest.raises(signing.BadSignature):
        exports.check_token(job, token[:-2] + "xx")
    with pytest.raises(signing.BadSignature):
        exports.check_token(job, signing.TimestampSigner(salt=exports.SALT).sign(str(job.pk + 1)))
    settings.KITH_EXPORT_TTL_SECONDS = 0
    with pytest.raises(exports.Expired):
        exports.check_token(job, token)


def test_purge_deletes_expired_files_and_keeps_the_record(world, rich):
    old = exports.start_export(world.admin, format="csv", columns=["email"], ids=[rich.pk])
    new = exports.start_export(world.admin, format="csv", columns=["email"], ids=[rich.pk])
    Job.objects.filter(pk=old.pk).update(finished_at=timezone.now() - exports.ttl() - timedelta(seconds=1))
    assert exports.purge_expired() == [old.pk]
    old.refresh_from_db()
    assert old.params["expired"] is True and not default_storage.exists(old.params["file"])
    assert default_storage.exists(new.params["file"])
    with pytest.raises(exports.Expired):
        exports.check_token(old, old.params["token"])
    assert exports.purge_expired() == []
