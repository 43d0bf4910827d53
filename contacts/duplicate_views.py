"""The duplicate review queue: likely pairs of contacts (or companies) best first, each with
its reasons, a link to the merge page and "Not a duplicate"; "Scan now" starts the scan job,
whose progress the page polls. The work is in contacts.duplicates and contacts.dedupe."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from contacts import duplicates
from crm.models import Job
from crm.pages import bad_request, get_visible_or_404, require_writer, wants_partial
from crm.pagination import InvalidCursor, KeysetPaginator, SortKey, page_size_from
from crm.permissions import CHANGE

KINDS = {"contact": "Contacts", "company": "Companies"}
SORT = SortKey("score", descending=True)


def _kind(value) -> str:
    return value if value in KINDS else "contact"


def _queue_url(kind: str) -> str:
    url = reverse("contacts:duplicates")
    return url if kind == "contact" else f"{url}?kind={kind}"


@login_required
@require_GET
def duplicate_list(request):
    kind = _kind(request.GET.get("kind"))
    paginator = KeysetPaginator(duplicates.queue(request.user, kind), SORT, namespace=f"duplicates:{kind}",
                                page_size=page_size_from(request.GET.get("per_page")))
    try:
        page = paginator.page(request.GET.get("cursor"))
    except InvalidCursor as exc:
        return bad_request(request, str(exc))
    for pair in page:
        pair.merge_url = duplicates.merge_url(pair, kind)
    return render(request, "contacts/duplicates.html", {
        "kind": kind, "kinds": KINDS, "page": page, "scan": duplicates.latest_scan(request.user),
        "queue_url": _queue_url(kind), "base_query": "" if kind == "contact" else f"kind={kind}",
    })


@login_required
@require_POST
def duplicate_dismiss(request, pk):
    """"Not a duplicate" for one pair (404 unless the user sees both records; 403 for read-only roles)."""
    kind = _kind(request.POST.get("kind"))
    pair = duplicates.get_pair(request.user, kind, pk, CHANGE)
    if pair is None:
        raise Http404("No such pair.")
    duplicates.dismiss(request.user, pair)
    messages.success(request, f"Marked {pair.first} and {pair.second} as not duplicates. Later scans leave "
                              "them alone.")
    return redirect(_queue_url(kind))


@login_required
@require_POST
def duplicate_merge_all(request):
    """Merge every open pair scoring at least 0.95 (joined into groups) in a background job;
    each group into its most recently updated record, each merge undoable on its own."""
    from contacts.merge import start_bulk_merge

    require_writer(request.user)
    kind = _kind(request.POST.get("kind"))
    groups = duplicates.high_score_groups(request.user, kind)
    if not groups:
        messages.info(request, f"No pairs score {duplicates.BULK_MIN_SCORE:.2f} or more: review the others one by one.")
        return redirect(_queue_url(kind))
    job = start_bulk_merge(request.user, groups, kind)
    messages.success(request, f"Merging {len(groups):,} groups in the background; each merge can be undone.")
    return redirect("contacts:bulk_merge_detail", job.pk)


@login_required
@require_POST
def duplicate_scan(request):
    require_writer(request.user)
    job = duplicates.start_scan(request.user)
    if job.is_active and job.actor_id != request.user.pk:
        messages.info(request, "A scan someone else started is running; its pairs appear here when it ends.")
    elif job.is_active:
        messages.info(request, "Scanning your organization for duplicates; this page shows the progress.")
    else:
        messages.success(request, "Scan finished.")
    return redirect(_queue_url(_kind(request.POST.get("kind"))))


@login_required
@require_GET
def duplicate_scan_status(request, pk):
    """The scan's progress card (polled with htmx while it runs)."""
    job = get_visible_or_404(request.user, Job.objects.filter(kind=duplicates.KIND), pk)
    template = "contacts/_duplicate_scan.html" if wants_partial(request) else "contacts/duplicate_scan.html"
    return render(request, template, {"scan": job, "kind": _kind(request.GET.get("kind"))})
