"""Audit context: who and through what a change was made.

Row changes of tracked models are recorded by database triggers (django-pghistory),
so bulk updates and raw SQL are audited too. This module attaches the actor and
source to them."""

from __future__ import annotations

import pghistory
from pghistory.middleware import HistoryMiddleware


class AuditContextMiddleware(HistoryMiddleware):
    def get_context(self, request):
        context = super().get_context(request)
        context["source"] = "api" if request.path.startswith("/api/") else (
            "admin" if request.path.startswith("/admin/") else "web")
        return context


def change_context(*, actor=None, source: str, **extra):
    """`with change_context(actor=user, source="import"):` outside requests."""
    return pghistory.context(user=getattr(actor, "pk", actor), source=source, **extra)


def history_for(obj):
    """Audit events of one object, newest first, with per-field old → new diffs."""
    from pghistory.models import Events

    return Events.objects.tracks(obj).order_by("-pgh_created_at")
