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
    if len(number) >= 7:
        # Encrypted phones (contacts.phones) have no digits to search: the whole number only.
        from contacts.phones import phone_q

        branches.append((phone_q(number, "+" + number), "id"))
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
    candidates, capped = _text_candidates(visible, query, *FACET_COLUMNS)
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


def _text_candidates(visible, query, *columns) -> tuple[list[tuple], bool]:
    """(pk, *columns) of the newest RANK_CANDIDATES matches, and whether there were more.
    PostgreSQL picks the GIN index for a rare word and the (organization, created_at) order for
    a common one, and stops early."""
    rows = list(visible.filter(search_vector=query).order_by("-created_at", "-id")
                .values_list("pk", *columns)[: RANK_CANDIDATES + 1])
    return rows[:RANK_CANDIDATES], len(rows) > RANK_CANDIDATES


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


# --- Ranked search by words, names and meaning (the search page's "by meaning" and /api/search/?mode=)

MODES = ("hybrid", "semantic", "text")
# Each way of matching proposes this many contacts; reciprocal-rank fusion merges the lists.
FUSION_CANDIDATES = 50
RRF_K = 60
# Below this cosine similarity a neighbour is not "close in meaning" (MiniLM puts unrelated
# profiles at about 0 to 0.1): it is not listed, however few hits there are.
MIN_SIMILARITY = 0.15
_FIELD_LABELS = (("display_name", "name"), ("email", "email"), ("company_name", "company"),
                 ("job_title", "job title"), ("department", "department"), ("industry", "industry"),
                 ("description", "notes"))


@dataclass
class RankedHit:
    contact: Contact
    score: float
    reasons: list[str]
    similarity: float | None = None  # cosine similarity to the query, when found by meaning


def _ranked_by_text(visible, text: str) -> list[int]:
    raw = to_tsquery(text)
    if raw is None:
        return []
    query = SearchQuery(raw, search_type="raw", config="simple")
    candidates, _ = _text_candidates(visible, query)
    if not candidates:
        return []
    return list(Contact.objects.filter(pk__in=[row[0] for row in candidates])
                .annotate(rank=SearchRank(F("search_vector"), query)).order_by("-rank", "-id")
                .values_list("pk", flat=True)[:FUSION_CANDIDATES])


def _ranked_by_name(visible, organization_id: int, text: str) -> list[tuple[int, float]]:
    """Contacts whose name starts with the typed words or with their typo corrections (from the
    organization's name vocabulary), most similar (trigram) first."""
    from django.contrib.postgres.search import TrigramSimilarity

    folded = fold(text)[:MAX_QUERY_LENGTH]
    if not folded or len(folded) < 3 or any(ch.isdigit() for ch in folded) or "@" in folded \
            or len(folded.split()) > 4:
        return []
    keyed = with_prefix_keys(visible)
    ids = []
    for phrase in [folded, *corrections(organization_id, folded)[:3]]:
        for condition, order in _name_branches(phrase):
            ids.extend(keyed.filter(condition).order_by(order, "id").values_list("pk", flat=True)[:FUSION_CANDIDATES])
    if not ids:
        return []
    return list(Contact.objects.filter(pk__in=set(ids)).annotate(similarity=TrigramSimilarity("search_name", folded))
                .order_by("-similarity", "id").values_list("pk", "similarity")[:FUSION_CANDIDATES])


def _matched_fields(contact, words: list[str]) -> list[str]:
    """'matched 'fintech' in notes, industry' for each query word found in a field."""
    reasons = []
    for word in words:
        fields = [label for attr, label in _FIELD_LABELS
                  if any(token.startswith(word) for token in _WORD.findall(fold(getattr(contact, attr) or "")))]
        if fields:
            reasons.append(f"matched '{word}' in {', '.join(fields)}")
    return reasons


def ranked_search(user, text: str, *, queryset=None, mode: str = "hybrid", limit: int = 20) -> list[RankedHit]:
    """Contacts matching `text` by words (full-text rank), by name (typo-tolerant, trigram
    similarity) and by meaning (embedding nearest neighbours), fused by reciprocal rank, each
    with the reasons it was found. `queryset` (visibility + filters) bounds every branch inside
    its own query, so a filter never removes hits after a LIMIT."""
    from contacts import semantic

    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    text = text.strip()[:MAX_QUERY_LENGTH]
    scope = Scope.of(user)
    if not text or scope is None:
        return []
    visible = queryset if queryset is not None else Contact.objects.visible_to(user)
    lists: dict[str, list[int]] = {}
    name_similarity: dict[int, float] = {}
    meaning: dict[int, float] = {}
    if mode in ("hybrid", "text"):
        lists["text"] = _ranked_by_text(visible, text)
        by_name = _ranked_by_name(visible, scope.organization_id, text)
        name_similarity = dict(by_name)
        lists["name"] = [pk for pk, _ in by_name]
    if mode in ("hybrid", "semantic"):
        found = [(pk, distance) for pk, distance in
                 semantic.nearest(visible, semantic.embed_query(text), FUSION_CANDIDATES)
                 if 1.0 - distance >= MIN_SIMILARITY]
        meaning = {pk: 1.0 - distance for pk, distance in found}
        lists["meaning"] = [pk for pk, _ in found]
    scores: dict[int, float] = {}
    for ranked in lists.values():
        for position, pk in enumerate(ranked):
            scores[pk] = scores.get(pk, 0.0) + 1.0 / (RRF_K + position + 1)
    top = sorted(scores, key=lambda pk: (-scores[pk], pk))[:limit]
    contacts = Contact.objects.in_bulk(top)
    words = _WORD.findall(fold(text))[:8]
    text_hits = set(lists.get("text", []))
    hits = []
    for pk in top:
        contact = contacts.get(pk)
        if contact is None:
            continue
        reasons = _matched_fields(contact, words) if pk in text_hits else []
        if pk in name_similarity:
            reasons.append(f"name similar to '{text}' ({name_similarity[pk]:.2f})")
        if pk in meaning:
            reasons.append(f"close in meaning to '{text}' ({meaning[pk]:.2f})")
        hits.append(RankedHit(contact, scores[pk], reasons, meaning.get(pk)))
    return hits


@dataclass
class Similar:
    contact: Contact
    similarity: float


def similar_contacts(user, contact, limit: int = 5) -> list[Similar]:
    """The contacts the user may see that are closest in meaning to `contact`."""
    from contacts import semantic

    found = semantic.similar_to(Contact.objects.visible_to(user), contact, limit)
    contacts = Contact.objects.in_bulk([pk for pk, _ in found])
    return [Similar(contacts[pk], 1.0 - distance) for pk, distance in found if pk in contacts]
