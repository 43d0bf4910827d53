"""Contact forms of the pages. Choices are scoped to the user's organization; saving goes
through contacts.services, whose ValidationErrors land on the field they name."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from contacts.models import (
    AssignmentRule, Channel, ConsentEvent, ConsentStatus, Contact, FormLayout, NotificationTopic, ScoringModel,
    unique_casefolded,
)
from contacts import dedupe
from contacts.services import create_contact, record_consent, save_layout, save_rule, set_tags, update_contact
from crm.forms import CompanyPickerWidget, CustomFieldsFormMixin, member_choices
from crm.models import Tag, Team
from crm.permissions import Role, Scope

# The page form, in the order the fieldsets show them.
FIELDSETS = [
    ("Name and role", ["first_name", "middle_name", "last_name", "job_title", "department"]),
    ("Contact details", ["email", "phone", "mobile", "website", "linkedin", "twitter", "skype", "telegram"]),
    ("Sales", ["lifecycle_stage", "source", "source_detail", "industry", "owner", "team", "tags"]),
    ("Address", ["street", "city", "region", "postal_code", "country", "timezone"]),
    ("Preferences", ["preferred_channels", "preferred_contact_time", "notification_opt_ins"]),
    ("More", ["birth_date", "description"]),
]
MODEL_FIELDS = [name for _, names in FIELDSETS for name in names if name != "tags"]

# Fields the detail page edits in place, one at a time.
INLINE_FIELDS = ["first_name", "last_name", "email", "phone", "mobile", "job_title", "department",
                 "lifecycle_stage", "source", "owner", "team"]


class ContactForm(CustomFieldsFormMixin, forms.ModelForm):
    fieldset_layout = FIELDSETS
    custom_fields_model = "contact"

    tags = forms.ModelMultipleChoiceField(queryset=Tag.objects.none(), required=False,
                                          widget=forms.CheckboxSelectMultiple)
    preferred_channels = forms.MultipleChoiceField(choices=Channel.choices, required=False,
                                                   widget=forms.CheckboxSelectMultiple,
                                                   label="Preferred channels")
    notification_opt_ins = forms.MultipleChoiceField(choices=NotificationTopic.choices, required=False,
                                                     widget=forms.CheckboxSelectMultiple,
                                                     label="Subscribed to")

    class Meta:
        model = Contact
        fields = MODEL_FIELDS
        widgets = {
            "birth_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "description": forms.Textarea(attrs={"rows": 4}),
            "country": forms.TextInput(attrs={"maxlength": 2, "placeholder": "US", "autocapitalize": "characters"}),
            "timezone": forms.TextInput(attrs={"placeholder": "America/New_York"}),
        }
        labels = {"lifecycle_stage": "Stage"}

    def __init__(self, *args, user, only: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.only = only
        self.duplicates = []
        self.scope = scope = Scope.of(user)
        instance = self.instance
        is_new = instance.pk is None
        if is_new:
            instance.organization_id = scope.organization_id
        self.fields["owner"].queryset = member_choices(scope, None if is_new else instance.owner_id)
        self.fields["owner"].label_from_instance = lambda u: u.get_full_name()
        self.fields["team"].queryset = Team.objects.visible_to(user).order_by("name")
        self.fields["tags"].queryset = Tag.objects.visible_to(user).order_by("name")
        if scope.role == Role.REP:
            # A rep's contacts are the ones they own: a rep cannot give one away.
            self.fields["owner"].required = True
            self.fields["owner"].empty_label = None
        if is_new and not self.is_bound:
            self.initial.setdefault("owner", user.pk if scope.role != Role.ADMIN else None)
            self.initial.setdefault("team", scope.team_ids[0] if scope.team_ids else None)
        if not is_new and not self.is_bound and (only is None or "tags" in only):
            self.initial["tags"] = [t.pk for t in instance.tags.all()]
        self.layout = None
        self.carried_custom_values = []
        if only is None:
            self._add_layout_fields(scope.organization_id, instance)
        else:
            self.limit_fields(only)

    custom_fields_separate = True  # contacts/_custom_fields.html, re-rendered when the industry changes

    def _add_layout_fields(self, organization_id, instance):
        """The custom fields of the industry's form layout (in its order, with its required
        flags), or every contact custom field when the industry has no layout."""
        industry = self["industry"].value() if "industry" in self.fields else instance.industry
        self.layout = FormLayout.for_industry(organization_id, industry or "")
        self.add_custom_fields(organization_id, instance.custom_fields,
                               definitions=self.layout.definitions() if self.layout else None)
        if self.layout is not None:
            self.custom_fields_title = f"{self.layout.industry} details"
        if self.is_bound:
            # Values typed into another industry's fields ride along (hidden) until saved or
            # the industry changes back; they are not saved for this industry.
            self.carried_custom_values = [
                (name, value) for name in self.data if name.startswith(self.add_prefix("cf_"))
                and name not in self.fields for value in self.data.getlist(name) if value != ""]
        url = (reverse("contacts:custom_fields", args=[instance.pk]) if instance.pk
               else reverse("contacts:new_custom_fields"))
        self.fields["industry"].widget.attrs.update({
            "hx-post": url, "hx-trigger": "input changed delay:400ms", "hx-target": "#contact-custom-fields",
            "hx-swap": "outerHTML", "hx-include": "closest form", "hx-sync": "this:replace",
            "list": "industry-layouts", "autocomplete": "off",
        })

    def layout_industries(self) -> list[str]:
        """Industries with a form layout (suggested by the industry input)."""
        return list(FormLayout.objects.filter(organization_id=self.scope.organization_id)
                    .order_by("industry").values_list("industry", flat=True))

    def _post_clean(self):
        # Model validation happens once, in contacts.services (which also saves): the
        # instance must stay untouched until then, so update_contact sees what changed.
        pass

    def clean(self):
        cleaned = super().clean()
        if self.custom_definitions:
            self.clean_custom_field_values()
        return cleaned

    def model_data(self) -> dict:
        data = {name: self.cleaned_data[name] for name in self.fields if name in MODEL_FIELDS}
        if self.custom_definitions or self.layout is not None:
            values = getattr(self, "cleaned_custom_fields", self.custom_field_values())
            if self.layout is not None:
                # The layout shows some of the fields: the contact keeps its values of the others.
                shown = {d.key for d in self.custom_definitions}
                kept = {k: v for k, v in (self.instance.custom_fields or {}).items() if k not in shown}
                values = {**kept, **values}
            data["custom_fields"] = values
        return data

    def find_duplicates(self) -> list:
        """Likely duplicates of what is about to be saved (the whole form only, and unless the
        user chose "Save anyway"): shown above the form with links instead of saving."""
        if self.only is not None or self.data.get("save_anyway"):
            return []
        return dedupe.check_before_save(self.user, self.model_data(), self.instance)

    def save(self, commit=True):
        """Create or update through the services; None (with errors on the form, or the likely
        duplicates in `duplicates`) when they refuse."""
        self.duplicates = self.find_duplicates()
        if self.duplicates:
            return None
        try:
            with transaction.atomic():
                if self.instance.pk is None:
                    contact = create_contact(organization=self.instance.organization, data=self.model_data(),
                                             actor=self.user, tags=self.cleaned_data.get("tags") or ())
                else:
                    contact = self.instance
                    update_contact(contact=contact, data=self.model_data(), actor=self.user)
                    if "tags" in self.fields:
                        set_tags(contact, self.cleaned_data.get("tags") or ())
        except ValidationError as exc:
            self.add_service_errors(exc)
            return None
        self.instance = contact
        return contact

class TagAddForm(forms.Form):
    tag = forms.ModelChoiceField(queryset=Tag.objects.none(), empty_label="Add a tag…")

    def __init__(self, *args, contact, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.contact = contact
        self.fields["tag"].queryset = Tag.objects.visible_to(user).exclude(
            pk__in=[t.pk for t in contact.tags.all()]).order_by("name")

    def save(self):
        set_tags(self.contact, [*self.contact.tags.all(), self.cleaned_data["tag"]])


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(choices=Channel.choices)
    status = forms.ChoiceField(choices=[c for c in ConsentStatus.choices if c[0] != ConsentStatus.UNKNOWN])
    source = forms.ChoiceField(choices=ConsentEvent.Source.choices, initial=ConsentEvent.Source.MANUAL)
    evidence = forms.CharField(required=False, max_length=2000,
                               widget=forms.TextInput(attrs={"placeholder": "e.g. Said yes on the call of May 2"}))

    def __init__(self, *args, contact, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.contact, self.user = contact, user

    def save(self, ip_address=None):
        try:
            return record_consent(contact=self.contact, actor=self.user, ip_address=ip_address, **self.cleaned_data)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
            return None


def prepare_filter_form(form):
    """Widgets for the filter panel (the FilterSet itself is shared with the API)."""
    fields = form.fields
    for name in ("lifecycle_stage", "source", "team", "tags", "owner"):
        if name in fields:
            field = fields[name]
            field.widget = forms.CheckboxSelectMultiple(attrs={"class": "check-list"})
            field.widget.choices = field.choices
    if "owner" in fields:
        fields["owner"].label_from_instance = lambda u: u.get_full_name()
    if "company" in fields:
        field = fields["company"]
        field.widget = CompanyPickerWidget()
        field.widget.choices = field.choices
    for name, field in fields.items():
        if isinstance(field.widget, forms.DateInput):
            field.widget.input_type = "date"
        if isinstance(field.widget, forms.NullBooleanSelect):
            field.widget.choices = [("unknown", "Any"), ("true", "Yes"), ("false", "No")]
        if isinstance(field.widget, forms.Select) and not isinstance(field.widget, (CompanyPickerWidget,
                                                                                      forms.NullBooleanSelect)):
            if getattr(field, "empty_label", None) == "---------":
                field.empty_label = "Any"
                field.widget.choices = field.choices
    labels = {
        "lifecycle_stage": "Stage", "score_min": "Score from", "score_max": "Score to",
        "has_email": "Has email", "has_phone": "Has phone", "tags_mode": "Match",
        "email_consent": "Email consent", "sms_consent": "SMS consent", "call_consent": "Call consent",
        "created_after": "Created from", "created_before": "Created to", "updated_after": "Updated from",
        "updated_before": "Updated to", "last_activity_after": "Last activity from",
        "last_activity_before": "Last activity to", "unowned": "Without owner",
    }
    for name, label in labels.items():
        if name in fields:
            fields[name].label = label


# ---------------------------------------------------------------------------
# Settings: industry form layouts and assignment rules (org admins)


class FormLayoutForm(forms.Form):
    """The industry, and per contact custom field: shown or not, its place, required or not."""

    industry = forms.CharField(max_length=120, help_text="Contacts whose industry is this (any capitalization) "
                                                         "get this form.")

    def __init__(self, *args, layout, definitions, **kwargs):
        super().__init__(*args, **kwargs)
        self.layout = layout
        self.definitions = list(definitions)
        entries = {e.definition_id: e for e in layout.entries.all()} if layout.pk else {}
        if layout.pk and not self.is_bound:
            self.initial["industry"] = layout.industry
        # Fields of the layout first, in its order; then the others.
        self.definitions.sort(key=lambda d: (d.pk not in entries, entries[d.pk].position if d.pk in entries else 0))
        for index, definition in enumerate(self.definitions):
            entry = entries.get(definition.pk)
            self.fields[f"use_{definition.pk}"] = forms.BooleanField(
                required=False, initial=entry is not None, label=f"Show {definition.label}",
                widget=forms.CheckboxInput(attrs={"aria-label": f"Show {definition.label}"}))
            self.fields[f"order_{definition.pk}"] = forms.IntegerField(
                required=False, min_value=1, max_value=1000, initial=index + 1,
                label=f"Place of {definition.label}",
                widget=forms.NumberInput(attrs={"class": "input-narrow", "aria-label": f"Place of {definition.label}"}))
            self.fields[f"required_{definition.pk}"] = forms.BooleanField(
                required=False, initial=bool(entry and entry.required), label=f"{definition.label} required",
                widget=forms.CheckboxInput(attrs={"aria-label": f"{definition.label} required"}))

    def rows(self):
        return [{"definition": d, "use": self[f"use_{d.pk}"], "order": self[f"order_{d.pk}"],
                 "required": self[f"required_{d.pk}"]} for d in self.definitions]

    def chosen(self) -> list[tuple]:
        picked = []
        for index, definition in enumerate(self.definitions):
            if self.cleaned_data.get(f"use_{definition.pk}"):
                order = self.cleaned_data.get(f"order_{definition.pk}")
                picked.append(((order if order is not None else 10**6, index), definition,
                               bool(self.cleaned_data.get(f"required_{definition.pk}"))))
        picked.sort(key=lambda item: item[0])
        return [(definition, required) for _, definition, required in picked]

    def save(self):
        try:
            return save_layout(layout=self.layout, industry=self.cleaned_data["industry"], fields=self.chosen())
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
            return None


class AssignmentRuleForm(forms.ModelForm):
    class Meta:
        model = AssignmentRule
        fields = ["name", "industry", "country", "region", "source", "team", "owner_strategy", "owner", "is_active"]
        widgets = {"country": forms.TextInput(attrs={"maxlength": 2, "placeholder": "US",
                                                     "autocapitalize": "characters"})}
        labels = {"owner_strategy": "Owner chosen by", "owner": "Fixed owner", "is_active": "Active"}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        scope = Scope.of(user)
        if self.instance.pk is None:
            self.instance.organization_id = scope.organization_id
        self.fields["team"].queryset = Team.objects.visible_to(user).order_by("name")
        self.fields["owner"].queryset = member_choices(scope).select_related("membership__team")
        self.fields["owner"].empty_label = "—"
        self.fields["team"].empty_label = "Choose a team"
        self.fields["owner"].label_from_instance = (
            lambda u: f"{u.get_full_name()} ({u.membership.team})" if u.membership.team_id else u.get_full_name())
        self.fields["source"].choices = [("", "Any source")] + list(self.fields["source"].choices)[1:]

    def _post_clean(self):
        pass  # validated once, by the model in contacts.services.save_rule

    def save(self, commit=True):
        try:
            return save_rule(rule=self.instance, data={name: self.cleaned_data[name] for name in self.Meta.fields})
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
            return None


class ScoringModelForm(forms.ModelForm):
    """An organization's lead-scoring weights (contacts.scoring); saving rescores the organization."""

    GROUPS = [
        ("Job title seniority", ["title_executive", "title_vp", "title_director", "title_manager", "title_senior"]),
        ("Company", ["size_large", "size_mid", "size_small", "target_industries", "industry_match"]),
        ("Behaviour (points per activity, before decay)",
         ["meeting_held", "meeting_scheduled", "call", "email_received", "sms_received", "email_clicked",
          "email_opened", "half_life_days"]),
        ("Negative signals", ["opt_out_penalty", "bounce_penalty"]),
    ]

    target_industries = forms.CharField(
        required=False, label="Target industries",
        help_text="Separated by commas, e.g. Software, Healthcare (matched case-insensitively).")

    class Meta:
        model = ScoringModel
        fields = [*ScoringModel.WEIGHT_FIELDS, "target_industries"]
        labels = {
            "title_executive": "Executive (C-level, founder, owner, president)", "title_vp": "Vice president / head of",
            "title_director": "Director", "title_manager": "Manager / lead", "title_senior": "Senior / principal",
            "size_large": "Large company (1,001+)", "size_mid": "Mid-sized company (51–1,000)",
            "size_small": "Small company (1–50)", "industry_match": "Industry is a target industry",
            "meeting_held": "Meeting held", "meeting_scheduled": "Meeting scheduled", "call": "Call",
            "email_received": "Email received", "sms_received": "SMS reply", "email_clicked": "Email link clicked",
            "email_opened": "Email opened", "half_life_days": "Half-life (days)",
            "opt_out_penalty": "Opt-out penalty (per channel)", "bounce_penalty": "Bounce penalty (each)",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["target_industries"] = ", ".join(self.instance.target_industries or [])
        for name in ScoringModel.WEIGHT_FIELDS:
            self.fields[name].widget.attrs.update({"min": 1 if name == "half_life_days" else 0, "step": "any"})

    def clean_target_industries(self):
        values = [" ".join(v.split()) for v in (self.cleaned_data.get("target_industries") or "").split(",")]
        values = unique_casefolded(values)
        too_long = [v for v in values if len(v) > 120]
        if too_long:
            raise ValidationError(f"An industry has at most 120 characters: {too_long[0][:30]}…")
        return values

    @property
    def groups(self):
        return [(title, [self[name] for name in names]) for title, names in self.GROUPS]
