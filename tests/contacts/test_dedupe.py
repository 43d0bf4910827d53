"""Duplicate detection: each signal on realistic pairs and non-pairs, the reasons text, the
create-time check and the organization scan (run inline through the job runner)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from companies.models import Company
from contacts import dedupe, duplicates
from contacts.dedupe import contact_features as feat
from contacts.models import CompanyDuplicate, Contact, ContactDuplicate, DedupeBlock, DuplicateStatus
from contacts.services import create_contact, soft_delete_contact
from crm.models import Job
from crm.encryption import blind_index


# -- signals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("a,b", [
    ("John.Smith@gmail.com", "johnsmith@gmail.com"),
    ("john.smith+crm@googlemail.com", "JohnSmith@gmail.com"),
    ("ann+news@outlook.com", "ann@outlook.com"),
    ("ann+work@hotmail.com", "ann@hotmail.com"),
    ("ann+x@live.com", "ann@outlook.com"),
    ("ann-promo@yahoo.com", "ann@yahoo.com"),
])
def test_email_key_same_mailbox(a, b):
    assert dedupe.email_key(a) == dedupe.email_key(b) != ""


@pytest.mark.parametrize("a,b", [
    ("john.smith@acme.com", "johnsmith@acme.com"),  # a company server may not ignore dots
    ("ann+x@acme.com", "ann@acme.com"),  # nor plus tags (not in the table)
    ("ann.lee@outlook.com", "annlee@outlook.com"),  # Outlook keeps dots
    ("ann@gmail.com", "ann@gmail.co"),
])
def test_email_key_different_mailbox(a, b):
    assert dedupe.email_key(a) != dedupe.email_key(b)


def test_email_key_of_nonsense_is_empty():
    assert dedupe.email_key("") == dedupe.email_key("not-an-email") == dedupe.email_key("@gmail.com") == ""


def test_phone_matches_across_phone_and_mobile():
    a = feat(1, "Ann", "Lee", "", "+14155550101", "")
    b = feat(2, "Ann", "Lee", "", "", "+14155550101")
    match = dedupe.score(a, b)
    assert "same phone" in match.reasons and match.score >= dedupe.DEFAULT_THRESHOLD
    c = feat(3, "Ann", "Lee", "", "+14155550102", "")
    assert "same phone" not in dedupe.score(a, c).reasons


def test_transliterated_name_matches():
    assert dedupe.latin("Соколова") == "sokolova"
    a = feat(1, "Анна", "Соколова", "", "+14155550101", "")
    b = feat(2, "Anna", "Sokolova", "", "+1 415 555 0101", "")
    assert dedupe.score(a, b).reasons == ["same phone", "same name"]
    assert dedupe.contact_keys(a) == dedupe.contact_keys(b)


def test_nickname_and_company():
    a = feat(1, "Bob", "Smith", "bob@gmail.com", "", "", "Acme Inc")
    b = feat(2, "Robert", "Smith", "", "", "", "Acme Inc")
    match = dedupe.score(a, b)
    assert match.score >= dedupe.DEFAULT_THRESHOLD
    assert match.reasons == ["same company", "same name", "nickname Bob = Robert"]


def test_swapped_first_and_last():
    a = feat(1, "Smith", "John", "john.smith@gmail.com", "", "")
    b = feat(2, "John", "Smith", "johnsmith@gmail.com", "", "")
    match = dedupe.score(a, b)
    assert match.reasons == ["same email", "same name, first and last swapped"]
    assert match.score == 1.0


def test_typo_with_same_phone_and_reason_text():
    a = feat(1, "Jonathan", "Miller", "", "+14155550101", "")
    b = feat(2, "Jonathon", "Miler", "", "+14155550101", "")
    match = dedupe.score(a, b)
    assert match.score >= dedupe.DEFAULT_THRESHOLD
    assert dedupe.reasons_text(match.reasons) == "same phone, similar name 0.85"


@pytest.mark.parametrize("a,b", [
    # family on one landline
    (("Mary", "Miller", "", "+14155550101", ""), ("Tom", "Miller", "", "+14155550101", "")),
    (("Mark", "Russo", "", "+14155550101", ""), ("Gary", "Russo", "", "+14155550101", "")),
    # namesakes with nothing else in common
    (("John", "Smith", "john.smith1@gmail.com", "+14155550101", ""),
     ("John", "Smith", "john.smith2@gmail.com", "+14155550102", "")),
    # a shared address for two different people
    (("Ann", "Lee", "info@acme.com", "", ""), ("Peter", "Novak", "info@acme.com", "", "")),
])
def test_non_duplicates_stay_below_threshold(a, b):
    assert dedupe.score(feat(1, *a), feat(2, *b)).score < dedupe.DEFAULT_THRESHOLD


def test_company_signals():
    assert dedupe.company_name_key("ACME, Inc.") == dedupe.company_name_key("Acme GmbH") == "acme"
    assert dedupe.company_name_key("Müller & Söhne KG") == "muller and sohne"
    assert dedupe.normalize_domain("https://www.Acme.com/about") == "acme.com"
    same_domain = dedupe.score_companies(dedupe.company_features(1, "Acme", "acme.com"),
                                         dedupe.company_features(2, "Acme Corporation", "", "http://www.acme.com"))
    assert same_domain.score == 1.0 and same_domain.reasons == ["same domain", "same name without legal suffix"]
    assert dedupe.score_companies(dedupe.company_features(1, "Acme Ltd", ""),
                                  dedupe.company_features(2, "ACME S.A.", "")).score >= dedupe.DEFAULT_THRESHOLD
    assert dedupe.score_companies(dedupe.company_features(1, "Acme", "acme.com"),
                                  dedupe.company_features(2, "Globex", "globex.com")).score < 0.5


def test_blocks_larger_than_the_cap_are_not_paired():
    assert dedupe.candidate_pairs([[3, 1, 2]]) == {(1, 2), (1, 3), (2, 3)}
    assert dedupe.candidate_pairs([list(range(dedupe.MAX_BLOCK + 1))]) == set()


# -- stored keys and the create-time check ---------------------------------------------------

def _contact(world, first, last="", **data):
    return create_contact(organization=world.org, data={"first_name": first, "last_name": last, **data})


@pytest.mark.django_db
def test_keys_are_derived_on_save(world):
    contact = _contact(world, "Bob", "Smith", email="Bob.Smith+x@gmail.com", phone="+14155550101")
    contact.refresh_from_db()
    # The phone key is its blind index (contacts.phones): no number in plain in the keys.
    assert contact.dedupe_keys == ["e:bobsmith@gmail.com", "n:robert|smith", "p:" + blind_index("+14155550101")[:32]]


@pytest.mark.django_db
def test_check_finds_visible_likely_duplicates(world, django_assert_max_num_queries):
    ann = _contact(world, "Anna", "Sokolova", phone="+14155550101", owner=world.alice, team=world.team_a)
    _contact(world, "Anna", "Sokolova")  # a namesake without a shared contact point
    rita = _contact(world, "Анна", "Соколова", mobile="+14155550101", owner=world.rita, team=world.team_b)
    data = {"first_name": "Anna", "last_name": "Sokolova", "phone": "+14155550101"}
    with django_assert_max_num_queries(2):
        found = dedupe.find_contact_duplicates(world.admin, data)
    assert [c.pk for c in found] == [ann.pk, rita.pk]
    assert found[0].duplicate.reasons == ["same phone", "same name"]
    # alice does not see rita's contact: it is not shown (nor counted) to her
    assert [c.pk for c in dedupe.find_contact_duplicates(world.alice, data)] == [ann.pk]
    # the record itself is not its own duplicate
    assert [c.pk for c in dedupe.find_contact_duplicates(world.admin, data, exclude_id=ann.pk)] == [rita.pk]


# -- the scan --------------------------------------------------------------------------------

@pytest.mark.django_db
def test_scan_finds_pairs_refreshes_keys_and_keeps_dismissed(world):
    bob = _contact(world, "Bob", "Smith", email="bob.smith@gmail.com")
    robert = _contact(world, "Robert", "Smith", email="bobsmith+crm@gmail.com")
    ann = _contact(world, "Ann", "Lee", phone="+14155550101")
    ann2 = _contact(world, "Anne", "Lee", mobile="+14155550101")
    _contact(world, "Peter", "Novak", phone="+14155550199")
    other = create_contact(organization=world.other_org, data={"first_name": "Bob", "last_name": "Smith",
                                                                "email": "bob.smith+1@gmail.com"})
    # rows written without the model (COPY) have no keys until the scan
    Contact.objects.filter(pk=robert.pk).update(dedupe_keys=[])
    acme = Company.objects.create(organization=world.org, name="Acme Inc", domain="acme.com")
    acme2 = Company.objects.create(organization=world.org, name="ACME GmbH", website="https://www.acme.com")
    Company.objects.create(organization=world.org, name="Globex")

    job = duplicates.start_scan(world.admin, inline=True)
    assert job.status == Job.Status.DONE, job.error
    assert job.progress == 100
    assert job.checkpoint["keys_changed"] >= 1
    pairs = {(p.first_id, p.second_id): p for p in ContactDuplicate.objects.filter(organization=world.org)}
    assert set(pairs) == {(bob.pk, robert.pk), (ann.pk, ann2.pk)}
    assert pairs[(bob.pk, robert.pk)].reasons == ["same email", "same name", "nickname Bob = Robert"]
    assert not ContactDuplicate.objects.filter(first=other).exists() and other.pk not in {
        i for pair in pairs for i in pair}
    assert list(CompanyDuplicate.objects.values_list("first_id", "second_id")) == [(acme.pk, acme2.pk)]
    assert job.succeeded == 3
    assert not DedupeBlock.objects.exists()

    # "not a duplicate" stays so on the next scan; a merged-away side marks its pair merged
    duplicates.dismiss(world.admin, pairs[(ann.pk, ann2.pk)])
    soft_delete_contact(robert)
    job = duplicates.start_scan(world.admin, inline=True)
    assert job.status == Job.Status.DONE
    assert dict(ContactDuplicate.objects.values_list("first_id", "status")) == {
        bob.pk: DuplicateStatus.MERGED, ann.pk: DuplicateStatus.DISMISSED}


@pytest.mark.django_db
def test_open_pairs_no_longer_found_are_dropped(world):
    a = _contact(world, "Ann", "Lee", phone="+14155550101")
    b = _contact(world, "Ann", "Lee", mobile="+14155550101")
    duplicates.start_scan(world.admin, inline=True)
    assert ContactDuplicate.objects.count() == 1
    b.mobile = "+14155550188"
    b.save()
    duplicates.start_scan(world.admin, inline=True)
    assert ContactDuplicate.objects.count() == 0
    assert a.pk


@pytest.mark.django_db
def test_scan_needs_a_writer_and_one_runs_at_a_time(world):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        duplicates.start_scan(world.viewer_a)
    job = duplicates.start_scan(world.admin, inline=False)
    assert job.status == Job.Status.QUEUED
    assert duplicates.start_scan(world.manager_a, inline=False).pk == job.pk
    assert job.finished_at is None and timezone.now()


# -- the import's dry run --------------------------------------------------------------------

@pytest.mark.django_db
def test_import_dry_run_marks_likely_duplicates(world):
    import csv
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile

    from contacts import imports

    bob = _contact(world, "Robert", "Smith", email="robert.smith@gmail.com", team=world.team_a)
    _contact(world, "Ann", "Lee", mobile="+14155550101", owner=world.rita, team=world.team_b)  # not hers to see
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["First Name", "Last Name", "Email", "Mobile Phone"],
                                  ["Bob", "Smith", "robertsmith+crm@gmail.com", ""],
                                  ["Ann", "Lee", "", "(415) 555-0101"],
                                  ["Zed", "Quill", "", ""]])
    imp = imports.upload(world.manager_a, SimpleUploadedFile("people.csv", buffer.getvalue().encode()))
    imp = imports.configure(imp, world.manager_a, mapping=imp.mapping)
    shown = {row["line"]: row for row in imp.preview["shown"]}
    assert [shown[line]["outcome"] for line in (2, 3, 4)] == ["created"] * 3
    assert shown[2]["message"] == (f"Looks like an existing contact: Robert Smith (#{bob.pk}) — same email, "
                                   "same name, nickname Bob = Robert.")
    assert shown[3]["message"] == "" and shown[4]["message"] == ""


@pytest.mark.django_db
def test_a_scan_killed_mid_way_resumes_from_its_checkpoint(world, monkeypatch):
    from django.db import OperationalError

    from crm import jobs

    people = [("Ann", "Lee", "+14155550101"), ("Anne", "Lee", "+14155550101"), ("Bob", "Smith", "+14155550102"),
              ("Robert", "Smith", "+14155550102"), ("Cara", "Diaz", "+14155550103"), ("Kara", "Diaz", "+14155550103")]
    for first, last, phone in people:
        _contact(world, first, last, phone=phone)
    monkeypatch.setattr(duplicates, "KEYS_BATCH", 2)
    monkeypatch.setattr(duplicates, "BLOCKS_BATCH", 1)
    job = duplicates.start_scan(world.admin, inline=False)
    calls = []

    def dies_after_five_steps(job):
        calls.append(job.checkpoint.get("phase"))
        if len(calls) == 6:
            raise OperationalError("worker lost")
        return duplicates.step(job)

    with pytest.raises(OperationalError):
        jobs.run_job(job.pk, dies_after_five_steps)
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and job.checkpoint["phase"] in ("keys", "blocks", "pairs")
    assert 0 < job.progress < 100
    done = duplicates.run(job.pk)
    assert done.status == Job.Status.DONE
    assert ContactDuplicate.objects.filter(status=DuplicateStatus.OPEN).count() == 3
    assert done.succeeded == 3  # no pair written twice


@pytest.mark.django_db
def test_scratch_blocks_of_a_failed_scan_are_cleared_by_the_next(world):
    failed = Job.objects.create(organization=world.org, kind=duplicates.KIND, task=duplicates.TASK,
                                status=Job.Status.FAILED)
    DedupeBlock.objects.create(job=failed, members=[1, 2])
    assert duplicates.start_scan(world.admin, inline=True).status == Job.Status.DONE
    assert not DedupeBlock.objects.exists()


@pytest.mark.django_db
def test_imported_contacts_get_their_keys_at_once(world):
    import csv
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile

    from contacts import imports

    buffer = io.StringIO()
    csv.writer(buffer).writerows([["First Name", "Last Name", "Email", "Mobile Phone", "Company"],
                                  ["Bob", 'O"Hara\\x', "bob.ohara+crm@gmail.com", "(415) 555-0101", "Acme, Inc."]])
    imp = imports.upload(world.admin, SimpleUploadedFile("people.csv", buffer.getvalue().encode()))
    imp = imports.configure(imp, world.admin, mapping=imp.mapping)
    imports.start_import(imp, world.admin)
    contact = Contact.objects.get(email="bob.ohara+crm@gmail.com")
    assert contact.dedupe_keys == dedupe.contact_keys(
        feat(None, "Bob", 'O"Hara\\x', "bob.ohara+crm@gmail.com", "+14155550101", "", "Acme, Inc."))
    assert "e:bobohara@gmail.com" in contact.dedupe_keys
    # an update by a later import that renames the contact refreshes them
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["First Name", "Last Name", "Email"],
                                  ["Robert", "Hara", "bob.ohara+crm@gmail.com"]])
    imp = imports.upload(world.admin, SimpleUploadedFile("again.csv", buffer.getvalue().encode()))
    imp = imports.configure(imp, world.admin, mapping=imp.mapping, options={"mode": "update"})
    imports.start_import(imp, world.admin)
    contact.refresh_from_db()
    assert "n:hara|robert" in contact.dedupe_keys
    found = dedupe.find_contact_duplicates(world.admin, {"first_name": "Bobby", "last_name": "Hara",
                                                         "email": "bobohara@gmail.com"})
    assert [c.pk for c in found] == [contact.pk]
