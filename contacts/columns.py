"""The columns of a contact in a spreadsheet: one catalogue for import mapping and export.

Our own export writes these labels as its header row, and the import's mapping guesses
recognise them, so an exported file imports back without editing the mapping. Custom
fields are columns too: `custom:<key>`, headed by the definition's label.
"""

from __future__ import annotations

# key -> header label. Keys are contact fields, except the "special" ones below.
COLUMNS: dict[str, str] = {
    "external_id": "External ID",
    "first_name": "First name",
    "middle_name": "Middle name",
    "last_name": "Last name",
    "full_name": "Full name",
    "email": "Email",
    "phone": "Phone",
    "mobile": "Mobile",
    "job_title": "Job title",
    "department": "Department",
    "company": "Company",
    "company_domain": "Company domain",
    "birth_date": "Birth date",
    "website": "Website",
    "linkedin": "LinkedIn",
    "twitter": "Twitter / X",
    "skype": "Skype",
    "telegram": "Telegram",
    "street": "Street",
    "city": "City",
    "region": "State / region",
    "postal_code": "Postal code",
    "country": "Country",
    "timezone": "Time zone",
    "source": "Source",
    "source_detail": "Source detail",
    "lifecycle_stage": "Lifecycle stage",
    "industry": "Industry",
    "description": "Description",
    "owner": "Owner",
    "team": "Team",
    "tags": "Tags",
}

# Columns that are not a plain contact field:
#   full_name       split into first / middle / last name on import; display name on export
#   company         the primary company's name (import: found by name, created when missing);
#                   export: all companies' names, primary first, separated by "; "
#   company_domain  the company's domain (import: found by domain, created when missing)
#   owner           the owner's email address (a member of the organization)
#   team            the team's name
#   tags            tag names separated by "," or ";" (import creates missing tags)
SPECIAL = frozenset({"full_name", "company", "company_domain", "owner", "team", "tags"})

CUSTOM_PREFIX = "custom:"

# Separator used for several values in one cell (tags, companies) on export.
LIST_SEPARATOR = "; "


def custom_key(column: str) -> str | None:
    """"custom:industry_code" -> "industry_code"; None for a standard column."""
    return column[len(CUSTOM_PREFIX):] if column.startswith(CUSTOM_PREFIX) else None


def label(column: str, definitions_by_key: dict | None = None) -> str:
    """The header label of a column (custom fields: the definition's label)."""
    key = custom_key(column)
    if key is None:
        return COLUMNS[column]
    definition = (definitions_by_key or {}).get(key)
    return definition.label if definition is not None else key
