"""Real-world contact exports imported end to end with the guessed mapping: Google Contacts,
Outlook, HubSpot, Pipedrive, Salesforce, Zoho, a vCard-derived CSV, vCard files and our own
export format. The fixtures follow each vendor's published column names."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from contacts import imports
from contacts.columns import COLUMNS
from contacts.models import Contact, ContactImport

pytestmark = pytest.mark.django_db


def csv_bytes(rows, encoding="utf-8", delimiter=",") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode(encoding)


def import_file(user, name, content: bytes, options=None):
    imp = imports.upload(user, SimpleUploadedFile(name, content))
    imp = imports.configure(imp, user, mapping=imp.mapping, options=options)
    assert imp.stage == ContactImport.Stage.PREVIEWED, (imp.error, imp.preview)
    imp = imports.start_import(imp, user)
    assert imp.stage == ContactImport.Stage.IMPORTED, imp.error
    return imp


def contact(email):
    return Contact.objects.get(email=email)


def test_google_contacts(world):
    header = ["First Name", "Middle Name", "Last Name", "Name Prefix", "Nickname", "Birthday", "Notes", "Labels",
              "E-mail 1 - Label", "E-mail 1 - Value", "Phone 1 - Label", "Phone 1 - Value", "Phone 2 - Label",
              "Phone 2 - Value", "Address 1 - Street", "Address 1 - City", "Address 1 - Region",
              "Address 1 - Postal Code", "Address 1 - Country", "Organization Name", "Organization Title",
              "Organization Department", "Website 1 - Value"]
    row = ["Jane", "Q", "Doe", "Dr", "JD", "1985-04-12", "Met at the fair", "* myContacts ::: Fair 2026", "* Work",
           "jane.doe@example.com", "Work", "+1 415 555 0100", "Mobile", "+1 415 555 0199", "1 Main St", "Springfield",
           "IL", "62701", "United States", "Initech", "CTO", "Engineering", "initech.example"]
    imp = import_file(world.manager_a, "google.csv", csv_bytes([header, row]))
    c = contact("jane.doe@example.com")
    assert (c.first_name, c.middle_name, c.last_name, c.job_title, c.department) == ("Jane", "Q", "Doe", "CTO",
                                                                                      "Engineering")
    assert (str(c.phone), str(c.mobile)) == ("+14155550100", "+14155550199")
    assert (c.street, c.city, c.region, c.postal_code, c.country) == ("1 Main St", "Springfield", "IL", "62701", "US")
    assert c.birth_date.isoformat() == "1985-04-12"
    assert c.company_name == "Initech"
    assert c.website == "https://initech.example"
    assert "Fair 2026" in set(c.tags.values_list("name", flat=True))
    assert imp.counts == {"created": 1}


def test_outlook(world):
    header = ["Title", "First Name", "Middle Name", "Last Name", "Suffix", "Company", "Department", "Job Title",
              "Business Street", "Business City", "Business State", "Business Postal Code",
              "Business Country/Region", "Business Phone", "Mobile Phone", "Home Phone", "E-mail Address",
              "E-mail 2 Address", "Birthday", "Notes", "Web Page", "Categories"]
    row = ["Mr.", "John", "", "Smith", "", "Contoso", "Sales", "Account Manager", "5 Market St", "Seattle", "WA",
           "98101", "United States", "(206) 555-0100", "(206) 555-0111", "", "john.smith@contoso.example", "",
           "3/14/1980", "Prefers email", "www.contoso.example", "Key accounts;Renewal"]
    import_file(world.manager_a, "outlook.csv", csv_bytes([header, row]))
    c = contact("john.smith@contoso.example")
    assert (c.first_name, c.last_name, c.job_title, c.department) == ("John", "Smith", "Account Manager", "Sales")
    assert (str(c.phone), str(c.mobile)) == ("+12065550100", "+12065550111")
    assert c.birth_date.isoformat() == "1980-03-14"
    assert c.description == "Prefers email"
    assert set(c.tags.values_list("name", flat=True)) == {"Key accounts", "Renewal"}
    assert c.company_name == "Contoso"


def test_hubspot(world):
    header = ["Record ID", "First Name", "Last Name", "Email", "Phone Number", "Mobile Phone Number", "Company Name",
              "Job Title", "Lifecycle Stage", "Contact owner", "Street Address", "City", "State/Region",
              "Postal Code", "Country/Region", "Website URL", "Industry", "Original Source", "Create Date"]
    row = ["51", "Lena", "Berg", "lena@hub.example", "+49 30 901820", "+49 151 23456789", "Berg GmbH", "CEO",
           "Marketing Qualified Lead", "Mona Manager", "Unter den Linden 1", "Berlin", "Berlin", "10117", "Germany",
           "https://berg.example", "Software", "Offline Sources", "2026-01-05 10:00"]
    import_file(world.manager_a, "hubspot.csv", csv_bytes([header, row]))
    c = contact("lena@hub.example")
    assert c.external_id == "51"
    assert c.lifecycle_stage == "mql"
    assert c.owner == world.manager_a  # "Contact owner" holds the member's name
    assert (c.source, c.source_detail) == ("other", "Offline Sources")
    assert (str(c.phone), str(c.mobile), c.country) == ("+4930901820", "+4915123456789", "DE")
    assert c.industry == "Software"


def test_pipedrive_persons(world):
    header = ["Person - ID", "Person - Name", "Person - Email - Work", "Person - Phone - Work",
              "Person - Phone - Mobile", "Person - Organization", "Person - Owner", "Person - Labels",
              "Person - Job title"]
    row = ["7", "Pat Jones", "pat@pipe.example", "+44 20 7946 0958", "+44 7911 123456", "Pipe Ltd",
           "manager.a@acme.test", "Hot", "Buyer"]
    import_file(world.manager_a, "pipedrive.csv", csv_bytes([header, row]))
    c = contact("pat@pipe.example")
    assert (c.first_name, c.last_name, c.external_id, c.job_title) == ("Pat", "Jones", "7", "Buyer")
    assert (str(c.phone), str(c.mobile)) == ("+442079460958", "+447911123456")
    assert c.owner == world.manager_a
    assert c.company_name == "Pipe Ltd"
    assert list(c.tags.values_list("name", flat=True)) == ["Hot"]


def test_salesforce(world):
    header = ["Contact ID", "Salutation", "First Name", "Last Name", "Title", "Account Name", "Email", "Phone",
              "Mobile", "Department", "Mailing Street", "Mailing City", "Mailing State/Province",
              "Mailing Zip/Postal Code", "Mailing Country", "Lead Source", "Birthdate", "Contact Owner",
              "Description"]
    row = ["0035g00000XyZ1AAA", "Ms.", "Ada", "King", "VP Sales", "Edge Corp", "ada@edge.example",
           "(212) 555-0100", "", "Sales", "2 Wall St", "New York", "NY", "10005", "USA", "Web", "12/10/1975",
           "manager.a@acme.test", "Key account"]
    import_file(world.manager_a, "salesforce.csv", csv_bytes([header, row]))
    c = contact("ada@edge.example")
    assert (c.external_id, c.job_title, c.company_name, c.country) == ("0035g00000XyZ1AAA", "VP Sales", "Edge Corp",
                                                                       "US")
    assert c.birth_date.isoformat() == "1975-12-10"
    assert c.source in ("website", "other")


def test_zoho_semicolon_cp1252(world):
    header = ["Record Id", "Contact Owner", "First Name", "Last Name", "Email", "Secondary Email", "Phone", "Mobile",
              "Title", "Department", "Account Name", "Lead Source", "Date of Birth", "Mailing Street",
              "Mailing City", "Mailing State", "Mailing Zip", "Mailing Country", "Description", "Tag"]
    row = ["zcrm_1", "manager.a@acme.test", "Chloé", "Dürr", "chloe@zoho.example", "", "+33 1 42 68 53 00", "",
           "Directrice", "Achats", "Société Générale", "Trade Show", "01/02/1990", "1 rue de Rivoli", "Paris", "",
           "75001", "France", "Prix: 100 €", "Salon"]
    content = csv_bytes([header, row], encoding="cp1252", delimiter=";")
    import_file(world.manager_a, "zoho.csv", content, options={"date_order": "dmy"})
    c = contact("chloe@zoho.example")
    assert (c.first_name, c.last_name, c.job_title) == ("Chloé", "Dürr", "Directrice")
    assert c.description == "Prix: 100 €"
    assert c.birth_date.isoformat() == "1990-02-01"
    assert c.company_name == "Société Générale"
    assert c.external_id == "zcrm_1"


def test_vcard_derived_csv(world):
    header = ["Full Name", "E-mail", "Mobile Phone", "Organization 1 - Name", "Title"]
    row = ["Sam Lee", "sam@vc.example", "+1 650 555 0100", "Acme Labs", "Engineer"]
    import_file(world.manager_a, "vcards.csv", csv_bytes([header, row]))
    c = contact("sam@vc.example")
    assert (c.first_name, c.last_name, c.job_title, c.company_name) == ("Sam", "Lee", "Engineer", "Acme Labs")


VCARD_3 = """BEGIN:VCARD\r
VERSION:3.0\r
N:Appleseed;Johnny;;;\r
FN:Johnny Appleseed\r
ORG:Apple Inc.;Engineering\r
TITLE:Developer\r
item1.EMAIL;type=INTERNET;type=pref:johnny@apple.example\r
TEL;type=CELL;type=VOICE;type=pref:+1 408 555 0100\r
TEL;type=WORK;type=VOICE:+1 408 555 0111\r
ADR;type=WORK:;;1 Infinite Loop;Cupertino;CA;95014;United States\r
NOTE:Likes apples and a very long note that is folded over two lines by the exp\r
 orting phone\r
CATEGORIES:Friends,Orchard\r
END:VCARD\r
"""

VCARD_4 = """BEGIN:VCARD
VERSION:4.0
FN:Grace Hopper
N:Hopper;Grace;;;
EMAIL;TYPE=work:grace@navy.example
TEL;VALUE=uri;TYPE="cell,voice":tel:+1-202-555-0100
BDAY:19061209
END:VCARD
"""


def test_vcard_files(world):
    import_file(world.manager_a, "contacts.vcf", (VCARD_3 + VCARD_4).encode())
    johnny = contact("johnny@apple.example")
    assert (johnny.first_name, johnny.last_name, johnny.job_title, johnny.department) == (
        "Johnny", "Appleseed", "Developer", "Engineering")
    assert (str(johnny.mobile), str(johnny.phone)) == ("+14085550100", "+14085550111")
    assert (johnny.city, johnny.country) == ("Cupertino", "US")
    assert johnny.description.endswith("exporting phone")
    assert johnny.company_name == "Apple Inc."
    assert set(johnny.tags.values_list("name", flat=True)) == {"Friends", "Orchard"}
    grace = contact("grace@navy.example")
    assert str(grace.mobile) == "+12025550100"
    assert grace.birth_date.isoformat() == "1906-12-09"


def test_our_own_export_format_round_trips(world):
    header = [COLUMNS[k] for k in ("external_id", "first_name", "last_name", "full_name", "email", "phone",
                                   "owner", "team", "tags", "company", "lifecycle_stage", "source")]
    row = ["X-1", "Kim", "Park", "Kim Park", "kim@own.example", "'+14155550123", "manager.a@acme.test", "Team A",
           "VIP; Renewal 2027", "Initech", "Customer", "Referral"]
    imp = imports.upload(world.manager_a, SimpleUploadedFile("export.csv", csv_bytes([header, row])))
    assert imp.mapping == ["external_id", "first_name", "last_name", None, "email", "phone", "owner", "team", "tags",
                           "company", "lifecycle_stage", "source"]
    import_file(world.manager_a, "export.csv", csv_bytes([header, row]))
    c = contact("kim@own.example")
    assert str(c.phone) == "+14155550123"  # the export's formula guard (a leading apostrophe) is undone
    assert (c.owner, c.team, c.lifecycle_stage, c.source) == (world.manager_a, world.team_a, "customer", "referral")
    assert set(c.tags.values_list("name", flat=True)) == {"VIP", "Renewal 2027"}


def test_xlsx(world, tmp_path):
    import xlsxwriter
    import datetime

    path = tmp_path / "people.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["First Name", "Last Name", "Email", "Birthday", "Employees"])
    sheet.write_row(1, 0, ["Xia", "Lin", "xia@xl.example"])
    sheet.write_datetime(1, 3, datetime.datetime(1991, 7, 4), book.add_format({"num_format": "yyyy-mm-dd"}))
    sheet.write_number(1, 4, 42)
    book.close()
    import_file(world.manager_a, "people.xlsx", path.read_bytes())
    c = contact("xia@xl.example")
    assert (c.first_name, c.birth_date.isoformat()) == ("Xia", "1991-07-04")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_imports_back(world, fmt):
    from django.core.files.storage import default_storage

    from contacts import exports
    from contacts.services import create_contact, set_tags
    from crm.models import Tag

    original = create_contact(organization=world.org, data={
        "first_name": "Rae", "last_name": "Round", "email": "rae@trip.example", "phone": "+14155550123",
        "job_title": "=Chief", "city": "Austin", "country": "US", "team": world.team_a, "owner": world.bob,
        "lifecycle_stage": "customer", "description": "Line one\nline two"})
    set_tags(original, [Tag.objects.create(organization=world.org, name="VIP")])
    job = exports.start_export(world.admin, format=fmt, columns=exports.exportable_columns(), ids=[original.pk])
    with default_storage.open(job.params["file"], "rb") as handle:
        content = handle.read()
    before = Contact.objects.filter(pk=original.pk).values(
        "first_name", "last_name", "email", "phone", "job_title", "city", "country", "team", "owner",
        "lifecycle_stage", "description").get()
    Contact.all_objects.filter(pk=original.pk).delete()
    imp = import_file(world.admin, f"export.{fmt}", content)
    assert imp.counts == {"created": 1}, imp.preview
    back = Contact.objects.get(email="rae@trip.example")
    assert Contact.objects.filter(pk=back.pk).values(*before).get() == before
    assert list(back.tags.values_list("name", flat=True)) == ["VIP"]
