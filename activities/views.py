"""Timeline pages: the timeline card of a contact or company (type chips, infinite scroll,
quick-add forms), task done/undone, "My tasks" and notifications. Rows come through
`visible_to`; writes go through activities.services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from activities import timeline
from activities.forms import FORMS, PreferencesForm
from activities.models import Activity, Notification
from activities.notifications import mark_read, unread_count
from activities.services import delete_activity, set_task_done, update_activity
from activities.tasks_page import task_groups
from crm.pages import bad_request, get_visible_or_404, wants_partial
from crm.permissions import CHANGE, Scope

NOTIFICATIONS_SHOWN = 100
DETAIL_URLS = {"contact": "contacts:detail", "company": "companies:detail"}


def _subject(request, model: str, pk, action: str = "view"):
    """The contact or company of a timeline URL, through the gate (404 outside it)."""
    from companies.models import Company
    from contacts.models import Contact

    if model == "contact":
        return get_visible_or_404(request.user, Contact.objects.select_related("owner", "team"), pk, action)
    return get_visible_or_404(request.user, Company.objects.all(), pk)


def can_log(user, subject) -> bool:
    """Who may add to a timeline: on a contact, those who may change it; on a company
    (shared reference data), every member whose role writes."""
    scope = Scope.of(user)
    if scope is None or not scope.can_write:
        return False
    return subject._meta.model_name == "company" or bool(getattr(subject, "can_change", False))


def timeline_context(request, subject, *, group: str = "all", forms=None, open_form: str = "") -> dict:
    """What the timeline card shows: the first page of `group`, the type chips and, for
    those who may log, the quick-add forms. Raises TimelineError for a bad type."""
    model = subject._meta.model_name
    page = timeline.page(request.user, subject, group=group)
    writer = can_log(request.user, subject)
    forms = forms or {}
    if writer:
        for kind, form_class in FORMS.items():
            forms.setdefault(kind, form_class(subject=subject, user=request.user))
    return {
        "subject": subject, "model": model, "page": page, "group": page.group,
        "groups": [(key, label) for key, (label, _) in timeline.GROUPS.items()],
        "timeline_url": reverse(f"activities:{model}_timeline", args=[subject.pk]),
        "forms": [forms[kind] for kind in FORMS] if writer else [],
        "open_form": open_form, "can_log": writer, "show_contact": model == "company",
        "show_company": model == "contact",
    }


@login_required
@require_GET
def timeline_view(request, model, pk):
    """GET …/timeline/?type=&cursor=: the next page of entries (infinite scroll), or with
    no cursor the whole stream of one type (chips + first page)."""
    subject = _subject(request, model, pk)
    cursor = request.GET.get("cursor")
    try:
        if cursor:
            page = timeline.page(request.user, subject, group=request.GET.get("type", "all"), cursor=cursor)
            context = {"page": page, "group": page.group, "subject": subject, "model": model,
                       "timeline_url": reverse(f"activities:{model}_timeline", args=[subject.pk]),
                       "show_contact": model == "company", "show_company": model == "contact"}
            template = "activities/_entries.html"
        else:
            context = timeline_context(request, subject, group=request.GET.get("type", "all"))
            template = "activities/_stream.html"
    except timeline.TimelineError as exc:
        return bad_request(request, exc.message, title="We couldn't show this timeline")
    if not wants_partial(request):  # a "Load older" link followed without JavaScript
        context["detail_url"] = reverse(DETAIL_URLS[model], args=[subject.pk])
        template = "activities/timeline_page.html"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


@login_required
@require_POST
def quick_add(request, model, pk, kind):
    """POST a quick-add form (note, call, meeting, task). Saved: the refreshed timeline card
    (or, without htmx, back to the page). Refused: the card with the form's errors, 400."""
    if kind not in FORMS:
        raise Http404("No such form.")
    subject = _subject(request, model, pk, CHANGE if model == "contact" else "view")
    if not can_log(request.user, subject):
        raise PermissionDenied("Your role is read-only.")
    form = FORMS[kind](request.POST, subject=subject, user=request.user)
    saved = form.save() if form.is_valid() else None
    detail = reverse(DETAIL_URLS[model], args=[subject.pk])
    if saved is not None:
        if not wants_partial(request):
            return redirect(detail + "#timeline")
        return render(request, "activities/_timeline.html", timeline_context(request, subject))
    context = timeline_context(request, subject, forms={kind: form}, open_form=kind)
    template = "activities/_timeline.html" if wants_partial(request) else "activities/quick_add_page.html"
    return render(request, template, {**context, "detail_url": detail}, status=400)


def _task(request, pk) -> Activity:
    task = get_visible_or_404(request.user, Activity.objects.select_related(
        "actor", "assigned_to", "contact", "company"), pk, CHANGE)
    if task.type != Activity.Type.TASK:
        raise Http404("Not a task.")
    return task


@login_required
@require_POST
def task_done(request, pk):
    """Mark a task done (done=1) or open again (done=0). htmx gets the task's line back
    (as on the timeline, or as on My tasks with from=tasks)."""
    task = _task(request, pk)
    done = request.POST.get("done")
    if done not in ("0", "1"):
        return bad_request(request, "Say done=1 or done=0.", title="We couldn't change that task")
    try:
        task = set_task_done(activity=task, done=done == "1", actor=request.user)
    except ValidationError as exc:
        return bad_request(request, " ".join(exc.messages), title="We couldn't change that task")
    if request.POST.get("from") == "tasks":
        if not wants_partial(request):
            return redirect("activities:my_tasks")
        return render(request, "activities/_task_row.html", {"task": task})
    return _entry_response(request, task)


def _entry_response(request, activity, *, redirect_to=None):
    """After a change on the timeline: the entry again for htmx (or nothing when it is
    gone), else back to the record's page."""
    if not wants_partial(request):
        target = (reverse("contacts:detail", args=[activity.contact_id]) if activity.contact_id
                  else reverse("companies:detail", args=[activity.company_id]))
        return redirect(target + "#timeline")
    if redirect_to == "gone":
        return HttpResponse("")
    activity.can_change = True
    entry = timeline.Entry(when=activity.occurred_at, source=timeline.ACTIVITY, id=activity.pk, activity=activity)
    return render(request, "activities/_entry.html", {"entry": entry, "show_contact": request.POST.get(
        "show") == "contact", "show_company": request.POST.get("show") == "company"})


@login_required
@require_POST
def activity_cancel(request, pk):
    """Cancel a planned meeting or an open task (it stays on the timeline, marked cancelled)."""
    activity = get_visible_or_404(request.user, Activity.objects.select_related(
        "actor", "assigned_to", "contact", "company"), pk, CHANGE)
    if activity.status != Activity.Status.PLANNED:
        return bad_request(request, "Only planned meetings and open tasks can be cancelled.",
                           title="We couldn't cancel that")
    update_activity(activity=activity, data={"status": Activity.Status.CANCELLED}, actor=request.user)
    return _entry_response(request, activity)


@login_required
@require_POST
def activity_delete(request, pk):
    """Delete an activity from the timeline (the contact's dates fall back to the others)."""
    activity = get_visible_or_404(request.user, Activity.objects.all(), pk, CHANGE)
    delete_activity(activity)
    return _entry_response(request, activity, redirect_to="gone")


@login_required
@require_GET
def my_tasks(request):
    if Scope.of(request.user) is None:
        raise PermissionDenied("Your account does not belong to an organization.")
    groups = task_groups(request.user)
    return render(request, "activities/my_tasks.html", {
        "groups": [("overdue", "Overdue", groups["overdue"]), ("today", "Today", groups["today"]),
                   ("upcoming", "Upcoming", groups["upcoming"])],
        "zone": groups["zone"], "limit": groups["limit"],
        "total": sum(len(groups[k]) for k in ("overdue", "today", "upcoming")),
    })


def _membership(request):
    from crm.models import Membership

    if Scope.of(request.user) is None:
        raise PermissionDenied("Your account does not belong to an organization.")
    return Membership.objects.get(user=request.user)


@login_required
@require_http_methods(["GET", "POST"])
def notification_list(request):
    """The member's notifications, newest first, and their own preferences (time zone,
    daily digest): POST saves those (every role may, they are personal)."""
    membership = _membership(request)
    initial = {"timezone": membership.timezone, "email_digest": membership.email_digest}
    form = PreferencesForm(request.POST or None, initial=initial, user=request.user)
    if request.method == "POST" and form.is_valid() and form.save() is not None:
        messages.success(request, "Saved your preferences.")
        return redirect("activities:notifications")
    rows = list(Notification.objects.visible_to(request.user).order_by("-created_at", "-id")[:NOTIFICATIONS_SHOWN])
    return render(request, "activities/notifications.html", {
        "notifications": rows, "unread": sum(1 for n in rows if n.read_at is None),
        "limit": NOTIFICATIONS_SHOWN, "preferences": form}, status=400 if form.errors else 200)


@login_required
@require_GET
def notification_count(request):
    """The bell's badge (loaded by htmx, so pages do not pay for it)."""
    count = unread_count(request.user) if Scope.of(request.user) is not None else 0
    return render(request, "activities/_bell_count.html", {"count": count})


@login_required
@require_POST
def notification_read(request, pk):
    """Mark one notification read and follow its link (?go=1), or come back to the list."""
    notification = get_visible_or_404(request.user, Notification.objects.all(), pk, CHANGE, perms=())
    mark_read(request.user, [notification.pk])
    if request.POST.get("go") == "1" and notification.url.startswith("/"):
        return redirect(notification.url)
    return redirect("activities:notifications")


@login_required
@require_POST
def notification_read_all(request):
    if Scope.of(request.user) is None:
        raise PermissionDenied("Your account does not belong to an organization.")
    mark_read(request.user)
    if wants_partial(request):
        return HttpResponse(status=204)
    return redirect("activities:notifications")
