"""Reverting one recorded change from a contact's or company's history (POST only).
The work is crm.history.revert_change; this view fetches through the gate, answers
404 to outsiders, 403 to those who may see but not change the record, and asks to
confirm when the field changed again since."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm.history import EventNotFound, RevertConflict, revert_change
from crm.pages import bad_request, get_visible_or_404
from crm.permissions import CHANGE


def _revert(request, pk, event_id, *, queryset, detail_url: str):
    obj = get_visible_or_404(request.user, queryset, pk, CHANGE)
    field = request.POST.get("field", "")
    back = reverse(detail_url, args=[obj.pk]) + "#history-heading"
    try:
        obj, changed = revert_change(obj, event_id=event_id, field=field, actor=request.user,
                                     confirm=request.POST.get("confirm") == "1")
    except EventNotFound:
        raise Http404("No such change.") from None
    except RevertConflict as conflict:
        return render(request, "includes/revert_confirm.html", {
            "object": obj, "conflict": conflict, "field": field, "event_id": event_id, "back": back,
            "current": _show(obj, field, conflict.current), "old": _show(obj, field, conflict.old),
        }, status=409)
    except ValidationError as exc:
        detail = "; ".join(f"{name}: {' '.join(errors)}" if name != "__all__" else " ".join(errors)
                           for name, errors in exc.message_dict.items())
        return bad_request(request, f"Could not revert the change ({detail}). Nothing was changed.",
                           title="We couldn't revert that change")
    if changed:
        messages.success(request, f"Reverted the change of {_label(obj, field)}.")
    else:
        messages.info(request, f"{_label(obj, field)} already has that value.")
    return redirect(back)


def _label(obj, field):
    from crm.audit import field_label

    return field_label(type(obj)._meta.get_field(field))


def _show(obj, field, value):
    """One value as the history shows it."""
    from crm.audit import describe_value

    return describe_value(type(obj)._meta.get_field(field), value)


@login_required
@require_POST
def revert_contact_change(request, pk, event_id):
    from contacts.models import Contact

    return _revert(request, pk, event_id, queryset=Contact.objects.all(), detail_url="contacts:detail")


@login_required
@require_POST
def revert_company_change(request, pk, event_id):
    from companies.models import Company

    return _revert(request, pk, event_id, queryset=Company.objects.all(), detail_url="companies:detail")
