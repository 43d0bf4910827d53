"""Duplicate detection for contacts and companies: the signals, the score with its reasons,
the blocking keys, and the look-ups the form, the API and the organization scan share.

Signals (each explained in the reasons shown to people):
- email, normalized per provider (EMAIL_PROVIDERS): case, and dots / plus tags where the
  provider ignores them (``John.Smith+news@gmail.com`` is ``johnsmith@gmail.com``);
- phone: the E.164 phone and mobile fields, either matching either;
- name: folded (crm.search.fold), transliterated (Cyrillic and Greek to Latin, so
  "Соколова" ~ "Sokolova"), first names through a curated nickname table (Bob = Robert),
  compared per part with an edit-distance ratio, in both orders (swapped first/last);
- company: the same primary company, or the same corporate email domain.

Score: 0.55 × name similarity + the strongest contact point (email 0.45, phone 0.40,
company 0.30) + 0.05 for each further one, capped at 1. A same name alone stays at 0.55;
a likely duplicate needs a name that is close *and* a shared contact point, so
DEFAULT_THRESHOLD (0.75) keeps namesakes and shared switchboard numbers out.

Blocking: every contact carries `dedupe_keys` (derived on save and by imports, refreshed by
the scan),
a few strings of which two likely duplicates share at least one: the email key, each phone,
the sorted transliterated names, and company + first / last name. The create-time check
is one GIN-indexed overlap query; the scan groups the organization's keys in SQL and only
scores pairs inside small blocks (never all pairs).

Transliteration is a small table here rather than a dependency: `anyascii` would cover every
script (it is small and well kept, but not installed here); the table covers Cyrillic and Greek,
and names in other scripts (CJK, Arabic, Hebrew …) are compared as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import combinations

from crm.search import fold
from contacts.phones import phone_q
from crm.encryption import blind_index

DEFAULT_THRESHOLD = 0.75
# Blocks (contacts sharing a key) larger than this are not paired: a key shared by that many
# rows (a switchboard number, a very common name at one company) says nothing about identity.
MAX_BLOCK = 30
# How many candidates the create-time check scores at most.
CHECK_LIMIT = 50

NAME_WEIGHT = 0.55
EMAIL_WEIGHT = 0.45
PHONE_WEIGHT = 0.40
COMPANY_WEIGHT = 0.30
EXTRA_WEIGHT = 0.05


# -- email -----------------------------------------------------------------------------------

# domain -> (canonical domain, dots ignored, plus-tag separator or "")
EMAIL_PROVIDERS: dict[str, tuple[str, bool, str]] = {
    "gmail.com": ("gmail.com", True, "+"),
    "googlemail.com": ("gmail.com", True, "+"),
    "outlook.com": ("outlook.com", False, "+"),
    "hotmail.com": ("outlook.com", False, "+"),
    "live.com": ("outlook.com", False, "+"),
    "msn.com": ("outlook.com", False, "+"),
    "icloud.com": ("icloud.com", False, "+"),
    "me.com": ("icloud.com", False, "+"),
    "mac.com": ("icloud.com", False, "+"),
    "fastmail.com": ("fastmail.com", False, "+"),
    "proton.me": ("proton.me", False, "+"),
    "protonmail.com": ("proton.me", False, "+"),
    "pm.me": ("proton.me", False, "+"),
    "yahoo.com": ("yahoo.com", False, "-"),
    "yandex.ru": ("yandex.ru", False, "+"),
    "ya.ru": ("yandex.ru", False, "+"),
}
# Mailbox providers: a shared domain there says nothing about a shared employer.
FREE_DOMAINS = frozenset({*EMAIL_PROVIDERS, "aol.com", "gmx.de", "gmx.net", "web.de", "mail.ru", "qq.com",
                          "163.com", "zoho.com", "example.com"})


def email_key(email: str | None) -> str:
    """The mailbox an address delivers to: 'John.Smith+news@GoogleMail.com' -> 'johnsmith@gmail.com'."""
    email = (email or "").strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        return ""
    canonical, no_dots, tag = EMAIL_PROVIDERS.get(domain, (domain, False, ""))
    if tag and tag in local:
        local = local.split(tag, 1)[0]
    if no_dots:
        local = local.replace(".", "")
    return f"{local}@{canonical}" if local else ""


def company_domain(email: str | None) -> str:
    """The employer's domain of an address ('' for mailbox providers)."""
    domain = (email or "").strip().lower().rpartition("@")[2]
    return "" if not domain or domain in FREE_DOMAINS else domain


# -- names -----------------------------------------------------------------------------------

_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "",
    "э": "e", "ю": "yu", "я": "ya", "і": "i", "ї": "yi", "є": "ye", "ґ": "g", "ў": "u",
}
_GREEK = {
    "α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "th", "ι": "i", "κ": "k",
    "λ": "l", "μ": "m", "ν": "n", "ξ": "x", "ο": "o", "π": "p", "ρ": "r", "σ": "s", "ς": "s", "τ": "t",
    "υ": "y", "φ": "f", "χ": "ch", "ψ": "ps", "ω": "o",
}
_TRANSLIT = str.maketrans({**_CYRILLIC, **_GREEK})
_NOT_NAME = re.compile(r"[^a-z0-9 ]+")
# Spellings that transliteration tables disagree on ("Aleksandr" / "Alexander", "-iy" / "-y").
_SPELLINGS = [(re.compile(r"ks"), "x"), (re.compile(r"(?<=[a-z])(iy|yy|ij)$"), "y"), (re.compile(r"kh"), "h")]


def latin(text: str | None) -> str:
    """Folded, transliterated, letters and digits only: 'Соколова' -> 'sokolova', 'O'Brien' -> 'obrien'."""
    text = fold(text).translate(_TRANSLIT)
    text = _NOT_NAME.sub("", text.replace("-", " "))
    return " ".join(text.split())


def _spelling(word: str) -> str:
    for pattern, replacement in _SPELLINGS:
        word = pattern.sub(replacement, word)
    return word


# Nickname -> the given name it stands for (curated: common English, German, Spanish, Russian).
_NICKNAMES_BY_NAME = {
    "robert": "bob bobby rob robbie robby bert",
    "william": "bill billy will willy liam",
    "james": "jim jimmy jamie",
    "john": "jack johnny jon",
    "jonathan": "jonny",
    "michael": "mike mikey mick micky misha",
    "david": "dave davey",
    "daniel": "dan danny",
    "thomas": "tom tommy",
    "christopher": "chris kit",
    "katherine": "kate katie kathy cathy katharine catherine kathryn kat",
    "elizabeth": "liz lizzie beth betty betsy eliza lisa",
    "jennifer": "jen jenny",
    "alexander": "alex sasha sandy alexandr aleksandr",
    "alexandra": "alexa lexi",
    "andrew": "andy drew",
    "anthony": "tony",
    "joseph": "joe joey",
    "steven": "steve stephen stevie",
    "nicholas": "nick nicky",
    "matthew": "matt matty",
    "patrick": "pat paddy",
    "patricia": "patty trish tricia",
    "richard": "rick ricky dick rich richie",
    "edward": "ed eddie ted teddy ned",
    "samuel": "sam sammy",
    "benjamin": "ben benny",
    "gregory": "greg",
    "jeffrey": "jeff geoffrey",
    "kenneth": "ken kenny",
    "lawrence": "larry",
    "margaret": "maggie peggy meg",
    "susan": "sue susie",
    "deborah": "debbie deb",
    "peter": "pete",
    "charles": "charlie chuck",
    "henry": "hank harry",
    "timothy": "tim timmy",
    "frederick": "fred freddy",
    "gerald": "gerry jerry",
    "victoria": "vicky tori",
    "rebecca": "becky becca",
    "jessica": "jess jessie",
    "abigail": "abby",
    "francisco": "paco pancho",
    "jose": "pepe",
    "dmitry": "dima",
    "mikhail": "misha",
    "nikolay": "kolya",
    "vladimir": "volodya vova",
    "ekaterina": "katya",
    "maria": "masha",
    "natalia": "natasha natalya",
    "elena": "lena",
    "olga": "olya",
    "ivan": "vanya",
    "sergey": "seryozha",
    "johann": "hans",
    "wolfgang": "wolf",
}
NICKNAMES = {nick: name for name, nicks in _NICKNAMES_BY_NAME.items() for nick in nicks.split()}


def given_name(word: str) -> str:
    """A first name as the given name it stands for ('bob' -> 'robert')."""
    word = NICKNAMES.get(word, word)
    return NICKNAMES.get(_spelling(word), _spelling(word))


def ratio(a: str, b: str) -> float:
    """1 - edit distance / longer length (adjacent transpositions count once)."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    la, lb = len(a), len(b)
    if abs(la - lb) > max(la, lb) // 2:
        return 1.0 - abs(la - lb) / max(la, lb) if min(la, lb) else 0.0
    prev2: list[int] = []
    prev = list(range(lb + 1))
    for i in range(1, la + 1):
        cur = [i] + [0] * lb
        ca = a[i - 1]
        for j in range(1, lb + 1):
            cost = 0 if ca == b[j - 1] else 1
            value = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, prev2[j - 2] + 1)
            cur[j] = value
        prev2, prev = prev, cur
    return 1.0 - prev[lb] / max(la, lb)


# -- phones ----------------------------------------------------------------------------------

_E164 = re.compile(r"\+[1-9]\d{5,14}")


def e164(value) -> str:
    """A phone as E.164 (stored phones already are; typed ones are parsed in the default region)."""
    text = str(value or "").strip()
    if not text or _E164.fullmatch(text):
        return text
    import phonenumbers
    from django.conf import settings

    try:
        number = phonenumbers.parse(text, getattr(settings, "PHONENUMBER_DEFAULT_REGION", None) or "US")
    except phonenumbers.NumberParseException:
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# -- features and score ----------------------------------------------------------------------

@dataclass(frozen=True)
class Features:
    """What the signals compare, computed once per record."""

    id: int | None
    first: str  # given name (nicknames resolved), Latin
    last: str
    first_raw: str  # the first name as written, Latin (for the nickname reason)
    email: str  # email_key
    domain: str  # corporate email domain
    phones: frozenset = field(default_factory=frozenset)
    company: str = ""  # folded primary company name


def contact_features(pk, first_name, last_name, email, phone, mobile, company_name="") -> Features:
    first_words = latin(first_name).split()
    last = latin(last_name).replace(" ", "")
    if not last and len(first_words) > 1:  # "Anna Sokolova" typed in the first-name field
        first_words, last = first_words[:1], first_words[-1]
    first_raw = first_words[0] if first_words else ""
    phones = frozenset(filter(None, (e164(phone), e164(mobile))))
    return Features(id=pk, first=given_name(first_raw), last=_spelling(last), first_raw=first_raw,
                    email=email_key(email), domain=company_domain(email), phones=phones,
                    company=latin(company_name))


def features_of(contact) -> Features:
    return contact_features(contact.pk, contact.first_name, contact.last_name, contact.email, contact.phone,
                            contact.mobile, getattr(contact, "company_name", ""))


def contact_keys(f: Features) -> list[str]:
    """Blocking keys: two likely duplicates share at least one (see the module docstring)."""
    keys = set()
    if f.email:
        keys.add(f"e:{f.email}")
    # Phones by their blind index, never in plain: an organization may encrypt them (contacts.phones).
    keys.update(f"p:{blind_index(p)[:32]}" for p in f.phones)
    if f.first and f.last:
        keys.add("n:" + "|".join(sorted((f.first, f.last))))
    org = f.company or f.domain
    if org:
        if f.first:
            keys.add(f"c:{org}|{f.first}")
        if f.last:
            keys.add(f"c:{org}|{f.last}")
    return sorted(k[:200] for k in keys)


def keys_for(contact) -> list[str]:
    return contact_keys(features_of(contact))


def name_similarity(a: Features, b: Features) -> tuple[float, bool]:
    """Similarity of two names (0..1) and whether it is the swapped order that matches."""
    def pair(f1, l1, f2, l2, r1="", r2=""):
        # given names (Bob = Robert), or as written (a typo in a name that has nicknames)
        first = max(ratio(f1, f2), ratio(r1, r2) if r1 and r2 else 0.0)
        if l1 and l2:
            last = ratio(l1, l2)
            value = 0.45 * first + 0.55 * last
            # one part plainly different (Mark / Gary Russo sharing a landline): not one person's name
            return value * 0.8 if min(first, last) < 0.7 else value
        if l1 or l2:  # one side has no last name: the first names say less
            return 0.7 * first
        return first

    direct = pair(a.first, a.last, b.first, b.last, a.first_raw, b.first_raw)
    swapped = pair(a.first, a.last, b.last, b.first) if a.last and b.last else 0.0
    if swapped > direct:
        # compare the swapped names as written too (a nickname table would not resolve a surname)
        swapped = max(swapped, pair(a.first_raw, a.last, b.last, b.first_raw))
        return swapped, True
    return direct, False


@dataclass
class Match:
    score: float
    reasons: list[str]


def score(a: Features, b: Features) -> Match:
    """How likely two records are one person (0..1), and why, in words."""
    reasons: list[str] = []
    points: list[float] = []
    if a.email and a.email == b.email:
        points.append(EMAIL_WEIGHT)
        reasons.append("same email")
    if a.phones & b.phones:
        points.append(PHONE_WEIGHT)
        reasons.append("same phone")
    if a.company and a.company == b.company:
        points.append(COMPANY_WEIGHT)
        reasons.append("same company")
    elif a.domain and a.domain == b.domain and a.email != b.email:
        points.append(COMPANY_WEIGHT)
        reasons.append("same email domain")
    similarity, swapped = name_similarity(a, b)
    if similarity >= 0.999:
        reasons.append("same name, first and last swapped" if swapped else "same name")
    else:
        reasons.append(f"similar name {similarity:.2f}" + (", first and last swapped" if swapped else ""))
    if (a.first_raw != b.first_raw and a.first == b.first and a.first_raw and b.first_raw and not swapped):
        reasons.append(f"nickname {a.first_raw.title()} = {b.first_raw.title()}")
    contact = (max(points) + EXTRA_WEIGHT * (len(points) - 1)) if points else 0.0
    value = min(1.0, NAME_WEIGHT * similarity + contact)
    return Match(round(value, 4), reasons)


def reasons_text(reasons: list[str]) -> str:
    return ", ".join(reasons)


def candidate_pairs(blocks) -> set[tuple[int, int]]:
    """Pairs (smaller id first) inside each block of ids; blocks over MAX_BLOCK are skipped."""
    pairs = set()
    for ids in blocks:
        if 2 <= len(ids) <= MAX_BLOCK:
            pairs.update(combinations(sorted(ids), 2))
    return pairs


# -- companies -------------------------------------------------------------------------------

LEGAL_SUFFIXES = frozenset("""
inc incorporated corp corporation co company llc llp lp ltd limited plc gmbh ag kg ug mbh ohg eg sa sas sarl sl
srl spa bv nv oy ab as aps asa kk pty pvt pte sdn bhd ooo zao oao pao ip group holding holdings the
""".split())


def company_name_key(name: str | None) -> str:
    """A company's name without legal suffixes and punctuation: 'ACME, Inc.' -> 'acme'."""
    words = [w for w in latin((name or "").replace(".", "").replace("&", " and ")).split()
             if w not in LEGAL_SUFFIXES]
    return " ".join(words)


def normalize_domain(value: str | None) -> str:
    value = (value or "").strip().lower()
    value = re.sub(r"^[a-z]+://", "", value).split("/", 1)[0].split(":", 1)[0]
    return value[4:] if value.startswith("www.") else value


@dataclass(frozen=True)
class CompanyFeatures:
    id: int | None
    name: str
    domain: str


def company_features(pk, name, domain, website="") -> CompanyFeatures:
    return CompanyFeatures(pk, company_name_key(name), normalize_domain(domain) or normalize_domain(website))


def company_keys(f: CompanyFeatures) -> list[str]:
    keys = []
    if f.domain:
        keys.append(f"d:{f.domain}")
    if f.name:
        keys.append(f"n:{f.name}")
    return keys


def score_companies(a: CompanyFeatures, b: CompanyFeatures) -> Match:
    reasons = []
    value = 0.0
    if a.domain and a.domain == b.domain:
        reasons.append("same domain")
        value += 0.6
    similarity = ratio(a.name, b.name)
    if similarity >= 0.999:
        reasons.append("same name without legal suffix")
    else:
        reasons.append(f"similar name {similarity:.2f}")
    value += 0.5 * similarity if value else 0.8 * similarity
    return Match(round(min(1.0, value), 4), reasons)


# -- the create-time check -------------------------------------------------------------------

def find_contact_duplicates(user, data: dict, *, exclude_id=None, threshold: float = DEFAULT_THRESHOLD,
                            limit: int = 5) -> list:
    """Contacts `user` may see that are likely the person described by `data` (the contact's
    field values: first_name, last_name, email, phone, mobile), best first, each carrying
    `.duplicate` (a Match). One GIN-indexed query on the blocking keys (plus the phone and
    email indexes, for rows whose keys the next scan refreshes); a few ms."""
    from django.db.models import Q

    from contacts.models import Contact

    new = contact_features(exclude_id, data.get("first_name"), data.get("last_name"), data.get("email"),
                           data.get("phone"), data.get("mobile"), data.get("company_name", ""))
    keys = contact_keys(new)
    if not keys:
        return []
    match = Q(dedupe_keys__overlap=keys)
    if new.phones:
        match |= phone_q(*new.phones)
    email = (data.get("email") or "").strip().lower()
    if email:  # spelled as the unique index's condition, so that index answers it
        match |= Q(email=email, deleted_at__isnull=True) & ~Q(email="")
    rows = (Contact.objects.visible_to(user).filter(match)
            .only("id", "first_name", "last_name", "display_name", "email", "phone", "mobile", "company_name",
                  "phone_sealed", "mobile_sealed", "organization_id")
            .order_by()[:CHECK_LIMIT])  # no ORDER BY: the bitmap scan of the indexes answers it
    found = []
    for contact in rows:
        if exclude_id is not None and contact.pk == exclude_id:
            continue
        result = score(new, features_of(contact))
        if result.score >= threshold:
            contact.duplicate = result
            found.append(contact)
    found.sort(key=lambda c: (-c.duplicate.score, c.pk))
    return found[:limit]


def merge_url(first_id: int, second_id: int, kind: str = "contact") -> str:
    """The merge page of a pair (contacts/merge_views.py)."""
    from django.urls import reverse

    return f"{reverse('companies:merge' if kind == 'company' else 'contacts:merge')}?ids={first_id},{second_id}"


IDENTITY_FIELDS = ("first_name", "last_name", "email", "phone", "mobile")


def check_before_save(user, data: dict, instance=None) -> list:
    """Likely duplicates of a contact about to be created (instance None) or updated with `data`
    (the form's or the API's cleaned values). An update that changes none of the compared fields
    is not checked again (so editing a job title never warns)."""
    if instance is not None and instance.pk is not None:
        changed = [name for name in IDENTITY_FIELDS
                   if name in data and str(data[name] or "") != str(getattr(instance, name) or "")]
        if not changed:
            return []
        values = {name: data[name] if name in data else getattr(instance, name) for name in IDENTITY_FIELDS}
        values["company_name"] = instance.company_name
        return find_contact_duplicates(user, values, exclude_id=instance.pk)
    return find_contact_duplicates(user, data)


def find_company_duplicates(user, name: str, domain: str = "", website: str = "", *, exclude_id=None,
                            threshold: float = DEFAULT_THRESHOLD) -> list:
    """Companies the user may see that are likely the one being created or renamed: candidates
    whose name starts with the same word (the folded-name index) or with the same domain,
    scored by score_companies; best first, each carrying `.duplicate`."""
    from django.db.models import Q
    from django.db.models.functions import Collate

    from companies.models import Company
    from crm.search import fold, prefix_upper_bound

    features = company_features(None, name, domain, website)
    words = re.findall(r"\w+", fold(name))
    condition = Q(pk__in=[])
    if words:
        condition |= Q(name_c__gte=words[0], name_c__lt=prefix_upper_bound(words[0]))
    if features.domain:
        condition |= Q(domain=features.domain)
    candidates = (Company.objects.visible_to(user).alias(name_c=Collate("search_name", "C")).filter(condition)
                  .exclude(pk=exclude_id).only("id", "name", "domain", "website", "organization_id")
                  .order_by()[:CHECK_LIMIT])
    found = []
    for company in candidates:
        match = score_companies(features, company_features(company.pk, company.name, company.domain, company.website))
        if match.score >= threshold:
            company.duplicate = match
            found.append(company)
    return sorted(found, key=lambda c: (-c.duplicate.score, c.pk))


def warning_of(contact) -> dict:
    """A likely duplicate as the API reports it."""
    return {"id": contact.pk, "display_name": contact.display_name, "score": contact.duplicate.score,
            "reasons": contact.duplicate.reasons, "reasons_text": reasons_text(contact.duplicate.reasons)}


def find_for_many(user, records: list[dict], threshold: float = DEFAULT_THRESHOLD) -> list[list]:
    """Likely duplicates (visible to `user`) of several new contacts at once — the import's dry
    run — in one GIN-indexed query; per record, best first, each carrying `.duplicate`."""
    from collections import defaultdict

    from contacts.models import Contact

    features = [contact_features(None, r.get("first_name"), r.get("last_name"), r.get("email"), r.get("phone"),
                                 r.get("mobile"), r.get("company_name", "")) for r in records]
    record_keys = [contact_keys(f) for f in features]
    keys = sorted({k for ks in record_keys for k in ks})
    if not keys:
        return [[] for _ in records]
    by_key = defaultdict(list)
    for contact in (Contact.objects.visible_to(user).filter(dedupe_keys__overlap=keys)
                    .only("id", "first_name", "last_name", "display_name", "email", "phone", "mobile",
                          "phone_sealed", "mobile_sealed", "company_name", "dedupe_keys", "organization_id")
                    .order_by()[:CHECK_LIMIT * len(records)]):
        for key in contact.dedupe_keys:
            by_key[key].append(contact)
    found_all = []
    for new, ks in zip(features, record_keys):
        found = []
        for contact in {c.pk: c for k in ks for c in by_key.get(k, ())}.values():
            match = score(new, features_of(contact))
            if match.score >= threshold:
                found.append((match, contact))
        found.sort(key=lambda mc: (-mc[0].score, mc[1].pk))
        found_all.append(found)
    return found_all
