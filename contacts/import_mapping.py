"""Guessing which contact column each header of an uploaded file holds.

The guesses recognise our own export (the labels and keys of contacts.columns.COLUMNS), the exports of
Google Contacts (current and legacy), Outlook, HubSpot, Pipedrive, Salesforce, Zoho CRM, and the columns
that contacts.import_files makes of a vCard. Headers are compared after `normalize_header`, so case,
accents, spaces and punctuation do not matter. The person importing can change every guess.

Approximations, on purpose:
- Several email columns: the first one in column order is the email, the others are not imported.
- Google's "Phone 1 - Value" is the phone and "Phone 2 - Value" the mobile; the real kind is in the
  "Phone N - Label" column, which is not read ("... - Label" / "... - Type" columns are never imported).
- "Title" is a name prefix (Mr., Dr.) in Outlook, which also has "Job Title", and the job title in
  Salesforce, Zoho and vCards, which do not: so "Title" is the job title unless another job-title column
  exists.
- "Name" / "Full Name" is the name source only when the file has no first-name column; otherwise it is
  not imported (the separate name columns are more precise than splitting a full name).
"""

from __future__ import annotations

import unicodedata

from contacts.columns import COLUMNS, CUSTOM_PREFIX

TAGS = "tags"

# target -> headers as the vendors write them (normalized when the lookup is built).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "external_id": ("ID", "Record ID", "Contact ID", "Person ID", "External ID", "Contact Record ID"),
    "first_name": ("First Name", "Given Name", "First", "Firstname", "Forename"),
    "middle_name": ("Middle Name", "Additional Name", "Middle"),
    "last_name": ("Last Name", "Family Name", "Surname", "Last", "Lastname"),
    "full_name": ("Name", "Full Name", "FN", "Display Name", "Contact Name"),
    "email": ("Email", "E-mail", "Email Address", "E-mail Address", "E-mail 1 - Value", "Email 1",
              "Email - Work", "Email - Home", "Email - Other", "Work Email", "Personal Email",
              "E-mail 2 Address", "E-mail 2 - Value", "Secondary Email"),
    "phone": ("Phone", "Phone Number", "Phone 1 - Value", "Business Phone", "Work Phone", "Phone - Work",
              "Telephone", "Tel", "Home Phone", "Phone - Home", "Primary Phone", "Other Phone"),
    "mobile": ("Mobile", "Mobile Phone", "Mobile Phone Number", "Phone 2 - Value", "Phone - Mobile", "Cell",
               "Cell Phone", "Mobile Number"),
    "job_title": ("Job Title", "Title", "Organization Title", "Organization 1 - Title", "Position"),
    "department": ("Department", "Organization Department", "Organization 1 - Department"),
    "company": ("Company", "Company Name", "Organization", "Organisation", "Organization Name",
                "Organization 1 - Name", "Account Name", "Account"),
    "company_domain": ("Company Domain", "Company Domain Name", "Domain"),
    "birth_date": ("Birthday", "Birthdate", "Birth Date", "Date of Birth", "DOB"),
    "website": ("Website", "Web Site", "Web Page", "Website URL", "Website 1 - Value", "URL", "Homepage"),
    "linkedin": ("LinkedIn", "LinkedIn URL", "LinkedIn Profile", "LinkedIn Bio"),
    "twitter": ("Twitter", "Twitter Username", "Twitter Handle", "Twitter / X"),
    "skype": ("Skype", "Skype ID", "Skype Name"),
    "telegram": ("Telegram", "Telegram Username"),
    "street": ("Street", "Street Address", "Address", "Address 1 - Street", "Business Street", "Mailing Street",
               "Home Street", "Address Line 1"),
    "city": ("City", "Town", "Address 1 - City", "Business City", "Mailing City", "Home City"),
    "region": ("Region", "State", "Province", "State/Region", "State/Province", "County", "Address 1 - Region",
               "Business State", "Mailing State", "Mailing State/Province", "Home State"),
    "postal_code": ("Postal Code", "Postcode", "Zip", "ZIP Code", "Zip/Postal Code", "Address 1 - Postal Code",
                    "Business Postal Code", "Mailing Zip", "Mailing Zip/Postal Code", "Mailing Postal Code",
                    "Home Postal Code"),
    "country": ("Country", "Country/Region", "Address 1 - Country", "Business Country/Region", "Business Country",
                "Mailing Country", "Home Country/Region", "Home Country"),
    "timezone": ("Time Zone", "Timezone"),
    "source": ("Source", "Lead Source", "Original Source", "Contact Source"),
    "source_detail": ("Source Detail", "Original Source Drill-Down 1", "Lead Source Detail"),
    "lifecycle_stage": ("Lifecycle Stage", "Lifecycle", "Stage"),
    "industry": ("Industry",),
    "description": ("Description", "Notes", "Note", "Comments", "About"),
    "owner": ("Owner", "Contact Owner", "Owner Email", "Record Owner"),
    "team": ("Team",),
    TAGS: ("Tags", "Tag", "Labels", "Label", "Group Membership", "Groups", "Categories"),
}

# Vendors that prefix every column with the record type: Pipedrive's "Person - Name", "Person - Owner".
PREFIXES = ("person", "contact")

NAME_SOURCE_FIRST = "first_name"


def normalize_header(text: str) -> str:
    """Casefold, strip accents, drop punctuation and spaces: "E-mail 1 - Value" -> "email1value"."""
    decomposed = unicodedata.normalize("NFKD", str(text).casefold())
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))


def _build_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for target, headers in SYNONYMS.items():
        for header in headers:
            lookup.setdefault(normalize_header(header), target)
    # Our own export (labels) and the plain keys ("first_name") always win.
    for key, label in COLUMNS.items():
        lookup[normalize_header(label)] = key
        lookup[normalize_header(key)] = key
    return lookup


LOOKUP = _build_lookup()
TITLE = normalize_header("Title")


def _definition_attr(definition, attr):
    return definition[attr] if isinstance(definition, dict) else getattr(definition, attr)


def _standard_target(normalized: str) -> str | None:
    target = LOOKUP.get(normalized)
    if target is None:
        for prefix in PREFIXES:
            if normalized.startswith(prefix) and normalized[len(prefix):] in LOOKUP:
                return LOOKUP[normalized[len(prefix):]]
    return target


def guess_mapping(headers: list[str], custom_definitions=()) -> list[str | None]:
    """One target per header: a key of contacts.columns.COLUMNS, "custom:<key>" for a custom field (matched by
    the definition's key or label, normalized), or None (not imported). A target is used at most once, except
    "tags" (several tag columns may map to tags); the first match wins in column order."""
    custom: dict[str, str] = {}
    for definition in custom_definitions:
        key = _definition_attr(definition, "key")
        for text in (key, f"{CUSTOM_PREFIX}{key}", _definition_attr(definition, "label")):
            custom.setdefault(normalize_header(text), f"{CUSTOM_PREFIX}{key}")

    normalized = [normalize_header(h) for h in headers]
    candidates = [_standard_target(n) or custom.get(n) for n in normalized]
    # "Title" is a name prefix when the file has a job title elsewhere (Outlook), else the job title.
    has_job_title = any(t == "job_title" and n != TITLE for n, t in zip(normalized, candidates))
    has_first_name = NAME_SOURCE_FIRST in candidates

    mapping: list[str | None] = []
    used: set[str] = set()
    for n, target in zip(normalized, candidates):
        if target == "job_title" and n == TITLE and has_job_title:
            target = None
        if target == "full_name" and has_first_name:
            target = None
        if target is not None and target != TAGS:
            if target in used:
                target = None
            else:
                used.add(target)
        mapping.append(target)
    return mapping


def targets(custom_definitions=()) -> list[tuple[str, str]]:
    """(value, label) choices for the mapping form: "" (Don't import) first, then the standard columns, then
    the custom fields labelled "Custom: <label>"."""
    choices = [("", "Don't import")]
    choices += list(COLUMNS.items())
    choices += [(f"{CUSTOM_PREFIX}{_definition_attr(d, 'key')}", f"Custom: {_definition_attr(d, 'label')}")
                for d in custom_definitions]
    return choices
