"""Contact forms of the pages. Choices are scoped to the user's organization; saving goes
through contacts.services, whose ValidationErrors land on the field they name."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction

from contacts.models import Channel, ConsentEvent, ConsentStatus, Contact, NotificationTopic
from contacts.services import create_contact, record_consent, set_tags, update_contact
from crm.forms import CompanyPickerWidget, CustomFieldsFormMixin, member_choices
from crm.models import Tag, Team
from crm.permissions import Role, Scope

# The page form, in the order the fieldsets show them.
FIELDSETS = [
    ("Name and role", ["first_name", "middle_name", "last_name", "job_title", "department"]),
    ("Contact details", ["email", "phone", "mobile", "website", "linkedin", "twitter", "skype", "telegram"]),
    ("Sales", ["lifecycle_stage", "score", "source", "source_detail", "industry", "owner", "team", "tags"]),
    ("Address", ["street", "city", "region", "postal_code", "country", "timezone"]),
    ("Preferences", ["preferred_channels", "preferred_contact_time", "notification_opt_ins"]),
    ("More", ["birth_date", "description"]),
]
MODEL_FIELDS = [name for _, names in FIELDSETS for name in names if name != "tags"]

# Fields the detail page edits in place, one at a time.
INLINE_FIELDS = ["first_name", "last_name", "email", "phone", "mobile", "job_title", "department",
                 "lifecycle_stage", "score", "source", "owner", "team"]


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
            "score": forms.NumberInput(attrs={"min": 0, "max": 100}),
            "country": forms.TextInput(attrs={"maxlength": 2, "placeholder": "US", "autocapitalize": "characters"}),
            "timezone": forms.TextInput(attrs={"placeholder": "America/New_York"}),
        }
        labels = {"score": "Lead score", "lifecycle_stage": "Stage"}

    def __init__(self, *args, user, only: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
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
        if only is None:
            self.add_custom_fields(scope.organization_id, instance.custom_fields)
        else:
            self.limit_fields(only)

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
        if self.custom_definitions:
            data["custom_fields"] = getattr(self, "cleaned_custom_fields", self.custom_field_values())
        return data

    def save(self, commit=True):
        """Create or update through the services; None (with errors on the form) when they refuse."""
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
