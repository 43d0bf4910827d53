"""Forms of the settings pages (members and teams). They collect input; crm.services
validates and saves, and its errors land on the field they name."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from crm.models import Membership, Team
from crm.permissions import Role


def add_service_errors(form, exc: ValidationError) -> None:
    """A service's ValidationError onto the form: on the field it names, else on the form."""
    for name, messages in exc.message_dict.items():
        form.add_error(name if name in form.fields else None, messages)


def _team_field(organization_id):
    return forms.ModelChoiceField(queryset=Team.objects.filter(organization_id=organization_id).order_by("name"),
                                  required=False, empty_label="No team")


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    full_name = forms.CharField(max_length=150, required=False, label="Full name")
    role = forms.ChoiceField(choices=Role.CHOICES, initial=Role.REP)
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False, empty_label="No team")
    password = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to email an invitation with a link to choose a password.")

    def __init__(self, *args, organization_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"] = _team_field(organization_id)


class MemberForm(forms.Form):
    full_name = forms.CharField(max_length=150, required=False, label="Full name")
    role = forms.ChoiceField(choices=Role.CHOICES)
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False, empty_label="No team")

    def __init__(self, *args, membership: Membership, **kwargs):
        kwargs.setdefault("initial", {"full_name": membership.user.full_name, "role": membership.role,
                                      "team": membership.team_id})
        super().__init__(*args, **kwargs)
        self.fields["team"] = _team_field(membership.organization_id)


class DeactivateForm(forms.Form):
    reassign_to = forms.ModelChoiceField(
        queryset=Membership.objects.none(), required=False, label="Reassign records to",
        empty_label="Choose a member…",
        help_text="Takes over their contacts, companies and open tasks. Required when they own any.")

    def __init__(self, *args, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["reassign_to"]
        field.queryset = (Membership.objects.filter(organization_id=membership.organization_id, user__is_active=True)
                          .exclude(pk=membership.pk).select_related("user").order_by("user__full_name",
                                                                                      "user__email"))
        field.label_from_instance = lambda m: f"{m.user.get_full_name()} ({m.get_role_display()})"


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def _post_clean(self):
        # Validated (with the organization) and saved by crm.services.
        pass


class WebhookEndpointForm(forms.Form):
    """Create and edit a webhook endpoint; crm.webhooks checks the URL (scheme, SSRF) and saves."""

    url = forms.CharField(label="URL", max_length=2000,
                          help_text="Where we POST the events (https recommended).")
    description = forms.CharField(max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label="Events", widget=forms.CheckboxSelectMultiple, help_text="The changes this endpoint receives.")
    is_active = forms.BooleanField(label="Active", required=False, initial=True,
                                   help_text="Disabled endpoints receive nothing; their pending events wait.")

    def __init__(self, *args, **kwargs):
        from crm.models import WEBHOOK_EVENT_TYPES

        super().__init__(*args, **kwargs)
        self.fields["event_types"].choices = [(t, t) for t in WEBHOOK_EVENT_TYPES]
        if not self.is_bound and "event_types" not in self.initial:
            self.initial["event_types"] = list(WEBHOOK_EVENT_TYPES)
