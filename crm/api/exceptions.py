"""API errors are JSON with field details, also for errors raised below the serializers."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.exceptions import Throttled
from rest_framework.views import exception_handler as drf_exception_handler

from crm.quotas import QuotaExceeded


def exception_handler(exc, context):
    # Services and models raise Django's ValidationError naming the field at fault
    # (email taken on restore, owner outside the organization …): a 400, not a 500.
    if isinstance(exc, DjangoValidationError):
        exc = serializers.ValidationError(serializers.as_serializer_error(exc))
    # An hourly quota (crm.quotas): 429 with the message naming the quota, and Retry-After.
    if isinstance(exc, QuotaExceeded):
        seconds = exc.retry_after
        exc = Throttled(detail=exc.message, code=f"{exc.quota}_quota")
        exc.wait = seconds
    return drf_exception_handler(exc, context)
