"""Search for the global search box and the search page: prefix as you type,
full text with highlights and facets, trigram similarity for typos. Every query
starts from `visible_to(user)`, so results never include what the user may not see."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, TrigramDistance
from django.db.models import Count, F, Q
from django.db.models.functions import Collate

from companies.models import Company
from contacts.models import Contact, ContactTag
from crm.search import digits, fold, prefix_upper_bound

# Full-text ranking is capped: an unselective query ("john smith" at 16 % of rows) ranks
# at most this many candidates instead of every match (see DESIGN: measured at 1M rows).
RANK_CANDIDATES = 2000
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_LENGTH = 200


@dataclass
class Hit:
    kind: str  # "contact" | "company"
    id: int
    label: str  # "Full Name (Company)"
    how: str  # "prefix" | "typo"


def _contact_label(name: str, company: str) -> str:
    return f"{name} ({company})" if company else name


def with_prefix_keys(queryset):
    """Aliases the search keys in "C" collation, matching the prefix indexes."""
    return queryset.alias(name_c=Collate("search_name", "C"), rev_c=Collate("search_name_rev", "C"),
                          email_c=Collate("email", "C"))


def prefix_branches(folded: str, number: str) -> list[tuple[Q, str]]:
    """(condition, order column) per indexed way a contact can match a typed prefix:
    first name first, last name first, email, phone digits anywhere."""
    upper = prefix_upper_bound(folded)
    branches = [(Q(name_c__gte=folded, name_c__lt=upper), "name_c"),
                (Q(rev_c__gte=folded, rev_c__lt=upper), "rev_c")]
    if "@" in folded or folded.isascii():
        branches.append((Q(email_c__gte=folded, email_c__lt=upper), "email_c"))
    if len(number) >= 3:
        branches.append((Q(phone_digits__contains=number), "id"))
    return branches


def autocomplete(user, text: str, limit: int = 10) -> list[Hit]:
    """Contacts and companies for the search box, from the first keystroke.

    Each branch (first-name-first, last-name-first, email, phone digits, company name) is
    one index range scan with its own LIMIT; when prefixes find fewer than `limit`
    contacts and the query has 3+ letters, trigram distance adds typo matches."""
    folded = fold(text)[:MAX_QUERY_LENGTH]
    if not folded:
        return []
    visible = Contact.objects.visible_to(user)
    keyed = with_prefix_keys(visible)
    seen: dict[int, Hit] = {}
    for condition, order in prefix_branches(folded, digits(text)):
        branch = keyed.filter(condition).order_by(order, "id")
        for pk, name, company in branch.values_list("pk", "display_name", "company_name")[:limit]:
            seen.setdefault(pk, Hit("contact", pk, _contact_label(name, company), "prefix"))
        if len(seen) >= limit:
            break
    contacts = list(seen.values())[:limit]
    if len(contacts) < limit and len(folded) >= 3:
        near = (visible.exclude(pk__in=list(seen))
                .filter(search_name__trigram_similar=folded)
                .order_by(TrigramDistance("search_name", folded))
                .values_list("pk", "display_name", "company_name")[: limit - len(contacts)])
        contacts += [Hit("contact", pk, _contact_label(name, company), "typo") for pk, name, company in near]
    upper = prefix_upper_bound(folded)
    companies = (Company.objects.visible_to(user).alias(name_c=Collate("search_name", "C"))
                 .filter(name_c__gte=folded, name_c__lt=upper).order_by("name_c", "id")
                 .values_list("pk", "name")[: max(3, limit // 3)])
    return contacts + [Hit("company", pk, name, "prefix") for pk, name in companies]


@dataclass
class FullTextResult:
    contacts: list = field(default_factory=list)
    facets: dict = field(default_factory=dict)
    capped: bool = False


def to_tsquery(text: str) -> str | None:
    """'José Mül' -> 'jose & mul:*' (every word must match; the last as a prefix)."""
    words = _WORD.findall(fold(text)[:MAX_QUERY_LENGTH])
    if not words:
        return None
    return " & ".join(words[:-1] + [f"{words[-1]}:*"])


def full_text(user, text: str, queryset=None, limit: int = 20) -> FullTextResult:
    """Ranked full-text matches with highlighted fields and facet counts, inside
    `queryset` (already filtered, e.g. by a FilterSet) or everything the user may see."""
    raw = to_tsquery(text)
    if raw is None:
        return FullTextResult()
    query = SearchQuery(raw, search_type="raw", config="simple")
    visible = queryset if queryset is not None else Contact.objects.visible_to(user)
    candidate_ids = list(visible.filter(search_vector=query).order_by().values_list("pk", flat=True)
                         [: RANK_CANDIDATES + 1])
    capped = len(candidate_ids) > RANK_CANDIDATES
    candidate_ids = candidate_ids[:RANK_CANDIDATES]
    if not candidate_ids:
        return FullTextResult()
    candidates = Contact.objects.filter(pk__in=candidate_ids)
    # Sentinels, not HTML: highlight() escapes the stored text first, then marks the matches.
    options = {"start_sel": _START, "stop_sel": _STOP, "highlight_all": True}
    rows = list(
        candidates.annotate(rank=SearchRank(F("search_vector"), query))
        .order_by("-rank", "-id")[:limit]
        .annotate(
            name_hl=SearchHeadline("display_name", query, config="simple", **options),
            company_hl=SearchHeadline("company_name", query, config="simple", **options),
            email_hl=SearchHeadline("email", query, config="simple", **options),
        )
        .select_related("owner")
    )
    for row in rows:
        row.name_hl, row.company_hl, row.email_hl = map(highlight, (row.name_hl, row.company_hl, row.email_hl))
    return FullTextResult(contacts=rows, facets=facets(candidates), capped=capped)


_START, _STOP = "\x02", "\x03"


def highlight(headline: str):
    """Escaped text with <mark> around the matched words, safe to render."""
    from django.utils.html import escape
    from django.utils.safestring import mark_safe

    return mark_safe(escape(headline or "").replace(_START, "<mark>").replace(_STOP, "</mark>"))


def facets(contacts) -> dict[str, list[tuple]]:
    """Counts by lifecycle stage, source, owner, tag and company over a (capped) result set."""
    def grouped(qs, key, label=None):
        values = (key, label) if label else (key,)
        return [tuple(row) for row in qs.order_by().values_list(*values).annotate(n=Count("*")).order_by("-n")[:10]]

    return {
        "lifecycle_stage": grouped(contacts, "lifecycle_stage"),
        "source": grouped(contacts.exclude(source=""), "source"),
        "owner": grouped(contacts.filter(owner__isnull=False), "owner_id", "owner__full_name"),
        "company": grouped(contacts.exclude(company_name=""), "company_name"),
        "tag": grouped(ContactTag.objects.filter(contact__in=contacts), "tag_id", "tag__name"),
    }


