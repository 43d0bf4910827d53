"""FilterSet of messages, shared by the pages and the API."""

from __future__ import annotations

import django_filters as filters

from contacts.models import Contact
from crm.filters import DayFromFilter, DayToFilter, OrgScopedFilterSet
from messaging.models import Message, SmsTemplate


class MessageFilter(OrgScopedFilterSet):
    contact = filters.ModelChoiceFilter(queryset=Contact.objects.all())
    status = filters.MultipleChoiceFilter(distinct=False, choices=Message.Status.choices)
    direction = filters.ChoiceFilter(choices=Message.Direction.choices)
    created_after = DayFromFilter(field_name="created_at")
    created_before = DayToFilter(field_name="created_at")

    class Meta:
        model = Message
        fields: list[str] = []


class SmsTemplateFilter(OrgScopedFilterSet):
    kind = filters.ChoiceFilter(choices=SmsTemplate.Kind.choices)

    class Meta:
        model = SmsTemplate
        fields: list[str] = []
