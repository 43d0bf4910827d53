"""Segment criteria: a nested and/or tree of rules over contacts, validated and compiled
to ONE Q on Contact (so a segment is counted, listed, exported or bulk-edited as a single
SQL query; tags, companies and activities are EXISTS subqueries, never Python loops).

A tree:

    {"op": "and", "rules": [
        {"field": "lifecycle_stage", "operator": "in", "value": ["lead", "mql"]},
        {"field": "tags", "operator": "any", "value": [3, 7]},
        {"op": "or", "rules": [
            {"field": "score", "operator": "gte", "value": 60},
            {"field": "activity_count", "operator": "gte", "value": 2, "activity_type": "call", "days": 30}]},
        {"field": "created_at", "operator": "in_last_days", "value": 365},
        {"field": "cf_annual_budget", "operator": "between", "value": [10000, 50000]}]}

`FIELDS` lists every field with its operators; `describe()` gives the same to the rule builder.
Errors name the path of the node at fault, e.g. `criteria.rules[1].rules[0].value`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db.models import DateField, DateTimeField, Exists, OuterRef, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.db.models.lookups import GreaterThanOrEqual, LessThan
from django.utils import timezone
from django.utils.dateparse import parse_date

MAX_DEPTH = 5  # groups inside groups
MAX_RULES = 50  # rules (not groups) in a whole tree
MAX_VALUES = 100  # items in one list value
MAX_DAYS = 36500

GROUP_OPS = ("and", "or")


class CriteriaError(ValidationError):
    """Invalid criteria; `.errors` is a list of (path, message)."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__([f"{path}: {message}" for path, message in errors])

    def as_dict(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for path, message in self.errors:
            result.setdefault(path, []).append(message)
        return result


class _Invalid(Exception):
    def __init__(self, message, key="value"):
        super().__init__(message)
        self.key = key


# -- operators by kind of field

NUMBER_OPS = {"eq": "equals", "neq": "does not equal", "gt": "greater than", "gte": "at least",
              "lt": "less than", "lte": "at most", "between": "between"}
TEXT_OPS = {"eq": "is", "neq": "is not", "contains": "contains", "not_contains": "does not contain",
            "starts_with": "starts with", "is_empty": "is empty", "is_not_empty": "is not empty"}
CHOICE_OPS = {"in": "is any of", "not_in": "is none of"}
REF_OPS = {"in": "is any of", "not_in": "is none of", "is_empty": "is empty", "is_not_empty": "is not empty"}
DATE_OPS = {"on": "on", "before": "before", "after": "after", "between": "between",
            "in_last_days": "in the last N days", "more_than_days_ago": "more than N days ago",
            "in_next_days": "in the next N days"}
EMPTY_OPS = {"is_empty": "is empty", "is_not_empty": "is not empty"}
BOOL_OPS = {"is": "is"}
TAG_OPS = {"any": "has any of", "all": "has all of", "none": "has none of"}
COMPANY_OPS = {"any": "works at any of", "none": "works at none of", "is_empty": "has no company",
               "is_not_empty": "has a company"}
COUNT_OPS = {k: v for k, v in NUMBER_OPS.items() if k != "between"}
NO_VALUE_OPS = {"is_empty", "is_not_empty"}


@dataclass(frozen=True)
class Field:
    kind: str  # choice, text, number, date, datetime, ref, bool, tags, company, activity_count, cf
    label: str
    column: str = ""
    ops: dict | None = None
    choices: tuple = ()
    nullable: bool = False

    def operators(self) -> dict[str, str]:
        if self.ops is not None:
            return self.ops
        ops = {"choice": CHOICE_OPS, "text": TEXT_OPS, "number": NUMBER_OPS, "ref": REF_OPS, "bool": BOOL_OPS,
               "tags": TAG_OPS, "company": COMPANY_OPS, "activity_count": COUNT_OPS}.get(self.kind)
        if ops is None and self.kind in ("date", "datetime"):
            ops = {**DATE_OPS, **(EMPTY_OPS if self.nullable else {})}
        return ops


def _fields() -> dict[str, Field]:
    from activities.models import Activity
    from contacts.models import ConsentStatus, ContactTime, LifecycleStage, Source

    def choice(label, column, enum):
        return Field("choice", label, column, choices=tuple(enum.choices))

    def text(label, column):
        return Field("text", label, column)

    return {
        "lifecycle_stage": choice("Lifecycle stage", "lifecycle_stage", LifecycleStage),
        "source": choice("Source", "source", Source),
        "email_consent": choice("Email consent", "email_consent", ConsentStatus),
        "sms_consent": choice("SMS consent", "sms_consent", ConsentStatus),
        "call_consent": choice("Call consent", "call_consent", ConsentStatus),
        "preferred_contact_time": choice("Preferred contact time", "preferred_contact_time", ContactTime),
        "owner": Field("ref", "Owner", "owner_id"),
        "team": Field("ref", "Team", "team_id"),
        "score": Field("number", "Lead score", "score"),
        "has_email": Field("bool", "Has an email address", "email"),
        "has_phone": Field("bool", "Has a phone number", "phone"),
        "first_name": text("First name", "first_name"),
        "last_name": text("Last name", "last_name"),
        "email": text("Email", "email"),
        "job_title": text("Job title", "job_title"),
        "department": text("Department", "department"),
        "industry": text("Industry", "industry"),
        "company_name": text("Company name", "company_name"),
        "source_detail": text("Source detail", "source_detail"),
        "city": text("City", "city"),
        "region": text("State / region", "region"),
        "country": text("Country (ISO code)", "country"),
        "postal_code": text("Postal code", "postal_code"),
        "timezone": text("Time zone", "timezone"),
        "created_at": Field("datetime", "Created", "created_at"),
        "updated_at": Field("datetime", "Updated", "updated_at"),
        "last_activity_at": Field("datetime", "Last activity", "last_activity_at", nullable=True),
        "last_contacted_at": Field("datetime", "Last contacted", "last_contacted_at", nullable=True),
        "birth_date": Field("date", "Birth date", "birth_date", nullable=True),
        "tags": Field("tags", "Tags"),
        "company": Field("company", "Company"),
        "activity_count": Field("activity_count", "Number of activities", choices=tuple(Activity.Type.choices)),
    }


FIELD_KINDS_BY_CF_TYPE = {
    "text": "text", "textarea": "text", "url": "text", "email": "text", "phone": "text",
    "number": "number", "currency": "number", "date": "date", "datetime": "datetime",
    "boolean": "bool", "select": "choice", "multiselect": "multichoice",
}
MULTICHOICE_OPS = {"any": "has any of", "all": "has all of", "none": "has none of"}


def _cf_field(definition) -> Field:
    kind = FIELD_KINDS_BY_CF_TYPE[definition.field_type]
    choices = tuple((o, o) for o in definition.options)
    if kind == "text":
        ops = {k: v for k, v in TEXT_OPS.items() if k not in ("neq", "not_contains")}
    elif kind == "number":
        ops = {**NUMBER_OPS, **EMPTY_OPS}
    elif kind in ("date", "datetime"):
        ops = {**DATE_OPS, **EMPTY_OPS}
    elif kind == "choice":
        ops = {**CHOICE_OPS, **EMPTY_OPS}
    elif kind == "multichoice":
        ops = {**MULTICHOICE_OPS, **EMPTY_OPS}
    else:
        ops = {**BOOL_OPS, **EMPTY_OPS}
    return Field(f"cf_{kind}", definition.label, definition.key, ops=ops, choices=choices)


class _Context:
    """What validation and compilation look up once per tree: the organization's custom fields."""

    def __init__(self, organization_id: int, definitions=None):
        self.organization_id = organization_id
        self._definitions = definitions
        self.fields = _fields()
        self.check_refs = True

    @property
    def definitions(self) -> dict:
        if self._definitions is None:
            from crm.custom_fields import definitions_for

            self._definitions = {d.key: d for d in definitions_for(self.organization_id, "contact")}
        return self._definitions

    def field(self, name: str) -> Field | None:
        if not isinstance(name, str):
            return None
        if name.startswith("cf_"):
            definition = self.definitions.get(name[3:])
            # Sensitive fields are encrypted at rest (crm.encryption): nothing to match in SQL.
            return _cf_field(definition) if definition is not None and not definition.sensitive else None
        return self.fields.get(name)


# -- validation


def validate_criteria(tree, organization_id: int, *, definitions=None) -> dict:
    """The cleaned tree, or CriteriaError listing every fault with its path."""
    return _validate(tree, _Context(organization_id, definitions))


def _validate(tree, context) -> dict:
    errors: list[tuple[str, str]] = []
    counter = {"rules": 0}
    if not isinstance(tree, dict) or "op" not in tree:
        raise CriteriaError([("criteria", 'Criteria must be a group: {"op": "and", "rules": [...]}.')])
    cleaned = _clean_group(tree, "criteria", 1, context, errors, counter)
    if counter["rules"] > MAX_RULES:
        errors.append(("criteria", f"Use at most {MAX_RULES} rules (this has {counter['rules']})."))
    if errors:
        raise CriteriaError(errors)
    return cleaned


def _clean_node(node, path, depth, context, errors, counter):
    if not isinstance(node, dict):
        errors.append((path, "Each rule must be an object with field, operator and value, or a group with "
                             "op and rules."))
        return None
    if "op" in node or "rules" in node:
        return _clean_group(node, path, depth, context, errors, counter)
    return _clean_rule(node, path, context, errors, counter)


def _clean_group(node, path, depth, context, errors, counter):
    unknown = sorted(set(node) - {"op", "rules"})
    for key in unknown:
        errors.append((f"{path}.{key}", "Unknown key in a group (use op and rules)."))
    op = node.get("op")
    if op not in GROUP_OPS:
        errors.append((f"{path}.op", 'Use "and" or "or".'))
    if depth > MAX_DEPTH:
        errors.append((path, f"Groups can be nested at most {MAX_DEPTH} deep."))
        return None
    rules = node.get("rules")
    if not isinstance(rules, list):
        errors.append((f"{path}.rules", "Give a list of rules."))
        return None
    if not rules:
        errors.append((f"{path}.rules", "Add at least one rule."))
    cleaned = [_clean_node(rule, f"{path}.rules[{i}]", depth + 1, context, errors, counter)
               for i, rule in enumerate(rules[:MAX_RULES + 1])]
    return {"op": op, "rules": cleaned}


def _clean_rule(node, path, context, errors, counter):
    counter["rules"] += 1
    name = node.get("field")
    field = context.field(name)
    if field is None:
        if isinstance(name, str) and name.startswith("cf_") and name[3:] in context.definitions:
            message = (f"The custom field {name[3:]!r} is sensitive (encrypted at rest) and cannot be used "
                       f"in criteria.")
        elif isinstance(name, str) and name.startswith("cf_"):
            message = f"No custom field {name[3:]!r} on contacts in your organization."
        else:
            message = f"Unknown field {name!r}." if name is not None else "Choose a field."
        errors.append((f"{path}.field", message))
        return None
    allowed_keys = {"field", "operator", "value"} | ({"activity_type", "days"} if field.kind == "activity_count"
                                                    else set())
    for key in sorted(set(node) - allowed_keys):
        errors.append((f"{path}.{key}", f"Unknown key for the field {name}."))
    operators = field.operators()
    operator = node.get("operator")
    if operator not in operators:
        errors.append((f"{path}.operator", f"Unknown operator {operator!r} for {name}; use one of "
                                           f"{', '.join(operators)}."))
        return None
    rule = {"field": name, "operator": operator}
    try:
        if operator in NO_VALUE_OPS:
            if node.get("value") not in (None, "", []):
                raise _Invalid(f"The operator {operator} takes no value.")
        else:
            if "value" not in node:
                raise _Invalid("Give a value.")
            rule["value"] = _clean_value(field, operator, node["value"], context)
        if field.kind == "activity_count":
            rule.update(_clean_activity_extras(field, node))
    except _Invalid as exc:
        errors.append((f"{path}.{exc.key}", str(exc)))
        return None
    return rule


def _number(value, *, integer=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise _Invalid("Enter a number.")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Invalid("Enter a number.") from None
    if not number.is_finite():
        raise _Invalid("Enter a finite number.")
    if integer:
        if number != number.to_integral_value():
            raise _Invalid("Enter a whole number.")
        return int(number)
    return int(number) if number == number.to_integral_value() else float(number)


def _days(value, key="value"):
    try:
        days = _number(value, integer=True)
    except _Invalid as exc:
        raise _Invalid(f"{exc} (a number of days)", key) from None
    if not 0 <= days <= MAX_DAYS:
        raise _Invalid(f"Enter a number of days from 0 to {MAX_DAYS}.", key)
    return days


def _date(value):
    parsed = parse_date(value.strip()) if isinstance(value, str) else None
    if parsed is None:
        raise _Invalid("Enter a date as YYYY-MM-DD.")
    return parsed.isoformat()


def _list(value, *, allow_single=True):
    if isinstance(value, (str, int)) and not isinstance(value, bool) and allow_single:
        value = [value]
    if not isinstance(value, list) or not value:
        raise _Invalid("Give a non-empty list of values.")
    if len(value) > MAX_VALUES:
        raise _Invalid(f"Give at most {MAX_VALUES} values.")
    return list(dict.fromkeys(value)) if all(isinstance(v, (str, int)) for v in value) else value


def _pair(value, convert):
    if not isinstance(value, list) or len(value) != 2:
        raise _Invalid("Give two values: [from, to].")
    low, high = convert(value[0]), convert(value[1])
    if low > high:
        raise _Invalid("The first value must not be greater than the second.")
    return [low, high]


def _ids(value, model, context, noun):
    items = _list(value)
    if any(isinstance(v, bool) or not isinstance(v, int) for v in items):
        raise _Invalid(f"Give {noun} ids (whole numbers).")
    if not context.check_refs:
        return items
    if model.__name__ == "User":
        found = set(model.objects.filter(pk__in=items, membership__organization_id=context.organization_id)
                    .values_list("pk", flat=True))
    else:
        found = set(model.objects.filter(pk__in=items, organization_id=context.organization_id)
                    .values_list("pk", flat=True))
    missing = [v for v in items if v not in found]
    if missing:
        raise _Invalid(f"No {noun} with id {', '.join(map(str, missing))} in your organization.")
    return items


def _clean_value(field, operator, value, context):
    kind = field.kind
    if kind in ("choice", "cf_choice", "cf_multichoice"):
        items = _list(value)
        allowed = {c for c, _ in field.choices}
        unknown = [v for v in items if v not in allowed]
        if unknown:
            raise _Invalid(f"Unknown choice(s) {', '.join(map(str, unknown))}; choose from "
                           f"{', '.join(sorted(allowed))}.")
        return items
    if kind in ("text", "cf_text"):
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or str(value).strip() == "":
            raise _Invalid("Enter some text.")
        if len(str(value)) > 255:
            raise _Invalid("Use at most 255 characters.")
        return str(value).strip()
    if kind in ("number", "cf_number", "activity_count"):
        if operator == "between":
            return _pair(value, _number)
        number = _number(value, integer=kind == "activity_count")
        if kind == "activity_count" and number < 0:
            raise _Invalid("Enter 0 or more.")
        return number
    if kind in ("date", "datetime", "cf_date", "cf_datetime"):
        if operator in ("in_last_days", "more_than_days_ago", "in_next_days"):
            return _days(value)
        if operator == "between":
            return _pair(value, _date)
        return _date(value)
    if kind in ("bool", "cf_bool"):
        if not isinstance(value, bool):
            raise _Invalid("Use true or false.")
        return value
    if kind == "ref":
        from crm.models import Team, User

        return _ids(value, User if field.column == "owner_id" else Team, context,
                    "member" if field.column == "owner_id" else "team")
    if kind == "tags":
        from crm.models import Tag

        return _ids(value, Tag, context, "tag")
    if kind == "company":
        from companies.models import Company

        return _ids(value, Company, context, "company")
    raise _Invalid("Unsupported field.")


def _clean_activity_extras(field, node) -> dict:
    extras = {}
    if node.get("activity_type") not in (None, "", []):
        types = node["activity_type"]
        if isinstance(types, str):
            types = [types]
        allowed = {c for c, _ in field.choices}
        if not isinstance(types, list) or not types or any(t not in allowed for t in types):
            raise _Invalid(f"Use activity types from: {', '.join(sorted(allowed))}.", "activity_type")
        extras["activity_type"] = list(dict.fromkeys(types))
    if node.get("days") not in (None, ""):
        days = _days(node["days"], "days")
        if days < 1:
            raise _Invalid("Enter at least 1 day.", "days")
        extras["days"] = days
    return extras


# -- compilation


def compile_criteria(tree, organization_id: int, *, today: datetime.date | None = None, definitions=None) -> Q:
    """One Q on Contact for a tree (validated here again: stored trees can go stale when a
    custom field or tag is removed; CriteriaError then names the rule)."""
    context = _Context(organization_id, definitions)
    # Ids were checked against the organization when the tree was saved; a tag or member
    # removed since simply matches nothing (and subqueries stay inside the organization).
    context.check_refs = False
    cleaned = _validate(tree, context)
    compiler = _Compiler(context, today or timezone.localdate())
    return compiler.group(cleaned)


def _start_of_day(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


class _Compiler:
    def __init__(self, context: _Context, today: datetime.date):
        self.context = context
        self.today = today
        self.now = timezone.now()

    def group(self, node) -> Q:
        parts = [self.node(rule) for rule in node["rules"]]
        result = Q()
        if node["op"] == "and":
            for part in parts:
                result &= part
            return result
        result = parts[0]
        for part in parts[1:]:
            result |= part
        return result

    def node(self, node) -> Q:
        return self.group(node) if "op" in node else self.rule(node)

    def rule(self, rule) -> Q:
        field = self.context.field(rule["field"])
        op, value = rule["operator"], rule.get("value")
        kind = field.kind
        if kind.startswith("cf_"):
            return self.custom_field(field, op, value)
        column = field.column
        if kind == "choice":
            q = Q(**{f"{column}__in": value})
            return ~q if op == "not_in" else q
        if kind == "ref":
            if op in NO_VALUE_OPS:
                return Q(**{f"{column}__isnull": op == "is_empty"})
            q = Q(**{f"{column}__in": value})
            return ~q if op == "not_in" else q
        if kind == "text":
            return self.text(column, op, value)
        if kind == "number":
            return self.number(column, op, value)
        if kind in ("date", "datetime"):
            return self.date(column, op, value, datetime_column=kind == "datetime")
        if kind == "bool":
            from contacts.phones import no_phone_q

            empty = Q(email="") if column == "email" else no_phone_q()
            return ~empty if value else empty
        if kind == "tags":
            return self.tags(op, value)
        if kind == "company":
            return self.company(op, value)
        if kind == "activity_count":
            return self.activity_count(rule)
        raise CriteriaError([("criteria", f"Unsupported field {rule['field']!r}.")])

    @staticmethod
    def text(column, op, value) -> Q:
        if op == "is_empty":
            return Q(**{column: ""})
        if op == "is_not_empty":
            return ~Q(**{column: ""})
        lookup = {"eq": "iexact", "neq": "iexact", "contains": "icontains", "not_contains": "icontains",
                  "starts_with": "istartswith"}[op]
        q = Q(**{f"{column}__{lookup}": value})
        return ~q if op in ("neq", "not_contains") else q

    @staticmethod
    def number(column, op, value) -> Q:
        if op == "between":
            return Q(**{f"{column}__gte": value[0], f"{column}__lte": value[1]})
        if op == "neq":
            return ~Q(**{column: value})
        return Q(**{f"{column}__{'exact' if op == 'eq' else op}": value})

    def date(self, column, op, value, *, datetime_column: bool) -> Q:
        """`column` is a field name, or an expression (a custom field cast to a date)."""
        if op in NO_VALUE_OPS:
            return Q(**{f"{column}__isnull": op == "is_empty"})

        def bound(day):
            # Timestamps compare with the start of the day (a plain range the
            # (organization, column) indexes serve); dates compare with the day itself.
            return _start_of_day(day) if datetime_column else day

        def cmp(lookup, day) -> Q:
            if isinstance(column, str):
                return Q(**{f"{column}__{lookup}": bound(day)})
            return Q({"gte": GreaterThanOrEqual, "lt": LessThan}[lookup](column, bound(day)))

        one = datetime.timedelta(days=1)
        if op == "in_last_days":
            # Up to the end of today: a planned item tomorrow is not "in the last N days".
            return cmp("gte", self.today - datetime.timedelta(days=value)) & cmp("lt", self.today + one)
        if op == "more_than_days_ago":
            return cmp("lt", self.today - datetime.timedelta(days=value))
        if op == "in_next_days":
            return cmp("gte", self.today) & cmp("lt", self.today + one * (value + 1))
        if op == "between":
            low, high = (datetime.date.fromisoformat(v) for v in value)
            return cmp("gte", low) & cmp("lt", high + one)
        day = datetime.date.fromisoformat(value)
        if op == "on":
            return cmp("gte", day) & cmp("lt", day + one)
        if op == "before":
            return cmp("lt", day)
        return cmp("gte", day + one)  # after

    @staticmethod
    def tags(op, ids) -> Q:
        from contacts.models import ContactTag

        def has(tag_ids):
            return Exists(ContactTag.objects.filter(contact_id=OuterRef("pk"), tag_id__in=tag_ids))

        if op == "all":
            result = Q()
            for tag_id in ids:
                result &= Q(has([tag_id]))
            return result
        q = Q(has(ids))
        return ~q if op == "none" else q

    @staticmethod
    def company(op, ids) -> Q:
        from contacts.models import ContactCompany

        links = ContactCompany.objects.filter(contact_id=OuterRef("pk"))
        if op in NO_VALUE_OPS:
            q = Q(Exists(links))
            return ~q if op == "is_empty" else q
        q = Q(Exists(links.filter(company_id__in=ids)))
        return ~q if op == "none" else q

    def activity_count(self, rule) -> Q:
        """Counts compared with a number, as EXISTS probes on the contact's timeline index
        ("at least n" = a row at OFFSET n-1), so no count of a whole timeline is needed."""
        from activities.models import Activity

        activities = Activity.objects.filter(contact_id=OuterRef("pk"))
        if rule.get("activity_type"):
            activities = activities.filter(type__in=rule["activity_type"])
        if rule.get("days"):
            activities = activities.filter(
                occurred_at__gte=_start_of_day(self.today - datetime.timedelta(days=rule["days"])),
                occurred_at__lt=_start_of_day(self.today + datetime.timedelta(days=1)))
        activities = activities.order_by()

        def at_least(n) -> Q:
            if n <= 0:
                return Q()
            return Q(Exists(activities[n - 1:n]))

        op, n = rule["operator"], rule["value"]
        if op == "gte":
            return at_least(n)
        if op == "gt":
            return at_least(n + 1)
        if op == "lt":
            return ~at_least(n) if n > 0 else Q(pk__in=[])
        if op == "lte":
            return ~at_least(n + 1)
        exactly = at_least(n) & ~at_least(n + 1)
        return ~exactly if op == "neq" else exactly

    def custom_field(self, field, op, value) -> Q:
        key = field.column
        kind = field.kind[3:]
        has_key = Q(custom_fields__has_key=key)
        if op == "is_empty":
            return ~has_key
        if op == "is_not_empty":
            return has_key
        if kind == "text":
            lookup = {"eq": "iexact", "contains": "icontains", "starts_with": "istartswith"}[op]
            return Q(**{f"custom_fields__{key}__{lookup}": value})
        if kind == "bool":
            return Q(custom_fields__contains={key: value})
        if kind == "choice":
            q = Q()
            for i, option in enumerate(value):
                q = Q(custom_fields__contains={key: option}) if i == 0 else q | Q(custom_fields__contains={key: option})
            return (has_key & ~q) if op == "not_in" else q
        if kind == "multichoice":
            if op == "all":
                return Q(custom_fields__contains={key: value})
            q = Q()
            for i, option in enumerate(value):
                one = Q(custom_fields__contains={key: [option]})
                q = one if i == 0 else q | one
            return ~q if op == "none" else q
        if kind == "number":
            if op == "eq":
                return Q(custom_fields__contains={key: value})
            if op == "neq":
                return has_key & ~Q(custom_fields__contains={key: value})
            return self.number(f"custom_fields__{key}", op, value)
        # date / datetime: stored as ISO text; compared as real dates / timestamps.
        cast = Cast(KeyTextTransform(key, "custom_fields"), DateTimeField() if kind == "datetime" else DateField())
        return has_key & self.date(cast, op, value, datetime_column=kind == "datetime")


# -- what the rule builder offers


def describe(user, organization_id: int) -> list[dict]:
    """Every field with its operators, value kind and choices (members, teams and tags of
    the organization; custom fields by definition), for the rule builder of the pages."""
    from crm.models import Tag, Team, User

    context = _Context(organization_id)
    refs = {
        "owner": [(u.pk, u.get_full_name()) for u in User.objects.filter(
            membership__organization_id=organization_id).order_by("full_name", "email")],
        "team": [(t.pk, t.name) for t in Team.objects.visible_to(user).order_by("name")],
        "tags": [(t.pk, t.name) for t in Tag.objects.visible_to(user).order_by("name")],
    }
    result = []

    def entry(name, field):
        choices = refs.get(name, field.choices)
        return {"name": name, "label": field.label, "kind": field.kind,
                "operators": list(field.operators().items()), "choices": [list(c) for c in choices]}

    for name, field in context.fields.items():
        result.append(entry(name, field))
    for key, definition in context.definitions.items():
        if definition.sensitive:
            continue
        item = entry(f"cf_{key}", _cf_field(definition))
        item["label"] = f"{definition.label} (custom field)"
        result.append(item)
    return result
