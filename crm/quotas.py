"""Hourly quotas on the expensive flows (imports, exports, SMS sends), per member and per
organization, so one person or one script cannot swamp the workers, the disk or the SMS bill.

Why counting rows instead of a cache counter: every flow already stores a row when it starts
(a ContactImport, an export Job, a Message or a bulk-SMS Job), so "how many in the last hour"
is an exact sliding window, costs one indexed COUNT/SUM, counts only what really started
(a refused or invalid request uses nothing) and needs no store besides the database. The
seconds to wait come from the same rows: the time until enough of them leave the window.

A service calls `check(user, QUOTA, cost)` before it stores anything; over the quota it raises
`QuotaExceeded`, which the API answers with 429 and Retry-After (crm.api.exceptions) and the
pages with 429 and the form again (crm.quotas.page_error). A limit of 0 turns a quota off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import IntegerField, Q, Sum, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from crm.permissions import Scope

WINDOW = timedelta(hours=1)


class QuotaExceeded(Exception):
    """A member or their organization used up a quota; `retry_after` is in whole seconds."""

    def __init__(self, message: str, *, quota: str, retry_after: int):
        super().__init__(message)
        self.message, self.quota, self.retry_after = message, quota, retry_after


@dataclass(frozen=True)
class Quota:
    name: str        # "imports", "exports", "sms"
    label: str       # "Import", "Export", "SMS" (starts the message)
    unit: str        # what is counted, for the message ("messages"; "" when it goes without saying)
    user_setting: str
    org_setting: str

    def limits(self) -> tuple[int, int]:
        return (int(getattr(settings, self.user_setting, 0) or 0), int(getattr(settings, self.org_setting, 0) or 0))

    # Rows of the window: (created_at, weight) with the weight in the quota's unit.

    def usage(self, since: datetime, **who) -> int:
        raise NotImplementedError

    def entries(self, since: datetime, **who) -> list[tuple[datetime, int]]:
        raise NotImplementedError


class _RowQuota(Quota):
    """A quota where each stored row (by `created_at`) is one use; subclasses give `_rows`."""

    def _rows(self, since, user=None, organization_id=None):
        raise NotImplementedError

    def usage(self, since, **who):
        return self._rows(since, **who).count()

    def entries(self, since, **who):
        return [(at, 1) for at in self._rows(since, **who).order_by("created_at").values_list("created_at", flat=True)]


class _ImportQuota(_RowQuota):
    def _rows(self, since, user=None, organization_id=None):
        from contacts.models import ContactImport

        rows = ContactImport.objects.filter(created_at__gte=since)
        return rows.filter(created_by=user) if user is not None else rows.filter(organization_id=organization_id)


class _ExportQuota(_RowQuota):
    def _rows(self, since, user=None, organization_id=None):
        from contacts.exports import KIND
        from crm.models import Job

        rows = Job.objects.filter(kind=KIND, created_at__gte=since)
        return rows.filter(actor=user) if user is not None else rows.filter(organization_id=organization_id)



class _SmsQuota(Quota):
    """Single texts are Message rows (outbound, not part of a bulk job); a bulk send counts its
    recipients when it starts (the job's params["recipients"]), so its texts are not counted
    again as they go out."""

    def _who(self, user=None, organization_id=None, field="actor"):
        return Q(**{field: user}) if user is not None else Q(organization_id=organization_id)

    def _messages(self, since, **who):
        from messaging.models import Message

        return Message.objects.filter(self._who(**who), direction=Message.Direction.OUTBOUND, job__isnull=True,
                                      created_at__gte=since)

    def _bulk(self, since, **who):
        from contacts.bulk import KIND
        from crm.models import Job

        return (Job.objects.filter(self._who(**who), kind=KIND, created_at__gte=since,
                                   params__action="send_sms", params__has_key="recipients")
                .annotate(recipients=Cast(KeyTextTransform("recipients", "params"), IntegerField())))

    def usage(self, since, **who):
        bulk = self._bulk(since, **who).aggregate(n=Coalesce(Sum("recipients"), Value(0)))["n"]
        return self._messages(since, **who).count() + bulk

    def entries(self, since, **who):
        rows = [(at, 1) for at in self._messages(since, **who).values_list("created_at", flat=True)]
        rows += list(self._bulk(since, **who).values_list("created_at", "recipients"))
        return sorted(rows)


IMPORTS = _ImportQuota("imports", "Import", "", "KITH_QUOTA_IMPORTS_PER_HOUR",
                       "KITH_QUOTA_IMPORTS_PER_HOUR_ORG")
EXPORTS = _ExportQuota("exports", "Export", "", "KITH_QUOTA_EXPORTS_PER_HOUR",
                       "KITH_QUOTA_EXPORTS_PER_HOUR_ORG")
SMS = _SmsQuota("sms", "SMS", "messages", "KITH_QUOTA_SMS_PER_HOUR", "KITH_QUOTA_SMS_PER_HOUR_ORG")
QUOTAS = (IMPORTS, EXPORTS, SMS)


def _wait(entries, used: int, cost: int, limit: int, now: datetime) -> int:
    """Seconds until enough of the window's rows (oldest first) have left it for `cost` more."""
    excess = used + cost - limit
    for at, weight in entries:
        excess -= weight
        if excess <= 0:
            return max(1, math.ceil((at + WINDOW - now).total_seconds()))
    return int(WINDOW.total_seconds())


def _in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def check(user, quota: Quota, cost: int = 1) -> None:
    """Raise QuotaExceeded when `cost` more (1 import or export, N texts) would take the member
    or their organization past the hourly limit."""
    per_user, per_org = quota.limits()
    now = timezone.now()
    since = now - WINDOW
    scope = Scope.of(user)
    organization_id = scope.organization_id if scope is not None else None
    per_hour = f"{{:,}}{' ' + quota.unit if quota.unit else ''} per hour"
    for limit, who, whose in ((per_user, {"user": user}, "your"),
                              (per_org, {"organization_id": organization_id}, "your organization's")):
        if not limit or (whose != "your" and organization_id is None):
            continue
        used = quota.usage(since, **who)
        if used + cost <= limit:
            continue
        if cost > limit:
            wait = int(WINDOW.total_seconds())
            message = (f"{quota.label} limit: {per_hour.format(limit)} ({whose} limit), and this would "
                       f"send {cost:,}. Choose fewer contacts.")
        else:
            wait = _wait(quota.entries(since, **who), used, cost, limit, now)
            scope = "" if whose == "your" else " for your organization"
            message = (f"{quota.label} limit reached{scope}: {per_hour.format(limit)}. "
                       f"Try again in {_in_words(wait)}.")
            if cost > 1:
                message = message.replace(". Try", f" ({used:,} used, this would add {cost:,}). Try", 1)
        raise QuotaExceeded(message, quota=quota.name, retry_after=wait)


def page_error(request, form, exc: QuotaExceeded, template: str, context: dict):
    """A page's answer to a used-up quota: the form again with the message, status 429."""
    from django.shortcuts import render

    form.add_error(None, exc.message)
    response = render(request, template, {**context, "form": form}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response
