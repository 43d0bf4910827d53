"""The global search box (suggestions from the first keystroke) and the search page
(full text with highlights and facets). Both answer through contacts.search, which
starts every query from `visible_to(user)`."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from contacts.filters import ContactFilter
from contacts.models import Contact
from contacts.search import MAX_QUERY_LENGTH, MODES, autocomplete, full_text, labelled_facets, ranked_search
from crm.pages import bad_request, filter_label

SUGGESTIONS = 8


def hit_url(hit) -> str:
    return reverse("contacts:detail" if hit.kind == "contact" else "companies:detail", args=[hit.id])


@login_required
@require_GET
def search_suggest(request):
    """The dropdown under the global search box (htmx partial)."""
    q = request.GET.get("q", "").strip()
    hits = autocomplete(request.user, q, limit=SUGGESTIONS) if q else []
    return render(request, "contacts/_suggest.html", {
        "q": q, "hits": [{"hit": hit, "url": hit_url(hit)} for hit in hits],
        "contacts": [h for h in hits if h.kind == "contact"], "companies": [h for h in hits if h.kind == "company"],
    })


# Facets link to the contact list filters of the same name.
_FACET_PARAMS = {"lifecycle_stage": "lifecycle_stage", "source": "source", "owner": "owner", "tag": "tags"}
_FACET_TITLES = {"lifecycle_stage": "Stage", "source": "Source", "owner": "Owner", "tag": "Tag", "company": "Company"}


@login_required
@require_GET
def search_page(request):
    """Ranked full-text results with highlighted matches, narrowed by the contact filters
    in the query string; facet counts link to those filters."""
    q = request.GET.get("q", "").strip()
    if len(q) > MAX_QUERY_LENGTH:
        return bad_request(request, f"Search for at most {MAX_QUERY_LENGTH} characters.", title="Search too long")
    mode = request.GET.get("mode", "text")
    if mode not in MODES:
        return bad_request(request, f"Search by one of: {', '.join(MODES)}.", title="Unknown kind of search")
    filterset = ContactFilter({k: v for k, v in request.GET.lists() if k not in ("q", "mode")}, request=request,
                              queryset=Contact.objects.visible_to(request.user))
    if not filterset.is_valid():
        problems = "; ".join(f"{filter_label(filterset.form, name)}: {' '.join(errors)}"
                             for name, errors in filterset.errors.items())
        return bad_request(request, problems, title="Some filters don't make sense")
    if q and mode != "text":
        # "By meaning": words, names and meaning fused, each hit with why it matched.
        return render(request, "contacts/search.html", {
            "q": q, "mode": mode, "hits": ranked_search(request.user, q, queryset=filterset.qs, mode=mode),
            "narrowed": any(k not in ("q", "mode") for k in request.GET),
            "clear_url": f"?{urlencode({'q': q, 'mode': mode})}",
            "text_url": f"?{urlencode({'q': q})}",
        })
    result = full_text(request.user, q, queryset=filterset.qs) if q else None
    facets = []
    if result is not None:
        for key, counts in labelled_facets(result.facets).items():
            param = _FACET_PARAMS.get(key)
            entries = []
            for value, label, n in counts:
                params = request.GET.copy()
                if param:
                    params.setlist(param, [str(value)])
                entries.append({"label": label, "count": n, "url": f"?{params.urlencode()}" if param else None,
                                "active": param is not None and str(value) in request.GET.getlist(param)})
            if entries:
                facets.append({"title": _FACET_TITLES[key], "entries": entries})
    narrowed = any(k not in ("q", "mode") for k in request.GET)
    return render(request, "contacts/search.html", {
        "q": q, "mode": mode, "result": result, "facets": facets, "narrowed": narrowed,
        "clear_url": f"?{urlencode({'q': q})}",
        "list_url": f"{reverse('contacts:list')}?{urlencode({'q': q})}",
    })
