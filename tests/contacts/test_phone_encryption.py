"""Phones encrypted at rest as an organization option (contacts.phones): raw SQL shows ciphertext
and a blind index, the ORM/API/page read the number; the exact number finds the contact (search
box, API filter, import matching, duplicates), part of it does not; turning the option on and off
converts the stored rows (and the history) in a job."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from django.db import connection
from rest_framework.test import APIClient

from contacts import dedupe, phones
from contacts.models import Contact
from contacts.search import autocomplete
from contacts.services import create_contact, set_phone_encryption, update_contact
from crm.models import Organization
from tests.conftest import fresh

NUMBER = "+14155550123"
MOBILE = "+14155550177"


def api(user):
    client = APIClient()
    client.force_authenticate(fresh(user))
    return client


def raw_row(pk):
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone, mobile, phone_sealed, mobile_sealed, phone_hash, mobile_hash, phone_digits, "
                       "array_to_string(dedupe_keys, ' ') FROM contacts_contact WHERE id = %s", [pk])
        return cursor.fetchone()


def raw_history(pk):
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone, mobile, phone_sealed, mobile_sealed FROM contacts_contactevent "
                       "WHERE pgh_obj_id = %s", [pk])
        return cursor.fetchall()


def digits_of(number):
    return number.lstrip("+")


@pytest.fixture
def encrypting(world):
    Organization.objects.filter(pk=world.org.pk).update(encrypt_phone_numbers=True)
    world.org.refresh_from_db()
    return world


def new_contact(world, **data):
    return create_contact(organization=world.org, actor=world.admin,
                          data={"first_name": "Pia", "last_name": "Phone", "phone": NUMBER, "mobile": MOBILE,
                                **data})


def assert_no_plain_number(pk, *numbers):
    row = raw_row(pk)
    text = " ".join(str(v) for v in row)
    history = " ".join(str(v) for event in raw_history(pk) for v in event)
    for number in numbers:
        for needle in (number, digits_of(number), digits_of(number)[-7:]):
            assert needle not in text, (needle, row)
            assert needle not in history, (needle, history)


def test_stored_encrypted_with_a_keyed_hash_and_read_in_plain(encrypting, settings):
    contact = new_contact(encrypting)
    phone, mobile, phone_sealed, mobile_sealed, phone_hash, mobile_hash, digits, keys = raw_row(contact.pk)
    assert (phone, mobile, digits) == ("", "", "")
    assert phone_sealed.startswith("gAAAAA") and mobile_sealed.startswith("gAAAAA")
    # The blind index is an HMAC-SHA256 of the E.164 number, computed independently here.
    key = hashlib.sha256(b"kith-blind-index:" + settings.SECRET_KEY.encode()).digest()
    assert phone_hash == hmac.new(key, NUMBER.encode(), hashlib.sha256).hexdigest()
    assert mobile_hash == hmac.new(key, MOBILE.encode(), hashlib.sha256).hexdigest()
    assert_no_plain_number(contact.pk, NUMBER, MOBILE)
    assert raw_history(contact.pk)  # the history has the row, encrypted
    loaded = Contact.objects.get(pk=contact.pk)
    assert (str(loaded.phone), str(loaded.mobile)) == (NUMBER, MOBILE)


def test_blind_index_key_comes_from_the_setting(encrypting, settings):
    settings.KITH_BLIND_INDEX_KEY = "a-dedicated-key"
    contact = new_contact(encrypting)
    assert raw_row(contact.pk)[4] == hmac.new(b"a-dedicated-key", NUMBER.encode(), hashlib.sha256).hexdigest()


def test_api_and_page_show_the_number(encrypting, client):
    contact = new_contact(encrypting)
    data = api(encrypting.admin).get(f"/api/contacts/{contact.pk}/").json()
    assert (data["phone"], data["mobile"]) == (NUMBER, MOBILE)
    response = api(encrypting.admin).patch(f"/api/contacts/{contact.pk}/", {"mobile": "+14155550199"}, format="json")
    assert response.status_code == 200 and response.json()["mobile"] == "+14155550199"
    assert_no_plain_number(contact.pk, NUMBER, "+14155550199")
    client.force_login(encrypting.admin)
    page = client.get(f"/contacts/{contact.pk}/").content.decode()
    assert "555" in page and ("0123" in page)


def test_an_invalid_phone_is_still_a_field_error(encrypting):
    contact = new_contact(encrypting)
    response = api(encrypting.admin).patch(f"/api/contacts/{contact.pk}/", {"phone": "12"}, format="json")
    assert response.status_code == 400 and "phone" in response.json()
    assert str(Contact.objects.get(pk=contact.pk).phone) == NUMBER


def test_exact_number_finds_the_contact_partial_does_not(encrypting):
    contact = new_contact(encrypting)
    user = fresh(encrypting.admin)
    assert [h.id for h in autocomplete(user, NUMBER) if h.kind == "contact"] == [contact.pk]
    assert [h.id for h in autocomplete(user, "(415) 555-0123") if h.kind == "contact"] == [contact.pk]
    assert [h.id for h in autocomplete(user, "555012") if h.kind == "contact"] == []
    listing = api(encrypting.admin).get("/api/contacts/", {"phone": MOBILE})
    assert listing.status_code == 200 and [c["id"] for c in listing.json()["results"]] == [contact.pk]
    assert api(encrypting.admin).get("/api/contacts/", {"phone": "+1415555017"}).json()["results"] == []
    assert api(encrypting.admin).get("/api/contacts/", {"q": "5550177"}).json()["results"] == []
    assert [c["id"] for c in api(encrypting.admin).get("/api/contacts/", {"has_phone": "true"}).json()["results"]] \
        == [contact.pk]


def test_plain_organizations_still_find_part_of_a_number(world):
    contact = new_contact(world)
    assert raw_row(contact.pk)[0] == NUMBER and raw_row(contact.pk)[2] is None
    assert [h.id for h in autocomplete(fresh(world.admin), "555012") if h.kind == "contact"] == [contact.pk]


def test_other_organizations_do_not_see_the_match(encrypting):
    new_contact(encrypting)
    assert api(encrypting.charlie).get("/api/contacts/", {"phone": NUMBER}).json()["results"] == []
    assert [h for h in autocomplete(fresh(encrypting.charlie), NUMBER) if h.kind == "contact"] == []


def test_duplicates_still_pair_by_phone(encrypting):
    first = new_contact(encrypting, email="pia@one.test")
    second = create_contact(organization=encrypting.org, actor=encrypting.admin,
                            data={"first_name": "Pia", "last_name": "Phone", "mobile": NUMBER,
                                  "email": "pia@two.test"})
    keys = raw_row(second.pk)[7]
    assert NUMBER not in keys and digits_of(NUMBER) not in keys
    found = dedupe.find_contact_duplicates(fresh(encrypting.admin), {"first_name": "Pia", "last_name": "Phone",
                                                                     "phone": NUMBER})
    assert {c.pk for c in found} == {first.pk, second.pk}
    assert any("same phone" in c.duplicate.reasons for c in found)
    from contacts import duplicates

    job = duplicates.start_scan(fresh(encrypting.admin), inline=True)
    assert job.status == "done"
    from contacts.models import ContactDuplicate

    pair = ContactDuplicate.objects.get(organization=encrypting.org)
    assert {pair.first_id, pair.second_id} == {first.pk, second.pk} and "same phone" in pair.reasons


def test_turning_the_option_on_and_off_converts_rows_and_history(world):
    contact = new_contact(world)
    deleted = new_contact(world, first_name="Gone", phone="+14155550144", mobile="")
    deleted.soft_delete()
    assert raw_history(contact.pk)[0][0] == NUMBER

    job = set_phone_encryption(world.org, encrypt=True, actor=world.admin, inline=True)
    job.refresh_from_db()
    assert (job.kind, job.status, job.total, job.processed, job.progress) == (
        "contacts.phone_encryption", "done", 2, 2, 100)
    assert_no_plain_number(contact.pk, NUMBER, MOBILE)
    assert_no_plain_number(deleted.pk, "+14155550144")
    loaded = Contact.objects.get(pk=contact.pk)
    assert (str(loaded.phone), str(loaded.mobile)) == (NUMBER, MOBILE)
    assert loaded.pk in Contact.objects.filter(phones.phone_q(NUMBER)).values_list("pk", flat=True)
    # Saving again changes nothing stored (the same ciphertext is kept).
    before = raw_row(contact.pk)
    update_contact(contact=loaded, data={"job_title": "Nurse"})
    assert raw_row(contact.pk)[2:6] == before[2:6]

    assert set_phone_encryption(world.org, encrypt=True) is None  # nothing to do
    job = set_phone_encryption(world.org, encrypt=False, actor=world.admin, inline=True)
    assert job.status == "done" and job.processed == 2
    phone, mobile, phone_sealed, mobile_sealed, phone_hash, mobile_hash, digits, _ = raw_row(contact.pk)
    assert (phone, mobile, phone_sealed, mobile_sealed, phone_hash, mobile_hash) == (NUMBER, MOBILE, None, None,
                                                                                     "", "")
    assert digits_of(NUMBER) in digits
    assert [h.id for h in autocomplete(fresh(world.admin), "555012") if h.kind == "contact"] == [contact.pk]


def test_import_matches_an_encrypted_phone_and_stores_new_ones_encrypted(encrypting):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from contacts import imports

    contact = new_contact(encrypting)
    text = ("First Name,Last Name,Phone,Job Title\n"
            f"Pia,Phone,{NUMBER},Head nurse\n"
            "Nico,New,+1 415 555 0166,Porter\n")
    user = fresh(encrypting.admin)
    imp = imports.upload(user, SimpleUploadedFile("people.csv", text.encode()))
    imp = imports.configure(imp, user, mapping=imp.mapping, options={"match_by": "phone"})
    assert imp.preview["counts"]["updated"] == 1 and imp.preview["counts"]["created"] == 1, imp.preview
    imports.start_import(imp, user)
    contact.refresh_from_db()
    assert contact.job_title == "Head nurse" and str(contact.phone) == NUMBER
    new = Contact.objects.get(organization=encrypting.org, first_name="Nico")
    assert str(new.phone) == "+14155550166" and new.job_title == "Porter"
    assert_no_plain_number(new.pk, "+14155550166")
    assert_no_plain_number(contact.pk, NUMBER, MOBILE)


def test_admin_search_finds_the_whole_number(encrypting, client):
    contact = new_contact(encrypting)
    client.force_login(encrypting.admin)
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(pk=encrypting.admin.pk).update(is_staff=True, is_superuser=True)
    page = client.get("/admin/contacts/contact/", {"q": NUMBER}).content.decode()
    assert f"/admin/contacts/contact/{contact.pk}/change/" in page
    page = client.get("/admin/contacts/contact/", {"q": "5550123"}).content.decode()
    assert f"/admin/contacts/contact/{contact.pk}/change/" not in page


def test_export_and_sms_use_the_decrypted_number(encrypting):
    from contacts import exports
    from messaging.services import sms_number

    contact = new_contact(encrypting)
    writer = exports.Writer("csv", ["first_name", "phone", "mobile"], {}, encrypting.org.pk)
    # as for plain numbers, a leading "+" is neutralized for spreadsheets
    assert writer.fetch(Contact.objects.filter(pk=contact.pk))[1] == [["Pia", "'" + NUMBER, "'" + MOBILE]]
    card = exports.Writer("vcf", [], {}, encrypting.org.pk)
    _, records = card.fetch(Contact.objects.filter(pk=contact.pk))
    assert f"TEL;TYPE=work:{NUMBER}" in card.part(records).decode()
    assert sms_number(Contact.objects.get(pk=contact.pk)) == MOBILE


def test_contact_list_shows_the_number(encrypting, client):
    new_contact(encrypting)
    client.force_login(encrypting.admin)
    page = client.get("/contacts/").content.decode()
    assert "(415) 555-0123" in page
