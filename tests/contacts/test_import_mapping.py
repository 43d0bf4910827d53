"""Mapping guesses for the header rows that real exports write (no database needed)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from contacts.columns import COLUMNS
from contacts.import_files import VCARD_COLUMNS
from contacts.import_mapping import guess_mapping, normalize_header, targets


@dataclass
class Definition:
    key: str
    label: str


def mapped(headers, custom_definitions=()):
    return dict(zip(headers, guess_mapping(headers, custom_definitions)))


def assert_each_target_once(mapping):
    used = [t for t in mapping.values() if t is not None and t != "tags"]
    assert len(used) == len(set(used)), mapping


def test_normalize_header():
    assert normalize_header("E-mail 1 - Value") == "email1value"
    assert normalize_header("  Prénom ") == "prenom"
    assert normalize_header("State/Région") == "stateregion"
    assert normalize_header("first_name") == "firstname"


def test_own_export_labels_and_keys_map_back():
    labels = list(COLUMNS.values())
    result = mapped(labels)
    for key, label in COLUMNS.items():
        expected = None if key == "full_name" else key  # first name present: the full name is not the source
        assert result[label] == expected, label
    keys = [k for k in COLUMNS if k != "first_name"]
    assert guess_mapping(keys) == keys


def test_google_contacts_current():
    headers = ["First Name", "Middle Name", "Last Name", "Phonetic First Name", "Name Prefix", "Name Suffix",
               "Nickname", "File As", "Organization Name", "Organization Title", "Organization Department",
               "Birthday", "Notes", "Photo", "Labels", "E-mail 1 - Label", "E-mail 1 - Value", "E-mail 2 - Label",
               "E-mail 2 - Value", "Phone 1 - Label", "Phone 1 - Value", "Phone 2 - Label", "Phone 2 - Value",
               "Address 1 - Label", "Address 1 - Formatted", "Address 1 - Street", "Address 1 - City",
               "Address 1 - PO Box", "Address 1 - Region", "Address 1 - Postal Code", "Address 1 - Country",
               "Website 1 - Label", "Website 1 - Value"]
    m = mapped(headers)
    assert m["First Name"] == "first_name" and m["Middle Name"] == "middle_name" and m["Last Name"] == "last_name"
    assert m["E-mail 1 - Value"] == "email" and m["E-mail 2 - Value"] is None
    assert m["Phone 1 - Value"] == "phone" and m["Phone 2 - Value"] == "mobile"
    assert m["Organization Name"] == "company" and m["Organization Title"] == "job_title"
    assert m["Organization Department"] == "department"
    assert m["Labels"] == "tags" and m["Birthday"] == "birth_date" and m["Notes"] == "description"
    assert (m["Address 1 - Street"], m["Address 1 - City"], m["Address 1 - Region"], m["Address 1 - Postal Code"],
            m["Address 1 - Country"]) == ("street", "city", "region", "postal_code", "country")
    assert m["Website 1 - Value"] == "website"
    for header in headers:
        if header.endswith(" - Label") or header in ("Name Prefix", "Nickname", "Photo", "File As"):
            assert m[header] is None, header
    assert_each_target_once(m)


def test_google_contacts_legacy():
    headers = ["Name", "Given Name", "Additional Name", "Family Name", "Yomi Name", "Nickname", "Birthday",
               "Notes", "Group Membership", "E-mail 1 - Type", "E-mail 1 - Value", "Phone 1 - Type", "Phone 1 - Value",
               "Phone 2 - Type", "Phone 2 - Value", "Organization 1 - Type", "Organization 1 - Name",
               "Organization 1 - Title", "Organization 1 - Department"]
    m = mapped(headers)
    assert m["Given Name"] == "first_name" and m["Additional Name"] == "middle_name"
    assert m["Family Name"] == "last_name" and m["Name"] is None
    assert m["Group Membership"] == "tags" and m["E-mail 1 - Value"] == "email"
    assert m["Phone 1 - Value"] == "phone" and m["Phone 2 - Value"] == "mobile"
    assert m["Organization 1 - Name"] == "company" and m["Organization 1 - Title"] == "job_title"
    assert m["E-mail 1 - Type"] is None and m["Organization 1 - Type"] is None
    assert_each_target_once(m)


def test_outlook_title_is_a_prefix():
    headers = ["Title", "First Name", "Middle Name", "Last Name", "Suffix", "Company", "Department", "Job Title",
               "Business Street", "Business City", "Business State", "Business Postal Code",
               "Business Country/Region", "Home Street", "Business Phone", "Home Phone", "Mobile Phone",
               "E-mail Address", "E-mail Display Name", "E-mail 2 Address", "Birthday", "Notes", "Web Page",
               "Categories"]
    m = mapped(headers)
    assert m["Title"] is None and m["Job Title"] == "job_title" and m["Suffix"] is None
    assert m["Company"] == "company" and m["Department"] == "department"
    assert m["Business Phone"] == "phone" and m["Home Phone"] is None and m["Mobile Phone"] == "mobile"
    assert m["E-mail Address"] == "email" and m["E-mail 2 Address"] is None and m["E-mail Display Name"] is None
    assert m["Business Street"] == "street" and m["Home Street"] is None
    assert m["Business State"] == "region" and m["Business Country/Region"] == "country"
    assert m["Web Page"] == "website" and m["Categories"] == "tags" and m["Notes"] == "description"
    assert_each_target_once(m)


def test_hubspot():
    headers = ["Record ID", "First Name", "Last Name", "Email", "Phone Number", "Mobile Phone Number", "Company Name",
               "Job Title", "Lifecycle Stage", "Contact owner", "Street Address", "City", "State/Region",
               "Postal Code", "Country/Region", "Website URL", "Industry", "Original Source", "Create Date"]
    m = mapped(headers)
    assert m == {
        "Record ID": "external_id", "First Name": "first_name", "Last Name": "last_name", "Email": "email",
        "Phone Number": "phone", "Mobile Phone Number": "mobile", "Company Name": "company",
        "Job Title": "job_title", "Lifecycle Stage": "lifecycle_stage", "Contact owner": "owner",
        "Street Address": "street", "City": "city", "State/Region": "region", "Postal Code": "postal_code",
        "Country/Region": "country", "Website URL": "website", "Industry": "industry",
        "Original Source": "source", "Create Date": None,
    }


@pytest.mark.parametrize("prefix", ["", "Person - "])
def test_pipedrive(prefix):
    headers = [f"{prefix}{h}" for h in ("ID", "Name", "First name", "Last name", "Email - Work", "Email - Home",
                                        "Phone - Work", "Phone - Mobile", "Organization", "Owner", "Labels",
                                        "Job title")]
    m = dict(zip([h[len(prefix):] for h in headers], guess_mapping(headers)))
    assert m == {
        "ID": "external_id", "Name": None, "First name": "first_name", "Last name": "last_name",
        "Email - Work": "email", "Email - Home": None, "Phone - Work": "phone", "Phone - Mobile": "mobile",
        "Organization": "company", "Owner": "owner", "Labels": "tags", "Job title": "job_title",
    }


def test_pipedrive_name_only_is_the_name_source():
    assert guess_mapping(["Person - ID", "Person - Name", "Person - Email - Work"]) == \
        ["external_id", "full_name", "email"]


def test_salesforce_title_is_the_job_title():
    headers = ["Contact ID", "Salutation", "First Name", "Last Name", "Title", "Account Name", "Email", "Phone",
               "Mobile", "Department", "Mailing Street", "Mailing City", "Mailing State/Province",
               "Mailing Zip/Postal Code", "Mailing Country", "Lead Source", "Birthdate", "Contact Owner",
               "Description"]
    m = mapped(headers)
    assert m["Contact ID"] == "external_id" and m["Salutation"] is None and m["Title"] == "job_title"
    assert m["Account Name"] == "company" and m["Email"] == "email" and m["Phone"] == "phone"
    assert m["Mobile"] == "mobile" and m["Contact Owner"] == "owner" and m["Lead Source"] == "source"
    assert (m["Mailing Street"], m["Mailing City"], m["Mailing State/Province"], m["Mailing Zip/Postal Code"],
            m["Mailing Country"]) == ("street", "city", "region", "postal_code", "country")
    assert m["Birthdate"] == "birth_date" and m["Description"] == "description"
    assert_each_target_once(m)


def test_zoho():
    headers = ["Record Id", "Contact Owner", "First Name", "Last Name", "Email", "Secondary Email", "Phone",
               "Mobile", "Title", "Department", "Account Name", "Lead Source", "Date of Birth", "Mailing Street",
               "Mailing City", "Mailing State", "Mailing Zip", "Mailing Country", "Description", "Tag"]
    m = mapped(headers)
    assert m["Record Id"] == "external_id" and m["Contact Owner"] == "owner" and m["Email"] == "email"
    assert m["Secondary Email"] is None and m["Title"] == "job_title" and m["Account Name"] == "company"
    assert m["Date of Birth"] == "birth_date" and m["Mailing State"] == "region" and m["Mailing Zip"] == "postal_code"
    assert m["Tag"] == "tags" and m["Phone"] == "phone" and m["Mobile"] == "mobile"
    assert_each_target_once(m)


def test_vcard_columns():
    m = mapped(list(VCARD_COLUMNS))
    assert m == {
        "First Name": "first_name", "Middle Name": "middle_name", "Last Name": "last_name", "Full Name": None,
        "E-mail": "email", "Phone": "phone", "Mobile Phone": "mobile", "Organization": "company",
        "Department": "department", "Title": "job_title", "Birthday": "birth_date", "Website": "website",
        "Street": "street", "City": "city", "Region": "region", "Postal Code": "postal_code", "Country": "country",
        "Notes": "description", "Categories": "tags",
    }
    assert guess_mapping(["FN", "E-mail", "Organization 1 - Name"]) == ["full_name", "email", "company"]


def test_custom_fields_by_key_and_label():
    definitions = [Definition("insurance_provider", "Insurance provider"), Definition("shoe_size", "Shoe size (EU)")]
    assert guess_mapping(["Email", "insurance_provider", "Shoe Size (EU)", "Favourite colour"], definitions) == \
        ["email", "custom:insurance_provider", "custom:shoe_size", None]
    # A definition as a plain dict works too, and a standard column wins over a custom field of the same name.
    assert guess_mapping(["Industry", "Insurance Provider"], [{"key": "industry", "label": "Industry"},
                                                              {"key": "insurance_provider", "label": "x"}]) == \
        ["industry", "custom:insurance_provider"]


def test_each_target_used_once_except_tags():
    assert guess_mapping(["Email", "E-mail", "Tags", "Labels", "Categories", "email"]) == \
        ["email", None, "tags", "tags", "tags", None]
    definitions = [Definition("region_code", "Region code")]
    assert guess_mapping(["Region code", "region_code"], definitions) == ["custom:region_code", None]


def test_targets():
    choices = targets([Definition("shoe_size", "Shoe size")])
    assert choices[0] == ("", "Don't import")
    assert choices[1:-1] == list(COLUMNS.items())
    assert choices[-1] == ("custom:shoe_size", "Custom: Shoe size")
