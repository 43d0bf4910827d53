"""Company forms of the pages; saving goes through companies.services."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from companies.models import Company
from companies.services import create_company, update_company
from crm.forms import CompanyPickerWidget, CustomFieldsFormMixin, member_choices
from crm.permissions import Role, Scope

FIELDSETS = [
    ("Company", ["name", "domain", "website", "phone", "industry", "size_band", "parent", "owner"]),
    ("Finances", ["annual_revenue", "currency", "founded_year"]),
    ("Address", ["street", "city", "region", "postal_code", "country", "timezone"]),
    ("More", ["description"]),
]
MODEL_FIELDS = [name for _, names in FIELDSETS for name in names]


class CompanyForm(CustomFieldsFormMixin, forms.ModelForm):
    fieldset_layout = FIELDSETS
    custom_fields_model = "company"

    class Meta:
        model = Company
        fields = MODEL_FIELDS
        widgets = {
            "parent": CompanyPickerWidget(search_placeholder="Search for a parent company…"),
            "description": forms.Textarea(attrs={"rows": 4}),
            "domain": forms.TextInput(attrs={"placeholder": "example.com"}),
            "currency": forms.TextInput(attrs={"maxlength": 3, "placeholder": "USD",
                                               "autocapitalize": "characters"}),
            "country": forms.TextInput(attrs={"maxlength": 2, "placeholder": "US", "autocapitalize": "characters"}),
            "timezone": forms.TextInput(attrs={"placeholder": "America/New_York"}),
        }
        labels = {"size_band": "Employees", "parent": "Parent company"}

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
        parents = Company.objects.visible_to(user)
        if not is_new:
            parents = parents.exclude(pk=instance.pk)
        self.fields["parent"].queryset = parents
        self.fields["owner"].queryset = member_choices(scope, None if is_new else instance.owner_id)
        self.fields["owner"].label_from_instance = lambda u: u.get_full_name()
        if scope.role == Role.REP:
            # Reps change the companies they own: a rep cannot give one away.
            self.fields["owner"].required = True
            self.fields["owner"].empty_label = None
        if is_new and not self.is_bound:
            self.initial.setdefault("owner", user.pk)
        if only is None:
            self.add_custom_fields(scope.organization_id, instance.custom_fields)
        else:
            self.limit_fields(only)

    def _post_clean(self):
        # Validated once, by companies.services (which also saves).
        pass

    def clean_currency(self):
        return (self.cleaned_data.get("currency") or "").strip().upper()

    def clean_country(self):
        return (self.cleaned_data.get("country") or "").strip().upper()

    def clean(self):
        cleaned = super().clean()
        if self.custom_definitions:
            self.clean_custom_field_values()
        return cleaned

    def find_duplicates(self, data: dict) -> list:
        """Likely duplicates of a new company, or of one whose name or domain changes (the whole
        form only, unless the user chose "Save anyway"): shown above the form instead of saving."""
        from contacts.dedupe import find_company_duplicates

        if self.only is not None or self.data.get("save_anyway"):
            return []
        instance = self.instance
        if instance.pk is not None and all(str(data.get(name, getattr(instance, name)) or "")
                                           == str(getattr(instance, name) or "") for name in ("name", "domain")):
            return []
        return find_company_duplicates(self.user, data.get("name", ""), data.get("domain", ""),
                                       data.get("website", ""), exclude_id=instance.pk)

    def save(self, commit=True):
        data = {name: self.cleaned_data[name] for name in MODEL_FIELDS if name in self.cleaned_data}
        self.duplicates = self.find_duplicates(data)
        if self.duplicates:
            return None
        if self.custom_definitions:
            data["custom_fields"] = getattr(self, "cleaned_custom_fields", self.custom_field_values())
        try:
            if self.instance.pk is None:
                company = create_company(organization=self.instance.organization, data=data, actor=self.user)
            else:
                company = self.instance
                update_company(company=company, data=data, actor=self.user)
        except ValidationError as exc:
            self.add_service_errors(exc)
            return None
        self.instance = company
        return company


INLINE_FIELDS = ["name", "domain", "website", "phone", "industry", "size_band", "annual_revenue", "currency",
                 "founded_year", "timezone", "owner"]
