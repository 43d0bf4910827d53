"""Search for the global search box and the search page: prefix as you type,
typo correction through a name vocabulary, full text with highlights and facets.
Every query starts from `visible_to(user)`, so results never include what the user
may not see."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass, field

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, TrigramDistance
from django.db.models import F, Q
from django.db.models.functions import Collate
from django.utils.html import escape
from django.utils.safestring import mark_safe

from companies.models import Company
from contacts.models import Contact, ContactTag, NameWord
from crm.models import Tag, User
from crm.permissions import Scope
from crm.search import digits, fold, prefix_upper_bound

# Full-text ranking is capped: an unselective query ("john smith" at 16 % of rows) ranks
# at most this many of the newest matches instead of every match (DESIGN: measured at 1M).
RANK_CANDIDATES = 1000
# Trigram distance (1 - similarity) up to which a vocabulary word counts as a typo of a typed word.
TYPO_MAX_DISTANCE = 0.6
MAX_QUERY_LENGTH = 200
FACET_COLUMNS = ("lifecycle_stage", "source", "owner_id", "company_name")
_WORD = re.compile(r"\w+", re.UNICODE)
# Sentinels around matches in headlines: highlight() escapes the text, then marks them.
_START, _STOP = "\x02", "\x03"


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


def _name_branches(phrase: str) -> list[tuple[Q, str]]:
    upper = prefix_upper_bound(phrase)
    return [(Q(name_c__gte=phrase, name_c__lt=upper), "name_c"), (Q(rev_c__gte=phrase, rev_c__lt=upper), "rev_c")]


def corrections(organization_id: int, folded: str, per_word: int = 2) -> list[str]:
    """Phrases with each typed word replaced by its nearest vocabulary words
    ("amanad rodrigez" -> ["amanda rodriguez", …]); one small index-ordered query per word."""
    words = folded.split()[:4]
    options = []
    for word in words:
        if len(word) < 3:
            options.append([word])
            continue
        near = (NameWord.objects.filter(organization_id=organization_id)
                .annotate(distance=TrigramDistance("word", word)).order_by("distance")
                .values_list("word", "distance")[:per_word])
        found = [w for w, distance in near if distance <= TYPO_MAX_DISTANCE]
        options.append(found or [word])
    phrases = {" ".join(combo) for combo in itertools.product(*options)}
    phrases.discard(folded)
    return sorted(phrases)[:8]


def autocomplete(user, text: str, limit: int = 10) -> list[Hit]:
    """Contacts and companies for the search box, from the first keystroke.

    Each branch (first-name-first, last-name-first, email, phone digits, company name) is
    one index range scan with its own LIMIT. When prefixes find fewer than `limit`
    contacts and the query has 3+ letters, the typed words are corrected against the
    organization's name vocabulary and the corrected phrases searched the same way."""
    folded = fold(text)[:MAX_QUERY_LENGTH]
    scope = Scope.of(user)
    if not folded or (scope is None and not getattr(user, "is_superuser", False)):
        return []
    keyed = with_prefix_keys(Contact.objects.visible_to(user))
    found: dict[int, Hit] = {}

    def collect(branches, how):
        for condition, order in branches:
            if len(found) >= limit:
                return
            rows = keyed.filter(condition).order_by(order, "id").values_list("pk", "display_name", "company_name")
            for pk, name, company in rows[:limit]:
                found.setdefault(pk, Hit("contact", pk, _contact_label(name, company), how))

    collect(prefix_branches(folded, digits(text)), "prefix")
    looks_like_name = "@" not in folded and not any(ch.isdigit() for ch in folded)
    if len(found) < limit and len(folded) >= 3 and looks_like_name and scope is not None:
        for phrase in corrections(scope.organization_id, folded):
            collect(_name_branches(phrase), "typo")
    contacts = list(found.values())[:limit]
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
    # The newest matches are the candidates: PostgreSQL picks the GIN index for a rare
    # word and the (organization, created_at) order for a common one, and stops early.
    candidates = list(visible.filter(search_vector=query).order_by("-created_at", "-id")
                      .values_list("pk", *FACET_COLUMNS)[: RANK_CANDIDATES + 1])
    capped = len(candidates) > RANK_CANDIDATES
    candidates = candidates[:RANK_CANDIDATES]
    if not candidates:
        return FullTextResult()
    options = {"start_sel": _START, "stop_sel": _STOP, "highlight_all": True}
    rows = list(
        Contact.objects.filter(pk__in=[row[0] for row in candidates])
        .annotate(rank=SearchRank(F("search_vector"), query))
        .order_by("-rank", "-id")[:limit]
        .annotate(
            name_hl=SearchHeadline("display_name", query, config="simple", **options),
            company_hl=SearchHeadline("company_name", query, config="simple", **options),
            email_hl=SearchHeadline("email", query, config="simple", **options),
            title_hl=SearchHeadline("job_title", query, config="simple", **options),
        )
        .select_related("owner")
    )
    for row in rows:
        row.name_hl, row.company_hl, row.email_hl, row.title_hl = map(
            highlight, (row.name_hl, row.company_hl, row.email_hl, row.title_hl))
    return FullTextResult(contacts=rows, facets=facets(candidates), capped=capped)


def highlight(headline: str):
    """Escaped text with <mark> around the matched words, safe to render."""
    return mark_safe(escape(headline or "").replace(_START, "<mark>").replace(_STOP, "</mark>"))


def labelled_facets(facets: dict) -> dict[str, list[tuple]]:
    """Facets as (value, label, count): choice labels for stage and source, names for
    owners and tags, the value itself otherwise."""
    from contacts.models import LifecycleStage, Source

    choice_labels = {"lifecycle_stage": dict(LifecycleStage.choices), "source": dict(Source.choices)}
    labelled = {}
    for key, counts in facets.items():
        rows = []
        for value, *rest in counts:
            label = rest[0] if len(rest) == 2 else choice_labels.get(key, {}).get(value, value)
            rows.append((value, str(label or value), rest[-1]))
        labelled[key] = rows
    return labelled


def facets(rows) -> dict[str, list[tuple]]:
    """Counts by lifecycle stage, source, owner, company and tag over the candidate rows
    (pk + FACET_COLUMNS, already fetched): three small queries, not one GROUP BY each."""
    def top(counter, labels=None):
        return [((key, labels.get(key, "")) if labels is not None else (key,)) + (n,)
                for key, n in counter.most_common(10)]

    stages, sources, owners, companies = (Counter(row[i] for row in rows if row[i]) for i in range(1, 5))
    tags = Counter(ContactTag.objects.filter(contact_id__in=[row[0] for row in rows])
                   .values_list("tag_id", flat=True))
    owner_names = dict(User.objects.filter(pk__in=[k for k, _ in owners.most_common(10)])
                       .values_list("pk", "full_name"))
    tag_names = dict(Tag.objects.filter(pk__in=[k for k, _ in tags.most_common(10)]).values_list("pk", "name"))
    return {
        "lifecycle_stage": top(stages),
        "source": top(sources),
        "owner": top(owners, owner_names),
        "company": top(companies),
        "tag": top(tags, tag_names),
    }
