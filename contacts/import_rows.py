"""One row of an import file to the values of a contact: per-column cleaning and validation.

Pure Python and cheap per row (the import reads a million rows): each mapped column gets a
cleaner once (`RowReader`), and a row is a loop over those cleaners. A cleaner returns the
value to store or raises ValueError with the message a person reads; `RowReader.read`
collects every column's error of the row ("Row 7, column C (Email): Enter a valid email
address.") instead of stopping at the first.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from dataclasses import dataclass, field

import phonenumbers

from companies.models import domain_validator, normalize_domain
from contacts.columns import COLUMNS, CUSTOM_PREFIX, custom_key
from contacts.import_files import column_letter
from contacts.models import Contact, LifecycleStage, Source, normalize_email
from crm.custom_fields import _clean_value

# The email check of Django's EmailValidator, without its per-call overhead; good enough to
# refuse what is plainly not an address (the model validates again on every later edit).
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_PLUS_TAG = re.compile(r"\+[^@]*@")
_LIST_SPLIT = re.compile(r"\s*(?:[;,]|:::)\s*")
# Google Contacts' system groups, which are not labels anyone chose.
_SYSTEM_LABELS = frozenset({"mycontacts", "starred", "friends_system", "family_system", "coworkers_system"})
_SPACES = re.compile(r"\s+")
# A cell our export neutralized against formula injection: one apostrophe before = + - @.
_NEUTRALIZED = ("'=", "'+", "'-", "'@")

TIMEZONES = frozenset(zoneinfo.available_timezones())

# Country names seen in vendor exports -> ISO code (two-letter codes are taken as they are).
COUNTRY_NAMES = {
    "united states": "US", "united states of america": "US", "usa": "US", "u.s.": "US", "u.s.a.": "US",
    "america": "US", "canada": "CA", "mexico": "MX", "brazil": "BR", "argentina": "AR",
    "united kingdom": "GB", "uk": "GB", "great britain": "GB", "england": "GB", "scotland": "GB",
    "ireland": "IE", "germany": "DE", "deutschland": "DE", "france": "FR", "spain": "ES", "españa": "ES",
    "portugal": "PT", "italy": "IT", "italia": "IT", "netherlands": "NL", "the netherlands": "NL",
    "belgium": "BE", "switzerland": "CH", "schweiz": "CH", "austria": "AT", "österreich": "AT",
    "sweden": "SE", "norway": "NO", "denmark": "DK", "finland": "FI", "poland": "PL", "czechia": "CZ",
    "czech republic": "CZ", "greece": "GR", "turkey": "TR", "türkiye": "TR", "israel": "IL",
    "india": "IN", "china": "CN", "japan": "JP", "south korea": "KR", "korea": "KR", "singapore": "SG",
    "australia": "AU", "new zealand": "NZ", "south africa": "ZA", "nigeria": "NG", "egypt": "EG",
    "united arab emirates": "AE", "uae": "AE", "saudi arabia": "SA", "ukraine": "UA", "russia": "RU",
}

_STAGES = {**{v: v for v in LifecycleStage.values},
           **{label.lower(): value for value, label in LifecycleStage.choices},
           "marketing qualified lead": "mql", "sales qualified lead": "sql", "subscriber": "lead"}
_SOURCES = {**{v: v for v in Source.values}, **{label.lower(): value for value, label in Source.choices}}

DATE_ORDERS = {"mdy": "Month first (12/31/2026)", "dmy": "Day first (31/12/2026)"}
_DATE_FORMATS = {
    "mdy": ("%m/%d/%Y", "%m/%d/%y", "%m-%d-%Y"),
    "dmy": ("%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y"),
}
_DATE_ANY = ("%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y", "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y",
             "%b %d %Y", "%B %d %Y", "%Y%m%d")


def parse_date(text: str, order: str = "mdy") -> datetime.date:
    """A date in one of the common spreadsheet formats; slashes follow the chosen day/month order."""
    text = text.strip()
    if "T" in text[:11] or " " in text[:11] and text[:4].isdigit():
        text = text[:10]  # an ISO date-time: keep the date
    for fmt in (*_DATE_ANY, *_DATE_FORMATS[order]):
        try:
            return datetime.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    example = "12/31/2026" if order == "mdy" else "31/12/2026"
    raise ValueError(f"{text!r} is not a date; use YYYY-MM-DD or {example}.")


def split_name(text: str) -> tuple[str, str, str]:
    """"Smith, Jane Ann" and "Jane Ann Smith" -> ("Jane", "Ann", "Smith")."""
    text = _SPACES.sub(" ", text).strip()
    if "," in text:
        last, _, rest = text.partition(",")
        parts = rest.split()
        if parts:
            return parts[0], " ".join(parts[1:]), last.strip()
        text = last
    parts = text.split()
    if not parts:
        return "", "", ""
    if len(parts) == 1:
        return parts[0], "", ""
    return parts[0], " ".join(parts[1:-1]), parts[-1]


def match_email(email: str, plus_tags: bool) -> str:
    """The key an email is matched by: "Jane+news@Example.com" -> "jane@example.com" when
    plus-tags are ignored (the provider delivers both to the same mailbox)."""
    return _PLUS_TAG.sub("@", email) if plus_tags and "+" in email else email


@dataclass
class Record:
    """The cleaned values of one row."""

    line: int
    fields: dict = field(default_factory=dict)      # Contact field -> value
    custom: dict = field(default_factory=dict)      # custom-field key -> value
    tags: list = field(default_factory=list)        # tag names
    company: str = ""
    company_domain: str = ""
    key: str = ""                                   # the value it is matched by ("" = none)
    values: list = field(default_factory=list)      # the row's cells as read
    earlier: tuple | None = None                    # (line, skipped) of an earlier batch's row with the same key
    contact_id: int | None = None
    before: dict | None = None
    after: dict | None = None


class RowReader:
    """Cleans rows of one import: the mapping and options, and the organization's members,
    teams and custom fields (looked up once)."""

    def __init__(self, *, headers, mapping, options, definitions, members, teams, actor_id, actor_is_rep):
        self.headers = headers
        self.width = len(headers)
        self.options = options
        self.region = options.get("region") or "US"
        self.date_order = options.get("date_order") or "mdy"
        self.match_by = options.get("match_by") or "email"
        self.plus_tags = bool(options.get("plus_tags"))
        self.members = members          # lower(email), or lower(full name) when unique -> user id
        self.teams = teams              # lower(name) -> team id
        self.actor_id = actor_id
        self.actor_is_rep = actor_is_rep
        self.definitions = {d.key: d for d in definitions}
        self.columns = [(i, target, self._cleaner(target)) for i, target in enumerate(mapping) if target]

    # -- cleaners: text -> value (ValueError with the message) ------------------------------

    def _cleaner(self, target: str):
        key = custom_key(target)
        if key is not None:
            definition = self.definitions[key]

            def custom(text):
                value = _LIST_SPLIT.split(text) if definition.field_type == "multiselect" else text
                return _clean_value(definition, value)
            return custom
        special = getattr(self, f"_clean_{target}", None)
        if special is not None:
            return special
        max_length = Contact._meta.get_field(target).max_length
        return lambda text: self._text(text, max_length)

    @staticmethod
    def _text(text, max_length):
        if max_length and len(text) > max_length:
            raise ValueError(f"{len(text):,} characters; at most {max_length} fit.")
        return text

    def _clean_email(self, text):
        email = normalize_email(text)
        if len(email) > 254 or not _EMAIL.match(email):
            raise ValueError(f"{text[:80]!r} is not a valid email address.")
        return email

    def _phone(self, text):
        try:
            number = phonenumbers.parse(text, self.region)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            if text.lstrip().startswith(("+", "00")):
                raise ValueError(f"{text[:40]!r} is not a valid phone number.")
            raise ValueError(f"{text[:40]!r} is not a valid phone number for region {self.region} "
                             "(add the country code, e.g. +44 20 7946 0958).")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    _clean_phone = _clean_mobile = _phone

    def _clean_birth_date(self, text):
        return parse_date(text, self.date_order)

    def _clean_website(self, text):
        url = text if "://" in text else f"https://{text}"
        if len(url) > 200 or not _URL.match(url):
            raise ValueError(f"{text[:80]!r} is not a web address.")
        return url

    def _clean_country(self, text):
        if len(text) == 2 and text.isalpha():
            return text.upper()
        code = COUNTRY_NAMES.get(text.lower())
        if code is None:
            raise ValueError(f"{text[:60]!r} is not a country; use a two-letter ISO code such as US or DE.")
        return code

    def _clean_timezone(self, text):
        if text not in TIMEZONES:
            raise ValueError(f"{text[:60]!r} is not a time zone; use a name such as Europe/Berlin.")
        return text

    def _clean_lifecycle_stage(self, text):
        stage = _STAGES.get(text.lower())
        if stage is None:
            raise ValueError(f"{text[:40]!r} is not a stage; use one of "
                             f"{', '.join(label for _, label in LifecycleStage.choices)}.")
        return stage

    def _clean_source(self, text):
        # Vendors have sources of their own ("Offline Sources"): keep them as the detail.
        return _SOURCES.get(text.lower(), ("other", text[:255]))

    def _clean_owner(self, text):
        owner = self.members.get(text.strip().lower())
        if owner is None:
            raise ValueError(f"{text[:80]!r} is not the email (or name) of a member of your organization.")
        if self.actor_is_rep and owner != self.actor_id:
            raise ValueError("Sales reps import contacts they own: leave the owner empty or give your own email.")
        return owner

    def _clean_team(self, text):
        team = self.teams.get(text.strip().lower())
        if team is None:
            raise ValueError(f"{text[:80]!r} is not a team of your organization.")
        return team

    def _clean_tags(self, text):
        # Google Contacts marks its system groups "* myContacts ::: * starred ::: Fair 2026".
        names = [n.removeprefix("* ").strip() for n in _LIST_SPLIT.split(text) if n]
        names = [n for n in names if n and n.lower() not in _SYSTEM_LABELS]
        too_long = [n for n in names if len(n) > 80]
        if too_long:
            raise ValueError(f"tag {too_long[0][:40]!r}… is longer than 80 characters.")
        return names

    def _clean_company(self, text):
        return self._text(text, 200)

    def _clean_company_domain(self, text):
        domain = normalize_domain(text)
        try:
            domain_validator(domain)
        except Exception:  # noqa: BLE001 - Django's ValidationError: a message of our own instead
            raise ValueError(f"{text[:80]!r} is not a domain such as example.com.") from None
        return domain

    def _clean_full_name(self, text):
        return split_name(text)

    # -- one row ------------------------------------------------------------------------------

    def where(self, index: int) -> str:
        header = self.headers[index] if index < self.width else ""
        return f"column {column_letter(index)}" + (f" ({header})" if header else "")

    def read(self, line: int, values: list[str]) -> tuple[Record | None, list[str]]:
        """The row's record, or None and its errors (each naming the row and column)."""
        errors = []
        if len(values) > self.width and any(values[self.width:]):
            first, last = column_letter(self.width), column_letter(len(values) - 1)
            span = first if first == last else f"{first}–{last}"
            errors.append(f"Row {line}: {len(values)} cells, but the header row has {self.width}; "
                          f"the cells in column{'s' if first != last else ''} {span} have no header.")
        record = Record(line=line, values=values)
        fields = record.fields
        for index, target, clean in self.columns:
            text = values[index] if index < len(values) else ""
            if not text:
                continue
            if text[0] == "=":
                errors.append(f"Row {line}, {self.where(index)}: looks like a spreadsheet formula "
                              f"({text[:40]}); export the values, not the formulas.")
                continue
            if text.startswith(_NEUTRALIZED):
                text = text[1:]
            try:
                value = clean(text)
            except ValueError as exc:
                errors.append(f"Row {line}, {self.where(index)}: {exc}")
                continue
            if target[0] == "c" and target.startswith(CUSTOM_PREFIX):
                record.custom[target[len(CUSTOM_PREFIX):]] = value
            elif target == "tags":
                record.tags += value
            elif target == "full_name":
                for name, part in zip(("first_name", "middle_name", "last_name"), value):
                    if part:
                        fields.setdefault(name, part[:100])
            elif target == "source":
                if isinstance(value, tuple):
                    fields["source"] = value[0]
                    fields.setdefault("source_detail", value[1])
                else:
                    fields["source"] = value
            elif target == "company":
                record.company = value
            elif target == "company_domain":
                record.company_domain = value
            elif target == "owner":
                fields["owner_id"] = value
            elif target == "team":
                fields["team_id"] = value
            else:
                fields[target] = value
        if errors:
            return None, errors
        record.key = self.key(record)
        return record, []

    def key(self, record: Record) -> str:
        if self.match_by == "email":
            return match_email(record.fields.get("email", ""), self.plus_tags)
        if self.match_by == "phone":
            return record.fields.get("phone") or record.fields.get("mobile") or ""
        return record.fields.get("external_id", "")


def mapping_errors(headers, mapping, options, definitions) -> list[str]:
    """What is wrong with a mapping: unknown targets, a target used twice (tags may repeat),
    and the columns the options need (a first name, the column rows are matched by)."""
    errors = []
    keys = {d.key for d in definitions}
    used: dict[str, int] = {}
    for index, target in enumerate(mapping):
        if not target:
            continue
        key = custom_key(target)
        if (key is None and target not in COLUMNS) or (key is not None and key not in keys):
            errors.append(f"Column {column_letter(index)}: {target!r} is not a contact field.")
        elif target in used and target != "tags":
            errors.append(f"Columns {column_letter(used[target])} and {column_letter(index)} are both mapped to "
                          f"{COLUMNS.get(target, target)}; map one of them.")
        used.setdefault(target, index)
    if "first_name" not in used and "full_name" not in used:
        errors.append("Map a column to First name or Full name: every contact needs a first name.")
    match_by = options.get("match_by", "email")
    need = {"email": ("email",), "phone": ("phone", "mobile"), "external_id": ("external_id",)}[match_by]
    if not any(n in used for n in need):
        errors.append(f"Rows are matched by {MATCH_BY[match_by].lower()}: map a column to "
                      f"{' or '.join(COLUMNS[n] for n in need)}.")
    return errors


MATCH_BY = {"email": "Email", "phone": "Phone (E.164)", "external_id": "External ID"}
