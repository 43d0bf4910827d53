"""Forms shared across apps: sign-in, and the pieces every record form uses (custom-field
inputs generated from definitions, scoped owner choices, the company picker)."""

import datetime

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.custom_fields import clean_custom_fields, definitions_for


class EmailAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Please enter a correct email address and password.",
    }


# ---------------------------------------------------------------------------
# Shared pieces of the record forms (contacts, companies)

CUSTOM_FIELD_PREFIX = "cf_"


def custom_field_formfield(definition) -> forms.Field:
    """One typed form field for a CustomFieldDefinition. Values are validated (and
    normalized) by crm.custom_fields in the form's clean(), the same code the model runs."""
    t = definition.field_type
    common = {"label": definition.label, "required": definition.required, "help_text": definition.help_text}
    if t == "textarea":
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=10000, **common)
    if t == "number":
        return forms.DecimalField(**common)
    if t == "currency":
        return forms.DecimalField(decimal_places=2, widget=forms.NumberInput(attrs={"step": "0.01"}), **common)
    if t == "date":
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"), **common)
    if t == "datetime":
        return forms.DateTimeField(
            widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"), **common)
    if t == "boolean":
        return forms.TypedChoiceField(choices=[("", "—"), ("true", "Yes"), ("false", "No")],
                                      coerce=lambda v: v == "true", empty_value=None, **common)
    if t == "select":
        return forms.ChoiceField(choices=[("", "—")] + [(o, o) for o in definition.options], **common)
    if t == "multiselect":
        return forms.MultipleChoiceField(choices=[(o, o) for o in definition.options],
                                         widget=forms.CheckboxSelectMultiple, **common)
    if t == "url":
        return forms.URLField(max_length=2000, assume_scheme="https", **common)
    if t == "email":
        return forms.EmailField(**common)
    if t == "phone":
        return forms.CharField(max_length=40, widget=forms.TextInput(attrs={"type": "tel"}), **common)
    return forms.CharField(max_length=255, **common)


def _initial_custom_value(definition, value):
    if value is None:
        return None
    t = definition.field_type
    if t == "boolean":
        return "true" if value else "false"
    if t == "datetime":
        try:
            parsed = datetime.datetime.fromisoformat(str(value))
        except ValueError:
            return value
        return timezone.localtime(parsed) if timezone.is_aware(parsed) else parsed
    return value


def display_custom_value(definition, value):
    """A stored custom value as people read it (None when empty)."""
    from django.utils.formats import number_format

    if value is None or value == "" or value == []:
        return None
    t = definition.field_type
    if t == "boolean":
        return "Yes" if value else "No"
    if t == "multiselect" and isinstance(value, list):
        return ", ".join(map(str, value))
    if t in ("number", "currency") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return number_format(value, decimal_pos=2 if t == "currency" and isinstance(value, float) else None,
                             force_grouping=True)
    if t == "date":
        try:
            return datetime.date.fromisoformat(str(value)).strftime("%b %-d, %Y")
        except ValueError:
            return value
    return value


class CustomFieldsFormMixin:
    """Adds one form field per custom-field definition of the organization (`cf_<key>`),
    validates them with crm.custom_fields and hands back the JSONB value."""

    fieldset_layout: list = []  # [(title, [field names])] of the page form
    #: the page renders the custom fields itself (e.g. as a section htmx re-renders)
    custom_fields_separate = False
    custom_fields_title = "Custom fields"

    def fieldsets(self):
        """(title, bound fields) for the page, custom fields last; empty sets left out."""
        sets = [(title, [self[name] for name in names if name in self.fields])
                for title, names in self.fieldset_layout]
        if self.custom_field_names and not self.custom_fields_separate:
            sets.append((self.custom_fields_title, self.custom_bound_fields()))
        return [(title, fields) for title, fields in sets if fields]

    def custom_bound_fields(self):
        return [self[name] for name in self.custom_field_names]

    custom_fields_model = ""

    def add_custom_fields(self, organization_id: int, current: dict | None, definitions=None):
        """One form field per definition (all of the model's, or `definitions` in that order
        with their required flags)."""
        if definitions is None:
            definitions = definitions_for(organization_id, self.custom_fields_model)
        self.custom_definitions = definitions
        self.custom_organization_id = organization_id
        current = current or {}
        for definition in self.custom_definitions:
            name = CUSTOM_FIELD_PREFIX + definition.key
            self.fields[name] = custom_field_formfield(definition)
            if definition.key in current and not self.is_bound:
                self.initial[name] = _initial_custom_value(definition, current[definition.key])

    def limit_fields(self, only: list[str]) -> None:
        """Keep just the fields in `only` (one-field forms for editing in place); custom
        fields are then left alone."""
        self.custom_definitions = []
        for name in list(self.fields):
            if name not in only:
                del self.fields[name]

    @property
    def custom_field_names(self) -> list[str]:
        return [CUSTOM_FIELD_PREFIX + d.key for d in self.custom_definitions if CUSTOM_FIELD_PREFIX + d.key in self.fields]

    def custom_field_values(self) -> dict:
        values = {}
        for definition in self.custom_definitions:
            name = CUSTOM_FIELD_PREFIX + definition.key
            if name in self.cleaned_data:
                values[definition.key] = self.cleaned_data[name]
        return values

    def clean_custom_field_values(self):
        """Validate the custom values together (as the model will), errors on their own fields."""
        # Fields that already failed their own (type) check are left out, not checked twice.
        definitions = [d for d in self.custom_definitions if CUSTOM_FIELD_PREFIX + d.key not in self.errors]
        values = {key: value for key, value in self.custom_field_values().items()
                  if key in {d.key for d in definitions}}
        try:
            self.cleaned_custom_fields = clean_custom_fields(self.custom_organization_id, self.custom_fields_model,
                                                             values, definitions=definitions)
        except ValidationError as exc:
            self.add_service_errors(exc)

    def add_service_errors(self, exc: ValidationError):
        """Put a service's ValidationError on the form, each message on the field it names
        (custom-field messages "key: …" on their cf_ field); the rest at the top."""
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for field, errors in exc.message_dict.items():
            for message in errors:
                if field == "custom_fields" and ": " in message:
                    key, text = message.split(": ", 1)
                    target = CUSTOM_FIELD_PREFIX + key
                    if target in self.fields:
                        self.add_error(target, text)
                        continue
                if field in self.fields:
                    self.add_error(field, message)
                else:
                    label = field.replace("_", " ").capitalize()
                    self.add_error(None, message if field == "__all__" else f"{label}: {message}")


def member_choices(scope, current_owner_id=None):
    """Users a form may offer as owner: members of the user's organization; a rep may
    only choose themselves (plus keep the current owner of a record they may edit)."""
    from crm.models import User
    from crm.permissions import Role

    users = User.objects.filter(membership__organization_id=scope.organization_id, is_active=True)
    if scope.role == Role.REP:
        ids = {scope.user_id} | ({current_owner_id} if current_owner_id else set())
        users = users.filter(pk__in=ids)
    return users.order_by("full_name", "email")


class CompanyPickerWidget(forms.Select):
    """A select that renders only the chosen company, plus a search box that loads
    matching options with htmx (an organization can have tens of thousands of companies:
    rendering them all would make every form megabytes). Validation still runs against
    the field's full queryset."""

    def __init__(self, attrs=None, search_placeholder="Search companies…"):
        super().__init__(attrs)
        self.search_placeholder = search_placeholder

    def optgroups(self, name, value, attrs=None):
        selected = [v for v in value if v not in ("", None)]
        queryset = getattr(self.choices, "queryset", None)
        chosen = list(queryset.filter(pk__in=[v for v in selected if str(v).isdigit()])) if (
            queryset is not None and selected) else []
        options = [self.create_option(name, "", "—", not chosen, 0)]
        for index, company in enumerate(chosen, start=1):
            options.append(self.create_option(name, str(company.pk), str(company), True, index))
        return [(None, options, 0)]

    def render(self, name, value, attrs=None, renderer=None):
        from django.template.loader import render_to_string

        select = super().render(name, value, attrs, renderer)
        # Wrapped with the project's template engine (the form renderer only sees Django's own widgets).
        return render_to_string("includes/company_picker.html", {
            "select": select, "placeholder": self.search_placeholder,
            "select_id": (attrs or {}).get("id") or self.attrs.get("id", ""),
        })
